"""Mail sent by the accounts services (after the transaction that caused it commits). Each change and its audit row
share one transaction."""

from __future__ import annotations

import logging

from django.core.mail import send_mail
from django.db import transaction

logger = logging.getLogger(__name__)


def send_mail_now(subject: str, body: str, to: list[str]) -> None:
    """Send a notification; a mail server that is down is logged (without addresses), never a failed request."""
    try:
        send_mail(subject, body, None, to, fail_silently=False)
    except Exception:  # noqa: BLE001
        logger.warning("could not send the e-mail %r to %d recipient(s)", subject, len(to), exc_info=True)


def send_mail_on_commit(subject: str, body: str, to: list[str]) -> None:
    if to:
        transaction.on_commit(lambda: send_mail_now(subject, body, to))
