"""MedCloud's Orthanc Python plugin.

Loaded by Orthanc's Python plugin (Debian's orthanc-python 4.0, run by the system Python 3.11). It:

- exposes `/medcloud/plugin` so that the backend's health check can tell the plugin is loaded, and
  `POST /medcloud/plugin/rekey`, which seals every attachment again under the current key (after a rotation);
- exposes `GET /medcloud/frames/<patient>/<study>/<series>/<instance>/<frame>`: one frame of an instance stored
  uncompressed, as a WADO-RS frames response, read through Orthanc's own frame API (see `on_frame`);
- refuses the front server's user (configuration `MedCloud.FrontUser`) everything but reading frames and bulk
  data (see `on_incoming_request`): nginx holds that user's credentials, the backend's can write and delete;
- replaces Orthanc's storage area with one that encrypts every attachment (the DICOM files, pixel data
  included, and Orthanc's JSON summaries) with AES-256-GCM before it touches the disk, and decrypts it on
  read. The format and key handling live in `medcloud_storage.py` (no dependency on `orthanc`, so that it
  is unit-tested outside Orthanc).

The key comes from the environment (ORTHANC_STORAGE_KEY, base64 of 32 bytes; ORTHANC_STORAGE_KEY_ID);
previous keys (ORTHANC_STORAGE_KEYS_PREVIOUS="id:base64,...") stay readable after a rotation. Without a
key Orthanc refuses to start: it never falls back to writing plaintext.
"""

import base64
import binascii
import hashlib
import json
import os
import re
import secrets

import orthanc  # provided by the Orthanc Python plugin at run time
from medcloud_storage import EncryptedStorage, keys_from_environment

PLUGIN_VERSION = "4"


_CONFIG = json.loads(orthanc.GetConfiguration())


def _storage_directory():
    return _CONFIG.get("StorageDirectory") or os.path.join(os.getcwd(), "OrthancStorage")


_primary_id, _keys = keys_from_environment(os.environ)
_storage = EncryptedStorage(_storage_directory(), _primary_id, _keys)


def on_create(uuid, content_type, data):
    _storage.create(uuid, int(content_type), data)


def on_read(uuid, content_type):
    return _storage.read(uuid, int(content_type))


def on_remove(uuid, content_type):
    _storage.remove(uuid, int(content_type))


def on_plugin_info(output, uri, **request):
    if request["method"] != "GET":
        output.SendMethodNotAllowed("GET")
        return
    body = json.dumps({"plugin": "medcloud", "version": PLUGIN_VERSION,
                       "storage_encryption": "AES-256-GCM", "storage_key_id": _primary_id})
    output.AnswerBuffer(body, "application/json")


def on_rekey(output, uri, **request):
    """After a storage-key rotation: every instance's attachments sealed again under the primary key, found
    through Orthanc's own index (attachment UUID and content type, which the file's associated data binds)."""
    if request["method"] != "POST":
        output.SendMethodNotAllowed("POST")
        return
    counts = {"instances": 0, "attachments": 0, "rekeyed": 0, "storage_key_id": _primary_id}
    since, page = 0, 500
    while True:
        ids = json.loads(orthanc.RestApiGet(f"/instances?since={since}&limit={page}"))
        for instance_id in ids:
            counts["instances"] += 1
            for name in json.loads(orthanc.RestApiGet(f"/instances/{instance_id}/attachments")):
                info = json.loads(orthanc.RestApiGet(f"/instances/{instance_id}/attachments/{name}/info"))
                counts["attachments"] += 1
                if _storage.rekey(info["Uuid"], int(info["ContentType"])):
                    counts["rekeyed"] += 1
        if len(ids) < page:
            break
        since += page
    output.AnswerBuffer(json.dumps(counts), "application/json")


# Little-endian, uncompressed: a frame's bytes are the same in both, and what WADO-RS's default (Explicit VR
# Little Endian) and "transfer-syntax=*" both ask for. Anything else (compressed, big endian, deflated) is left
# to the DICOMweb plugin, which transcodes where the request needs it.
RAW_SYNTAXES = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}
EXPLICIT_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
NOT_RAW_STATUS = 415  # the front server sends such requests on to the DICOMweb plugin


def orthanc_instance_id(patient_id, study_uid, series_uid, sop_instance_uid):
    """Orthanc's public identifier of an instance: the SHA-1 of its four identifiers, in five groups of 8."""
    digest = hashlib.sha1(f"{patient_id}|{study_uid}|{series_uid}|{sop_instance_uid}".encode(),
                          usedforsecurity=False).hexdigest()  # an identifier, as Orthanc computes it
    return "-".join(digest[i:i + 8] for i in range(0, 40, 8))


def on_frame(output, uri, **request):
    """WADO-RS RetrieveFrames for one frame of an uncompressed instance, for the front server (ADR 0008).

    Orthanc's DICOMweb plugin resolves the three UIDs through the index database and parses the whole file
    on every frame request (about 3.5 ms of CPU per frame here, half of it in PostgreSQL); Orthanc's own
    `/instances/<id>/frames/<n>/raw` serves the frame from its cache of parsed files. The instance's Orthanc
    identifier follows from the UIDs and the patient's pseudonym (which the backend vouches for, with the
    read grant): no lookup, and no instance of another study or patient can be named. The answer is the
    same multipart/related body as the DICOMweb plugin's; anything this route does not serve is answered
    with NOT_RAW_STATUS (stored compressed) or Orthanc's own error, and the front server falls back."""
    if request["method"] != "GET":
        output.SendMethodNotAllowed("GET")
        return
    patient_id, study_uid, series_uid, sop_instance_uid, frame = request["groups"]
    instance_id = orthanc_instance_id(patient_id, study_uid, series_uid, sop_instance_uid)
    try:
        syntax = orthanc.RestApiGet(f"/instances/{instance_id}/metadata/TransferSyntax").decode("ascii").strip()
    except Exception:  # no such instance (orthanc.OrthancException): the DICOMweb path names the error
        output.SendHttpStatusCode(404)
        return
    if syntax not in RAW_SYNTAXES or int(frame) < 1:
        output.SendHttpStatusCode(NOT_RAW_STATUS)
        return
    try:
        data = orthanc.RestApiGet(f"/instances/{instance_id}/frames/{int(frame) - 1}/raw")
    except Exception:  # a frame number beyond the instance's frames
        output.SendHttpStatusCode(NOT_RAW_STATUS)
        return
    # The same body and headers as the DICOMweb plugin's answer (clients are tested against that one), but
    # for the boundary: 32 hex digits here.
    boundary = secrets.token_hex(16)
    part_type = f"application/octet-stream; transfer-syntax={EXPLICIT_LITTLE_ENDIAN}"
    location = _public_root(request.get("headers") or {})
    head = (f"--{boundary}\r\n"
            + (f"Content-Location: {location}/dicom-web/studies/{study_uid}/series/{series_uid}/instances/"
               f"{sop_instance_uid}/frames/{frame}\r\n" if location else "")
            + f"Content-Type: {part_type}\r\nContent-Length: {len(data)}\r\nMIME-Version: 1.0\r\n\r\n")
    body = b"".join((head.encode(), data, f"\r\n--{boundary}--\r\n".encode()))
    output.AnswerBuffer(body, f'multipart/related; type="{part_type}"; boundary={boundary}')


_HOST_RE = re.compile(r"^[A-Za-z0-9.:\[\]-]{1,255}$")


def _public_root(headers):
    """"https://host" from the front server's `Forwarded: host=...;proto=...` header, or "" without one."""
    fields = dict(item.strip().split("=", 1) for item in headers.get("forwarded", "").split(";") if "=" in item)
    host, proto = fields.get("host", "").strip('"'), fields.get("proto", "").strip('"')
    if not _HOST_RE.match(host) or proto not in ("http", "https"):
        return ""
    return f"{proto}://{host}"


# What the front server's user may ask for (GET, and HEAD, which Orthanc answers as a GET): the paths that nginx
# sends to Orthanc after the backend's grant (frontend/nginx.conf.template), nothing else.
FRONT_USER = (_CONFIG.get("MedCloud") or {}).get("FrontUser") or ""
_UID = r"[0-9.]{1,64}"
FRONT_PATHS = re.compile(
    rf"^/dicom-web/studies/{_UID}/series/{_UID}/instances/{_UID}/(frames/[0-9,]{{1,256}}|bulk/[0-9A-Fa-f./]{{1,128}})$"
    rf"|^/medcloud/frames/MC[0-9A-F]{{16}}/{_UID}/{_UID}/{_UID}/[0-9]{{1,6}}$")
_GET_METHODS = ("GET", "HEAD", 1)  # the method arrives as a name or as orthanc.HttpMethod.GET (1)


def basic_username(headers):
    """The user name of an `Authorization: Basic` header ("" without one). Orthanc has checked the password
    before it asks the filter; the filter only ever narrows what a request may do."""
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    scheme, _, encoded = value.strip().partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        return base64.b64decode(encoded.strip(), validate=True).decode("utf-8").split(":", 1)[0]
    except (binascii.Error, UnicodeDecodeError):
        return ""


def front_user_may(method, uri):
    method = getattr(method, "value", method)
    return (method in _GET_METHODS or str(method).upper() in _GET_METHODS) and bool(FRONT_PATHS.match(uri)) \
        and "/../" not in uri + "/"


def on_incoming_request(uri, **request):
    """Orthanc 1.10 has no per-user permissions: its users are all-powerful. The front server's user is held
    to reading pixel data; every other user (the backend's) is left to Orthanc's own authentication."""
    if not FRONT_USER or basic_username(request.get("headers") or {}) != FRONT_USER:
        return True
    return front_user_may(request.get("method"), uri)


orthanc.RegisterIncomingHttpRequestFilter(on_incoming_request)
orthanc.RegisterStorageArea(on_create, on_read, on_remove)
orthanc.RegisterRestCallback("/medcloud/plugin", on_plugin_info)
orthanc.RegisterRestCallback("/medcloud/plugin/rekey", on_rekey)
orthanc.RegisterRestCallback("/medcloud/frames/(MC[0-9A-F]{16})/([0-9.]{1,64})/([0-9.]{1,64})/([0-9.]{1,64})/([0-9]{1,6})",
                             on_frame)
