"""Social sign-in (OAuth2, social-auth-app-django through djoser's /api/auth/o/<provider>/).

- Backends: social-core's, plus an optional `SOCIAL_AUTH_<NAME>_ENDPOINT` base URL that replaces the provider's
  authorisation, token and user-info URLs (a self-hosted identity provider, or the fake provider of the tests).
- Pipeline: a social account links to an existing user only when the provider vouches for the e-mail address;
  a new account is created only for a verified address.
- Token strategy: the second factor still applies (a challenge instead of tokens when 2FA is on).
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from social_core.backends.facebook import FacebookOAuth2 as _FacebookOAuth2
from social_core.backends.github import GithubOAuth2 as _GithubOAuth2
from social_core.backends.google import GoogleOAuth2 as _GoogleOAuth2
from social_core.backends.linkedin import LinkedinOAuth2 as _LinkedinOAuth2
from social_core.backends.spotify import SpotifyOAuth2 as _SpotifyOAuth2
from social_core.exceptions import AuthException

from . import selectors, services

UNVERIFIED = "did not confirm an e-mail address for this account: sign up with your e-mail address and a password."


class UnverifiedEmail(AuthException):
    """social-core 6 shows a catalogue message per error code; this one says what to do."""

    def __str__(self) -> str:
        return f"{self.backend.name if self.backend else 'The provider'} {UNVERIFIED}"


class _EndpointOverride:
    """`<endpoint>/authorize`, `<endpoint>/token` when SOCIAL_AUTH_<NAME>_ENDPOINT is set."""

    def _endpoint(self) -> str:
        return (self.setting("ENDPOINT") or "").rstrip("/")  # type: ignore[attr-defined]

    def authorization_url(self) -> str:
        base = self._endpoint()
        return f"{base}/authorize" if base else super().authorization_url()  # type: ignore[misc]

    def access_token_url(self) -> str:
        base = self._endpoint()
        return f"{base}/token" if base else super().access_token_url()  # type: ignore[misc]


class GoogleOAuth2(_EndpointOverride, _GoogleOAuth2):
    def user_data(self, access_token: str, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        base = self._endpoint()
        if not base:
            return super().user_data(access_token, *args, **kwargs)
        response = self.get_json(f"{base}/userinfo", headers={"Authorization": f"Bearer {access_token}"})
        self.validate_email_verified(response)
        return response

    def validate_email_verified(self, response: Any, *, stage: Any = "user_info") -> None:
        if not (response and self.email_verified(response)):
            raise UnverifiedEmail(self)

    @staticmethod
    def email_verified(response: dict[str, Any]) -> bool:
        return response.get("email_verified") is True


class GithubOAuth2(_EndpointOverride, _GithubOAuth2):
    def api_url(self) -> str:
        base = self._endpoint()
        return f"{base}/api/" if base else super().api_url()

    @staticmethod
    def email_verified(response: dict[str, Any]) -> bool:
        email = response.get("email")
        emails = response.get("emails", [])
        return any(isinstance(e, dict) and e.get("email") == email and e.get("verified") for e in emails)


class FacebookOAuth2(_EndpointOverride, _FacebookOAuth2):
    @staticmethod
    def email_verified(response: dict[str, Any]) -> bool:
        return bool(response.get("email"))  # Facebook returns only confirmed addresses


class LinkedinOAuth2(_EndpointOverride, _LinkedinOAuth2):
    @staticmethod
    def email_verified(response: dict[str, Any]) -> bool:
        return bool(response.get("emailAddress") or response.get("email"))  # LinkedIn requires confirmed addresses


class SpotifyOAuth2(_EndpointOverride, _SpotifyOAuth2):
    @staticmethod
    def email_verified(response: dict[str, Any]) -> bool:
        return False  # Spotify does not confirm addresses: link by signing in with the password first


def _verified(backend: Any, response: dict[str, Any]) -> bool:
    check = getattr(backend, "email_verified", None)
    return bool(check and check(response))


def associate_by_verified_email(backend: Any, details: dict[str, Any], response: dict[str, Any], user: Any = None,
                                *args: Any, **kwargs: Any) -> dict[str, Any] | None:
    if user is not None:
        return None
    email = (details.get("email") or "").strip().lower()
    if not email or not _verified(backend, response):
        raise UnverifiedEmail(backend)
    existing = selectors.user_by_email(email)
    if existing is not None:
        services.social_account_linked(user=existing, provider=backend.name)
        return {"user": existing, "is_new": False}
    return None


def create_user(backend: Any, details: dict[str, Any], user: Any = None, *args: Any, **kwargs: Any) -> dict[str, Any]:
    if user is not None:
        return {"is_new": False}
    email = (details.get("email") or "").strip().lower()
    full_name = details.get("fullname") or " ".join(filter(None, [details.get("first_name"), details.get("last_name")]))
    user = services.social_user_create(email=email, full_name=full_name, provider=backend.name)
    return {"is_new": True, "user": user}


def social_login_result(user: Any, request: Any) -> dict[str, Any]:
    if not user.is_active:
        raise serializers.ValidationError("This account is inactive: activate it from the e-mail link first.")
    result = services.login_after_first_factor(user=user, request=request, method="social")
    data: dict[str, Any] = {"user": str(user), "two_factor_required": result.two_factor_required,
                            "two_factor_enrolment_required": result.two_factor_enrolment_required}
    if result.two_factor_required:
        data["challenge"] = result.challenge
    else:
        data.update(access=result.access, refresh=result.refresh)
    return data


class TwoFactorAwareTokenStrategy:
    """djoser's SOCIAL_AUTH_TOKEN_STRATEGY: the same rules as a password sign-in (2FA, enrolment, audit)."""

    @classmethod
    def obtain(cls, user: Any) -> dict[str, Any]:
        return social_login_result(user, None)
