"""Sign-up, activation, sign-in, refresh with rotation, sign-out, password reset, roles: over real HTTP/2 + TLS
against the real PostgreSQL, e-mail links read from the server's outbox."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.accounts.conftest import (
    PASSWORD,
    assert_error,
    bearer,
    make_user,
    sign_in,
    uid_and_token,
    unique_email,
)

pytestmark = pytest.mark.django_db(transaction=True)


def audit_actions(user_id: int) -> list[str]:
    from medcloud.audit.models import AuditEvent

    return list(AuditEvent.objects.filter(target_type="user", target_id=str(user_id)).values_list("action", "outcome"))


def test_sign_up_activate_sign_in_refresh_sign_out(auth_server) -> None:
    from medcloud.accounts.models import User

    address = unique_email("researcher")
    with auth_server.client() as client:
        response = client.post("/api/auth/users/", json={"email": address, "password": PASSWORD,
                                                         "role": "researcher", "full_name": "Ada Researcher"})
        assert response.status_code == 201, response.text
        assert response.json() == {"detail": "Check your e-mail for a link to activate your account."}

        # Not active yet: the sign-in fails with the generic message.
        assert_error(client.post("/api/auth/jwt/create/", json={"email": address, "password": PASSWORD}), 401,
                     "authentication_failed", "Unable to sign in with the given credentials")

        uid, token = uid_and_token(auth_server.mailbox.wait_for(address, "activat"), "activate")
        assert client.post("/api/auth/users/activation/", json={"uid": uid, "token": token}).status_code == 204
        assert_error(client.post("/api/auth/users/activation/", json={"uid": uid, "token": token}), 403)

        tokens = sign_in(client, address)
        assert tokens["two_factor_required"] is False and tokens["access"] and tokens["refresh"]
        me = client.get("/api/auth/users/me/", headers=bearer(tokens["access"]))
        assert me.status_code == 200
        assert me.json()["email"] == address and me.json()["role"] == "researcher"
        assert me.json()["full_name"] == "Ada Researcher" and me.json()["two_factor_enabled"] is False

        # Personal details are editable; the role is not.
        patched = client.patch("/api/auth/users/me/", headers=bearer(tokens["access"]),
                               json={"full_name": "Ada L.", "role": "admin"})
        assert patched.status_code == 200 and patched.json()["full_name"] == "Ada L."
        assert patched.json()["role"] == "researcher"

        # Refresh rotates: the new pair works, the old refresh token is refused from now on.
        rotated = client.post("/api/auth/jwt/refresh/", json={"refresh": tokens["refresh"]})
        assert rotated.status_code == 200 and rotated.json()["refresh"] != tokens["refresh"]
        assert_error(client.post("/api/auth/jwt/refresh/", json={"refresh": tokens["refresh"]}), 401,
                     "token_not_valid", "blacklisted")
        access, refresh = rotated.json()["access"], rotated.json()["refresh"]

        # Sign-out revokes the refresh token and this access token.
        assert client.post("/api/auth/logout/", headers=bearer(access), json={"refresh": refresh}).status_code == 204
        assert_error(client.get("/api/auth/users/me/", headers=bearer(access)), 401, "token_revoked", "revoked")
        assert_error(client.post("/api/auth/jwt/refresh/", json={"refresh": refresh}), 401, "token_not_valid")

    user = User.objects.get(email=address)
    assert user.is_active and user.check_password(PASSWORD)
    assert user.password.startswith("argon2$")
    actions = audit_actions(user.pk)
    for expected in [("auth.signup", "success"), ("auth.activate", "success"), ("auth.login", "failure"),
                     ("auth.login", "success"), ("auth.logout", "success")]:
        assert expected in actions


def test_sign_up_with_a_taken_address_reveals_nothing(auth_server) -> None:
    user = make_user()
    with auth_server.client() as client:
        new = client.post("/api/auth/users/", json={"email": unique_email(), "password": PASSWORD})
        taken = client.post("/api/auth/users/", json={"email": user.email.upper(), "password": PASSWORD})
    assert new.status_code == taken.status_code == 201
    assert new.json() == taken.json()
    assert "already has one" in auth_server.mailbox.wait_for(user.email, "sign-up attempt").get_body().get_content()


def test_sign_up_refuses_weak_passwords_and_admin_role(auth_server) -> None:
    with auth_server.client() as client:
        weak = client.post("/api/auth/users/", json={"email": unique_email(), "password": "password"})
        admin = client.post("/api/auth/users/", json={"email": unique_email(), "password": PASSWORD, "role": "admin"})
    error = assert_error(weak, 400, "invalid")
    assert "password" in error["details"]
    assert "role" in assert_error(admin, 400, "invalid")["details"]


def test_password_reset_by_e_mail_link_revokes_sessions(auth_server) -> None:
    user = make_user()
    with auth_server.client() as client:
        old = sign_in(client, user.email)
        # Same answer whether or not the address has an account.
        assert client.post("/api/auth/users/reset_password/", json={"email": user.email}).status_code == 204
        assert client.post("/api/auth/users/reset_password/", json={"email": unique_email()}).status_code == 204
        uid, token = uid_and_token(auth_server.mailbox.wait_for(user.email, "password reset"), "reset-password")
        new_password = "Another-Long-Passphrase-77"
        response = client.post("/api/auth/users/reset_password_confirm/",
                               json={"uid": uid, "token": token, "new_password": new_password})
        assert response.status_code == 204, response.text
        assert_error(client.post("/api/auth/users/reset_password_confirm/",
                                 json={"uid": uid, "token": token, "new_password": "Yet-Another-Pass-99"}), 400)
        assert_error(client.post("/api/auth/jwt/create/", json={"email": user.email, "password": PASSWORD}), 401)
        assert sign_in(client, user.email, new_password)["access"]
        # The refresh token issued before the reset no longer works.
        assert_error(client.post("/api/auth/jwt/refresh/", json={"refresh": old["refresh"]}), 401, "token_not_valid")
    assert auth_server.mailbox.wait_for(user.email, "changed")


def test_expired_and_forged_access_tokens_are_refused(auth_server) -> None:
    from rest_framework_simplejwt.tokens import AccessToken

    user = make_user()
    expired = AccessToken.for_user(user)
    expired.set_exp(lifetime=-timedelta(seconds=1))
    with auth_server.client() as client:
        assert_error(client.get("/api/auth/users/me/", headers=bearer(str(expired))), 401, "token_not_valid",
                     "token is expired")
        forged = str(AccessToken.for_user(user))[:-4] + "AAAA"
        assert_error(client.get("/api/auth/users/me/", headers=bearer(forged)), 401, "token_not_valid")


def test_deny_by_default_and_role_permissions(auth_server) -> None:
    researcher, admin = make_user(), make_user(role="admin")
    with auth_server.client() as client:
        for path in ("/api/auth/users/me/", "/api/auth/tokens/", "/api/auth/2fa/", "/api/auth/admin/certificates/",
                     "/api/auth/users/", "/api/audit/events/", "/api/auth/me/patient-access/"):
            assert_error(client.get(path), 401, "not_authenticated")
        access = sign_in(client, researcher.email)["access"]
        assert_error(client.get("/api/audit/events/", headers=bearer(access)), 403, "permission_denied")
        assert_error(client.get("/api/auth/admin/certificates/", headers=bearer(access)), 403, "permission_denied",
                     "Only administrators may do this")
        # Other accounts are hidden from non-admins (djoser's HIDE_USERS): not found rather than forbidden.
        assert_error(client.get("/api/auth/users/", headers=bearer(access)), 404)
        assert_error(client.get(f"/api/auth/users/{admin.pk}/", headers=bearer(access)), 404)
        assert_error(client.post("/api/auth/users/set_email/", headers=bearer(access),
                                 json={"new_email": unique_email(), "current_password": PASSWORD}), 403)
        admin_access = sign_in(client, admin.email)["access"]
        events = client.get("/api/audit/events/?action=auth.login", headers=bearer(admin_access))
        assert events.status_code == 200
        assert any(e["actor"] == researcher.pk for e in events.json()["results"])
        assert client.get("/api/auth/users/", headers=bearer(admin_access)).status_code == 200


def test_password_change_signs_out_every_session(auth_server) -> None:
    user = make_user()
    with auth_server.client() as client:
        first, second = sign_in(client, user.email), sign_in(client, user.email)
        changed = client.post("/api/auth/users/set_password/", headers=bearer(first["access"]),
                              json={"current_password": PASSWORD, "new_password": "Brand-New-Passphrase-31"})
        assert changed.status_code == 204, changed.text
        for tokens in (first, second):
            assert_error(client.post("/api/auth/jwt/refresh/", json={"refresh": tokens["refresh"]}), 401,
                         "token_not_valid", "blacklisted")
        assert sign_in(client, user.email, "Brand-New-Passphrase-31")["access"]


def test_admin_changes_roles_and_deactivates_accounts(auth_server) -> None:
    admin, user = make_user(role="admin"), make_user()
    with auth_server.client() as client:
        admin_access = sign_in(client, admin.email)["access"]
        user_tokens = sign_in(client, user.email)
        path = f"/api/auth/admin/users/{user.pk}/"
        assert_error(client.patch(path, headers=bearer(user_tokens["access"]), json={"role": "admin"}), 403,
                     "permission_denied", "Only administrators")
        assert "clinical_role" in assert_error(
            client.patch(path, headers=bearer(admin_access), json={"role": "health_professional"}), 400)["details"]
        promoted = client.patch(path, headers=bearer(admin_access),
                                json={"role": "health_professional", "clinical_role": "specialist"})
        assert promoted.status_code == 200
        assert promoted.json()["role"] == "health_professional" and promoted.json()["is_clinically_verified"] is False
        # Now a pending health professional: no patient data until a certificate is approved.
        assert_error(client.get("/api/auth/me/patient-access/", headers=bearer(user_tokens["access"])), 403)

        assert client.patch(path, headers=bearer(admin_access), json={"is_active": False}).json()["is_active"] is False
        assert_error(client.get("/api/auth/users/me/", headers=bearer(user_tokens["access"])), 401)
        assert_error(client.post("/api/auth/jwt/refresh/", json={"refresh": user_tokens["refresh"]}), 401)
        assert_error(client.post("/api/auth/jwt/create/", json={"email": user.email, "password": PASSWORD}), 401,
                     "authentication_failed")
        assert_error(client.patch(f"/api/auth/admin/users/{admin.pk}/", headers=bearer(admin_access),
                                  json={"is_active": False}), 403, "permission_denied")
