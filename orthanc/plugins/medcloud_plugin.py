"""MedCloud's Orthanc Python plugin.

Loaded by Orthanc's Python plugin (Debian's orthanc-python 4.0, run by the system Python 3.11). It:

- exposes `/medcloud/plugin` so that the backend's health check can tell the plugin is loaded, and
  `POST /medcloud/plugin/rekey`, which seals every attachment again under the current key (after a rotation);
- replaces Orthanc's storage area with one that encrypts every attachment (the DICOM files, pixel data
  included, and Orthanc's JSON summaries) with AES-256-GCM before it touches the disk, and decrypts it on
  read. The format and key handling live in `medcloud_storage.py` (no dependency on `orthanc`, so that it
  is unit-tested outside Orthanc).

The key comes from the environment (ORTHANC_STORAGE_KEY, base64 of 32 bytes; ORTHANC_STORAGE_KEY_ID);
previous keys (ORTHANC_STORAGE_KEYS_PREVIOUS="id:base64,...") stay readable after a rotation. Without a
key Orthanc refuses to start: it never falls back to writing plaintext.
"""

import json
import os

import orthanc  # provided by the Orthanc Python plugin at run time
from medcloud_storage import EncryptedStorage, keys_from_environment

PLUGIN_VERSION = "3"


def _storage_directory():
    config = json.loads(orthanc.GetConfiguration())
    return config.get("StorageDirectory") or os.path.join(os.getcwd(), "OrthancStorage")


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


orthanc.RegisterStorageArea(on_create, on_read, on_remove)
orthanc.RegisterRestCallback("/medcloud/plugin", on_plugin_info)
orthanc.RegisterRestCallback("/medcloud/plugin/rekey", on_rekey)
