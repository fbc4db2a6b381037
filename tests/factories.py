"""The one place tests make domain objects. Call from tests and fixtures (a database must be available)."""

from __future__ import annotations

import secrets
from typing import Any


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{secrets.token_hex(5)}@example.test"


def create_user(role: str = "researcher", *, email: str | None = None, password: str | None = None,
                verified: bool = False, **extra: Any):
    """A user of ``role`` ("researcher", "health_professional" (give ``clinical_role``), "admin"). ``verified``:
    a health professional whose medical certificate an admin approved (else pending: no patient data)."""
    from django.utils import timezone

    from medcloud.accounts.models import User

    email = email or unique_email(role.replace("_", "-"))
    password = password or "pw-" + secrets.token_hex(8)
    if role == "admin":
        user = User.objects.create_superuser(email, password, **extra)
        user.role = "admin"
        user.save(update_fields=["role"])
        return user
    if role == "health_professional" and verified:
        extra.setdefault("clinical_verified_at", timezone.now())
    return User.objects.create_user(email, password, role=role, **extra)
