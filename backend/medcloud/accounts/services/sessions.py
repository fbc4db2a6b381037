"""Sign-in (password, then the second factor), tokens for the browser, sign-out, and signing out everywhere.

Messages of failed sign-ins are generic on purpose: they never tell whether an address has an account. Each
change and its audit row share one transaction."""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.core import signing
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from medcloud.audit.actions import AuditAction
from medcloud.audit.models import Outcome
from medcloud.audit.services import record_event
from medcloud.core.errors import ApplicationError

from .. import selectors
from ..constants import ENROLMENT_CLAIM, REVOKED_ACCESS_KEY, SESSION_START_CLAIM
from ..models import (
    User,
)
from .api_tokens import api_tokens_revoke_all
from .lockout import login_failure_count, login_failures_reset, refuse_if_locked
from .two_factor import totp_verify, use_recovery_code

logger = logging.getLogger(__name__)


GENERIC_LOGIN_FAILURE = "Unable to sign in with the given credentials."


CHALLENGE_SALT = "medcloud.accounts.2fa-challenge"


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
        record_event(AuditAction.LOGIN_FIRST_FACTOR, actor=user, request=request, target_type="user", target_id=user.pk,
                     details={"method": method})
        return LoginResult(two_factor_required=True, challenge=_challenge_for(user), user=user)
    with transaction.atomic():
        record_event(AuditAction.LOGIN, actor=user, request=request, target_type="user", target_id=user.pk,
                     details={"method": method})
        result = tokens_for(user)
    return result


def login_with_password(*, email: str, password: str, request: Any) -> LoginResult:
    user = selectors.user_by_email(email)
    refuse_if_locked(email, user, request)
    authenticated = authenticate(request=request, email=email.strip().lower(), password=password)
    if authenticated is None:
        login_failure_count(email)
        record_event(AuditAction.LOGIN, request=request, target_type="user", target_id=user.pk if user else "",
                     outcome=Outcome.FAILURE, details={"reason": "bad_credentials"})
        raise ApplicationError(GENERIC_LOGIN_FAILURE, code="authentication_failed")
    login_failures_reset(email)
    return login_after_first_factor(user=authenticated, request=request, method="password")


def _user_of_challenge(challenge: str) -> tuple[User, str]:
    try:
        data = signing.loads(challenge, salt=CHALLENGE_SALT, max_age=settings.MEDCLOUD_2FA_CHALLENGE_SECONDS)
    except signing.SignatureExpired:
        raise ApplicationError("This sign-in has expired: start again with your e-mail and password.",
                           code="challenge_expired") from None
    except signing.BadSignature:
        raise ApplicationError("Invalid sign-in challenge.", code="challenge_invalid") from None
    user = User.objects.filter(pk=data["u"], is_active=True).select_related("totp_device").first()
    if user is None or not user.two_factor_enabled:
        raise ApplicationError("Invalid sign-in challenge.", code="challenge_invalid")
    return user, data["n"]


def login_with_second_factor(*, challenge: str, code: str = "", recovery_code: str = "", request: Any) -> LoginResult:
    """Second step of a sign-in: a TOTP code or a recovery code. No token exists before this succeeds."""
    user, nonce = _user_of_challenge(challenge)
    refuse_if_locked(user.email, user, request)
    try:
        with transaction.atomic():
            if recovery_code:
                use_recovery_code(user, recovery_code)
                method = "recovery_code"
            else:
                totp_verify(user.totp_device, code)
                method = "totp"
            if not cache.add(f"auth:challenge-used:{nonce}", 1, timeout=settings.MEDCLOUD_2FA_CHALLENGE_SECONDS):
                raise ApplicationError("This sign-in challenge was already used: start again.", code="challenge_used")
            record_event(AuditAction.LOGIN, actor=user, request=request, target_type="user", target_id=user.pk,
                         details={"method": "password+" + method})
            if method == "recovery_code":
                record_event(AuditAction.RECOVERY_CODE_USED, actor=user, request=request, target_type="user",
                             target_id=user.pk)
            result = tokens_for(user)
    except ApplicationError as exc:
        login_failure_count(user.email)
        record_event(AuditAction.TWO_FACTOR_VERIFY, actor=user, request=request, target_type="user", target_id=user.pk,
                     outcome=Outcome.FAILURE, details={"reason": exc.code})
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
                raise ApplicationError("This refresh token is not yours.", code="invalid_token")
            token.blacklist()
    if access_token is not None and hasattr(access_token, "get") and access_token.get("jti"):
        remaining = int(access_token["exp"] - time.time())
        if remaining > 0:
            cache.set(REVOKED_ACCESS_KEY.format(jti=access_token["jti"]), 1, timeout=remaining + 5)
    record_event(AuditAction.LOGOUT, actor=user, request=request, target_type="user", target_id=user.pk)


def password_changed(*, user: User, request: Any) -> None:
    """After djoser set the new password the user chose (knowing the old one): sign out everywhere, audit.
    Personal API tokens stay (docs/security.md: scripts would break on every routine change)."""
    with transaction.atomic():
        sessions_revoke_all(user=user)
        record_event(AuditAction.PASSWORD_CHANGE, actor=user, request=request, target_type="user", target_id=user.pk)


def password_reset_completed(*, user: User, request: Any) -> None:
    """After djoser set the new password from a reset link: sign out everywhere, revoke API tokens, audit."""
    with transaction.atomic():
        sessions_revoke_all(user=user)
        revoked_tokens = api_tokens_revoke_all(user=user)
        record_event(AuditAction.PASSWORD_RESET, actor=user, request=request, target_type="user", target_id=user.pk,
                     details={"api_tokens_revoked": revoked_tokens})
    login_failures_reset(user.email)


def sessions_revoke_all(*, user: User) -> int:
    """Blacklist every outstanding refresh token of a user (after a password change or reset)."""
    revoked = 0
    for outstanding in OutstandingToken.objects.filter(user=user, expires_at__gt=timezone.now()):
        _, created = BlacklistedToken.objects.get_or_create(token=outstanding)
        revoked += created
    return revoked
