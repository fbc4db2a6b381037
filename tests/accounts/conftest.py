"""Fixtures of the accounts tests: a real HTTPS (HTTP/2) server configured with a file mail outbox and the fake
OAuth2 provider on loopback as its Google and GitHub; helpers to sign up, sign in and read the mail it sent."""

from __future__ import annotations

import email
import email.policy
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest

from tests.accounts.fake_oauth import FakeOAuthProvider
from tests.factories import create_user
from tests.support.servers import REPO_ROOT, https_server, server_env

PASSWORD = "Correct-Horse-Battery-42"
OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET = "medcloud-test-client", "medcloud-test-secret"
REDIRECT_URI = "https://localhost:8443/auth/callback"
SEPARATOR = b"\n" + b"-" * 79 + b"\n"


class Mailbox:
    """The outbox of the server process (Django's file e-mail backend), read as parsed messages."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def messages(self) -> list[EmailMessage]:
        found = []
        for path in sorted(self.folder.glob("*.log")):
            for chunk in path.read_bytes().split(SEPARATOR):
                if chunk.strip():
                    found.append(email.message_from_bytes(chunk.lstrip(b"\n"), policy=email.policy.default))
        return found

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages() if address in str(m["To"])]

    def wait_for(self, address: str, subject: str, timeout: float = 10) -> EmailMessage:
        deadline = time.monotonic() + timeout
        while True:
            for message in self.to(address):
                if subject.lower() in str(message["Subject"]).lower():
                    return message
            if time.monotonic() > deadline:
                raise AssertionError(f"no mail '{subject}' to {address}: {[m['Subject'] for m in self.to(address)]}")
            time.sleep(0.1)


def body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    assert part is not None
    return part.get_content()


def uid_and_token(message: EmailMessage, route: str) -> tuple[str, str]:
    match = re.search(rf"/{route}/([^/\s]+)/([^/\s\"<]+)", body(message))
    assert match, body(message)
    return match.group(1), match.group(2)


@dataclass
class AuthServer:
    url: str
    mailbox: Mailbox
    provider: FakeOAuthProvider

    def client(self, ip: str | None = None, token: str | None = None) -> httpx.Client:
        """A client of its own loopback address (per-address throttles stay per test)."""
        transport = httpx.HTTPTransport(verify=False, http2=True, local_address=ip or unique_ip())
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, verify=False, http2=True, transport=transport, headers=headers,
                            timeout=30)


@pytest.fixture(scope="session")
def auth_server(test_database_name: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    mail_dir = tmp_path_factory.mktemp("outbox")
    with FakeOAuthProvider(OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET) as provider:
        env = server_env(
            test_database_name,
            MEDCLOUD_TEST_EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
            MEDCLOUD_TEST_EMAIL_DIR=str(mail_dir),
            SOCIAL_AUTH_GOOGLE_OAUTH2_KEY=OAUTH_CLIENT_ID,
            SOCIAL_AUTH_GOOGLE_OAUTH2_SECRET=OAUTH_CLIENT_SECRET,
            SOCIAL_AUTH_GOOGLE_OAUTH2_ENDPOINT=f"{provider.base_url}/google",
            SOCIAL_AUTH_GITHUB_KEY=OAUTH_CLIENT_ID,
            SOCIAL_AUTH_GITHUB_SECRET=OAUTH_CLIENT_SECRET,
            SOCIAL_AUTH_GITHUB_ENDPOINT=f"{provider.base_url}/github",
            SOCIAL_AUTH_ALLOWED_REDIRECT_URIS=REDIRECT_URI,
            MEDCLOUD_ADMIN_EMAILS="certificates@medcloud.test",
        )
        for name in ("FACEBOOK", "LINKEDIN_OAUTH2", "SPOTIFY"):  # configured for nothing: not offered
            env.pop(f"SOCIAL_AUTH_{name}_KEY", None)
        log = REPO_ROOT / ".var" / "test-logs" / "accounts-web.log"
        with https_server(env, log) as url:
            yield AuthServer(url=url, mailbox=Mailbox(mail_dir), provider=provider)


@pytest.fixture(autouse=True)
def fresh_keyring() -> Iterator[None]:
    """Transactional tests truncate the data keys between tests: never reuse a cached one."""
    from medcloud.crypto import keyring

    keyring.keyring.reset()
    yield
    keyring.keyring.reset()


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.org"


def unique_ip() -> str:
    """A loopback address of its own, so that per-address throttles of one test do not touch another."""
    raw = uuid.uuid4().bytes
    return f"127.{raw[0]}.{raw[1]}.{max(raw[2], 2)}"


def make_user(email_address: str | None = None, *, role: str = "researcher", password: str = PASSWORD,
              **extra: Any):
    """tests.factories.create_user with the accounts tests' shared password (they sign in with it)."""
    return create_user(role, email=email_address or unique_email(role), password=password, verified=False, **extra)


def sign_in(client: httpx.Client, email_address: str, password: str = PASSWORD) -> dict[str, Any]:
    response = client.post("/api/auth/jwt/create/", json={"email": email_address, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def totp_code(secret: str, offset_steps: int = 0) -> str:
    totp = pyotp.TOTP(secret)
    return totp.generate_otp(int(time.time()) // 30 + offset_steps)


def assert_error(response: httpx.Response, status: int, code: str | None = None, message: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["status"] == status and error["message"]
    if code is not None:
        assert error["code"] == code, error
    if message is not None:
        assert message.lower() in error["message"].lower(), error
    return error
