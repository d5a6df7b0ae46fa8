"""Writes of the outbox: queue e-mails with a change, and hand them to SMTP afterwards.

``mail_enqueue`` and ``mail_enqueue_many`` are what other apps call, inside their own transaction: the
rows commit or roll back with the change, and once it has committed one job per transaction delivers
them. ``mail_deliver_due`` is that job's body (``toegang.mail.tasks``).
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models import F
from django.utils import timezone, translation

from toegang.bulk import copy_insert_rows, outbox_claim
from toegang.mail import tasks
from toegang.mail.models import MailStatus, OutgoingMail

logger = logging.getLogger(__name__)

# Back-off after a failed attempt: 1 min, 2, 4, … at most an hour; after a day the mail is given up.
RETRY_FIRST = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=1)
GIVE_UP_AFTER = timedelta(hours=24)
# How long a worker owns a mail it is handing to SMTP (well beyond EMAIL_TIMEOUT). A worker killed
# mid-send leaves the row in "sending"; once the lease has passed the sweep makes it pending again, so
# at most that one message can go out twice.
LEASE = timedelta(minutes=10)
# Errors about one message rather than about the server: the next mails may still go through.
_MESSAGE_ERRORS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)
# Mails claimed per short transaction: a commit less per mail, and at most this many wait for their
# lease after a worker is killed (only the one in flight can have gone out).
CLAIM_BATCH = 20


def mail_enqueue(*, to: str, subject: str, body: str, html: str = "", language: str | None = None) -> OutgoingMail:
    """Queue one e-mail with the caller's transaction; it is delivered after that transaction commits."""
    mail = OutgoingMail.objects.create(
        to=to,
        subject=subject[:400],
        body=body,
        html=html,
        language=language if language is not None else (translation.get_language() or ""),
    )
    _deliver_on_commit()
    return mail


def mail_enqueue_many(messages: Iterable[tuple[str, str, str]]) -> int:
    """Queue (to, subject, body) e-mails in bulk (imports of thousands of users); one delivery job."""
    language = translation.get_language() or ""
    now = timezone.now()
    # Columns rather than OutgoingMail instances: no Model.__init__ per mail of a large import.
    rows = [
        {"to": to, "subject": subject[:400], "body": body, "language": language}
        | {"created_at": now, "next_attempt_at": now}
        for to, subject, body in messages
    ]
    if not rows:
        return 0
    copy_insert_rows(OutgoingMail, rows)
    _deliver_on_commit()
    return len(rows)


def mail_enqueue_languages(messages: Iterable[tuple[str, str, str, str]]) -> int:
    """Queue (to, subject, body, language) e-mails in bulk, each in its reader's language; one delivery job."""
    now = timezone.now()
    rows = [
        {"to": to, "subject": subject[:400], "body": body, "language": language}
        | {"created_at": now, "next_attempt_at": now}
        for to, subject, body, language in messages
    ]
    if not rows:
        return 0
    copy_insert_rows(OutgoingMail, rows)
    _deliver_on_commit()
    return len(rows)


class _DeliveryHook:
    """The on-commit callback of one transaction; ``pending`` until it has run."""

    def __init__(self) -> None:
        self.pending = True

    def __call__(self) -> None:
        self.pending = False
        # Imported here: toegang.mail.tasks imports this module.
        tasks.mail_deliver.enqueue()


def _deliver_on_commit(using: str = DEFAULT_DB_ALIAS) -> None:
    # One job per transaction, however many mails it queues. A hook still pending in the on-commit list
    # that was registered in this savepoint or an enclosing one fires exactly when these rows commit, so
    # it covers them; a rolled-back savepoint takes its hooks out of that list. (A hook of an earlier,
    # released sibling savepoint would cover them too, but is not relied on: the test suite runs every
    # test in one transaction, where "earlier" means "another change".)
    connection = transaction.get_connection(using)
    if connection.in_atomic_block:
        open_savepoints = set(connection.savepoint_ids)
        for sids, func, _robust in connection.run_on_commit:
            if isinstance(func, _DeliveryHook) and func.pending and sids <= open_savepoints:
                return
    # robust: if the engine cannot take the job (Redis down), the change stands and the periodic sweep
    # delivers the mail later.
    transaction.on_commit(_DeliveryHook(), using=using, robust=True)


@dataclass
class Delivery:
    sent: int = 0
    failed: int = 0
    retry_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "retry_at": self.retry_at.isoformat() if self.retry_at else None,
        }


def mail_deliver_due(*, limit: int | None = None) -> Delivery:
    """Send the due mails; each is sent, then marked sent in its own small transaction.

    Mails are claimed a few at a time (one short transaction per CLAIM_BATCH), so a worker killed
    mid-run resends at most the message in flight; the others it had claimed wait for their lease.
    On an error about the server (refused connection, timeout, authentication) the run stops: the
    failed mail is rescheduled with back-off, the rest of the batch is put back to the same moment,
    and ``retry_at`` says when to try again. On an error about one message only, that message is
    rescheduled and the run goes on.
    """
    result = Delivery()
    backend = get_connection(fail_silently=False)
    batch: list[OutgoingMail] = []
    try:
        while limit is None or result.sent + result.failed < limit:
            if not batch:
                wanted = CLAIM_BATCH if limit is None else min(CLAIM_BATCH, limit - result.sent - result.failed)
                batch = _claim(wanted)
                if not batch:
                    break
            mail = batch.pop(0)
            try:
                backend.open()
                backend.send_messages([_message(mail)])
            except (smtplib.SMTPException, OSError) as exc:
                result.failed += 1
                retry_at = _record_failure(mail, exc)
                if retry_at is not None and (result.retry_at is None or retry_at < result.retry_at):
                    result.retry_at = retry_at
                if not isinstance(exc, _MESSAGE_ERRORS):
                    _release(batch, at=retry_at or timezone.now())
                    batch = []
                    break
                continue
            OutgoingMail.objects.filter(pk=mail.pk, status=MailStatus.SENDING).update(
                status=MailStatus.SENT, sent_at=timezone.now(), attempts=F("attempts") + 1
            )
            result.sent += 1
    finally:
        # Claimed but not tried (the run stopped early, or an unexpected error): due again at once.
        _release(batch, at=timezone.now())
        try:
            backend.close()
        except (smtplib.SMTPException, OSError):
            logger.debug("closing the SMTP connection failed", exc_info=True)
    return result


def mail_leases_expire() -> int:
    """Return to pending the mails whose worker died while sending them (their lease has passed)."""
    expired = OutgoingMail.objects.filter(status=MailStatus.SENDING, next_attempt_at__lte=timezone.now())
    count = expired.update(status=MailStatus.PENDING)
    if count:
        logger.warning("%s mail(s) left in sending by a stopped worker are due again", count)
    return count


def _claim(count: int) -> list[OutgoingMail]:
    with transaction.atomic():
        claimed = outbox_claim(
            OutgoingMail, count=count, lease=LEASE, pending=MailStatus.PENDING, sending=MailStatus.SENDING
        )
        return [] if claimed is None else list(claimed.order_by("id"))


def _release(batch: list[OutgoingMail], *, at: datetime) -> None:
    if batch:
        OutgoingMail.objects.filter(pk__in=[m.pk for m in batch], status=MailStatus.SENDING).update(
            status=MailStatus.PENDING, next_attempt_at=at
        )


def _message(mail: OutgoingMail) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(subject=mail.subject, body=mail.body, to=[mail.to])
    if mail.html:
        message.attach_alternative(mail.html, "text/html")
    return message


def retry_delay(attempts: int) -> timedelta:
    """Back-off before attempt ``attempts + 1``: 1 min, 2, 4, … capped at RETRY_MAX."""
    delay: timedelta = RETRY_FIRST * 2 ** max(attempts - 1, 0)
    return min(delay, RETRY_MAX)


def _record_failure(mail: OutgoingMail, exc: BaseException) -> datetime | None:
    now = timezone.now()
    attempts = mail.attempts + 1
    error = f"{type(exc).__name__}: {exc}"[:2000]
    mine = OutgoingMail.objects.filter(pk=mail.pk, status=MailStatus.SENDING)
    if now - mail.created_at >= GIVE_UP_AFTER:
        mine.update(status=MailStatus.FAILED, last_error=error, attempts=attempts)
        logger.error("mail %s to %s given up after %s attempts: %s", mail.pk, mail.to, attempts, error)
        return None
    retry_at = now + retry_delay(attempts)
    mine.update(status=MailStatus.PENDING, next_attempt_at=retry_at, last_error=error, attempts=attempts)
    logger.warning("mail %s to %s not sent (attempt %s), next at %s: %s", mail.pk, mail.to, attempts, retry_at, error)
    return retry_at
