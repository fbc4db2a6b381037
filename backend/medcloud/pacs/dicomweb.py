"""The access-controlled DICOMweb proxy, mounted at /dicom-web/ (Orthanc's own DICOMweb root, so that the
BulkDataURIs Orthanc writes into metadata point back at this proxy).

Every request: authenticate (viewer token or API credentials; never a cookie), authorise per study through
`studies_visible_to` (the study UID is in the path, or a required StudyInstanceUID query parameter; a
study-level search is narrowed to the visible studies and filtered again), then stream Orthanc's answer
with an asynchronous client. Orthanc holds only pseudonymised headers: the original PHI is put back
- into QIDO-RS results (the attributes the result carries),
- into WADO-RS metadata (streamed object by object, memory flat in the number of instances),
- into whole instances (multipart/related application/dicom; rewritten one instance at a time).
Frames, bulk data, rendered images and thumbnails carry no PHI attributes and pass through untouched.
Orthanc 1.10 / DICOMweb 1.7 quirks handled here: comma-separated `includefield` is split into repeated
parameters; the public host reaches Orthanc in a `Forwarded: host=...;proto=...` header.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.db import InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from pydicom.datadict import tag_for_keyword

from medcloud.accounts.permissions import may_access_patient_data
from medcloud.audit.services import record_event
from medcloud.core.errors import ServiceError, error_body
from medcloud.core.orthanc import async_client

from . import selectors
from .auth import BadToken, Caller, authenticate_sync
from .dicom import UID_RE, restore_instance_bytes, restore_json
from .jsonstream import JsonArraySplitter
from .multipart import MultipartParser, boundary_of
from .uploads import check_declared_size, upload_batch

logger = logging.getLogger(__name__)

SEGMENT_RE = re.compile(r"^[0-9A-Za-z.,_-]{1,128}$")
QIDO_LEVELS = {"studies", "series", "instances"}
STUDY_SUBRESOURCES = {"metadata", "rendered", "thumbnail", "series", "instances"}
AUDIT_WINDOW_SECONDS = 600
PIPELINE = 4  # whole instances being rewritten at once
SMALL_BODY_BYTES = 2 * 1024 * 1024  # pixel responses up to this size are relayed in one piece
PIXEL_ONLY = {"frames", "bulk", "rendered", "thumbnail"}  # responses without any PHI attribute
UID_LIST_MAX = 200

_clients: dict[int, httpx.AsyncClient] = {}

# Granted reads, remembered for a few seconds per process: a viewer fetches a study's frames in a burst of
# hundreds of requests with the same credential, and re-checking each one (token, user, study, shares, audit)
# cost more than Orthanc's own answer. Only grants are remembered, never refusals; a revoked share or token
# stops being honoured after at most PACS_READ_GRANT_SECONDS.
_read_grants: dict[tuple[str, str, bool], tuple[float, Any, Any]] = {}
READ_GRANT_MAX_ENTRIES = 4096
# Each study's patient pseudonym (Orthanc's PatientID), sent with a frames grant: the front server names the
# instance to Orthanc's frame route with it (ADR 0008). Not PHI: random, and Orthanc's index holds it anyway.
_orthanc_patients: dict[str, str] = {}
ORTHANC_PATIENT_HEADER = "X-Medcloud-Orthanc-Patient"


def _grant_key(request: HttpRequest, study_uid: str | None, carries_phi: bool) -> tuple[str, str, bool] | None:
    credential = request.META.get("HTTP_AUTHORIZATION") or request.GET.get("token")
    if not credential or study_uid is None or settings.PACS_READ_GRANT_SECONDS <= 0:
        return None
    return hashlib.sha256(credential.encode()).hexdigest(), study_uid, carries_phi


def _remembered_grant(key: tuple[str, str, bool] | None) -> tuple[Any, Any] | None:
    if key is None:
        return None
    entry = _read_grants.get(key)
    if entry is None or entry[0] < time.monotonic():
        return None
    return entry[1], entry[2]


def _remember_grant(key: tuple[str, str, bool] | None, caller: Any, phi: Any) -> None:
    if key is None or phi is None:
        return
    if len(_read_grants) >= READ_GRANT_MAX_ENTRIES:
        _read_grants.clear()
    _read_grants[key] = (time.monotonic() + settings.PACS_READ_GRANT_SECONDS, caller, phi)


async def _db(fn: Any, *args: Any) -> Any:
    """Run database work in a worker thread of the default pool (not Django's single "thread-sensitive"
    thread, which would serialise every concurrent frame request). Each worker thread keeps its connection
    between requests; a connection that broke (database restarted) is dropped and the call retried once."""

    def call() -> Any:
        try:
            return fn(*args)
        except (InterfaceError, OperationalError):
            connection.close()
            return fn(*args)

    return await sync_to_async(call, thread_sensitive=False)()


def _client() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    client = _clients.get(id(loop))
    if client is None:
        client = _clients[id(loop)] = async_client(read_timeout=120)
    return client


def _loads(raw: bytes) -> Any:
    """DICOM JSON in (orjson: the metadata of a large study is parsed object by object on every view)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:  # what orjson refuses (integers beyond 64 bits), the standard parser takes
        return json.loads(raw)


def _dumps(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, separators=(",", ":")).encode()


def _error(status: int, code: str, message: str, **headers: str) -> JsonResponse:
    response = JsonResponse(error_body(status, code, message), status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


class BadQuery(ValueError):
    """A query this proxy does not forward; the message says why (no PHI in it)."""


QUERY_CONTROL_KEYS = {"includefield", "limit", "offset", "fuzzymatching"}
STUDY_UID_TAG = "0020000D"
SERIES_UID_TAG = "0020000E"
TAG_RE = re.compile(r"^[0-9A-Fa-f]{8}$")


def _attribute_tag(key: str) -> str | None:
    """The hex tag a QIDO matching key names (a keyword or a tag; Orthanc treats both as one key), else None."""
    if TAG_RE.match(key):
        return key.upper()
    tag = tag_for_keyword(key)
    return f"{tag:08X}" if tag is not None else None


def _upstream_params(request: HttpRequest) -> list[tuple[str, str]]:
    """The query, as Orthanc will read it. Only keys this proxy understands are forwarded: the QIDO controls
    and DICOM attributes (keyword or hex tag), each attribute once. Orthanc treats a keyword and its tag as
    the same key and the last one wins, so ``StudyInstanceUID=<mine>&0020000D=`` would widen a search that
    was authorised for one study: repeats and aliases are refused, not resolved. Comma-separated
    ``includefield`` (what OHIF sends) becomes repeated parameters (DICOMweb 1.7 ignores the commas)."""
    params: list[tuple[str, str]] = []
    seen: set[str] = set()
    for key, values in request.GET.lists():
        if key == "token":
            continue
        lowered = key.lower()
        if lowered in QUERY_CONTROL_KEYS:
            if lowered != "includefield" and len(values) > 1:
                raise BadQuery(f"the query parameter {key} is repeated")
            for value in values:
                if lowered == "includefield":
                    params.extend(("includefield", part.strip()) for part in value.split(",") if part.strip())
                else:
                    params.append((lowered, value))
            continue
        tag = _attribute_tag(key)
        if tag is None:
            raise BadQuery(f"the query parameter {key[:64]} is neither a DICOM keyword nor a tag")
        if tag in seen or len(values) > 1:
            raise BadQuery(f"the attribute {tag} appears more than once in the query (keyword and tag count as one)")
        seen.add(tag)
        params.append((tag, values[0]))
    return params


def _query_study_uid(params: list[tuple[str, str]]) -> str | None:
    """The study a series- or instance-level search at the root names (once, as a valid UID), else None."""
    values = [value for key, value in params if key == STUDY_UID_TAG]
    return values[0] if len(values) == 1 and UID_RE.match(values[0]) else None


def _parse_path(path: str) -> tuple[list[str], str | None]:
    """(segments, study UID or None); raises ValueError for a path this proxy does not serve."""
    segments = [s for s in path.strip("/").split("/") if s]
    if not segments or any(not SEGMENT_RE.match(s) or set(s) == {"."} for s in segments):
        raise ValueError("bad path")
    if segments[0] in ("series", "instances") and len(segments) == 1:
        return segments, None
    if segments[0] != "studies":
        raise ValueError("bad path")
    if len(segments) == 1:
        return segments, None
    if not UID_RE.match(segments[1]):
        raise ValueError("bad study UID")
    rest = segments[2:]
    if rest and rest[0] not in STUDY_SUBRESOURCES:
        raise ValueError("bad path")
    if len(rest) >= 2 and rest[0] == "series" and not UID_RE.match(rest[1]):
        raise ValueError("bad series UID")
    if len(rest) >= 4 and rest[2] == "instances" and not UID_RE.match(rest[3]):
        raise ValueError("bad instance UID")
    return segments, segments[1]


def _visible_uids(caller: Caller) -> list[str] | None:
    """None: no restriction (admins with a full credential)."""
    if caller.study_uid is not None:
        study = selectors.visible_study_by_uid(caller.user, caller.study_uid)
        return [study.study_instance_uid] if study else []
    if caller.user.is_admin:
        return None
    return list(selectors.studies_visible_to(caller.user).values_list("study_instance_uid", flat=True))


def _audit_read(caller: Caller, request: HttpRequest, study_uid: str,
                carries_phi: bool = True) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Checks access to one study, writes the aggregated audit event, and returns the PHI to restore."""
    if caller.study_uid is not None and caller.study_uid != study_uid:
        return None
    study = selectors.visible_study_by_uid(caller.user, study_uid)
    if study is None:
        return None
    key = f"pacs:dicomweb-read:{caller.user.pk}:{study.pk}"
    if cache.add(key, 1, timeout=AUDIT_WINDOW_SECONDS):
        record_event("dicomweb.read", actor=caller.user, request=request, target_type="study", target_id=study.pk,
                     details={"via": caller.via, "window_seconds": AUDIT_WINDOW_SECONDS})
    if carries_phi:
        return selectors.phi_for_study(study)
    if study_uid not in _orthanc_patients:
        if len(_orthanc_patients) >= READ_GRANT_MAX_ENTRIES:
            _orthanc_patients.clear()
        _orthanc_patients[study_uid] = selectors.orthanc_patient_id(study)
    return {}, {}


def _audit_search(caller: Caller, request: HttpRequest, count: int) -> None:
    key = f"pacs:dicomweb-search:{caller.user.pk}"
    if cache.add(key, 1, timeout=AUDIT_WINDOW_SECONDS):
        record_event("dicomweb.search", actor=caller.user, request=request, target_type="study",
                     details={"via": caller.via, "results": count, "window_seconds": AUDIT_WINDOW_SECONDS})


def _authenticate_and_read(request: HttpRequest, study_uid: str | None, carries_phi: bool) -> tuple[Any, Any]:
    """One trip to the worker thread: who is calling and, when a study is named and the caller may read
    patient data, the study's PHI (None when the caller may not see the study)."""
    caller = authenticate_sync(request)
    if caller is None or study_uid is None or not may_access_patient_data(caller.user):
        return caller, None
    return caller, _audit_read(caller, request, study_uid, carries_phi)


async def _authenticate(request: HttpRequest, study_uid: str | None = None,
                        carries_phi: bool = True) -> tuple[Caller | HttpResponse, Any]:
    grant_key = _grant_key(request, study_uid, carries_phi)
    remembered = _remembered_grant(grant_key)
    if remembered is not None:
        return remembered
    try:
        caller, phi = await _db(_authenticate_and_read, request, study_uid, carries_phi)
    except BadToken as exc:
        return _error(401, "not_authenticated", str(exc), WWW_Authenticate='Bearer realm="medcloud"'), None
    if caller is None:  # a cookie authenticates nothing here: the browser's viewer sends its viewer token
        return _error(401, "not_authenticated", "Authentication credentials were not provided.",
                      WWW_Authenticate='Bearer realm="medcloud"'), None
    if not may_access_patient_data(caller.user):
        return _error(403, "permission_denied", "Your account may not access patient data (a health "
                      "professional's certificate must be approved first)."), None
    _remember_grant(grant_key, caller, phi)
    return caller, phi


@csrf_exempt
async def dicomweb_proxy(request: HttpRequest, path: str) -> HttpResponse:
    try:
        segments, study_uid = _parse_path(path)
    except ValueError:
        segments, study_uid = [], None
    try:
        params = _upstream_params(request)
    except BadQuery as exc:
        return _error(400, "bad_query", str(exc))
    searching_root = study_uid is None and segments[:1] in (["series"], ["instances"])
    if searching_root and request.method == "GET":
        study_uid = _query_study_uid(params)
    elif study_uid is not None and any(key == STUDY_UID_TAG for key, _ in params):
        # the path names the study: a StudyInstanceUID in the query could only contradict it
        return _error(400, "bad_query", "The study is named by the path; StudyInstanceUID may not be queried too.")
    reading = request.method in ("GET", "HEAD") and study_uid is not None
    carries_phi = not any(s in PIXEL_ONLY for s in segments)
    caller, phi = await _authenticate(request, study_uid if reading else None, carries_phi)
    if isinstance(caller, HttpResponse):
        return caller
    if not segments:
        return _error(404, "not_found", "Not found.")
    if request.method == "POST":
        if segments[0] != "studies" or len(segments) > 2:
            return _error(405, "method_not_allowed", "Only STOW-RS (POST /dicom-web/studies) accepts POST.")
        return await _stow(request, caller, study_uid)
    if request.method not in ("GET", "HEAD"):
        return _error(405, "method_not_allowed", f"Method {request.method} is not allowed here.")

    if study_uid is None:  # a search at the root: studies, or series/instances of one named study
        if segments[0] != "studies":
            return _error(400, "study_required", "Searching series or instances needs a StudyInstanceUID "
                          "parameter (one study you may read).")
        return await _qido_studies(request, caller, params)

    if phi is None:
        return _error(404, "not_found", "Not found.")
    study_phi, series_phi = phi
    is_qido = segments[-1] in QIDO_LEVELS and not (len(segments) >= 2 and segments[-2] == "instances")
    if is_qido:  # every result must belong to the authorised study: ask Orthanc to say which each one is in
        params = [*params, ("includefield", STUDY_UID_TAG)]
    url = "/dicom-web/" + "/".join(segments)
    return await _forward(request, url, params, study_phi, series_phi, qido_study=study_uid if is_qido else None)


def _pixel_study_uid(original_path: str) -> str | None:
    """The study UID of a frames or bulk-data path (the only paths the front server authorises), else None."""
    if not original_path.startswith("/dicom-web/"):
        return None
    try:
        segments, study_uid = _parse_path(original_path[len("/dicom-web/"):])
    except ValueError:
        return None
    if study_uid is None or len(segments) < 8 or segments[6] not in ("frames", "bulk"):
        return None
    return study_uid


def _grant_headers(study_uid: str, grant_key: tuple[str, str, bool] | None) -> dict[str, str]:
    """The headers of a 204 to the front server: the patient's pseudonym (ADR 0008), and how long nginx may
    remember the answer (X-Accel-Expires, whole seconds): never beyond the backend's own grant, so that a
    revoked share or token is refused at most PACS_READ_GRANT_SECONDS after the revocation, not twice that."""
    pseudonym = _orthanc_patients.get(study_uid)
    headers = {ORTHANC_PATIENT_HEADER: pseudonym} if pseudonym else {}
    entry = _read_grants.get(grant_key) if grant_key is not None else None
    remaining = int(entry[0] - time.monotonic()) if entry is not None else 0
    headers["X-Accel-Expires"] = str(max(0, remaining))
    return headers


def _served_study_uid(raw_uri: str, served_path: str) -> tuple[str | None, str]:
    """(study UID, query) of the pixel request the front server asks about: the study of the path nginx will
    serve (``X-Served-URI``, normalised), and only when the client sent exactly that path (``X-Original-URI``,
    raw). A request whose raw path differs (``..``, ``%2e%2e``, ``%2f``, ``//``) is authorised for nothing: the
    grant would be checked on one path and the pixels served from another."""
    original = urlsplit(raw_uri)
    if not served_path or original.path != served_path:
        return None, original.query
    return _pixel_study_uid(served_path), original.query


def authz_remembered(scope: dict[str, Any]) -> dict[str, str] | None:
    """When a remembered read grant answers the front server's auth_request, the headers of that answer
    (lean_asgi.answer_remembered_authz, before Django builds a request); None otherwise. The same key as
    ``_grant_key``; a miss goes the full way."""
    if scope.get("method") not in ("GET", "HEAD") or not _read_grants:
        return None
    headers = dict(scope.get("headers") or [])
    study_uid, query = _served_study_uid(headers.get(b"x-original-uri", b"").decode("latin-1"),
                                         headers.get(b"x-served-uri", b"").decode("latin-1"))
    tokens = parse_qs(query).get("token") or []
    header = headers.get(b"authorization", b"").decode("latin-1")
    if len(tokens) > 1 or (header and tokens):
        return None  # one credential per request: the full way refuses the rest
    credential = header or (tokens or [""])[0]
    if study_uid is None or not credential or settings.PACS_READ_GRANT_SECONDS <= 0:
        return None
    key = (hashlib.sha256(credential.encode()).hexdigest(), study_uid, False)
    if _remembered_grant(key) is None:
        return None
    return _grant_headers(study_uid, key)


@csrf_exempt
async def dicomweb_authz(request: HttpRequest) -> HttpResponse:
    """The front server's ``auth_request`` for frames and bulk data (ADR 0006): may the caller of the
    request in ``X-Original-URI`` read its study? 204 yes; 403 for anything else (nginx then hands the
    request to the proxy above, which answers with the precise error). The same checks, audit and
    remembered grants as the proxy itself; nothing of the study is returned but its patient's pseudonym
    (ORTHANC_PATIENT_HEADER), with which the front server asks Orthanc for single frames (ADR 0008)."""
    denied = HttpResponse(status=403)
    if request.method not in ("GET", "HEAD"):
        return denied
    study_uid, query = _served_study_uid(request.META.get("HTTP_X_ORIGINAL_URI", ""),
                                         request.META.get("HTTP_X_SERVED_URI", ""))
    if study_uid is None:
        return denied
    request.GET = QueryDict(query)  # a viewer token may come as ?token=
    caller, phi = await _authenticate(request, study_uid, carries_phi=False)
    if isinstance(caller, HttpResponse) or phi is None:
        return denied
    granted = HttpResponse(status=204)
    for name, value in _grant_headers(study_uid, _grant_key(request, study_uid, False)).items():
        granted[name] = value
    return granted


def _upstream_headers(request: HttpRequest) -> dict[str, str]:
    headers = {"Forwarded": f"host={request.get_host()};proto={request.scheme}"}
    accept = request.META.get("HTTP_ACCEPT")
    if accept:
        headers["Accept"] = accept
    return headers


async def _send(request: HttpRequest, url: str, params: Any) -> httpx.Response | HttpResponse:
    client = _client()
    upstream = client.build_request("GET", url, params=params, headers=_upstream_headers(request))
    try:
        return await client.send(upstream, stream=True)
    except httpx.HTTPError:
        logger.warning("Orthanc unreachable for DICOMweb %s", url.split("?")[0])
        return _error(503, "upstream_unavailable", "The image store (Orthanc) is unavailable.")


async def _qido_studies(request: HttpRequest, caller: Caller, params: list[tuple[str, str]]) -> HttpResponse:
    visible = await _db(_visible_uids, caller)
    if visible is not None:
        if not visible:
            return HttpResponse(b"[]", content_type="application/dicom+json")
        if not any(k == STUDY_UID_TAG for k, _ in params) and len(visible) <= UID_LIST_MAX:
            params = [*params, (STUDY_UID_TAG, "\\".join(visible))]
    response = await _send(request, "/dicom-web/studies", params)
    if isinstance(response, HttpResponse):
        return response
    try:
        body = await response.aread()
    finally:
        await response.aclose()
    if response.status_code >= 400:
        return _error(response.status_code, "upstream_error", "The image store refused the search.")
    results = _loads(body) if body.strip() else []
    if visible is not None:
        allowed = set(visible)
        results = [r for r in results if _first(r, "0020000D") in allowed]
    phi = await _db(_search_phi, caller, request, [_first(r, "0020000D") for r in results])
    for item in results:
        restore_json(item, phi.get(_first(item, "0020000D") or "", {}), only_present=True)
    return HttpResponse(_dumps(results), content_type="application/dicom+json")


def _search_phi(caller: Caller, request: HttpRequest, uids: list[Any]) -> dict[str, dict[str, Any]]:
    _audit_search(caller, request, len(uids))
    return selectors.phi_for_study_uids([u for u in uids if u])


def _first(obj: dict[str, Any], tag: str) -> Any:
    values = obj.get(tag, {}).get("Value") or [None]
    return values[0]


async def _forward(request: HttpRequest, url: str, params: list[tuple[str, str]], study_phi: dict[str, Any],
                   series_phi: dict[str, dict[str, Any]], *, qido_study: str | None) -> HttpResponse:
    """Orthanc's answer for one authorised study. ``qido_study``: a search's results, kept only when they
    belong to that study (whatever the query said)."""
    response = await _send(request, url, params)
    if isinstance(response, HttpResponse):
        return response
    content_type = response.headers.get("content-type", "application/octet-stream")
    if response.status_code >= 400:
        await response.aread()
        await response.aclose()
        status = response.status_code if response.status_code in (400, 404, 406, 410) else 502
        return _error(status, "upstream_error", f"The image store answered {response.status_code}.")
    ctype = content_type.lower()
    if "json" in ctype:
        if qido_study is not None:
            try:
                body = await response.aread()
            finally:
                await response.aclose()
            results = [r for r in (_loads(body) if body.strip() else []) if _first(r, STUDY_UID_TAG) == qido_study]
            for item in results:
                restore_json(item, study_phi, only_present=True)
                restore_json(item, series_phi.get(_first(item, "0020000E") or "", {}), only_present=True)
            return HttpResponse(_dumps(results), content_type=content_type)
        stream: AsyncIterator[bytes] = _metadata_stream(response, study_phi, series_phi)
    elif ctype.startswith("multipart/related") and "application/dicom" in ctype and "+" not in ctype.split(
            "type=", 1)[-1][:20]:
        boundary = "medcloud-" + secrets.token_hex(12)
        stream = _instances_stream(response, study_phi, series_phi, boundary)
        content_type = f'multipart/related; type="application/dicom"; boundary={boundary}'
    else:
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) <= SMALL_BODY_BYTES:
            # A frame, a thumbnail: one send costs less than a stream of chunks; memory stays bounded.
            try:
                body = await response.aread()
            finally:
                await response.aclose()
            small = HttpResponse(body, status=response.status_code, content_type=content_type)
            small["Cache-Control"] = "no-store"
            return small
        stream = _passthrough(response)
    out = StreamingHttpResponse(stream, status=response.status_code, content_type=content_type)
    if stream.__name__ == "_passthrough" and "content-length" in response.headers:  # type: ignore[attr-defined]
        out["Content-Length"] = response.headers["content-length"]
    out["Cache-Control"] = "no-store"
    return out


async def _passthrough(response: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.aiter_raw():
            yield chunk
    finally:
        await response.aclose()


async def _metadata_stream(response: httpx.Response, study_phi: dict[str, Any],
                           series_phi: dict[str, dict[str, Any]]) -> AsyncIterator[bytes]:
    splitter = JsonArraySplitter()
    first = True
    try:
        yield b"["
        async for chunk in response.aiter_bytes():
            pieces = []
            for raw in splitter.feed(chunk):
                obj = _loads(raw)
                restore_json(obj, study_phi, only_present=False)
                restore_json(obj, series_phi.get(_first(obj, "0020000E") or "", {}), only_present=False)
                pieces.append(_dumps(obj))
            if pieces:
                yield (b"" if first else b",") + b",".join(pieces)
                first = False
        yield b"]"
    finally:
        await response.aclose()


async def _instances_stream(response: httpx.Response, study_phi: dict[str, Any],
                            series_phi: dict[str, dict[str, Any]], boundary: str) -> AsyncIterator[bytes]:
    """Whole instances with their PHI restored: each part is rewritten in a worker thread while the next
    ones are read (at most PIPELINE parts in flight, sent in order), so memory holds a few instances."""
    parser = MultipartParser(boundary_of(response.headers.get("content-type", "")))
    part = bytearray()
    delimiter = f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
    pending: deque[asyncio.Future[bytes]] = deque()
    try:
        async for chunk in response.aiter_bytes():
            for event, value in parser.feed(chunk):
                if event == "headers":
                    part = bytearray()
                elif event == "data":
                    part += value if isinstance(value, bytes) else b""
                elif event == "end_part":
                    pending.append(asyncio.ensure_future(
                        asyncio.to_thread(restore_instance_bytes, bytes(part), study_phi, series_phi)))
                    part = bytearray()
            while pending and (len(pending) >= PIPELINE or pending[0].done()):
                yield delimiter + await pending.popleft() + b"\r\n"
        while pending:
            yield delimiter + await pending.popleft() + b"\r\n"
        yield f"--{boundary}--\r\n".encode()
    finally:
        for future in pending:
            future.cancel()
        await response.aclose()


# --- STOW-RS -------------------------------------------------------------------------------------------------

async def _stow(request: HttpRequest, caller: Caller, study_uid: str | None) -> HttpResponse:
    if caller.via == "viewer_token":
        return _error(403, "permission_denied", "A viewer token may not store instances.")
    try:
        body = await sync_to_async(_stow_sync)(request, caller, study_uid)
    except ServiceError as exc:
        codes = exc.get_codes()
        return JsonResponse(error_body(exc.status_code, codes if isinstance(codes, str) else "invalid",
                                       str(exc.detail), getattr(exc, "extra_details", {})), status=exc.status_code)
    return HttpResponse(json.dumps(body), status=200, content_type="application/dicom+json")


def _stow_sync(request: HttpRequest, caller: Caller, study_uid: str | None) -> dict[str, Any]:
    from .services import ingest

    check_declared_size(request)
    with upload_batch() as batch:
        batch.add_stow_body(request.META.get("CONTENT_TYPE", ""), request)
        result = ingest(batch, user=caller.user, request=request, source="stow", expected_study_uid=study_uid)
    base = f"{request.scheme}://{request.get_host()}/dicom-web/studies"
    referenced = []
    for item in result.instances:
        referenced.append({
            "00081150": {"vr": "UI", "Value": [item.sop_class_uid]},
            "00081155": {"vr": "UI", "Value": [item.sop_instance_uid]},
            "00081190": {"vr": "UR", "Value": [f"{base}/{item.study_uid}/series/{item.series_uid}/instances/"
                                               f"{item.sop_instance_uid}"]},
        })
    body: dict[str, Any] = {"00081199": {"vr": "SQ", "Value": referenced}}
    if len(result.studies) == 1:
        body["00081190"] = {"vr": "UR", "Value": [f"{base}/{result.studies[0].study_instance_uid}"]}
    return body

