"""AES-256-GCM at rest, acceptance: a raw SELECT over every table finds none of the stored plaintexts; rotating the
data key and retiring the old one leaves every value readable (by the running server too); a value moved to
another column fails to decrypt."""

from __future__ import annotations

import uuid

import pytest

from tests.accounts.conftest import PASSWORD, bearer, make_user, sign_in, totp_code, uid_and_token, unique_email
from tests.accounts.test_certificates import pdf
from tests.support.servers import REPO_ROOT

pytestmark = pytest.mark.django_db(transaction=True)


def populate(auth_server, client) -> dict[str, object]:
    """Through the API: a health professional with personal details, a certificate, TOTP and recovery codes;
    a researcher with an API token."""
    tag = uuid.uuid4().hex[:12]
    secrets = {"full_name": f"Zelda Plaintext{tag}", "institution": f"Saint Cleartext Hospital {tag}",
               "number": f"CERT-{tag}-0042", "marker": f"certificate-body-{tag}", "file_name": f"licence-{tag}.pdf"}
    address = unique_email("doctor")
    response = client.post("/api/auth/users/", data={
        "email": address, "password": PASSWORD, "role": "health_professional", "clinical_role": "specialist",
        "full_name": secrets["full_name"], "institution": secrets["institution"],
        "certificate_number": secrets["number"],
    }, files={"certificate_file": (secrets["file_name"], pdf(secrets["marker"]), "application/pdf")})
    assert response.status_code == 201, response.text
    uid, token = uid_and_token(auth_server.mailbox.wait_for(address, "activat"), "activate")
    assert client.post("/api/auth/users/activation/", json={"uid": uid, "token": token}).status_code == 204
    access = sign_in(client, address)["access"]
    setup = client.post("/api/auth/2fa/setup/", headers=bearer(access)).json()
    codes = client.post("/api/auth/2fa/confirm/", headers=bearer(access), json={"code": totp_code(setup["secret"])})
    researcher = make_user()
    api_token = client.post("/api/auth/tokens/", headers=bearer(sign_in(client, researcher.email)["access"]),
                            json={"name": "script"}).json()["token"]
    return {**secrets, "email": address, "totp_secret": setup["secret"], "api_token": api_token,
            "recovery_codes": codes.json()["recovery_codes"]}


def all_rows_as_text() -> dict[str, list[str]]:
    from django.db import connection

    rows: dict[str, list[str]] = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT t::text FROM "{table}" t')  # noqa: S608  (table names from the catalogue)
            rows[table] = [r[0] for r in cursor.fetchall()]
    return rows


def test_raw_select_over_every_table_finds_no_plaintext(auth_server) -> None:
    with auth_server.client() as client:
        stored = populate(auth_server, client)
    needles = [stored["full_name"], stored["institution"], stored["number"], stored["marker"], stored["file_name"],
               stored["totp_secret"], stored["api_token"], str(stored["api_token"]).split("_", 2)[2], PASSWORD]
    for code in stored["recovery_codes"]:
        needles += [code, code.replace("-", "")]
    needles += [str(stored["marker"]).encode().hex()]  # bytea columns print as hex
    rows = all_rows_as_text()
    assert "accounts_medicalcertificate" in rows and rows["accounts_medicalcertificate"]
    for table, texts in rows.items():
        for text in texts:
            for needle in needles:
                assert str(needle).lower() not in text.lower(), f"plaintext {needle!r} found in table {table}"
    log = (REPO_ROOT / ".var" / "test-logs" / "accounts-web.log").read_text(errors="replace")
    assert not [n for n in needles if str(n) in log], "plaintext in the server log"
    # ...while the values are stored, encrypted, where they belong.
    user_rows = " ".join(rows["accounts_user"])
    assert "mc1.dk-" in user_rows and stored["email"] in user_rows  # the address is the sign-in name, not secret


def test_rotating_and_retiring_keys_leaves_every_value_readable(auth_server) -> None:
    from django.core.management import call_command

    from medcloud.accounts.models import MedicalCertificate, TotpDevice, User
    from medcloud.crypto.management.commands.rotate_keys import keys_in_use
    from medcloud.crypto.models import DataKey

    admin = make_user(role="admin", full_name="Admin Person")
    with auth_server.client() as client:
        stored = populate(auth_server, client)
        old_keys = keys_in_use()
        assert old_keys

        call_command("rotate_keys", "--retire", stdout=open("/dev/null", "w"))  # noqa: SIM115

        remaining = set(DataKey.objects.values_list("key_id", flat=True))
        assert not old_keys & remaining, "the old data keys should be retired"
        assert keys_in_use() <= remaining and len(remaining) == 1

        # The test process reads them back...
        user = User.objects.get(email=stored["email"])
        assert user.full_name == stored["full_name"] and user.institution == stored["institution"]
        certificate = MedicalCertificate.objects.get(user=user)
        assert certificate.number == stored["number"] and certificate.file == pdf(str(stored["marker"]))
        assert TotpDevice.objects.get(user=user).secret == stored["totp_secret"]
        assert User.objects.get(pk=admin.pk).full_name == "Admin Person"

        # ...and so does the server that was running during the rotation.
        admin_access = sign_in(client, admin.email)["access"]
        me = client.get("/api/auth/users/me/", headers=bearer(admin_access)).json()
        assert me["full_name"] == "Admin Person"
        entry = client.get(f"/api/auth/admin/certificates/{certificate.pk}/", headers=bearer(admin_access)).json()
        assert entry["number"] == stored["number"] and entry["user"]["full_name"] == stored["full_name"]
        file = client.get(f"/api/auth/admin/certificates/{certificate.pk}/file/", headers=bearer(admin_access))
        assert file.content == pdf(str(stored["marker"]))
        challenge = sign_in(client, stored["email"])["challenge"]
        step2 = client.post("/api/auth/jwt/2fa/", json={"challenge": challenge,
                                                        "code": totp_code(str(stored["totp_secret"]), 1)})
        assert step2.status_code == 200, step2.text


def test_a_value_moved_to_another_column_fails_to_decrypt() -> None:
    from django.db import connection

    from medcloud.accounts.models import TotpDevice, User
    from medcloud.crypto.keyring import DecryptionError

    user = make_user(full_name="Moved Value", institution="Right Place")
    TotpDevice.objects.create(user=user, secret="JBSWY3DPEHPK3PXP")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_user SET institution = full_name WHERE id = %s", [user.pk])
        cursor.execute("UPDATE accounts_totpdevice SET secret = (SELECT full_name FROM accounts_user WHERE id = %s) "
                       "WHERE user_id = %s", [user.pk, user.pk])
    with pytest.raises(DecryptionError, match="does not belong here"):
        User.objects.only("id", "institution").get(pk=user.pk)
    with pytest.raises(DecryptionError, match="does not belong here"):
        TotpDevice.objects.get(user=user)
    assert User.objects.only("id", "full_name").get(pk=user.pk).full_name == "Moved Value"
