"""drf-spectacular description of MedCloud's authentication classes."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "medcloud.accounts.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        scheme = build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Bearer")  # noqa: S106
        scheme["description"] = "A personal API token (mct_...), created at /api/auth/tokens/"
        return scheme


from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme  # noqa: E402


class RevocableJWTScheme(SimpleJWTScheme):
    target_class = "medcloud.accounts.authentication.RevocableJWTAuthentication"
    name = "jwtAuth"
