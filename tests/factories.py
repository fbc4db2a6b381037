"""The one place tests make domain objects: users of each role, patients and studies (database rows only:
nothing here touches Orthanc). Call from tests and fixtures with a database available."""

from __future__ import annotations

import secrets
from typing import Any


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{secrets.token_hex(5)}@example.test"


def new_uid() -> str:
    return "1.2.826.0.1.3680043.10." + str(int(secrets.token_hex(6), 16))


def create_user(role: str = "researcher", *, email: str | None = None, password: str | None = None,
                verified: bool = True, active: bool = True, **extra: Any):
    """A user of ``role`` ("researcher", "health_professional" (a ``clinical_role`` may be given), "admin").
    ``verified``: a health professional whose medical certificate an admin approved (else pending: no patient
    data). ``password`` None: an unusable one (the user never signs in by password)."""
    from django.utils import timezone

    from medcloud.accounts.models import User

    email = email or unique_email(role.replace("_", "-"))
    if role == "admin":
        user = User.objects.create_superuser(email, password, **extra)
        user.role = "admin"
        user.save(update_fields=["role"])
        return user
    if role == "health_professional" and verified:
        extra.setdefault("clinical_verified_at", timezone.now())
    return User.objects.create_user(email, password, role=role, is_active=active, **extra)


def create_study(owner, *, patient=None):
    """A study row of ``owner`` (a new patient unless ``patient``), with a fresh StudyInstanceUID."""
    from medcloud.pacs.models import Patient, Study

    patient = patient or Patient.objects.create(first_name="Ada", last_name="Test", created_by=owner)
    return Study.objects.create(patient=patient, owner=owner, study_instance_uid=new_uid())
