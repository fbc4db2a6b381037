from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, PermissionsMixin
from django.db import models
from django.utils import timezone

from medcloud.crypto.fields import EncryptedBinaryField, EncryptedTextField

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
    # Set when an admin deactivates the account: djoser's public activation (resend_activation, activation)
    # must not undo it; only an admin's reactivation clears it.
    deactivated_at = models.DateTimeField(null=True, blank=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    # Set when an admin approves the user's medical certificate; a health professional without it is
    # "pending" and reaches no patient data.
    clinical_verified_at = models.DateTimeField(null=True, blank=True)
    # Personal details, AES-256-GCM encrypted at rest (crypto.fields).
    full_name = EncryptedTextField(null=True, blank=True)
    institution = EncryptedTextField(null=True, blank=True)

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

    @property
    def two_factor_enabled(self) -> bool:
        device = getattr(self, "totp_device", None)
        return bool(device and device.confirmed_at)


class TwoFactorPolicy(models.Model):
    """Admins require two-factor authentication for a whole role."""

    role = models.CharField(max_length=32, choices=Role.choices, unique=True)
    required = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    def __str__(self) -> str:
        return f"2FA {'required' if self.required else 'optional'} for {self.role}"


class TotpDevice(models.Model):
    """A user's TOTP authenticator. The shared secret is encrypted; `last_used_step` refuses a code twice."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="totp_device")
    secret = EncryptedTextField()
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_used_step = models.BigIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"totp device of user {self.user_id}"


class RecoveryCode(models.Model):
    """A one-time recovery code, stored as SHA-256 of an 80-bit random code (never the code itself)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"recovery code {self.pk}"


class ApiToken(models.Model):
    """A personal API token: `mct_<prefix>_<secret>`, shown once; only the SHA-256 of the whole token is kept."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"api token {self.prefix}"

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())


class CertificateStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class MedicalCertificate(models.Model):
    """A health professional's medical certificate. File, file name and number are encrypted at rest."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="certificates")
    number = EncryptedTextField()
    file = EncryptedBinaryField()
    file_name = EncryptedTextField()
    content_type = models.CharField(max_length=32)
    size = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=CertificateStatus.choices, default=CertificateStatus.PENDING,
                              db_index=True)
    submitted_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["submitted_at", "id"]

    def __str__(self) -> str:
        return f"certificate {self.pk} ({self.status})"
