"""TOTP two-factor authentication: enrolment by QR code, two-step sign-in with no token before the code,
replayed codes refused, one-time recovery codes, the per-role requirement, turning it off."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, unquote, urlparse

import pytest

from tests.accounts.conftest import PASSWORD, assert_error, bearer, make_user, sign_in, totp_code

pytestmark = pytest.mark.django_db(transaction=True)


def enrol(client, access: str) -> tuple[str, list[str]]:
    setup = client.post("/api/auth/2fa/setup/", headers=bearer(access))
    assert setup.status_code == 201, setup.text
    secret = setup.json()["secret"]
    codes = client.post("/api/auth/2fa/confirm/", headers=bearer(access), json={"code": totp_code(secret)})
    assert codes.status_code == 200, codes.text
    return secret, codes.json()["recovery_codes"]


def test_enrolment_gives_an_otpauth_uri_and_qr_codes_and_needs_a_first_code(auth_server) -> None:
    user = make_user()
    with auth_server.client() as client:
        access = sign_in(client, user.email)["access"]
        setup = client.post("/api/auth/2fa/setup/", headers=bearer(access)).json()
        uri = urlparse(setup["otpauth_uri"])
        assert uri.scheme == "otpauth" and uri.netloc == "totp"
        assert parse_qs(uri.query)["secret"] == [setup["secret"]] and parse_qs(uri.query)["issuer"] == ["MedCloud"]
        assert unquote(uri.path) == f"/MedCloud:{user.email}"
        assert setup["qr_svg"].lstrip().startswith("<svg")
        png = base64.b64decode(setup["qr_png"].split(",", 1)[1])
        assert png.startswith(b"\x89PNG\r\n\x1a\n")

        status = client.get("/api/auth/2fa/", headers=bearer(access)).json()
        assert status == {"enabled": False, "required": False, "pending_confirmation": True, "recovery_codes_left": 0}
        # Not on until confirmed: signing in still needs no code.
        assert sign_in(client, user.email)["two_factor_required"] is False

        assert_error(client.post("/api/auth/2fa/confirm/", headers=bearer(access), json={"code": "000000"}), 401,
                     "invalid_code", "Invalid authentication code")
        confirmed = client.post("/api/auth/2fa/confirm/", headers=bearer(access),
                                json={"code": totp_code(setup["secret"])})
        assert confirmed.status_code == 200
        codes = confirmed.json()["recovery_codes"]
        assert len(codes) == 10 and len(set(codes)) == 10
        assert client.get("/api/auth/2fa/", headers=bearer(access)).json()["enabled"] is True
        assert_error(client.post("/api/auth/2fa/setup/", headers=bearer(access)), 409, "already_enabled")

    from medcloud.accounts.models import RecoveryCode

    stored = list(RecoveryCode.objects.filter(user=user).values_list("code_hash", flat=True))
    assert len(stored) == 10 and not set(stored) & {c.replace("-", "") for c in codes}


def test_two_step_sign_in_refuses_wrong_and_replayed_codes_and_reused_recovery_codes(auth_server) -> None:
    from medcloud.audit.models import AuditEvent

    user = make_user()
    with auth_server.client() as client:
        secret, recovery = enrol(client, sign_in(client, user.email)["access"])

        step1 = sign_in(client, user.email)
        assert step1["two_factor_required"] is True and step1["challenge"]
        assert "access" not in step1 and "refresh" not in step1  # no token before the second factor

        wrong = client.post("/api/auth/jwt/2fa/", json={"challenge": step1["challenge"], "code": "123456"})
        assert_error(wrong, 401, "invalid_code", "Invalid authentication code")
        assert_error(client.post("/api/auth/jwt/2fa/", json={"challenge": step1["challenge"] + "x",
                                                             "code": totp_code(secret, 1)}), 401, "challenge_invalid")

        code = totp_code(secret, 1)  # the enrolment used the current step's code: take the next one
        step2 = client.post("/api/auth/jwt/2fa/", json={"challenge": step1["challenge"], "code": code})
        assert step2.status_code == 200, step2.text
        assert client.get("/api/auth/users/me/", headers=bearer(step2.json()["access"])).status_code == 200

        # The same code again, even with a fresh challenge, is refused.
        again = sign_in(client, user.email)
        assert_error(client.post("/api/auth/jwt/2fa/", json={"challenge": again["challenge"], "code": code}), 401,
                     "code_reused", "already used")

        # A recovery code works once.
        with_recovery = client.post("/api/auth/jwt/2fa/", json={"challenge": again["challenge"],
                                                                "recovery_code": recovery[0].upper()})
        assert with_recovery.status_code == 200, with_recovery.text
        third = sign_in(client, user.email)
        assert_error(client.post("/api/auth/jwt/2fa/", json={"challenge": third["challenge"],
                                                             "recovery_code": recovery[0]}), 401,
                     "recovery_code_used", "This recovery code was already used")
        # A challenge is good for one sign-in only.
        assert_error(client.post("/api/auth/jwt/2fa/", json={"challenge": again["challenge"],
                                                             "recovery_code": recovery[1]}), 401, "challenge_used")
        status = client.get("/api/auth/2fa/", headers=bearer(with_recovery.json()["access"])).json()
        assert status["recovery_codes_left"] == 9  # the refused attempt with recovery[1] did not spend it

    actions = list(AuditEvent.objects.filter(actor=user).values_list("action", "outcome"))
    for expected in [("auth.2fa.setup", "success"), ("auth.2fa.enable", "success"),
                     ("auth.2fa.verify", "failure"), ("auth.2fa.recovery_code_used", "success")]:
        assert expected in actions


def test_wrong_codes_lock_the_sign_in(auth_server) -> None:
    user = make_user()
    with auth_server.client() as client:
        secret, _ = enrol(client, sign_in(client, user.email)["access"])
        challenge = sign_in(client, user.email)["challenge"]
        for _ in range(5):
            assert_error(client.post("/api/auth/jwt/2fa/", json={"challenge": challenge, "code": "000000"}), 401)
        locked = client.post("/api/auth/jwt/2fa/", json={"challenge": challenge, "code": totp_code(secret, 1)})
        assert_error(locked, 429, "locked_out", "Too many failed sign-in attempts")
        assert_error(client.post("/api/auth/jwt/create/", json={"email": user.email, "password": PASSWORD}), 429,
                     "locked_out")


def test_admin_requires_2fa_for_a_role(auth_server) -> None:
    admin, researcher = make_user(role="admin"), make_user()
    with auth_server.client() as client:
        admin_access = sign_in(client, admin.email)["access"]
        assert_error(client.put("/api/auth/admin/2fa-policy/", headers=bearer(sign_in(client, researcher.email)
                                                                               ["access"]),
                                json={"role": "researcher", "required": True}), 403, "permission_denied")
        policy = client.put("/api/auth/admin/2fa-policy/", headers=bearer(admin_access),
                            json={"role": "researcher", "required": True})
        assert policy.status_code == 200
        assert {"role": "researcher", "required": True} in policy.json()

        # The researcher has not enrolled: their tokens reach only the enrolment endpoints.
        tokens = sign_in(client, researcher.email)
        assert tokens["two_factor_enrolment_required"] is True
        access = tokens["access"]
        assert client.get("/api/auth/users/me/", headers=bearer(access)).status_code == 200
        assert_error(client.get("/api/auth/tokens/", headers=bearer(access)), 403, "permission_denied",
                     "Two-factor authentication is required for your role")
        refreshed = client.post("/api/auth/jwt/refresh/", json={"refresh": tokens["refresh"]}).json()["access"]
        assert_error(client.get("/api/auth/tokens/", headers=bearer(refreshed)), 403, "permission_denied")
        assert client.get("/api/auth/2fa/", headers=bearer(access)).json()["required"] is True
        secret, _ = enrol(client, access)

        # Enrolled: the two-step sign-in gives full tokens; 2FA cannot be turned off while required.
        challenge = sign_in(client, researcher.email)["challenge"]
        full = client.post("/api/auth/jwt/2fa/", json={"challenge": challenge, "code": totp_code(secret, 1)}).json()
        assert full["two_factor_enrolment_required"] is False
        assert client.get("/api/auth/tokens/", headers=bearer(full["access"])).status_code == 200
        assert_error(client.post("/api/auth/2fa/disable/", headers=bearer(full["access"]),
                                 json={"password": PASSWORD, "code": totp_code(secret, -1)}), 403,
                     "two_factor_required")

        client.put("/api/auth/admin/2fa-policy/", headers=bearer(admin_access),
                   json={"role": "researcher", "required": False})
        # Codes up to the next 30-second step are spent; rather than wait, move the last used step back a minute.
        from django.db.models import F

        from medcloud.accounts.models import TotpDevice

        TotpDevice.objects.filter(user=researcher).update(last_used_step=F("last_used_step") - 2)
        assert_error(client.post("/api/auth/2fa/disable/", headers=bearer(full["access"]),
                                 json={"password": "wrong-password", "code": totp_code(secret)}), 403,
                     "invalid_password")
        disabled = client.post("/api/auth/2fa/disable/", headers=bearer(full["access"]),
                               json={"password": PASSWORD, "code": totp_code(secret)})
        assert disabled.status_code == 204, disabled.text
        assert sign_in(client, researcher.email)["two_factor_required"] is False
