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


class ServiceError(exceptions.APIException):
    """Raised by services for a business-rule failure that the caller can act on."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"
    default_detail = "The request could not be processed."

    def __init__(self, message: str, code: str | None = None, status_code: int | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(detail=message, code=code or self.default_code)
        if status_code is not None:
            self.status_code = status_code
        self.extra_details = details or {}


class UpstreamUnavailable(ServiceError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "upstream_unavailable"


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


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
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
