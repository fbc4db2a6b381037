"""Writes of the accounts app: sign-up, sign-in (with the second factor), sign-out, API tokens, TOTP,
recovery codes, the 2FA policy, medical certificates. Each change and its audit row share one transaction.

Messages of failed sign-ins are generic on purpose: they never tell whether an address has an account.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyotp
from django.conf import settings
from django.contrib.auth import authenticate
from django.core import signing
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from medcloud.audit.models import Outcome
from medcloud.audit.services import record_event
from medcloud.core.errors import ServiceError

from . import selectors
from .authentication import API_TOKEN_PREFIX, ENROLMENT_CLAIM, REVOKED_ACCESS_KEY, SESSION_START_CLAIM
from .models import (
    ApiToken,
    CertificateStatus,
    MedicalCertificate,
    RecoveryCode,
    Role,
    TotpDevice,
    TwoFactorPolicy,
    User,
)

logger = logging.getLogger(__name__)

GENERIC_LOGIN_FAILURE = "Unable to sign in with the given credentials."
LOCKED_OUT = "Too many failed sign-in attempts. Try again later."
CHALLENGE_SALT = "medcloud.accounts.2fa-challenge"
RECOVERY_CODE_COUNT = 10
TOTP_STEP_SECONDS = 30
UNAUTHORIZED, FORBIDDEN = status.HTTP_401_UNAUTHORIZED, status.HTTP_403_FORBIDDEN


# --- Lockout ------------------------------------------------------------------------------------------------

def _lockout_key(email: str) -> str:
    return "auth:failures:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()


def login_locked(email: str) -> bool:
    return int(cache.get(_lockout_key(email)) or 0) >= settings.MEDCLOUD_LOCKOUT_THRESHOLD


def login_failure_count(email: str) -> int:
    """Count a failed attempt for an address (existing or not); the window restarts with each failure."""
    key = _lockout_key(email)
    cache.add(key, 0, timeout=settings.MEDCLOUD_LOCKOUT_SECONDS)
    try:
        count = cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=settings.MEDCLOUD_LOCKOUT_SECONDS)
        count = 1
    cache.touch(key, settings.MEDCLOUD_LOCKOUT_SECONDS)
    return count


def login_failures_reset(email: str) -> None:
    cache.delete(_lockout_key(email))


def _refuse_locked(email: str, user: User | None, request: Any) -> None:
    if login_locked(email):
        record_event("auth.login.locked", request=request, target_type="user", target_id=user.pk if user else "",
                     outcome=Outcome.DENIED)
        raise ServiceError(LOCKED_OUT, code="locked_out", status_code=status.HTTP_429_TOO_MANY_REQUESTS)


# --- Tokens -------------------------------------------------------------------------------------------------

@dataclass
class LoginResult:
    access: str | None = None
    refresh: str | None = None
    two_factor_required: bool = False
    challenge: str | None = None
    two_factor_enrolment_required: bool = False
    user: User | None = field(default=None, repr=False)


def tokens_for(user: User) -> LoginResult:
    """An access and a refresh token. A user whose role requires 2FA but who has not enrolled gets tokens
    that reach only the enrolment endpoints (see authentication.RevocableJWTAuthentication)."""
    refresh = RefreshToken.for_user(user)
    # The sign-in time travels with every rotated refresh token: a session ends MEDCLOUD_SESSION_MAX_SECONDS
    # after sign-in however often it is refreshed (authentication.SessionAgeRefreshSerializer).
    refresh[SESSION_START_CLAIM] = int(time.time())
    must_enrol = not user.two_factor_enabled and selectors.two_factor_required_for(user)
    if must_enrol:
        refresh[ENROLMENT_CLAIM] = True
    return LoginResult(access=str(refresh.access_token), refresh=str(refresh), two_factor_enrolment_required=must_enrol,
                       user=user)


def _challenge_for(user: User) -> str:
    return signing.dumps({"u": user.pk, "n": secrets.token_hex(8)}, salt=CHALLENGE_SALT)


def login_after_first_factor(*, user: User, request: Any, method: str) -> LoginResult:
    """After a password (or a social provider) proved who the user is: a 2FA challenge, or the tokens."""
    if user.two_factor_enabled:
        record_event("auth.login.first_factor", actor=user, request=request, target_type="user", target_id=user.pk,
                     details={"method": method})
        return LoginResult(two_factor_required=True, challenge=_challenge_for(user), user=user)
    with transaction.atomic():
        record_event("auth.login", actor=user, request=request, target_type="user", target_id=user.pk,
                     details={"method": method})
        result = tokens_for(user)
    return result


def login_with_password(*, email: str, password: str, request: Any) -> LoginResult:
    user = selectors.user_by_email(email)
    _refuse_locked(email, user, request)
    authenticated = authenticate(request=request, email=email.strip().lower(), password=password)
    if authenticated is None:
        login_failure_count(email)
        record_event("auth.login", request=request, target_type="user", target_id=user.pk if user else "",
                     outcome=Outcome.FAILURE, details={"reason": "bad_credentials"})
        raise ServiceError(GENERIC_LOGIN_FAILURE, code="authentication_failed", status_code=UNAUTHORIZED)
    login_failures_reset(email)
    return login_after_first_factor(user=authenticated, request=request, method="password")


def _user_of_challenge(challenge: str) -> tuple[User, str]:
    try:
        data = signing.loads(challenge, salt=CHALLENGE_SALT, max_age=settings.MEDCLOUD_2FA_CHALLENGE_SECONDS)
    except signing.SignatureExpired:
        raise ServiceError("This sign-in has expired: start again with your e-mail and password.",
                           code="challenge_expired", status_code=UNAUTHORIZED) from None
    except signing.BadSignature:
        raise ServiceError("Invalid sign-in challenge.", code="challenge_invalid",
                           status_code=UNAUTHORIZED) from None
    user = User.objects.filter(pk=data["u"], is_active=True).select_related("totp_device").first()
    if user is None or not user.two_factor_enabled:
        raise ServiceError("Invalid sign-in challenge.", code="challenge_invalid", status_code=UNAUTHORIZED)
    return user, data["n"]


def login_with_second_factor(*, challenge: str, code: str = "", recovery_code: str = "", request: Any) -> LoginResult:
    """Second step of a sign-in: a TOTP code or a recovery code. No token exists before this succeeds."""
    user, nonce = _user_of_challenge(challenge)
    _refuse_locked(user.email, user, request)
    try:
        with transaction.atomic():
            if recovery_code:
                _use_recovery_code(user, recovery_code)
                method = "recovery_code"
            else:
                totp_verify(user.totp_device, code)
                method = "totp"
            if not cache.add(f"auth:challenge-used:{nonce}", 1, timeout=settings.MEDCLOUD_2FA_CHALLENGE_SECONDS):
                raise ServiceError("This sign-in challenge was already used: start again.", code="challenge_used",
                                   status_code=UNAUTHORIZED)
            record_event("auth.login", actor=user, request=request, target_type="user", target_id=user.pk,
                         details={"method": "password+" + method})
            if method == "recovery_code":
                record_event("auth.2fa.recovery_code_used", actor=user, request=request, target_type="user",
                             target_id=user.pk)
            result = tokens_for(user)
    except ServiceError as exc:
        login_failure_count(user.email)
        record_event("auth.2fa.verify", actor=user, request=request, target_type="user", target_id=user.pk,
                     outcome=Outcome.FAILURE, details={"reason": exc.get_codes()})
        raise
    login_failures_reset(user.email)
    return result


def logout(*, user: User, refresh: str | None, access_token: Any, request: Any) -> None:
    """Blacklist the refresh token and refuse the current access token until it would have expired."""
    if refresh:
        try:
            token = RefreshToken(refresh)  # type: ignore[arg-type]
        except TokenError:
            token = None  # already expired or blacklisted: nothing left to revoke
        if token is not None:
            if str(token.get("user_id")) != str(user.pk):
                raise ServiceError("This refresh token is not yours.", code="invalid_token")
            token.blacklist()
    if access_token is not None and hasattr(access_token, "get") and access_token.get("jti"):
        remaining = int(access_token["exp"] - time.time())
        if remaining > 0:
            cache.set(REVOKED_ACCESS_KEY.format(jti=access_token["jti"]), 1, timeout=remaining + 5)
    record_event("auth.logout", actor=user, request=request, target_type="user", target_id=user.pk)


def api_tokens_revoke_all(*, user: User) -> int:
    """Revoke every personal API token of a user (after a password reset: whoever reset it may be recovering
    a compromised account, and a script's token must not outlive that). A password *change* keeps them: the
    user proved the old password, and scripts would break on every routine change (docs/security.md)."""
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())


def password_reset_completed(*, user: User, request: Any) -> None:
    """After djoser set the new password from a reset link: sign out everywhere, revoke API tokens, audit."""
    with transaction.atomic():
        sessions_revoke_all(user=user)
        revoked_tokens = api_tokens_revoke_all(user=user)
        record_event("auth.password.reset", actor=user, request=request, target_type="user", target_id=user.pk,
                     details={"api_tokens_revoked": revoked_tokens})
    login_failures_reset(user.email)


def activation_allowed(user: User | None) -> bool:
    """djoser's public activation and its resend are for accounts that were never activated; an account an
    admin deactivated stays deactivated until an admin reactivates it."""
    return user is not None and user.deactivated_at is None


def sessions_revoke_all(*, user: User) -> int:
    """Blacklist every outstanding refresh token of a user (after a password change or reset)."""
    revoked = 0
    for outstanding in OutstandingToken.objects.filter(user=user, expires_at__gt=timezone.now()):
        _, created = BlacklistedToken.objects.get_or_create(token=outstanding)
        revoked += created
    return revoked


# --- Personal API tokens ---------------------------------------------------------------------------------

def api_token_create(*, user: User, name: str, expires_at: datetime | None, request: Any) -> tuple[ApiToken, str]:
    """Create a token; the raw value is returned once and never stored."""
    if expires_at is not None and expires_at <= timezone.now():
        raise ServiceError("The expiry must be in the future.", code="invalid", details={"expires_at": ["in the past"]})
    prefix = secrets.token_hex(4)
    raw = f"{API_TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        token = ApiToken.objects.create(user=user, name=name, prefix=prefix, token_hash=selectors.token_hash(raw),
                                        expires_at=expires_at)
        record_event("auth.api_token.create", actor=user, request=request, target_type="api_token", target_id=token.pk,
                     details={"prefix": prefix, "expires_at": expires_at.isoformat() if expires_at else None})
    return token, raw


def api_token_revoke(*, token: ApiToken, actor: User, request: Any) -> ApiToken:
    with transaction.atomic():
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
        record_event("auth.api_token.revoke", actor=actor, request=request, target_type="api_token", target_id=token.pk,
                     details={"prefix": token.prefix})
    return token


def api_token_touch(*, token: ApiToken) -> None:
    """Record the last use, at most once a minute per token (no write on every request)."""
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


# --- TOTP and recovery codes ----------------------------------------------------------------------------

def totp_uri(device: TotpDevice) -> str:
    return pyotp.TOTP(device.secret).provisioning_uri(name=device.user.email, issuer_name=settings.MEDCLOUD_TOTP_ISSUER)


def totp_setup(*, user: User, request: Any) -> TotpDevice:
    """Start (or restart) enrolment: a new secret, not active until confirmed by a first code."""
    if user.two_factor_enabled:
        raise ServiceError("Two-factor authentication is already on: turn it off first to enrol a new device.",
                           code="already_enabled", status_code=status.HTTP_409_CONFLICT)
    with transaction.atomic():
        TotpDevice.objects.filter(user=user).delete()
        device = TotpDevice.objects.create(user=user, secret=pyotp.random_base32(length=32))
        record_event("auth.2fa.setup", actor=user, request=request, target_type="user", target_id=user.pk)
    return device


def totp_verify(device: TotpDevice | None, code: str) -> None:
    """Accept a code of the current 30-second step or one step either side, never the same step twice.
    Call inside a transaction: the device row is locked while its last used step moves on."""
    if device is None:
        raise ServiceError("Two-factor authentication is not set up.", code="not_enrolled")
    device = TotpDevice.objects.select_for_update().get(pk=device.pk)
    code = "".join(str(code or "").split())
    if not (code.isdigit() and len(code) == 6):
        raise ServiceError("Invalid authentication code.", code="invalid_code", status_code=UNAUTHORIZED)
    totp = pyotp.TOTP(device.secret)
    now_step = int(time.time()) // TOTP_STEP_SECONDS
    for step in (now_step - 1, now_step, now_step + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            if device.last_used_step is not None and step <= device.last_used_step:
                raise ServiceError("This code was already used: wait for the next one.", code="code_reused",
                                   status_code=UNAUTHORIZED)
            device.last_used_step = step
            device.save(update_fields=["last_used_step"])
            return
    raise ServiceError("Invalid authentication code.", code="invalid_code", status_code=UNAUTHORIZED)


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


def _use_recovery_code(user: User, code: str) -> None:
    digest = selectors.token_hash(_normalise_recovery_code(code))
    row = RecoveryCode.objects.select_for_update().filter(user=user, code_hash=digest).first()
    if row is None:
        raise ServiceError("Invalid recovery code.", code="invalid_recovery_code", status_code=UNAUTHORIZED)
    if row.used_at is not None:
        raise ServiceError("This recovery code was already used.", code="recovery_code_used",
                           status_code=UNAUTHORIZED)
    row.used_at = timezone.now()
    row.save(update_fields=["used_at"])


def totp_confirm(*, user: User, code: str, request: Any) -> list[str]:
    """Turn 2FA on with a first valid code; returns the ten recovery codes (shown once)."""
    device = TotpDevice.objects.filter(user=user).first()
    if device is None:
        raise ServiceError("Start the set-up first.", code="not_enrolled")
    if device.confirmed_at is not None:
        raise ServiceError("Two-factor authentication is already on.", code="already_enabled",
                           status_code=status.HTTP_409_CONFLICT)
    with transaction.atomic():
        totp_verify(device, code)
        TotpDevice.objects.filter(pk=device.pk).update(confirmed_at=timezone.now())
        codes = _new_recovery_codes(user)
        record_event("auth.2fa.enable", actor=user, request=request, target_type="user", target_id=user.pk)
    return codes


def _check_second_factor(user: User, code: str) -> None:
    device = getattr(user, "totp_device", None)
    if device is None or device.confirmed_at is None:
        raise ServiceError("Two-factor authentication is not on.", code="not_enabled")
    totp_verify(device, code)


def totp_disable(*, user: User, password: str, code: str, request: Any) -> None:
    if not user.check_password(password):
        raise ServiceError("Your password is not correct.", code="invalid_password", status_code=FORBIDDEN)
    if selectors.two_factor_required_for(user):
        raise ServiceError("Two-factor authentication is required for your role and cannot be turned off.",
                           code="two_factor_required", status_code=FORBIDDEN)
    with transaction.atomic():
        _check_second_factor(user, code)
        TotpDevice.objects.filter(user=user).delete()
        RecoveryCode.objects.filter(user=user).delete()
        record_event("auth.2fa.disable", actor=user, request=request, target_type="user", target_id=user.pk)


def recovery_codes_regenerate(*, user: User, code: str, request: Any) -> list[str]:
    with transaction.atomic():
        _check_second_factor(user, code)
        codes = _new_recovery_codes(user)
        record_event("auth.2fa.recovery_codes", actor=user, request=request, target_type="user", target_id=user.pk)
    return codes


def two_factor_policy_set(*, role: str, required: bool, actor: User, request: Any) -> TwoFactorPolicy:
    with transaction.atomic():
        policy, _ = TwoFactorPolicy.objects.update_or_create(role=role, defaults={"required": required,
                                                                                   "updated_by": actor})
        record_event("auth.2fa.policy", actor=actor, request=request, target_type="role", target_id=role,
                     details={"required": required})
    return policy


# --- Sign-up and medical certificates --------------------------------------------------------------------

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
        raise ServiceError(f"The certificate is larger than {limit // (1024 * 1024)} MB.", code="file_too_large",
                           status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise ServiceError(f"The certificate is larger than {limit // (1024 * 1024)} MB.", code="file_too_large",
                           status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    content_type = sniff_certificate_type(data[:16])
    if content_type is None:
        raise ServiceError("The certificate must be a PDF, PNG or JPEG file.", code="unsupported_file_type",
                           status_code=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, details={"certificate_file": ["type"]})
    return data, content_type


def _send(subject: str, body: str, to: list[str]) -> None:
    """Send a notification; a mail server that is down is logged (without addresses), never a failed request."""
    try:
        send_mail(subject, body, None, to, fail_silently=False)
    except Exception:  # noqa: BLE001
        logger.warning("could not send the e-mail %r to %d recipient(s)", subject, len(to), exc_info=True)


def _send_on_commit(subject: str, body: str, to: list[str]) -> None:
    if to:
        transaction.on_commit(lambda: _send(subject, body, to))


def certificate_submit(*, user: User, number: str, upload: Any, request: Any) -> MedicalCertificate:
    if user.role != Role.HEALTH_PROFESSIONAL:
        raise ServiceError("Only health professionals submit medical certificates.", code="permission_denied",
                           status_code=FORBIDDEN)
    data, content_type = read_certificate_upload(upload)
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()  # one submission at a time per user
        if MedicalCertificate.objects.filter(user=user, status=CertificateStatus.PENDING).exists():
            raise ServiceError("A certificate of yours already awaits validation.", code="already_pending",
                               status_code=status.HTTP_409_CONFLICT)
        certificate = MedicalCertificate.objects.create(
            user=user, number=number.strip(), file=data, file_name=(getattr(upload, "name", "") or "certificate")[:200],
            content_type=content_type, size=len(data),
        )
        record_event("certificate.submit", actor=user, request=request, target_type="certificate",
                     target_id=certificate.pk)
        _send_on_commit("MedCloud: a medical certificate awaits validation",
                        f"Certificate {certificate.pk} of user {user.pk} awaits validation in the admin queue.",
                        selectors.admin_emails())
    return certificate


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
        record_event("auth.signup", actor=None, request=request, target_type="user", target_id=user.pk,
                     details={"role": role, "clinical_role": user.clinical_role})
        if role == Role.HEALTH_PROFESSIONAL:
            certificate_submit(user=user, number=certificate_number, upload=certificate_file, request=request)
    return user


def signup_for_existing_email(*, user: User, request: Any) -> None:
    """Someone signed up with an address that has an account: tell its owner, tell the caller nothing."""
    record_event("auth.signup", request=request, target_type="user", target_id=user.pk, outcome=Outcome.FAILURE,
                 details={"reason": "email_taken"})
    _send("MedCloud: sign-up attempt",
          "Someone tried to create a MedCloud account with this address, which already has one. "
          "If it was you, sign in or reset your password; otherwise ignore this message.", [user.email])


def _decide(certificate: MedicalCertificate, actor: User) -> MedicalCertificate:
    locked = MedicalCertificate.objects.select_for_update().select_related("user").defer("file").get(pk=certificate.pk)
    if locked.status != CertificateStatus.PENDING:
        raise ServiceError(f"This certificate was already {locked.status}.", code="already_decided",
                           status_code=status.HTTP_409_CONFLICT)
    if locked.user_id == actor.pk:
        raise ServiceError("You cannot decide on your own certificate.", code="permission_denied",
                           status_code=FORBIDDEN)
    return locked


def certificate_approve(*, certificate: MedicalCertificate, actor: User, request: Any) -> MedicalCertificate:
    with transaction.atomic():
        certificate = _decide(certificate, actor)
        now = timezone.now()
        certificate.status, certificate.decided_by, certificate.decided_at = CertificateStatus.APPROVED, actor, now
        certificate.save(update_fields=["status", "decided_by", "decided_at"])
        User.objects.filter(pk=certificate.user_id).update(clinical_verified_at=now)
        record_event("certificate.approve", actor=actor, request=request, target_type="certificate",
                     target_id=certificate.pk, details={"user": certificate.user_id})
        _send_on_commit("MedCloud: your medical certificate was approved",
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
        record_event("certificate.reject", actor=actor, request=request, target_type="certificate",
                     target_id=certificate.pk, details={"user": certificate.user_id})
        _send_on_commit("MedCloud: your medical certificate was not accepted",
                        f"An administrator could not accept your medical certificate.\n\nReason: {reason}\n\n"
                        "You can upload a new certificate from your account page.",
                        [certificate.user.email])
    return certificate


def certificate_download_record(*, certificate: MedicalCertificate, actor: User, request: Any) -> None:
    record_event("certificate.download", actor=actor, request=request, target_type="certificate",
                 target_id=certificate.pk)


def social_user_create(*, email: str, full_name: str, provider: str) -> User:
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=None, role=Role.RESEARCHER,
                                            full_name=full_name or None)
            record_event("auth.signup", target_type="user", target_id=user.pk, details={"method": provider})
    except IntegrityError:
        raise ServiceError("An account with this e-mail address already exists.", code="conflict") from None
    return user


def user_update_by_admin(*, user: User, actor: User, request: Any, role: str | None = None,
                         clinical_role: str | None = None, is_active: bool | None = None) -> User:
    """An admin changes a user's role, clinical role or active state. Deactivation signs the user out."""
    if user.pk == actor.pk and (is_active is False or (role is not None and role != Role.ADMIN)):
        raise ServiceError("You cannot demote or deactivate your own account.", code="permission_denied",
                           status_code=FORBIDDEN)
    changes: dict[str, Any] = {}
    if role is not None and role != user.role:
        changes["role"] = role
        if role != Role.HEALTH_PROFESSIONAL:
            changes["clinical_role"] = ""
    if clinical_role is not None and (changes.get("role", user.role) == Role.HEALTH_PROFESSIONAL):
        changes["clinical_role"] = clinical_role
    if changes.get("role", user.role) == Role.HEALTH_PROFESSIONAL and not changes.get("clinical_role",
                                                                                      user.clinical_role):
        raise ServiceError("A health professional needs a clinical role.", code="invalid",
                           details={"clinical_role": ["required for health professionals"]})
    if is_active is not None and is_active != user.is_active:
        changes["is_active"] = is_active
    if not changes:
        return user
    with transaction.atomic():
        for name, value in changes.items():
            setattr(user, name, value)
        fields = list(changes)
        if "is_active" in changes:  # an admin's decision, which djoser's public activation cannot undo
            user.deactivated_at = None if changes["is_active"] else timezone.now()
            fields.append("deactivated_at")
        user.save(update_fields=fields)
        if changes.get("is_active") is False:
            sessions_revoke_all(user=user)
        record_event("auth.user.update", actor=actor, request=request, target_type="user", target_id=user.pk,
                     details={k: v for k, v in changes.items()})
    return user
