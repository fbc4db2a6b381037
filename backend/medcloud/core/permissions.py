"""Permission classes every app may use without importing a domain app (the foundation stays below them)."""

from __future__ import annotations

from rest_framework.permissions import BasePermission


class IsAdmin(BasePermission):
    """An administrator (a user whose `is_admin` says so: the accounts app's role, or a superuser)."""

    message = "Only administrators may do this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and getattr(user, "is_admin", False))
