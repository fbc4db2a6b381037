"""No endpoint answers without authentication: every route of the API and the DICOMweb proxy, every method,
over real HTTP, refuses an anonymous caller, except the few that exist for signing in."""

from __future__ import annotations

import re

import httpx
import pytest
from django.urls import get_resolver
from django.urls.resolvers import URLResolver

# Routes an anonymous caller must reach, with the methods that are public there.
PUBLIC = {
    "api/health/": {"GET"},
    "api/schema/": {"GET"},
    "api/docs/": {"GET"},
    "api/auth/users/": {"POST"},  # sign-up
    "api/auth/users/activation/": {"POST"},
    "api/auth/users/resend_activation/": {"POST"},
    "api/auth/users/reset_password/": {"POST"},
    "api/auth/users/reset_password_confirm/": {"POST"},
    "api/auth/users/reset_email/": {"POST"},
    "api/auth/users/reset_email_confirm/": {"POST"},
    "api/auth/jwt/create/": {"POST"},
    "api/auth/jwt/2fa/": {"POST"},
    "api/auth/jwt/refresh/": {"POST"},
    "api/auth/jwt/verify/": {"POST"},
    "api/auth/providers/": {"GET"},
    "api/auth/o/github/": {"GET", "POST"},
}
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
SAMPLE_STUDY_UID = "1.2.3.4"


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern)


def _concrete(route: str) -> str:
    """A real path for a route: ids become 1, the provider github, the DICOMweb path a study."""
    path = re.sub(r"<int:[a-z_]+>", "1", route)
    path = re.sub(r"<uuid:[a-z_]+>", "6fb8d52d-388d-4acc-b8bc-cbb98e9486bb", path)
    path = path.replace("(?P<id>[^/.]+)", "1").replace("(?P<provider>[a-z0-9-]+)", "github")
    path = path.replace("(?P<path>.*)", f"studies/{SAMPLE_STUDY_UID}/metadata")
    return path.replace("^", "").replace("$", "")


def api_routes() -> list[str]:
    routes = [_concrete(r) for r in _walk(get_resolver().url_patterns)]
    return sorted({r for r in routes if r.startswith(("api/", "dicom-web/", "dicom-web-authz"))})


def test_the_route_table_is_what_this_test_knows() -> None:
    routes = api_routes()
    assert len(routes) >= 50
    assert set(PUBLIC) <= set(routes), set(PUBLIC) - set(routes)
    assert "dicom-web/studies/1.2.3.4/metadata" in routes
    assert "dicom-web-authz" in routes  # the front server's auth_request: it must refuse anonymous callers too


@pytest.mark.django_db(transaction=True)
def test_every_other_route_refuses_anonymous_callers(live_https: str) -> None:
    answered = []
    with httpx.Client(base_url=live_https, verify=False, timeout=20) as client:
        for route in api_routes():
            for method in METHODS:
                if method in PUBLIC.get(route, set()):
                    continue
                response = client.request(method, "/" + route)
                if route in PUBLIC and response.status_code == 405:
                    continue
                if route == "dicom-web-authz" and response.status_code == 404:
                    continue  # nginx's alone: the front server does not route it from outside (test_front.py)
                if response.status_code not in (401, 403, 405):
                    answered.append((method, route, response.status_code))
                elif response.status_code == 401:
                    assert set(response.json()["error"]) >= {"status", "code", "message"}, (method, route)
    assert answered == [], f"answered an anonymous caller: {answered}"
