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

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"user {self.pk}"
