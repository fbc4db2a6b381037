"""The API's contract that every later endpoint inherits: HTTP/2, deny by default, one error shape, OpenAPI."""

from __future__ import annotations

import httpx
import pytest


@pytest.mark.django_db(transaction=True)
def test_server_negotiates_http2_over_tls(live_https: str) -> None:
    with httpx.Client(http2=True, verify=False) as client:
        response = client.get(f"{live_https}/api/schema/")
    assert response.http_version == "HTTP/2"
    assert response.status_code == 200
    assert b"openapi:" in response.content and b"/api/health/" in response.content


@pytest.mark.django_db(transaction=True)
def test_unknown_api_path_uses_the_error_shape(live_https: str) -> None:
    response = httpx.get(f"{live_https}/api/no-such-endpoint/", verify=False)
    assert response.status_code == 404
    assert response.json() == {"error": {"status": 404, "code": "not_found", "message": "Not found.", "details": {}}}


@pytest.mark.django_db(transaction=True)
def test_spa_is_served_same_origin(live_https: str) -> None:
    for path in ("/", "/studies/some-client-route"):
        response = httpx.get(f"{live_https}{path}", verify=False)
        assert response.status_code == 200
        assert '<div id="root">' in response.text


@pytest.mark.django_db(transaction=True)
def test_interactive_docs_are_served(live_https: str) -> None:
    response = httpx.get(f"{live_https}/api/docs/", verify=False)
    assert response.status_code == 200
    assert "swagger" in response.text.lower()
