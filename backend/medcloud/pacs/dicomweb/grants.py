"""Remembered read grants and the front server's authorisation answers.

A viewer fetches a study's frames in a burst of hundreds of requests with the same credential, and
re-checking each one (token, user, study, shares, audit) cost more than Orthanc's own answer. A granted read
is therefore remembered in the process for PACS_READ_GRANT_SECONDS per (credential, study, PHI or not); only
grants are remembered, never refusals, so a revoked share or token stops being honoured after at most that
long. The front server (nginx) remembers a grant only for what is left of this one (`X-Accel-Expires`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings
from django.http import HttpRequest

from .paths import served_study_uid

GrantKey = tuple[str, str, bool]

_read_grants: dict[GrantKey, tuple[float, Any, Any]] = {}
READ_GRANT_MAX_ENTRIES = 4096
# Each study's patient pseudonym (Orthanc's PatientID), sent with a frames grant: the front server names the
# instance to Orthanc's frame route with it (ADR 0008). Not PHI: random, and Orthanc's index holds it anyway.
_orthanc_patients: dict[str, str] = {}
ORTHANC_PATIENT_HEADER = "X-Medcloud-Orthanc-Patient"


def _key(credential: str, study_uid: str, carries_phi: bool) -> GrantKey:
    return hashlib.sha256(credential.encode()).hexdigest(), study_uid, carries_phi


def grant_key(request: HttpRequest, study_uid: str | None, carries_phi: bool) -> GrantKey | None:
    credential = request.META.get("HTTP_AUTHORIZATION") or request.GET.get("token")
    if not credential or study_uid is None or settings.PACS_READ_GRANT_SECONDS <= 0:
        return None
    return _key(credential, study_uid, carries_phi)


def remembered_grant(key: GrantKey | None) -> tuple[Any, Any] | None:
    """(caller, PHI) of a grant still remembered under `key`, else None."""
    if key is None:
        return None
    entry = _read_grants.get(key)
    if entry is None or entry[0] < time.monotonic():
        return None
    return entry[1], entry[2]


def remember_grant(key: GrantKey | None, caller: Any, phi: Any) -> None:
    if key is None or phi is None:
        return
    if len(_read_grants) >= READ_GRANT_MAX_ENTRIES:
        _read_grants.clear()
    _read_grants[key] = (time.monotonic() + settings.PACS_READ_GRANT_SECONDS, caller, phi)


def remember_pseudonym(study_uid: str, pseudonym_of: Callable[[], str]) -> None:
    """Keep the study's patient pseudonym for the frames grants' header (looked up once per process)."""
    if study_uid not in _orthanc_patients:
        if len(_orthanc_patients) >= READ_GRANT_MAX_ENTRIES:
            _orthanc_patients.clear()
        _orthanc_patients[study_uid] = pseudonym_of()


def grant_headers(study_uid: str, key: GrantKey | None) -> dict[str, str]:
    """The headers of a 204 to the front server: the patient's pseudonym (ADR 0008), and how long nginx may
    remember the answer (X-Accel-Expires, whole seconds): never beyond the backend's own grant, so that a
    revoked share or token is refused at most PACS_READ_GRANT_SECONDS after the revocation, not twice that."""
    pseudonym = _orthanc_patients.get(study_uid)
    headers = {ORTHANC_PATIENT_HEADER: pseudonym} if pseudonym else {}
    entry = _read_grants.get(key) if key is not None else None
    remaining = int(entry[0] - time.monotonic()) if entry is not None else 0
    headers["X-Accel-Expires"] = str(max(0, remaining))
    return headers


def authz_remembered(scope: dict[str, Any]) -> dict[str, str] | None:
    """When a remembered read grant answers the front server's auth_request, the headers of that answer
    (lean_asgi.answer_remembered_authz, before Django builds a request); None otherwise. The same key as
    ``grant_key``; a miss goes the full way."""
    if scope.get("method") not in ("GET", "HEAD") or not _read_grants:
        return None
    headers = dict(scope.get("headers") or [])
    study_uid, query = served_study_uid(headers.get(b"x-original-uri", b"").decode("latin-1"),
                                        headers.get(b"x-served-uri", b"").decode("latin-1"))
    tokens = parse_qs(query).get("token") or []
    header = headers.get(b"authorization", b"").decode("latin-1")
    if len(tokens) > 1 or (header and tokens):
        return None  # one credential per request: the full way refuses the rest
    credential = header or (tokens or [""])[0]
    if study_uid is None or not credential or settings.PACS_READ_GRANT_SECONDS <= 0:
        return None
    key = _key(credential, study_uid, False)
    if remembered_grant(key) is None:
        return None
    return grant_headers(study_uid, key)
