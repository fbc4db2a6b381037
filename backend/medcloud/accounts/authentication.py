"""DRF authentication classes: personal API tokens and revocable JWTs.

- `ApiTokenAuthentication`: `Authorization: Bearer mct_...` or `Token mct_...`. Only the SHA-256 of a token is
  stored; a revoked or expired token is refused with 401 and a message that says which.
- `RevocableJWTAuthentication`: simplejwt access tokens, plus (1) access tokens revoked at logout are refused
  until they would have expired anyway, (2) a token issued to a user who must still enrol in two-factor
  authentication (claim `enrol_2fa`) reaches only the enrolment endpoints.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.tokens import RefreshToken

from . import selectors
from .constants import API_TOKEN_PREFIX, ENROLMENT_CLAIM, REVOKED_ACCESS_KEY, SESSION_START_CLAIM
from .models import ApiToken

# What a token carrying ENROLMENT_CLAIM may reach: the 2FA enrolment itself, who am I, logout.
ENROLMENT_PATHS = ("/api/auth/2fa/", "/api/auth/users/me/", "/api/auth/logout/")


class ApiTokenAuthentication(BaseAuthentication):
    keywords = (b"bearer", b"token")

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() not in self.keywords:
            return None
        raw = parts[1].decode("latin-1")
        if not raw.startswith(API_TOKEN_PREFIX):
            return None  # not ours: a JWT, say
        token = selectors.api_token_by_value(raw)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid API token."), code="token_invalid")
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed(_("This API token was revoked."), code="token_revoked")
        if not token.is_usable:
            raise exceptions.AuthenticationFailed(_("This API token has expired."), code="token_expired")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("This account is inactive."), code="user_inactive")
        from .services import api_token_touch

        api_token_touch(token=token)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


def plain_token_error(exc: InvalidToken) -> exceptions.AuthenticationFailed:
    """simplejwt's errors carry a dict detail; the one error shape wants a code and a sentence."""
    detail = exc.detail if isinstance(exc.detail, dict) else {"detail": exc.detail}
    messages = detail.get("messages") or []
    reason = str(messages[0].get("message", "")) if messages and isinstance(messages[0], dict) else ""
    reason = reason or str(detail.get("detail", "Token is invalid or expired"))
    return exceptions.AuthenticationFailed(f"The token is not valid: {reason.rstrip('.').lower()}.",
                                           code="token_not_valid")


class RevocableJWTAuthentication(JWTAuthentication):
    def get_validated_token(self, raw_token):
        try:
            token = super().get_validated_token(raw_token)
        except InvalidToken as exc:
            raise plain_token_error(exc) from None
        jti = token.get("jti")
        if jti and cache.get(REVOKED_ACCESS_KEY.format(jti=jti)):
            raise exceptions.AuthenticationFailed(_("This token was revoked (signed out)."), code="token_revoked")
        return token

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user, token = result
        if token.get(ENROLMENT_CLAIM) and not request.path.startswith(ENROLMENT_PATHS):
            raise exceptions.PermissionDenied(
                _("Two-factor authentication is required for your role: enrol at /api/auth/2fa/ and sign in again.")
            )
        return user, token


def is_api_token(auth: object) -> bool:
    return isinstance(auth, ApiToken)


class SessionAgeRefreshSerializer(TokenRefreshSerializer):
    """Refresh tokens rotate (each works once), so without a bound a browser session could be renewed forever.
    The sign-in time (SESSION_START_CLAIM, set by services.tokens_for and carried by every rotation) caps a
    session at MEDCLOUD_SESSION_MAX_SECONDS: after that the user signs in again (and passes 2FA again)."""

    def validate(self, attrs):
        try:
            started = int(RefreshToken(attrs["refresh"]).get(SESSION_START_CLAIM, 0))  # type: ignore[arg-type]
        except TokenError as exc:
            raise InvalidToken(exc.args[0]) from exc
        except (TypeError, ValueError):
            started = 0
        if time.time() - started > settings.MEDCLOUD_SESSION_MAX_SECONDS:
            raise InvalidToken(_("This session is too old; sign in again."))
        return super().validate(attrs)
