"""Jobs of the outbox (Django's task framework: django-tasks, ``django.tasks`` from Django 6)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django_tasks import default_task_backend, task

from toegang.jobs.services import host_id, slot_enqueue
from toegang.mail import selectors, services

logger = logging.getLogger(__name__)


@task()
def mail_deliver() -> dict[str, Any]:
    """Send the due mails; after a server error, come back when the first of them is due again."""
    result = services.mail_deliver_due()
    if result.retry_at is not None:
        _deliver_later(result.retry_at)
    return result.as_dict()


@task()
def mail_sweep() -> int:
    """Periodic: deliver what is due but has no job (a lost job, an engine that was down, a dead worker)."""
    services.mail_leases_expire()
    due = selectors.mail_due_count()
    if due:
        mail_deliver.enqueue()
    return due


def _deliver_later(at: datetime) -> None:
    # Engines without run_after (the immediate one of the unit tests) leave the retry to the sweep.
    if not default_task_backend.supports_defer:
        logger.info("task engine has no run_after: the mail sweep retries at %s", at)
        return
    # One retry job per minute, however many delivery jobs failed (each change's own job fails while
    # SMTP is down): the retry claims its minute like a scheduler firing, the others stand back.
    slot = at.replace(second=0, microsecond=0)
    if slot < at:
        slot += timedelta(minutes=1)
    slot_enqueue(job="mail.retry", slot=slot, task=mail_deliver, host=host_id(), run_after=slot)
