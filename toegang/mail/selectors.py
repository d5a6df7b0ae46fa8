"""Reads of the outbox."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Min
from django.utils import timezone

from toegang.mail.models import MailStatus, OutgoingMail

_WAITING = [MailStatus.PENDING, MailStatus.SENDING]


def mail_due_count(*, now: datetime | None = None) -> int:
    """Mails whose (next) attempt is due, including claims of workers that died mid-send."""
    return OutgoingMail.objects.filter(status__in=_WAITING, next_attempt_at__lte=now or timezone.now()).count()


def mail_next_attempt_at() -> datetime | None:
    value: datetime | None = OutgoingMail.objects.filter(status__in=_WAITING).aggregate(at=Min("next_attempt_at"))["at"]
    return value
