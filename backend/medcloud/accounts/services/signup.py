"""Sign-up (e-mail and password, or a social provider) and activation. Each change and its audit row share one
transaction."""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction

from medcloud.audit.actions import AuditAction
from medcloud.audit.models import Outcome
from medcloud.audit.services import record_event
from medcloud.core.errors import ApplicationError

from ..models import (
    Role,
    User,
)
from .certificates import certificate_submit, read_certificate_upload
from .notifications import send_mail_now

logger = logging.getLogger(__name__)


def activation_allowed(user: User | None) -> bool:
    """djoser's public activation and its resend are for accounts that were never activated; an account an
    admin deactivated stays deactivated until an admin reactivates it."""
    return user is not None and user.deactivated_at is None


def user_register(*, email: str, password: str, role: str, clinical_role: str = "", full_name: str = "",
                  institution: str = "", certificate_number: str = "", certificate_file: Any = None,
                  request: Any = None) -> User:
    """Create an inactive account (activated by the e-mail link); a health professional's certificate with it."""
    if certificate_file is not None:
        read_certificate_upload(certificate_file)  # refuse a bad file before anything is stored
        certificate_file.seek(0)
    with transaction.atomic():
        user = User.objects.create_user(
            email=email, password=password, role=role, clinical_role=clinical_role if role == Role.HEALTH_PROFESSIONAL
            else "", full_name=full_name or None, institution=institution or None, is_active=False,
        )
        record_event(AuditAction.SIGNUP, actor=None, request=request, target_type="user", target_id=user.pk,
                     details={"role": role, "clinical_role": user.clinical_role})
        if role == Role.HEALTH_PROFESSIONAL:
            certificate_submit(user=user, number=certificate_number, upload=certificate_file, request=request)
    return user


def signup_for_existing_email(*, user: User, request: Any) -> None:
    """Someone signed up with an address that has an account: tell its owner, tell the caller nothing."""
    record_event(AuditAction.SIGNUP, request=request, target_type="user", target_id=user.pk, outcome=Outcome.FAILURE,
                 details={"reason": "email_taken"})
    send_mail_now("MedCloud: sign-up attempt",
          "Someone tried to create a MedCloud account with this address, which already has one. "
          "If it was you, sign in or reset your password; otherwise ignore this message.", [user.email])


def social_user_create(*, email: str, full_name: str, provider: str) -> User:
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=None, role=Role.RESEARCHER,
                                            full_name=full_name or None)
            record_event(AuditAction.SIGNUP, target_type="user", target_id=user.pk, details={"method": provider})
    except IntegrityError:
        raise ApplicationError("An account with this e-mail address already exists.", code="conflict") from None
    return user


def activation_recorded(*, user: User, request: Any) -> None:
    """djoser activated the account (its user_activated signal): the audit row."""
    record_event(AuditAction.ACTIVATE, actor=user, request=request, target_type="user", target_id=user.pk)


def social_account_linked(*, user: User, provider: str) -> None:
    """A social provider vouched for the e-mail address of an existing account, now linked to it."""
    record_event(AuditAction.SOCIAL_LINK, actor=user, target_type="user", target_id=user.pk,
                 details={"provider": provider})
