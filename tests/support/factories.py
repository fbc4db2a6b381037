"""Rows for fast unit tests (the `db` fixture, no HTTP): users of each role, patients and studies. Nothing
here touches Orthanc; the studies exist only in the database."""

from __future__ import annotations

import secrets


def new_uid() -> str:
    return "1.2.826.0.1.3680043.10." + str(int(secrets.token_hex(6), 16))


def make_user(role: str = "researcher", *, verified: bool = True, active: bool = True):
    from django.utils import timezone

    from medcloud.accounts.models import User

    email = f"{role}-{secrets.token_hex(4)}@example.test"
    if role == "admin":
        user = User.objects.create_superuser(email, None)
        user.role = "admin"
        user.save()
        return user
    user = User.objects.create_user(email, None, role=role, is_active=active)
    if role == "health_professional" and verified:
        user.clinical_verified_at = timezone.now()
        user.save()
    return user


def make_study(owner, *, patient=None):
    from medcloud.pacs.models import Patient, Study

    patient = patient or Patient.objects.create(first_name="Ada", last_name="Test", created_by=owner)
    return Study.objects.create(patient=patient, owner=owner, study_instance_uid=new_uid())
