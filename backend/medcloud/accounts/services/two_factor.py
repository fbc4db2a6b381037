"""TOTP two-factor authentication, recovery codes and the per-role 2FA policy. Each change and its audit row share
one transaction."""

from __future__ import annotations

import base64
import logging
import secrets
import time
from typing import Any

import pyotp
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from medcloud.audit.actions import AuditAction
from medcloud.audit.services import record_event
from medcloud.core.errors import ApplicationError

from .. import selectors
from ..models import (
    RecoveryCode,
    TotpDevice,
    TwoFactorPolicy,
    User,
)

logger = logging.getLogger(__name__)


RECOVERY_CODE_COUNT = 10


TOTP_STEP_SECONDS = 30


def totp_uri(device: TotpDevice) -> str:
    return pyotp.TOTP(device.secret).provisioning_uri(name=device.user.email, issuer_name=settings.MEDCLOUD_TOTP_ISSUER)


def totp_setup(*, user: User, request: Any) -> TotpDevice:
    """Start (or restart) enrolment: a new secret, not active until confirmed by a first code."""
    if user.two_factor_enabled:
        raise ApplicationError("Two-factor authentication is already on: turn it off first to enrol a new device.",
                           code="already_enabled")
    with transaction.atomic():
        TotpDevice.objects.filter(user=user).delete()
        device = TotpDevice.objects.create(user=user, secret=pyotp.random_base32(length=32))
        record_event(AuditAction.TWO_FACTOR_SETUP, actor=user, request=request, target_type="user", target_id=user.pk)
    return device


def totp_verify(device: TotpDevice | None, code: str) -> None:
    """Accept a code of the current 30-second step or one step either side, never the same step twice.
    Call inside a transaction: the device row is locked while its last used step moves on."""
    if device is None:
        raise ApplicationError("Two-factor authentication is not set up.", code="not_enrolled")
    device = TotpDevice.objects.select_for_update().get(pk=device.pk)
    code = "".join(str(code or "").split())
    if not (code.isdigit() and len(code) == 6):
        raise ApplicationError("Invalid authentication code.", code="invalid_code")
    totp = pyotp.TOTP(device.secret)
    now_step = int(time.time()) // TOTP_STEP_SECONDS
    for step in (now_step - 1, now_step, now_step + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            if device.last_used_step is not None and step <= device.last_used_step:
                raise ApplicationError("This code was already used: wait for the next one.", code="code_reused")
            device.last_used_step = step
            device.save(update_fields=["last_used_step"])
            return
    raise ApplicationError("Invalid authentication code.", code="invalid_code")


def _normalise_recovery_code(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def _new_recovery_codes(user: User) -> list[str]:
    RecoveryCode.objects.filter(user=user).delete()
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()  # 80 bits
        codes.append("-".join(raw[i:i + 4] for i in range(0, 16, 4)))
    RecoveryCode.objects.bulk_create(
        [RecoveryCode(user=user, code_hash=selectors.token_hash(_normalise_recovery_code(c))) for c in codes]
    )
    return codes


def use_recovery_code(user: User, code: str) -> None:
    digest = selectors.token_hash(_normalise_recovery_code(code))
    row = RecoveryCode.objects.select_for_update().filter(user=user, code_hash=digest).first()
    if row is None:
        raise ApplicationError("Invalid recovery code.", code="invalid_recovery_code")
    if row.used_at is not None:
        raise ApplicationError("This recovery code was already used.", code="recovery_code_used")
    row.used_at = timezone.now()
    row.save(update_fields=["used_at"])


def totp_confirm(*, user: User, code: str, request: Any) -> list[str]:
    """Turn 2FA on with a first valid code; returns the ten recovery codes (shown once)."""
    device = TotpDevice.objects.filter(user=user).first()
    if device is None:
        raise ApplicationError("Start the set-up first.", code="not_enrolled")
    if device.confirmed_at is not None:
        raise ApplicationError("Two-factor authentication is already on.", code="already_enabled")
    with transaction.atomic():
        totp_verify(device, code)
        TotpDevice.objects.filter(pk=device.pk).update(confirmed_at=timezone.now())
        codes = _new_recovery_codes(user)
        record_event(AuditAction.TWO_FACTOR_ENABLE, actor=user, request=request, target_type="user", target_id=user.pk)
    return codes


def check_second_factor(user: User, code: str) -> None:
    device = getattr(user, "totp_device", None)
    if device is None or device.confirmed_at is None:
        raise ApplicationError("Two-factor authentication is not on.", code="not_enabled")
    totp_verify(device, code)


def totp_disable(*, user: User, password: str, code: str, request: Any) -> None:
    if not user.check_password(password):
        raise ApplicationError("Your password is not correct.", code="invalid_password")
    if selectors.two_factor_required_for(user):
        raise ApplicationError("Two-factor authentication is required for your role and cannot be turned off.",
                           code="two_factor_required")
    with transaction.atomic():
        check_second_factor(user, code)
        TotpDevice.objects.filter(user=user).delete()
        RecoveryCode.objects.filter(user=user).delete()
        record_event(AuditAction.TWO_FACTOR_DISABLE, actor=user, request=request, target_type="user", target_id=user.pk)


def recovery_codes_regenerate(*, user: User, code: str, request: Any) -> list[str]:
    with transaction.atomic():
        check_second_factor(user, code)
        codes = _new_recovery_codes(user)
        record_event(AuditAction.RECOVERY_CODES, actor=user, request=request, target_type="user", target_id=user.pk)
    return codes


def two_factor_policy_set(*, role: str, required: bool, actor: User, request: Any) -> TwoFactorPolicy:
    with transaction.atomic():
        policy, _ = TwoFactorPolicy.objects.update_or_create(role=role, defaults={"required": required,
                                                                                   "updated_by": actor})
        record_event(AuditAction.TWO_FACTOR_POLICY, actor=actor, request=request, target_type="role", target_id=role,
                     details={"required": required})
    return policy
