from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from .models import AuditEvent


def audit_events(*, actor_id: int | None = None, action: str | None = None, target_type: str | None = None,
                 target_id: str | None = None, since: datetime | None = None,
                 until: datetime | None = None) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.all()
    if actor_id is not None:
        events = events.filter(actor_id=actor_id)
    if action:
        events = events.filter(action__startswith=action)
    if target_type:
        events = events.filter(target_type=target_type)
    if target_id:
        events = events.filter(target_id=target_id)
    if since:
        events = events.filter(at__gte=since)
    if until:
        events = events.filter(at__lt=until)
    return events
