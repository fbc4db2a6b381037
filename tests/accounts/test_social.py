"""Social sign-in over real HTTP: the backend (social-auth-app-django through djoser's /api/auth/o/<provider>/)
talks to a fake OAuth2 provider running on loopback as Google and as GitHub. Nothing in the library is mocked."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from tests.accounts.conftest import REDIRECT_URI, assert_error, bearer, make_user, sign_in, totp_code, unique_email

pytestmark = pytest.mark.django_db(transaction=True)


def authorise(auth_server, client: httpx.Client, provider: str, identity: dict) -> dict[str, str]:
    """Steps 1 and 2 of the dance: the backend's authorisation URL, then the provider's redirect back."""
    start = client.get(f"/api/auth/o/{provider}/", params={"redirect_uri": REDIRECT_URI})
    assert start.status_code == 200, start.text
    url = start.json()["authorization_url"]
    assert url.startswith(auth_server.provider.base_url)
    auth_server.provider.next_identity = identity
    redirect = httpx.get(url, follow_redirects=False)  # the user's browser at the provider
    assert redirect.status_code == 302
    location = urlparse(redirect.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def complete(client: httpx.Client, provider: str, params: dict[str, str]) -> httpx.Response:
    """Step 3: the single-page app hands code and state to the backend, which swaps them at the provider."""
    return client.post(f"/api/auth/o/{provider}/", params=params)


def test_only_configured_providers_are_offered(auth_server) -> None:
    with auth_server.client() as client:
        providers = client.get("/api/auth/providers/")
        assert providers.status_code == 200
        assert [p["name"] for p in providers.json()] == ["google-oauth2", "github"]
        assert_error(client.get("/api/auth/o/facebook/", params={"redirect_uri": REDIRECT_URI}), 404, "not_found",
                     "not offered")
        assert_error(client.get("/api/auth/o/google-oauth2/", params={"redirect_uri": "https://evil.example/cb"}),
                     400, "invalid_redirect_uri")


def test_google_sign_in_creates_a_researcher_then_signs_the_same_user_in(auth_server) -> None:
    from medcloud.accounts.models import User

    address = unique_email("social")
    identity = {"id": uuid.uuid4().hex, "email": address, "verified": True, "name": "Sam Social"}
    with auth_server.client() as client:
        params = authorise(auth_server, client, "google-oauth2", identity)
        done = complete(client, "google-oauth2", params)
        assert done.status_code == 201, done.text
        assert done.json()["two_factor_required"] is False
        me = client.get("/api/auth/users/me/", headers=bearer(done.json()["access"])).json()
        assert me["email"] == address and me["role"] == "researcher" and me["full_name"] == "Sam Social"

        again = complete(client, "google-oauth2", authorise(auth_server, client, "google-oauth2", identity))
        assert again.status_code == 201
        assert client.get("/api/auth/users/me/", headers=bearer(again.json()["access"])).json()["id"] == me["id"]
        # A code is good once: the provider refuses it the second time.
        assert_error(complete(client, "google-oauth2", params), 400)
    assert User.objects.filter(email=address).count() == 1
    assert not User.objects.get(email=address).has_usable_password()


def test_social_account_links_to_the_existing_user_and_2fa_still_applies(auth_server) -> None:
    from medcloud.audit.models import AuditEvent

    user = make_user()
    with auth_server.client() as client:
        access = sign_in(client, user.email)["access"]
        secret = client.post("/api/auth/2fa/setup/", headers=bearer(access)).json()["secret"]
        client.post("/api/auth/2fa/confirm/", headers=bearer(access), json={"code": totp_code(secret)})

        identity = {"id": str(uuid.uuid4().int % 10**8), "email": user.email, "verified": True, "name": "Octo"}
        done = complete(client, "github", authorise(auth_server, client, "github", identity))
        assert done.status_code == 201, done.text
        body = done.json()
        assert body["two_factor_required"] is True and "access" not in body and "refresh" not in body
        step2 = client.post("/api/auth/jwt/2fa/", json={"challenge": body["challenge"], "code": totp_code(secret, 1)})
        assert step2.status_code == 200, step2.text
        me = client.get("/api/auth/users/me/", headers=bearer(step2.json()["access"])).json()
        assert me["id"] == user.pk
    assert AuditEvent.objects.filter(action="auth.social.link", actor=user).exists()
    assert user.social_auth.filter(provider="github").exists()


def test_unverified_addresses_are_neither_linked_nor_signed_up(auth_server) -> None:
    from medcloud.accounts.models import User

    existing = make_user()
    with auth_server.client() as client:
        for provider, address in (("google-oauth2", existing.email), ("github", existing.email),
                                  ("google-oauth2", unique_email("unverified"))):
            identity = {"id": str(uuid.uuid4().int % 10**8), "email": address, "verified": False}
            refused = complete(client, provider, authorise(auth_server, client, provider, identity))
            message = assert_error(refused, 400, "invalid")["message"]
            assert "verified email" in message or "did not confirm an e-mail address" in message, message
            assert existing.social_auth.count() == 0
        assert User.objects.filter(email__startswith="unverified-").count() == 0


def test_a_forged_state_is_refused(auth_server) -> None:
    identity = {"id": uuid.uuid4().hex, "email": unique_email("state"), "verified": True}
    with auth_server.client() as client:
        params = authorise(auth_server, client, "google-oauth2", identity)
        assert_error(complete(client, "google-oauth2", {**params, "state": "forged"}), 400, "invalid",
                     "session is unavailable")
    with auth_server.client() as other_browser:  # no session: the state was issued to someone else
        assert_error(complete(other_browser, "google-oauth2", params), 400, "invalid", "session is unavailable")
    with auth_server.client() as client:  # the genuine state in the genuine session still works
        params = authorise(auth_server, client, "google-oauth2", identity)
        assert complete(client, "google-oauth2", params).status_code == 201
