"""One error shape for every API error:

    {"error": {"status": 404, "code": "not_found", "message": "...", "details": {...}}}

`details` carries field errors for validation failures; `message` is always a sentence a person can read.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class ApplicationError(Exception):
    """Raised by services and selectors for a failure the caller can act on: a code (the table below gives its
    HTTP status), a sentence a person can read, and details. Nothing about HTTP here: the API's exception
    handler, and the DICOMweb proxy (`error_response`), turn it into the one error shape."""

    default_code = "invalid"

    def __init__(self, message: str, code: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details = details or {}

    @property
    def status_code(self) -> int:
        return status_for(self.code)


class UpstreamUnavailable(ApplicationError):
    default_code = "upstream_unavailable"


# Every application error code and its HTTP status; a code not listed is a 400.
STATUS_BY_CODE: dict[str, int] = {
    # 401: who is calling is not established
    **dict.fromkeys(("not_authenticated", "authentication_failed", "challenge_expired", "challenge_invalid",
                     "challenge_used", "invalid_code", "code_reused", "invalid_recovery_code",
                     "recovery_code_used"), status.HTTP_401_UNAUTHORIZED),
    # 403: known caller, not allowed
    **dict.fromkeys(("permission_denied", "invalid_password", "two_factor_required", "account_deactivated"),
                    status.HTTP_403_FORBIDDEN),
    "not_found": status.HTTP_404_NOT_FOUND,
    # 409: the request contradicts the state of things
    **dict.fromkeys(("conflict", "study_mismatch", "inconsistent_series", "study_exists", "patient_mismatch",
                     "already_enabled", "already_pending", "already_decided", "last_manager"),
                    status.HTTP_409_CONFLICT),
    # 413 / 415: the body
    **dict.fromkeys(("too_large", "too_many_files", "file_too_large"), status.HTTP_413_REQUEST_ENTITY_TOO_LARGE),
    **dict.fromkeys(("unsupported_media_type", "unsupported_file_type"), status.HTTP_415_UNSUPPORTED_MEDIA_TYPE),
    "locked_out": status.HTTP_429_TOO_MANY_REQUESTS,
    "upstream_unavailable": status.HTTP_503_SERVICE_UNAVAILABLE,
}


def status_for(code: str) -> int:
    return STATUS_BY_CODE.get(code, status.HTTP_400_BAD_REQUEST)


def error_body(status_code: int, code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"status": status_code, "code": code, "message": message, "details": details or {}}}


def _first_message(detail: Any) -> str:
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    if isinstance(detail, dict) and detail:
        key, value = next(iter(detail.items()))
        message = _first_message(value)
        return message if key in ("non_field_errors", "detail") else f"{key}: {message}"
    return str(detail)


def error_response(exc: ApplicationError) -> JsonResponse:
    """An application error in the one error shape, for views outside DRF (the DICOMweb proxy)."""
    return JsonResponse(error_body(exc.status_code, exc.code, exc.message, exc.details), status=exc.status_code)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.status_code, exc.code, exc.message, exc.details), status=exc.status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None  # unexpected errors become a 500 through handler500, never a traceback
    assert isinstance(exc, exceptions.APIException)
    codes = exc.get_codes()
    if isinstance(exc, exceptions.ValidationError):
        code = "invalid"
        details = exc.detail
        message = _first_message(exc.detail)
    else:
        code = codes if isinstance(codes, str) else "error"
        details = getattr(exc, "extra_details", {})
        message = str(exc.detail) if not isinstance(exc.detail, (list, dict)) else _first_message(exc.detail)
    response.data = error_body(response.status_code, code, message, details)
    return response


def json_404(request, exception=None) -> JsonResponse:
    return JsonResponse(error_body(404, "not_found", "Not found."), status=404)


def json_500(request) -> JsonResponse:
    return JsonResponse(error_body(500, "server_error", "An unexpected error occurred."), status=500)


def json_403(request, exception=None) -> JsonResponse:
    return JsonResponse(error_body(403, "permission_denied", "You may not do this."), status=403)


def json_400(request, exception=None) -> JsonResponse:
    return JsonResponse(error_body(400, "bad_request", "Bad request."), status=400)
