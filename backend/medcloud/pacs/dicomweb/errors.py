"""The proxy's errors, in the one error shape of `core/errors.py`."""

from __future__ import annotations

from django.http import JsonResponse

from medcloud.core.errors import error_body


def error(status: int, code: str, message: str, **headers: str) -> JsonResponse:
    response = JsonResponse(error_body(status, code, message), status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response
