"""Regression tests of the security review, accounts: an admin's deactivation sticks (djoser's public
resend_activation + activation undid it), a password reset revokes personal API tokens, a browser session has
an absolute age however often it is refreshed. Over real HTTP through nginx."""

from __future__ import annotations

import secrets
import time

import pytest

from tests.accounts.conftest import PASSWORD, assert_error, bearer, make_user, sign_in, uid_and_token
from tests.conftest import LOG_DIR
from tests.support.servers import https_server, server_env

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_a_deactivation_by_an_admin_sticks(auth_server) -> None:
    from django.contrib.auth.tokens import default_token_generator
    from djoser.utils import encode_uid

    from medcloud.accounts.models import User

    admin, user = make_user(role="admin"), make_user()
    with auth_server.client() as client:
        admin_access = sign_in(client, admin.email)["access"]
        sign_in(client, user.email)  # an account that was in use
        deactivated = client.patch(f"/api/auth/admin/users/{user.pk}/", headers=bearer(admin_access),
                                   json={"is_active": False})
        assert deactivated.status_code == 200 and deactivated.json()["is_active"] is False
        # the public resend answers as for anyone (nothing to enumerate) and sends no link
        resent = client.post("/api/auth/users/resend_activation/", json={"email": user.email})
        assert resent.status_code == 204
        time.sleep(1.5)
        assert not [m for m in auth_server.mailbox.to(user.email) if "activat" in str(m["Subject"]).lower()]
        # a valid activation token (what a link sent before the deactivation would hold) is refused too
        user.refresh_from_db()
        uid, token = encode_uid(user.pk), default_token_generator.make_token(user)
        assert_error(client.post("/api/auth/users/activation/", json={"uid": uid, "token": token}), 403,
                     "account_deactivated")
        assert User.objects.get(pk=user.pk).is_active is False
        refused = client.post("/api/auth/jwt/create/", json={"email": user.email, "password": PASSWORD})
        assert refused.status_code in (400, 401), refused.text
        # an admin (and only an admin) brings it back
        assert client.patch(f"/api/auth/admin/users/{user.pk}/", headers=bearer(admin_access),
                            json={"is_active": True}).json()["is_active"] is True
        assert sign_in(client, user.email)["access"]
        assert User.objects.get(pk=user.pk).deactivated_at is None


def test_a_never_activated_account_still_activates(auth_server) -> None:
    from medcloud.accounts.models import User

    address = f"new-{secrets.token_hex(4)}@example.org"
    with auth_server.client() as client:
        created = client.post("/api/auth/users/", json={"email": address, "password": PASSWORD, "role": "researcher"})
        assert created.status_code == 201, created.text
        client.post("/api/auth/users/resend_activation/", json={"email": address})
        uid, token = uid_and_token(auth_server.mailbox.wait_for(address, "activat"), "activate")
        assert client.post("/api/auth/users/activation/", json={"uid": uid, "token": token}).status_code == 204
    assert User.objects.get(email=address).is_active is True


def test_a_password_reset_revokes_personal_api_tokens(auth_server) -> None:
    from medcloud.accounts.models import ApiToken
    from medcloud.accounts.selectors import token_hash
    from medcloud.audit.models import AuditEvent

    user = make_user()
    raw = f"mct_{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"
    ApiToken.objects.create(user=user, name="script", prefix=raw[4:12], token_hash=token_hash(raw))
    with auth_server.client() as client:
        assert client.get("/api/auth/users/me/", headers=bearer(raw)).status_code == 200
        assert client.post("/api/auth/users/reset_password/", json={"email": user.email}).status_code == 204
        uid, token = uid_and_token(auth_server.mailbox.wait_for(user.email, "reset"), "reset-password")
        reset = client.post("/api/auth/users/reset_password_confirm/",
                            json={"uid": uid, "token": token, "new_password": "Another-Passphrase-77"})
        assert reset.status_code == 204, reset.text
        assert_error(client.get("/api/auth/users/me/", headers=bearer(raw)), 401, "token_revoked")
    event = AuditEvent.objects.filter(action="auth.password.reset", target_id=str(user.pk)).get()
    assert event.details["api_tokens_revoked"] == 1


def test_a_browser_session_ends_at_its_absolute_age(test_database_name: str) -> None:
    """Refresh tokens rotate (each works once), so a session could be renewed forever; the sign-in time travels
    with every rotation and caps it (MEDCLOUD_SESSION_MAX_SECONDS, 12 hours by default: 4 s here)."""
    import httpx

    user = make_user()
    env = server_env(test_database_name, MEDCLOUD_SESSION_MAX_SECONDS="4")
    with https_server(env, LOG_DIR / "web-session-age.log") as base_url, \
            httpx.Client(base_url=base_url, verify=False, timeout=30) as client:
        tokens = sign_in(client, user.email)
        started = time.monotonic()
        refresh = tokens["refresh"]
        while time.monotonic() - started < 3:
            renewed = client.post("/api/auth/jwt/refresh/", json={"refresh": refresh})
            assert renewed.status_code == 200, renewed.text
            refresh = renewed.json()["refresh"]
            time.sleep(0.5)
        time.sleep(max(0.0, 4.5 - (time.monotonic() - started)))
        assert_error(client.post("/api/auth/jwt/refresh/", json={"refresh": refresh}), 401, None, "sign in again")
        assert sign_in(client, user.email)["access"]  # signing in again starts a new session
