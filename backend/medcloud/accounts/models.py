from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, PermissionsMixin
from django.db import models
from django.utils import timezone

from .managers import UserManager


class Role(models.TextChoices):
    RESEARCHER = "researcher", "Researcher"
    HEALTH_PROFESSIONAL = "health_professional", "Health professional"
    ADMIN = "admin", "Admin"


class ClinicalRole(models.TextChoices):
    REGISTRAR = "registrar", "Registrar"
    RADIOLOGIST = "radiologist", "Radiologist"
    SPECIALIST = "specialist", "Specialist"


class User(AbstractBaseUser, PermissionsMixin):
    """A MedCloud user, identified by e-mail address."""

    email = models.EmailField(unique=True)
    role = models.CharField(max_length=32, choices=Role.choices, default=Role.RESEARCHER)
    clinical_role = models.CharField(max_length=32, choices=ClinicalRole.choices, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    # Set when an admin approves the user's medical certificate; a health professional without it is
    # "pending" and reaches no patient data.
    clinical_verified_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"user {self.pk}"

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN or self.is_superuser

    @property
    def is_clinically_verified(self) -> bool:
        return self.clinical_verified_at is not None
