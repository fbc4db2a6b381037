"""Medical certificates: upload (type sniffed from the bytes), the admin's decision, downloads. Each change and its
audit row share one transaction."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from medcloud.audit.actions import AuditAction
from medcloud.audit.services import record_event
from medcloud.core.errors import ApplicationError

from .. import selectors
from ..models import (
    CertificateStatus,
    MedicalCertificate,
    Role,
    User,
)
from .notifications import send_mail_on_commit

logger = logging.getLogger(__name__)


MAGIC_TYPES = ((b"%PDF-", "application/pdf"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))


def sniff_certificate_type(head: bytes) -> str | None:
    for magic, content_type in MAGIC_TYPES:
        if head.startswith(magic):
            return content_type
    return None


def read_certificate_upload(upload: Any) -> tuple[bytes, str]:
    """The bytes and sniffed type of an uploaded certificate, or a clear 4xx."""
    limit = settings.MEDCLOUD_CERTIFICATE_MAX_BYTES
    if upload.size is not None and upload.size > limit:
        raise ApplicationError(f"The certificate is larger than {limit // (1024 * 1024)} MB.", code="file_too_large")
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise ApplicationError(f"The certificate is larger than {limit // (1024 * 1024)} MB.", code="file_too_large")
    content_type = sniff_certificate_type(data[:16])
    if content_type is None:
        raise ApplicationError("The certificate must be a PDF, PNG or JPEG file.", code="unsupported_file_type",
                               details={"certificate_file": ["type"]})
    return data, content_type


def certificate_submit(*, user: User, number: str, upload: Any, request: Any) -> MedicalCertificate:
    if user.role != Role.HEALTH_PROFESSIONAL:
        raise ApplicationError("Only health professionals submit medical certificates.", code="permission_denied")
    data, content_type = read_certificate_upload(upload)
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()  # one submission at a time per user
        if MedicalCertificate.objects.filter(user=user, status=CertificateStatus.PENDING).exists():
            raise ApplicationError("A certificate of yours already awaits validation.", code="already_pending")
        certificate = MedicalCertificate.objects.create(
            user=user, number=number.strip(), file=data, file_name=(getattr(upload, "name", "") or "certificate")[:200],
            content_type=content_type, size=len(data),
        )
        record_event(AuditAction.CERTIFICATE_SUBMIT, actor=user, request=request, target_type="certificate",
                     target_id=certificate.pk)
        send_mail_on_commit("MedCloud: a medical certificate awaits validation",
                        f"Certificate {certificate.pk} of user {user.pk} awaits validation in the admin queue.",
                        selectors.admin_emails())
    return certificate


def _decide(certificate: MedicalCertificate, actor: User) -> MedicalCertificate:
    locked = MedicalCertificate.objects.select_for_update().select_related("user").defer("file").get(pk=certificate.pk)
    if locked.status != CertificateStatus.PENDING:
        raise ApplicationError(f"This certificate was already {locked.status}.", code="already_decided")
    if locked.user_id == actor.pk:
        raise ApplicationError("You cannot decide on your own certificate.", code="permission_denied")
    return locked


def certificate_approve(*, certificate: MedicalCertificate, actor: User, request: Any) -> MedicalCertificate:
    with transaction.atomic():
        certificate = _decide(certificate, actor)
        now = timezone.now()
        certificate.status, certificate.decided_by, certificate.decided_at = CertificateStatus.APPROVED, actor, now
        certificate.save(update_fields=["status", "decided_by", "decided_at"])
        User.objects.filter(pk=certificate.user_id).update(clinical_verified_at=now)
        record_event(AuditAction.CERTIFICATE_APPROVE, actor=actor, request=request, target_type="certificate",
                     target_id=certificate.pk, details={"user": certificate.user_id})
        send_mail_on_commit("MedCloud: your medical certificate was approved",
                        "An administrator approved your medical certificate: you now have access to patient data.",
                        [certificate.user.email])
    return certificate


def certificate_reject(*, certificate: MedicalCertificate, actor: User, reason: str,
                       request: Any) -> MedicalCertificate:
    with transaction.atomic():
        certificate = _decide(certificate, actor)
        certificate.status, certificate.decided_by = CertificateStatus.REJECTED, actor
        certificate.decided_at = timezone.now()
        certificate.rejection_reason = reason
        certificate.save(update_fields=["status", "decided_by", "decided_at", "rejection_reason"])
        record_event(AuditAction.CERTIFICATE_REJECT, actor=actor, request=request, target_type="certificate",
                     target_id=certificate.pk, details={"user": certificate.user_id})
        send_mail_on_commit("MedCloud: your medical certificate was not accepted",
                        f"An administrator could not accept your medical certificate.\n\nReason: {reason}\n\n"
                        "You can upload a new certificate from your account page.",
                        [certificate.user.email])
    return certificate


def certificate_download_record(*, certificate: MedicalCertificate, actor: User, request: Any) -> None:
    record_event(AuditAction.CERTIFICATE_DOWNLOAD, actor=actor, request=request, target_type="certificate",
                 target_id=certificate.pk)
