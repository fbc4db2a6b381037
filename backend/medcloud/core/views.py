from __future__ import annotations

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .errors import json_404
from .selectors import platform_health


class HealthView(APIView):
    """Liveness of every component. Public on purpose (load balancers call it); it shows no user data, and the
    components' details (versions, error texts) only to an admin."""

    permission_classes = [AllowAny]

    @extend_schema(
        responses={
            200: inline_serializer(
                "Health", {"status": serializers.CharField(), "components": serializers.DictField()}
            ),
            503: inline_serializer("HealthDegraded", {"status": serializers.CharField(),
                                                      "components": serializers.DictField()}),
        },
        summary="State of the database, Redis, Orthanc and the worker, with latencies (details: admins only)",
    )
    def get(self, request: Request) -> Response:
        user = request.user
        report = platform_health(detailed=bool(user is not None and user.is_authenticated and user.is_admin))
        return Response(report, status=200 if report["status"] == "ok" else 503)


def spa_index(request: HttpRequest) -> HttpResponse:
    """Client-side routes of the single-page app all load its index.html."""
    index = settings.FRONTEND_DIST / "index.html"
    if not index.exists():
        return json_404(request)
    return FileResponse(index.open("rb"), content_type="text/html")
