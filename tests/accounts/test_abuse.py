"""Abuse resistance: lockout after repeated failures with answers that never tell whether an address has an
account, and per-address throttles that a spoofed X-Forwarded-For does not get around."""

from __future__ import annotations

import pytest

from tests.accounts.conftest import PASSWORD, assert_error, make_user, unique_email, unique_ip

pytestmark = pytest.mark.django_db(transaction=True)


def test_lockout_after_repeated_failures_reveals_nothing_about_the_address(auth_server) -> None:
    from medcloud.audit.models import AuditEvent

    user = make_user()
    unknown = unique_email("nobody")
    with auth_server.client() as client:
        for _ in range(5):
            known_answer = client.post("/api/auth/jwt/create/", json={"email": user.email, "password": "wrong-one"})
            unknown_answer = client.post("/api/auth/jwt/create/", json={"email": unknown, "password": "wrong-one"})
            assert known_answer.status_code == unknown_answer.status_code == 401
            assert known_answer.json() == unknown_answer.json()
            assert_error(known_answer, 401, "authentication_failed", "Unable to sign in with the given credentials")
        for address in (user.email, unknown):
            assert_error(client.post("/api/auth/jwt/create/", json={"email": address, "password": "wrong-one"}), 429,
                         "locked_out", "Too many failed sign-in attempts")
        # Locked means locked: even the right password waits.
        assert_error(client.post("/api/auth/jwt/create/", json={"email": user.email.upper(), "password": PASSWORD}),
                     429, "locked_out")
        # Another account from the same client is not affected.
        other = make_user()
        response = client.post("/api/auth/jwt/create/", json={"email": other.email, "password": PASSWORD})
        assert response.status_code == 200
    assert AuditEvent.objects.filter(action="auth.login.locked", target_id=str(user.pk), outcome="denied").exists()
    assert AuditEvent.objects.filter(action="auth.login", target_id=str(user.pk), outcome="failure").count() == 5


def test_password_reset_is_throttled_per_client_address(auth_server) -> None:
    ip = unique_ip()
    with auth_server.client(ip=ip) as client:
        for i in range(10):
            response = client.post("/api/auth/users/reset_password/", json={"email": unique_email()},
                                   headers={"X-Forwarded-For": f"10.0.0.{i}"})
            assert response.status_code == 204, response.text
        throttled = client.post("/api/auth/users/reset_password/", json={"email": unique_email()},
                                headers={"X-Forwarded-For": "10.9.9.9"})
        error = assert_error(throttled, 429, "throttled")
        assert "retry-after" in throttled.headers
        assert error["message"]
    with auth_server.client() as elsewhere:
        assert elsewhere.post("/api/auth/users/reset_password/", json={"email": unique_email()}).status_code == 204


def test_sign_in_is_throttled_per_client_address(auth_server) -> None:
    with auth_server.client() as client:
        statuses = [client.post("/api/auth/jwt/create/", json={"email": unique_email(), "password": "x"}).status_code
                    for _ in range(31)]
    assert statuses[:30] == [401] * 30
    assert statuses[30] == 429
