"""STOW-RS (`POST /dicom-web/studies[/{uid}]`): the body goes through the same ingest as every upload
(`services.ingest`), answered with the STOW JSON of the referenced instances and their RetrieveURLs."""

from __future__ import annotations

import json
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse

from medcloud.core.errors import ApplicationError, error_response

from ..auth import Caller
from ..uploads import check_declared_size, upload_batch
from .errors import error


async def stow(request: HttpRequest, caller: Caller, study_uid: str | None) -> HttpResponse:
    if caller.via == "viewer_token":
        return error(403, "permission_denied", "A viewer token may not store instances.")
    try:
        body = await sync_to_async(_stow_sync)(request, caller, study_uid)
    except ApplicationError as exc:
        return error_response(exc)  # core/errors.py: the code's status, the one error shape
    return HttpResponse(json.dumps(body), status=200, content_type="application/dicom+json")


def _stow_sync(request: HttpRequest, caller: Caller, study_uid: str | None) -> dict[str, Any]:
    from ..services import ingest

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
