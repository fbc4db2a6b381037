"""Small composable DRF permission classes. Views combine them (`IsAuthenticated & CanAccessPatientData`).

Object-level rules (which study, which model) live in each domain's selectors: these classes only say
whether a kind of user may reach a kind of data at all.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission

from medcloud.core.permissions import IsAdmin  # noqa: F401  (re-exported: the apps' views import it from here)

from .models import Role


def may_access_patient_data(user: Any) -> bool:
    """Admins; researchers (their own and shared studies only, enforced by the selectors); health
    professionals once an admin approved their medical certificate."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_admin or user.role == Role.RESEARCHER:
        return True
    return user.role == Role.HEALTH_PROFESSIONAL and user.is_clinically_verified


class IsResearcher(BasePermission):
    message = "Only researchers may do this."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.role == Role.RESEARCHER)


class IsHealthProfessional(BasePermission):
    message = "Only health professionals may do this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.role == Role.HEALTH_PROFESSIONAL)


class CanAccessPatientData(BasePermission):
    message = "Your account may not access patient data (a health professional's certificate must be approved first)."

    def has_permission(self, request, view) -> bool:
        return may_access_patient_data(request.user)


class DenyAll(BasePermission):
    message = "This operation is not available."

    def has_permission(self, request, view) -> bool:
        return False


class IsSelfOrAdmin(BasePermission):
    """Object level: a user reaches their own account; admins reach every account."""

    message = "You may only see or change your own account."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated)

    def has_object_permission(self, request, view, obj) -> bool:
        return bool(request.user.is_admin or obj.pk == request.user.pk)


class IsInteractiveSession(BasePermission):
    """Signed in through the browser sign-in (JWT), not with a personal API token: API tokens cannot manage
    API tokens or two-factor authentication."""

    message = "Personal API tokens cannot do this: sign in with your password."

    def has_permission(self, request, view) -> bool:
        from .models import ApiToken

        return bool(request.user and request.user.is_authenticated and not isinstance(request.auth, ApiToken))
