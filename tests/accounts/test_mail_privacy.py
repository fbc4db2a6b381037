"""Activation and password-reset links are credentials (security review, finding 6): with the local default mail
backend (`make run`), mail goes to files in a private folder, and none of it reaches the server's console log."""

from __future__ import annotations

import re
import stat

import pytest

from tests.accounts.conftest import PASSWORD, Mailbox, body, unique_email, unique_ip
from tests.support.servers import REPO_ROOT, https_server, server_env

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_the_local_default_writes_mail_to_a_private_folder_and_not_to_the_log(test_database_name, tmp_path) -> None:
    import httpx

    mail_dir = tmp_path / "mail"  # not there yet: the backend creates it, private
    env = server_env(test_database_name, DJANGO_SETTINGS_MODULE="medcloud.settings.local",
                     EMAIL_FILE_PATH=str(mail_dir), DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost")
    env.pop("EMAIL_BACKEND", None)  # the default of `make run`
    log = REPO_ROOT / ".var" / "test-logs" / "mail-default-web.log"
    address = unique_email("mail")
    with https_server(env, log) as url:
        transport = httpx.HTTPTransport(verify=False, local_address=unique_ip())
        with httpx.Client(base_url=url, verify=False, transport=transport, timeout=30) as client:
            response = client.post("/api/auth/users/", json={"email": address, "password": PASSWORD,
                                                             "role": "researcher", "full_name": "Ada Private"})
            assert response.status_code == 201, response.text
            message = Mailbox(mail_dir).wait_for(address, "activat")
    link = re.search(r"https?://\S+/activate/[^/\s]+/[^/\s\"<]+", body(message))
    assert link, body(message)
    assert stat.S_IMODE(mail_dir.stat().st_mode) == 0o700

    server_output = log.read_text() + (log.parent / f"{log.stem}-front-access.log").read_text()
    token = link.group(0).rstrip("/").rsplit("/", 1)[1]
    for secret in (link.group(0), token, address, "Subject:", "activate/"):
        assert secret not in server_output, secret


def test_production_settings_keep_smtp() -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "from django.conf import settings; print(settings.EMAIL_BACKEND)"],
                         env={**server_env("unused"), "DJANGO_SETTINGS_MODULE": "medcloud.settings.production",
                              "EMAIL_BACKEND": ""},
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "django.core.mail.backends.smtp.EmailBackend"
