"""Personal API tokens: shown once, stored hashed, last use recorded, revocable, expiring; researchers only."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.accounts.conftest import assert_error, bearer, make_user, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_researcher_creates_uses_lists_and_revokes_a_token(auth_server) -> None:
    from django.db import connection

    from medcloud.accounts.models import ApiToken
    from medcloud.audit.models import AuditEvent

    researcher = make_user()
    with auth_server.client() as client:
        access = sign_in(client, researcher.email)["access"]
        created = client.post("/api/auth/tokens/", headers=bearer(access), json={"name": "notebook"})
        assert created.status_code == 201, created.text
        raw = created.json()["token"]
        assert raw.startswith("mct_") and created.json()["last_used_at"] is None

        listed = client.get("/api/auth/tokens/", headers=bearer(access)).json()
        assert [t["name"] for t in listed] == ["notebook"] and "token" not in listed[0]

        # Scripts use it as a bearer token (or with the "Token" keyword).
        for header in (f"Bearer {raw}", f"Token {raw}"):
            me = client.get("/api/auth/users/me/", headers={"Authorization": header})
            assert me.status_code == 200 and me.json()["email"] == researcher.email
        assert client.get("/api/auth/tokens/", headers=bearer(access)).json()[0]["last_used_at"] is not None

        # A token cannot mint tokens or touch 2FA: that takes a password sign-in.
        assert_error(client.post("/api/auth/tokens/", headers=bearer(raw), json={"name": "more"}), 403,
                     "permission_denied", "Personal API tokens cannot do this")
        assert_error(client.post("/api/auth/2fa/setup/", headers=bearer(raw)), 403, "permission_denied")

        token_id = created.json()["id"]
        assert client.delete(f"/api/auth/tokens/{token_id}/", headers=bearer(access)).status_code == 204
        assert_error(client.get("/api/auth/users/me/", headers=bearer(raw)), 401, "token_revoked",
                     "This API token was revoked")
        assert_error(client.get("/api/auth/users/me/", headers=bearer(raw[:-3] + "xyz")), 401, "token_invalid")

    # Only a hash is stored: the raw token is nowhere in the table.
    with connection.cursor() as cursor:
        cursor.execute("SELECT t::text FROM accounts_apitoken t")
        rows = [r[0] for r in cursor.fetchall()]
    assert rows and not any(raw in row or raw.split("_", 2)[2] in row for row in rows)
    assert ApiToken.objects.get(pk=token_id).revoked_at is not None
    actions = set(AuditEvent.objects.filter(target_type="api_token").values_list("action", flat=True))
    assert actions == {"auth.api_token.create", "auth.api_token.revoke"}


def test_expired_token_is_refused_and_expiry_must_be_in_the_future(auth_server) -> None:
    from django.utils import timezone

    from medcloud.accounts.models import ApiToken

    researcher = make_user()
    with auth_server.client() as client:
        access = sign_in(client, researcher.email)["access"]
        past = (timezone.now() - timedelta(minutes=1)).isoformat()
        assert "expires_at" in assert_error(
            client.post("/api/auth/tokens/", headers=bearer(access), json={"name": "x", "expires_at": past}),
            400)["details"]
        soon = (timezone.now() + timedelta(hours=1)).isoformat()
        created = client.post("/api/auth/tokens/", headers=bearer(access), json={"name": "ci", "expires_at": soon})
        raw = created.json()["token"]
        assert client.get("/api/auth/users/me/", headers=bearer(raw)).status_code == 200
        ApiToken.objects.filter(pk=created.json()["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
        assert_error(client.get("/api/auth/users/me/", headers=bearer(raw)), 401, "token_expired",
                     "This API token has expired")


def test_only_researchers_hold_api_tokens(auth_server) -> None:
    professional = make_user(role="health_professional", clinical_role="radiologist")
    with auth_server.client() as client:
        access = sign_in(client, professional.email)["access"]
        assert_error(client.post("/api/auth/tokens/", headers=bearer(access), json={"name": "x"}), 403,
                     "permission_denied", "Only researchers")
