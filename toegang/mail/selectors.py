"""Reads of the outbox."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from toegang.mail.models import MailStatus, OutgoingMail


def mail_due_count(*, now: datetime | None = None) -> int:
    """Mails waiting to be sent whose (next) attempt is due."""
    return OutgoingMail.objects.filter(status=MailStatus.PENDING, next_attempt_at__lte=now or timezone.now()).count()
