"""An admin's changes to a user: role, clinical role, active state. Each change and its audit row share one
transaction."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from medcloud.audit.actions import AuditAction
from medcloud.audit.services import record_event
from medcloud.core.errors import ApplicationError

from ..models import (
    Role,
    User,
)
from .sessions import sessions_revoke_all

logger = logging.getLogger(__name__)


def user_update_by_admin(*, user: User, actor: User, request: Any, role: str | None = None,
                         clinical_role: str | None = None, is_active: bool | None = None) -> User:
    """An admin changes a user's role, clinical role or active state. Deactivation signs the user out."""
    if user.pk == actor.pk and (is_active is False or (role is not None and role != Role.ADMIN)):
        raise ApplicationError("You cannot demote or deactivate your own account.", code="permission_denied")
    changes: dict[str, Any] = {}
    if role is not None and role != user.role:
        changes["role"] = role
        if role != Role.HEALTH_PROFESSIONAL:
            changes["clinical_role"] = ""
    if clinical_role is not None and (changes.get("role", user.role) == Role.HEALTH_PROFESSIONAL):
        changes["clinical_role"] = clinical_role
    if changes.get("role", user.role) == Role.HEALTH_PROFESSIONAL and not changes.get("clinical_role",
                                                                                      user.clinical_role):
        raise ApplicationError("A health professional needs a clinical role.", code="invalid",
                           details={"clinical_role": ["required for health professionals"]})
    if is_active is not None and is_active != user.is_active:
        changes["is_active"] = is_active
    if not changes:
        return user
    with transaction.atomic():
        for name, value in changes.items():
            setattr(user, name, value)
        fields = list(changes)
        if "is_active" in changes:  # an admin's decision, which djoser's public activation cannot undo
            user.deactivated_at = None if changes["is_active"] else timezone.now()
            fields.append("deactivated_at")
        user.save(update_fields=fields)
        if changes.get("is_active") is False:
            sessions_revoke_all(user=user)
        record_event(AuditAction.USER_UPDATE, actor=actor, request=request, target_type="user", target_id=user.pk,
                     details={k: v for k, v in changes.items()})
    return user
