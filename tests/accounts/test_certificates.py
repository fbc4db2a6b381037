"""Health professionals sign up with a medical certificate and stay pending (no patient data) until an admin
approves it from the validation queue, or rejects it with a reason; e-mail either way; decisions recorded."""

from __future__ import annotations

import uuid

import pytest

from tests.accounts.conftest import PASSWORD, assert_error, bearer, make_user, sign_in, uid_and_token, unique_email

pytestmark = pytest.mark.django_db(transaction=True)

PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360000002000100"
    "05fe02fea7d6a40000000049454e44ae426082"
)


def pdf(marker: str) -> bytes:
    return b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% " + marker.encode() + b"\ntrailer << >>\n%%EOF\n"


def sign_up_professional(auth_server, client, *, file_name: str, content: bytes, number: str,
                         clinical_role: str = "radiologist") -> tuple[str, object]:
    address = unique_email("doctor")
    response = client.post("/api/auth/users/", data={
        "email": address, "password": PASSWORD, "role": "health_professional", "clinical_role": clinical_role,
        "full_name": "Dr Grace Hopper", "certificate_number": number,
    }, files={"certificate_file": (file_name, content, "application/octet-stream")})
    return address, response


def activate(auth_server, client, address: str) -> None:
    uid, token = uid_and_token(auth_server.mailbox.wait_for(address, "activat"), "activate")
    assert client.post("/api/auth/users/activation/", json={"uid": uid, "token": token}).status_code == 204


def test_pending_professional_is_refused_patient_data_until_an_admin_approves(auth_server) -> None:
    from medcloud.accounts.models import MedicalCertificate, User
    from medcloud.audit.models import AuditEvent

    marker, number = uuid.uuid4().hex, f"GMC-{uuid.uuid4().hex[:8]}"
    admin = make_user(role="admin")
    with auth_server.client() as client:
        address, response = sign_up_professional(auth_server, client, file_name="licence.pdf", content=pdf(marker),
                                                 number=number)
        assert response.status_code == 201, response.text
        assert auth_server.mailbox.wait_for("certificates@medcloud.test", "awaits validation")
        activate(auth_server, client, address)
        access = sign_in(client, address)["access"]

        me = client.get("/api/auth/users/me/", headers=bearer(access)).json()
        assert me["role"] == "health_professional" and me["clinical_role"] == "radiologist"
        assert me["is_clinically_verified"] is False
        assert_error(client.get("/api/auth/me/patient-access/", headers=bearer(access)), 403, "permission_denied",
                     "certificate must be approved")
        mine = client.get("/api/auth/certificates/", headers=bearer(access)).json()
        assert [c["status"] for c in mine] == ["pending"] and mine[0]["content_type"] == "application/pdf"

        admin_access = sign_in(client, admin.email)["access"]
        queue = client.get("/api/auth/admin/certificates/", headers=bearer(admin_access)).json()
        entry = next(c for c in queue if c["user"]["email"] == address)
        assert entry["number"] == number and entry["status"] == "pending" and entry["file_name"] == "licence.pdf"
        downloaded = client.get(f"/api/auth/admin/certificates/{entry['id']}/file/", headers=bearer(admin_access))
        assert downloaded.status_code == 200 and downloaded.content == pdf(marker)
        assert downloaded.headers["content-type"] == "application/pdf"

        approved = client.post(f"/api/auth/admin/certificates/{entry['id']}/approve/", headers=bearer(admin_access))
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "approved" and approved.json()["decided_by"] == admin.pk
        assert approved.json()["decided_at"]
        assert_error(client.post(f"/api/auth/admin/certificates/{entry['id']}/reject/", headers=bearer(admin_access),
                                 json={"reason": "too late"}), 409, "already_decided")

        assert client.get("/api/auth/me/patient-access/", headers=bearer(access)).json() == {"patient_data": True}
        assert "approved" in auth_server.mailbox.wait_for(address, "approved").get_body().get_content()
        pending = client.get("/api/auth/admin/certificates/", headers=bearer(admin_access)).json()
        assert entry["id"] not in [c["id"] for c in pending]

    user = User.objects.get(email=address)
    assert user.clinical_verified_at is not None
    certificate = MedicalCertificate.objects.get(pk=entry["id"])
    assert certificate.decided_by_id == admin.pk and certificate.decided_at is not None
    events = AuditEvent.objects.filter(target_type="certificate", target_id=str(entry["id"]))
    assert set(events.values_list("action", "actor")) == {
        ("certificate.submit", user.pk), ("certificate.download", admin.pk), ("certificate.approve", admin.pk)}


def test_rejection_with_a_reason_is_mailed_and_a_new_certificate_can_follow(auth_server) -> None:
    admin = make_user(role="admin")
    with auth_server.client() as client:
        address, response = sign_up_professional(auth_server, client, file_name="scan.png", content=PNG_1PX,
                                                 number="REG-1", clinical_role="registrar")
        assert response.status_code == 201, response.text
        activate(auth_server, client, address)
        admin_access = sign_in(client, admin.email)["access"]
        entry = next(c for c in client.get("/api/auth/admin/certificates/", headers=bearer(admin_access)).json()
                     if c["user"]["email"] == address)
        assert entry["content_type"] == "image/png"
        assert_error(client.post(f"/api/auth/admin/certificates/{entry['id']}/reject/", headers=bearer(admin_access),
                                 json={}), 400, "invalid")
        rejected = client.post(f"/api/auth/admin/certificates/{entry['id']}/reject/", headers=bearer(admin_access),
                               json={"reason": "The scan is unreadable."})
        assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
        mail = auth_server.mailbox.wait_for(address, "not accepted")
        assert "The scan is unreadable." in mail.get_body().get_content()

        access = sign_in(client, address)["access"]
        assert_error(client.get("/api/auth/me/patient-access/", headers=bearer(access)), 403)
        mine = client.get("/api/auth/certificates/", headers=bearer(access)).json()
        assert mine[0]["status"] == "rejected" and mine[0]["rejection_reason"] == "The scan is unreadable."
        again = client.post("/api/auth/certificates/", headers=bearer(access), data={"number": "REG-2"},
                            files={"file": ("new.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 64, "image/jpeg")})
        assert again.status_code == 201 and again.json()["status"] == "pending"
        assert again.json()["content_type"] == "image/jpeg"
        assert_error(client.post("/api/auth/certificates/", headers=bearer(access), data={"number": "REG-3"},
                                 files={"file": ("b.pdf", pdf("b"), "application/pdf")}), 409, "already_pending")
        rejected_queue = client.get("/api/auth/admin/certificates/?status=rejected", headers=bearer(admin_access))
        assert entry["id"] in [c["id"] for c in rejected_queue.json()]


def test_bad_certificates_are_refused_and_leave_no_account(auth_server) -> None:
    from medcloud.accounts.models import User

    with auth_server.client() as client:
        address, no_number = sign_up_professional(auth_server, client, file_name="x.pdf", content=pdf("x"), number="")
        assert "certificate_number" in assert_error(no_number, 400, "invalid")["details"]
        no_file = client.post("/api/auth/users/", json={"email": unique_email(), "password": PASSWORD,
                                                        "role": "health_professional", "clinical_role": "specialist",
                                                        "certificate_number": "N-0"})
        assert "certificate_file" in assert_error(no_file, 400, "invalid")["details"]

        address, fake_pdf = sign_up_professional(auth_server, client, file_name="licence.pdf",
                                                 content=b"<html>not a pdf</html>", number="N-1")
        assert_error(fake_pdf, 415, "unsupported_file_type", "must be a PDF, PNG or JPEG")
        assert not User.objects.filter(email=address).exists()

        address, huge = sign_up_professional(auth_server, client, file_name="big.pdf",
                                             content=b"%PDF-1.4\n" + b"0" * (5 * 1024 * 1024 + 1), number="N-2")
        assert_error(huge, 413, "file_too_large")
        assert not User.objects.filter(email=address).exists()

        response = client.post("/api/auth/users/", json={"email": unique_email(), "password": PASSWORD,
                                                         "role": "health_professional"})
        assert "clinical_role" in assert_error(response, 400)["details"]

        # Researchers neither upload certificates nor see the queue.
        researcher = make_user()
        access = sign_in(client, researcher.email)["access"]
        assert_error(client.post("/api/auth/certificates/", headers=bearer(access), data={"number": "X"},
                                 files={"file": ("a.pdf", pdf("x"), "application/pdf")}), 403,
                     "permission_denied", "Only health professionals")
