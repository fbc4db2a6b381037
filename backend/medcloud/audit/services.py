"""Writes of the audit log. Call `record_event` inside the transaction of the change it describes, so that
the change and its audit row commit or roll back together (Zulip's rule)."""

from __future__ import annotations

from typing import Any

from medcloud.core.net import client_address

from .actions import AuditAction
from .models import AuditEvent, Outcome


def client_ip(request: Any) -> str | None:
    if request is None:
        return None
    return client_address(request) or None


def record_event(action: AuditAction | str, *, actor: Any = None, request: Any = None, target_type: str = "",
                 target_id: str | int = "", outcome: str = Outcome.SUCCESS,
                 details: dict[str, Any] | None = None) -> AuditEvent:
    action = AuditAction(action)  # the vocabulary (actions.py): an unknown action is a programming error
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    return AuditEvent.objects.create(
        action=action,
        actor=actor,
        outcome=outcome,
        target_type=target_type,
        target_id=str(target_id),
        ip_address=client_ip(request),
        user_agent=(request.META.get("HTTP_USER_AGENT", "")[:256] if request is not None else ""),
        details=details or {},
    )
