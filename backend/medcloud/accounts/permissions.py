"""Small composable DRF permission classes. Views combine them (`IsAuthenticated & CanAccessPatientData`).

Object-level rules (which study, which model) live in each domain's selectors: these classes only say
whether a kind of user may reach a kind of data at all.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission

from .models import Role


def may_access_patient_data(user: Any) -> bool:
    """Admins; researchers (their own and shared studies only, enforced by the selectors); health
    professionals once an admin approved their medical certificate."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_admin or user.role == Role.RESEARCHER:
        return True
    return user.role == Role.HEALTH_PROFESSIONAL and user.is_clinically_verified


class IsAdmin(BasePermission):
    message = "Only administrators may do this."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_admin)


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
