"""Input and output serializers of the accounts API (djoser's serializers are replaced by these in settings)."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from djoser.social.serializers import ProviderAuthSerializer
from rest_framework import serializers
from social_core.exceptions import SocialAuthBaseException
from social_django.utils import load_backend, load_strategy

from . import services
from .models import ApiToken, ClinicalRole, MedicalCertificate, Role, User


class UserOutput(serializers.ModelSerializer):
    """`/api/auth/users/me/`: a user edits only their personal details; role and verification are read-only."""

    two_factor_enabled = serializers.BooleanField(read_only=True)
    is_clinically_verified = serializers.BooleanField(read_only=True)
    full_name = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=200)
    institution = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=200)

    class Meta:
        model = User
        fields = ["id", "email", "role", "clinical_role", "full_name", "institution", "is_clinically_verified",
                  "clinical_verified_at", "two_factor_enabled", "date_joined"]
        read_only_fields = ["id", "email", "role", "clinical_role", "clinical_verified_at", "date_joined"]


class SignUpInput(serializers.Serializer):
    """Sign-up (multipart when a health professional attaches a certificate). The answer never tells whether
    the address already had an account: both cases say "check your e-mail"."""

    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(write_only=True, style={"input_type": "password"}, max_length=128)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.RESEARCHER,
                                   help_text="researcher or health_professional (admins are appointed, not signed up)")
    clinical_role = serializers.ChoiceField(choices=ClinicalRole.choices, required=False, allow_blank=True)
    full_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    institution = serializers.CharField(required=False, allow_blank=True, max_length=200)
    certificate_number = serializers.CharField(required=False, allow_blank=True, max_length=100, write_only=True)
    certificate_file = serializers.FileField(required=False, write_only=True,
                                             help_text="PDF, PNG or JPEG; required for health professionals")

    def validate_email(self, value: str) -> str:
        return value.strip().lower()

    def validate_role(self, value: str) -> str:
        if value == Role.ADMIN:
            raise serializers.ValidationError("Sign up as a researcher or a health professional.")
        return value

    def validate(self, attrs):
        errors = {}
        if attrs.get("role") == Role.HEALTH_PROFESSIONAL:
            if not attrs.get("clinical_role"):
                errors["clinical_role"] = ["A health professional picks a clinical role."]
            if not attrs.get("certificate_number"):
                errors["certificate_number"] = ["A health professional gives the number of their medical certificate."]
            if not attrs.get("certificate_file"):
                errors["certificate_file"] = ["A health professional uploads their medical certificate."]
        try:
            validate_password(attrs["password"], User(email=attrs["email"], full_name=attrs.get("full_name") or None))
        except DjangoValidationError as exc:
            errors["password"] = list(exc.messages)
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def create(self, validated_data):
        return services.user_register(request=self.context.get("request"), **validated_data)

    def to_representation(self, instance):
        return {"detail": "Check your e-mail for a link to activate your account."}


class DetailOutput(serializers.Serializer):
    detail = serializers.CharField()


class LoginInput(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=128, style={"input_type": "password"})


class LoginOutput(serializers.Serializer):
    access = serializers.CharField(required=False, help_text="absent when a second factor is required")
    refresh = serializers.CharField(required=False)
    two_factor_required = serializers.BooleanField()
    challenge = serializers.CharField(required=False, help_text="send it back with the code to /api/auth/jwt/2fa/")
    two_factor_enrolment_required = serializers.BooleanField(
        help_text="your role requires 2FA: these tokens reach only the enrolment endpoints until you enrol")


class SecondFactorInput(serializers.Serializer):
    challenge = serializers.CharField()
    code = serializers.CharField(required=False, allow_blank=True, max_length=16, help_text="6-digit TOTP code")
    recovery_code = serializers.CharField(required=False, allow_blank=True, max_length=32)

    def validate(self, attrs):
        if not attrs.get("code") and not attrs.get("recovery_code"):
            raise serializers.ValidationError({"code": ["Give the code of your authenticator app or a recovery code."]})
        return attrs


class LogoutInput(serializers.Serializer):
    refresh = serializers.CharField(required=False, allow_blank=True)


class ApiTokenInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class ApiTokenOutput(serializers.ModelSerializer):
    is_active = serializers.BooleanField(source="is_usable", read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at", "is_active"]


class ApiTokenCreatedOutput(ApiTokenOutput):
    token = serializers.CharField(read_only=True, help_text="shown once: store it now")

    class Meta(ApiTokenOutput.Meta):
        fields = [*ApiTokenOutput.Meta.fields, "token"]


class TwoFactorStatusOutput(serializers.Serializer):
    enabled = serializers.BooleanField()
    required = serializers.BooleanField(help_text="an admin requires 2FA for your role")
    pending_confirmation = serializers.BooleanField()
    recovery_codes_left = serializers.IntegerField()


class TwoFactorSetupOutput(serializers.Serializer):
    secret = serializers.CharField(help_text="base32, for typing into an authenticator by hand")
    otpauth_uri = serializers.CharField()
    qr_svg = serializers.CharField(help_text="SVG markup of a QR code of otpauth_uri")
    qr_png = serializers.CharField(help_text="data: URI of a PNG QR code of otpauth_uri")


class CodeInput(serializers.Serializer):
    code = serializers.CharField(max_length=16)


class TwoFactorDisableInput(serializers.Serializer):
    password = serializers.CharField(max_length=128, style={"input_type": "password"})
    code = serializers.CharField(max_length=16)


class RecoveryCodesOutput(serializers.Serializer):
    recovery_codes = serializers.ListField(child=serializers.CharField(), help_text="shown once")


class TwoFactorPolicyItem(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)
    required = serializers.BooleanField()


class CertificateInput(serializers.Serializer):
    number = serializers.CharField(max_length=100)
    file = serializers.FileField(help_text="PDF, PNG or JPEG")


class CertificateOutput(serializers.ModelSerializer):
    class Meta:
        model = MedicalCertificate
        fields = ["id", "status", "content_type", "size", "submitted_at", "decided_at", "rejection_reason"]


class CertificateAdminOutput(serializers.ModelSerializer):
    user = serializers.SerializerMethodField()
    decided_by = serializers.SerializerMethodField()

    class Meta:
        model = MedicalCertificate
        fields = ["id", "user", "number", "file_name", "status", "content_type", "size", "submitted_at", "decided_by",
                  "decided_at", "rejection_reason"]

    def get_user(self, obj) -> dict:
        user = obj.user
        return {"id": user.pk, "email": user.email, "full_name": user.full_name, "institution": user.institution,
                "clinical_role": user.clinical_role}

    def get_decided_by(self, obj) -> int | None:
        return obj.decided_by_id


class CertificateQueueFilter(serializers.Serializer):
    status = serializers.ChoiceField(choices=["pending", "approved", "rejected", "all"], required=False,
                                     default="pending")


class RejectInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class AdminUserInput(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    clinical_role = serializers.ChoiceField(choices=ClinicalRole.choices, required=False)
    is_active = serializers.BooleanField(required=False)


class AdminUserOutput(UserOutput):
    class Meta(UserOutput.Meta):
        fields = [*UserOutput.Meta.fields, "is_active"]
        read_only_fields = fields


class ProviderOutput(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    path = serializers.CharField()


class ProviderAuthOutput(ProviderAuthSerializer):
    """djoser's social sign-in answer, plus the second-factor challenge when the user has 2FA on."""

    access = serializers.CharField(read_only=True)
    refresh = serializers.CharField(read_only=True)
    user = serializers.CharField(read_only=True)
    two_factor_required = serializers.BooleanField(read_only=True)
    challenge = serializers.CharField(read_only=True)
    two_factor_enrolment_required = serializers.BooleanField(read_only=True)

    def validate(self, attrs):
        # djoser 2.3.5 validates the state, then social-core 6 validates it again inside auth_complete(), and a
        # state is single-use there: the second check always failed. Let auth_complete() do it, once.
        request = self.context["request"]
        strategy = load_strategy(request)
        backend = load_backend(strategy, self.context["view"].kwargs["provider"],
                               redirect_uri=strategy.session_get("redirect_uri"))
        try:
            user = backend.auth_complete()
        except SocialAuthBaseException as exc:
            raise serializers.ValidationError(str(exc)) from None
        except (ConnectionError, OSError) as exc:
            raise serializers.ValidationError(f"The sign-in provider could not be reached: {exc}") from None
        if user is None:
            raise serializers.ValidationError("The sign-in provider did not identify a user.")
        return {"user": user}

    def create(self, validated_data):
        from .social import social_login_result

        return social_login_result(validated_data["user"], self.context.get("request"))
