"""Sign-in lockout: failed attempts per address within a window, whether or not the address has an account. Each
change and its audit row share one transaction."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache

from medcloud.audit.actions import AuditAction
from medcloud.audit.models import Outcome
from medcloud.audit.services import record_event
from medcloud.core.errors import ApplicationError

from ..models import (
    User,
)

logger = logging.getLogger(__name__)


LOCKED_OUT = "Too many failed sign-in attempts. Try again later."


def _lockout_key(email: str) -> str:
    return "auth:failures:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()


def login_locked(email: str) -> bool:
    return int(cache.get(_lockout_key(email)) or 0) >= settings.MEDCLOUD_LOCKOUT_THRESHOLD


def login_failure_count(email: str) -> int:
    """Count a failed attempt for an address (existing or not); the window restarts with each failure."""
    key = _lockout_key(email)
    cache.add(key, 0, timeout=settings.MEDCLOUD_LOCKOUT_SECONDS)
    try:
        count = cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=settings.MEDCLOUD_LOCKOUT_SECONDS)
        count = 1
    cache.touch(key, settings.MEDCLOUD_LOCKOUT_SECONDS)
    return count


def login_failures_reset(email: str) -> None:
    cache.delete(_lockout_key(email))


def refuse_if_locked(email: str, user: User | None, request: Any) -> None:
    if login_locked(email):
        record_event(AuditAction.LOGIN_LOCKED, request=request, target_type="user", target_id=user.pk if user else "",
                     outcome=Outcome.DENIED)
        raise ApplicationError(LOCKED_OUT, code="locked_out")
