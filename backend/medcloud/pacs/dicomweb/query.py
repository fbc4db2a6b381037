"""QIDO-RS: the query parameters the proxy forwards (a whitelist), and the searches it answers.

Orthanc treats a keyword and its hex tag as one key (`StudyInstanceUID` = `0020000D`), the last one wins, and
an empty value matches everything: only the QIDO controls and DICOM attributes are forwarded, each attribute
once; a repeat or an alias is refused. Every answer is filtered again by the studies the caller may read, and
the PHI of the attributes present is put back."""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest, HttpResponse
from pydicom.datadict import tag_for_keyword

from .. import selectors
from ..auth import Caller
from ..dicom import UID_RE, restore_json
from .access import audit_search, in_db_thread, visible_uids
from .dicomjson import SERIES_UID_TAG, STUDY_UID_TAG, dumps, first, loads
from .errors import error
from .upstream import send

QUERY_CONTROL_KEYS = {"includefield", "limit", "offset", "fuzzymatching"}
TAG_RE = re.compile(r"^[0-9A-Fa-f]{8}$")
UID_LIST_MAX = 200


class BadQuery(ValueError):
    """A query this proxy does not forward; the message says why (no PHI in it)."""


def _attribute_tag(key: str) -> str | None:
    """The hex tag a QIDO matching key names (a keyword or a tag; Orthanc treats both as one key), else None."""
    if TAG_RE.match(key):
        return key.upper()
    tag = tag_for_keyword(key)
    return f"{tag:08X}" if tag is not None else None


def upstream_params(request: HttpRequest) -> list[tuple[str, str]]:
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


def query_study_uid(params: list[tuple[str, str]]) -> str | None:
    """The study a series- or instance-level search at the root names (once, as a valid UID), else None."""
    values = [value for key, value in params if key == STUDY_UID_TAG]
    return values[0] if len(values) == 1 and UID_RE.match(values[0]) else None


def names_study(params: list[tuple[str, str]]) -> bool:
    return any(key == STUDY_UID_TAG for key, _ in params)


def in_study(params: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A search within one authorised study: ask Orthanc to say which study each result is in."""
    return [*params, ("includefield", STUDY_UID_TAG)]


def results_of_study(body: bytes, study_uid: str, study_phi: dict[str, Any],
                     series_phi: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """A series- or instance-level search's results: only those of `study_uid` (whatever the query said),
    with the PHI of the attributes present restored."""
    results = [r for r in (loads(body) if body.strip() else []) if first(r, STUDY_UID_TAG) == study_uid]
    for item in results:
        restore_json(item, study_phi, only_present=True)
        restore_json(item, series_phi.get(first(item, SERIES_UID_TAG) or "", {}), only_present=True)
    return results


async def search_studies(request: HttpRequest, caller: Caller, params: list[tuple[str, str]]) -> HttpResponse:
    """A study-level search at the root, narrowed to the caller's studies (a UID list parameter when they are
    at most UID_LIST_MAX) and always filtered again."""
    visible = await in_db_thread(visible_uids, caller)
    if visible is not None:
        if not visible:
            return HttpResponse(b"[]", content_type="application/dicom+json")
        if not names_study(params) and len(visible) <= UID_LIST_MAX:
            params = [*params, (STUDY_UID_TAG, "\\".join(visible))]
    response = await send(request, "/dicom-web/studies", params)
    if isinstance(response, HttpResponse):
        return response
    try:
        body = await response.aread()
    finally:
        await response.aclose()
    if response.status_code >= 400:
        return error(response.status_code, "upstream_error", "The image store refused the search.")
    results = loads(body) if body.strip() else []
    if visible is not None:
        allowed = set(visible)
        results = [r for r in results if first(r, STUDY_UID_TAG) in allowed]
    phi = await in_db_thread(_search_phi, caller, request, [first(r, STUDY_UID_TAG) for r in results])
    for item in results:
        restore_json(item, phi.get(first(item, STUDY_UID_TAG) or "", {}), only_present=True)
    return HttpResponse(dumps(results), content_type="application/dicom+json")


def _search_phi(caller: Caller, request: HttpRequest, uids: list[Any]) -> dict[str, dict[str, Any]]:
    audit_search(caller, request, len(uids))
    return selectors.phi_for_study_uids([u for u in uids if u])
