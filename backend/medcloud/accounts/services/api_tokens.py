"""Personal API tokens: created (the raw value shown once), revoked, touched on use. Each change and its audit row
share one transaction."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from medcloud.audit.actions import AuditAction
from medcloud.audit.services import record_event
from medcloud.core.errors import ApplicationError

from .. import selectors
from ..constants import API_TOKEN_PREFIX
from ..models import (
    ApiToken,
    User,
)

logger = logging.getLogger(__name__)


def api_tokens_revoke_all(*, user: User) -> int:
    """Revoke every personal API token of a user (after a password reset: whoever reset it may be recovering
    a compromised account, and a script's token must not outlive that). A password *change* keeps them: the
    user proved the old password, and scripts would break on every routine change (docs/security.md)."""
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())


def api_token_create(*, user: User, name: str, expires_at: datetime | None, request: Any) -> tuple[ApiToken, str]:
    """Create a token; the raw value is returned once and never stored."""
    if expires_at is not None and expires_at <= timezone.now():
        raise ApplicationError("The expiry must be in the future.", code="invalid",
                               details={"expires_at": ["in the past"]})
    prefix = secrets.token_hex(4)
    raw = f"{API_TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        token = ApiToken.objects.create(user=user, name=name, prefix=prefix, token_hash=selectors.token_hash(raw),
                                        expires_at=expires_at)
        record_event(AuditAction.API_TOKEN_CREATE, actor=user, request=request, target_type="api_token",
                     target_id=token.pk,
                     details={"prefix": prefix, "expires_at": expires_at.isoformat() if expires_at else None})
    return token, raw


def api_token_revoke(*, token: ApiToken, actor: User, request: Any) -> ApiToken:
    with transaction.atomic():
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
        record_event(AuditAction.API_TOKEN_REVOKE, actor=actor, request=request, target_type="api_token",
                     target_id=token.pk, details={"prefix": token.prefix})
    return token


def api_token_touch(*, token: ApiToken) -> None:
    """Record the last use, at most once a minute per token (no write on every request)."""
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
