"""The two async views: the DICOMweb proxy (`/dicom-web/...`) and the front server's `auth_request`
(`/dicom-web-authz`). They parse the request, authenticate and authorise it (`access`), and hand it to the
search (`query`), the study's streamed answer (`streams`) or the store (`stow`)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, QueryDict
from django.views.decorators.csrf import csrf_exempt

from . import grants
from .access import authenticate
from .errors import error
from .paths import QIDO_LEVELS, carries_phi, parse_path, served_study_uid
from .query import BadQuery, in_study, names_study, query_study_uid, search_studies, upstream_params
from .stow import stow
from .streams import forward


@csrf_exempt
async def dicomweb_proxy(request: HttpRequest, path: str) -> HttpResponse:
    try:
        segments, study_uid = parse_path(path)
    except ValueError:
        segments, study_uid = [], None
    try:
        params = upstream_params(request)
    except BadQuery as exc:
        return error(400, "bad_query", str(exc))
    searching_root = study_uid is None and segments[:1] in (["series"], ["instances"])
    if searching_root and request.method == "GET":
        study_uid = query_study_uid(params)
    elif study_uid is not None and names_study(params):
        # the path names the study: a StudyInstanceUID in the query could only contradict it
        return error(400, "bad_query", "The study is named by the path; StudyInstanceUID may not be queried too.")
    reading = request.method in ("GET", "HEAD") and study_uid is not None
    caller, phi = await authenticate(request, study_uid if reading else None, carries_phi(segments))
    if isinstance(caller, HttpResponse):
        return caller
    if not segments:
        return error(404, "not_found", "Not found.")
    if request.method == "POST":
        if segments[0] != "studies" or len(segments) > 2:
            return error(405, "method_not_allowed", "Only STOW-RS (POST /dicom-web/studies) accepts POST.")
        return await stow(request, caller, study_uid)
    if request.method not in ("GET", "HEAD"):
        return error(405, "method_not_allowed", f"Method {request.method} is not allowed here.")

    if study_uid is None:  # a search at the root: studies, or series/instances of one named study
        if segments[0] != "studies":
            return error(400, "study_required", "Searching series or instances needs a StudyInstanceUID "
                         "parameter (one study you may read).")
        return await search_studies(request, caller, params)

    if phi is None:
        return error(404, "not_found", "Not found.")
    study_phi, series_phi = phi
    is_qido = segments[-1] in QIDO_LEVELS and not (len(segments) >= 2 and segments[-2] == "instances")
    if is_qido:  # every result must belong to the authorised study: ask Orthanc to say which each one is in
        params = in_study(params)
    url = "/dicom-web/" + "/".join(segments)
    return await forward(request, url, params, study_phi, series_phi, qido_study=study_uid if is_qido else None)


@csrf_exempt
async def dicomweb_authz(request: HttpRequest) -> HttpResponse:
    """The front server's ``auth_request`` for frames and bulk data (ADR 0006): may the caller of the
    request in ``X-Original-URI`` read its study? 204 yes; 403 for anything else (nginx then hands the
    request to the proxy above, which answers with the precise error). The same checks, audit and
    remembered grants as the proxy itself; nothing of the study is returned but its patient's pseudonym
    (grants.ORTHANC_PATIENT_HEADER), with which the front server asks Orthanc for single frames (ADR 0008)."""
    denied = HttpResponse(status=403)
    if request.method not in ("GET", "HEAD"):
        return denied
    study_uid, query = served_study_uid(request.META.get("HTTP_X_ORIGINAL_URI", ""),
                                        request.META.get("HTTP_X_SERVED_URI", ""))
    if study_uid is None:
        return denied
    request.GET = QueryDict(query)  # a viewer token may come as ?token=
    caller, phi = await authenticate(request, study_uid, carries_phi=False)
    if isinstance(caller, HttpResponse) or phi is None:
        return denied
    granted = HttpResponse(status=204)
    for name, value in grants.grant_headers(study_uid, grants.grant_key(request, study_uid, False)).items():
        granted[name] = value
    return granted
