"""Reads of the accounts app."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db.models import QuerySet

from .models import ApiToken, MedicalCertificate, RecoveryCode, Role, TwoFactorPolicy, User


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_by_value(raw: str) -> ApiToken | None:
    return ApiToken.objects.select_related("user").filter(token_hash=token_hash(raw)).first()


def api_tokens_of(user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user)


def user_by_email(email: str) -> User | None:
    return User.objects.filter(email__iexact=email.strip()).first()


def two_factor_required_for(user: User) -> bool:
    return TwoFactorPolicy.objects.filter(role=user.role, required=True).exists()


def two_factor_policies() -> list[dict]:
    required = dict(TwoFactorPolicy.objects.values_list("role", "required"))
    return [{"role": role, "required": required.get(role, False)} for role in Role.values]


def recovery_codes_left(user: User) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


def certificates_of(user: User) -> QuerySet[MedicalCertificate]:
    return MedicalCertificate.objects.filter(user=user).defer("file")


def certificate_queue(*, status: str | None = "pending") -> QuerySet[MedicalCertificate]:
    certificates = MedicalCertificate.objects.select_related("user", "decided_by").defer("file")
    return certificates.filter(status=status) if status else certificates


def admin_emails() -> list[str]:
    configured = list(settings.MEDCLOUD_ADMIN_EMAILS)
    admins = User.objects.filter(is_active=True).filter(role=Role.ADMIN).values_list("email", flat=True)
    return configured or list(admins)


PROVIDER_LABELS = {
    "google-oauth2": "Google",
    "facebook": "Facebook",
    "linkedin-oauth2": "LinkedIn",
    "github": "GitHub",
    "spotify": "Spotify",
}


def offered_providers() -> list[dict[str, str]]:
    """The social sign-in providers configured with a key and a secret; the others are not offered."""
    return [{"name": name, "label": PROVIDER_LABELS.get(name, name), "path": f"/api/auth/o/{name}/"}
            for name in settings.SOCIAL_AUTH_ENABLED_PROVIDERS]
