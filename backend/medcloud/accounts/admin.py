"""Django admin (a convenience: the validation queue is the API, /api/auth/admin/certificates/)."""

from __future__ import annotations

from django.contrib import admin

from .models import ApiToken, MedicalCertificate, TwoFactorPolicy, User


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ["id", "email", "role", "clinical_role", "is_active", "clinical_verified_at", "date_joined"]
    list_filter = ["role", "clinical_role", "is_active"]
    search_fields = ["email"]
    fields = ["email", "role", "clinical_role", "is_active", "is_staff", "clinical_verified_at", "full_name",
              "institution", "date_joined", "last_login"]
    readonly_fields = ["date_joined", "last_login"]


@admin.register(MedicalCertificate)
class MedicalCertificateAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "status", "content_type", "size", "submitted_at", "decided_by", "decided_at"]
    list_filter = ["status"]
    fields = ["user", "number", "content_type", "size", "status", "submitted_at", "decided_by", "decided_at",
              "rejection_reason"]
    readonly_fields = fields  # decisions go through the API, which records and e-mails them

    def has_add_permission(self, request) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).defer("file")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]
    fields = list_display
    readonly_fields = list_display


admin.site.register(TwoFactorPolicy)
