"""Jobs of the outbox (Django's task framework: django-tasks, ``django.tasks`` from Django 6)."""

from __future__ import annotations

import logging
from typing import Any

from django_tasks import default_task_backend, task

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
    due = selectors.mail_due_count()
    if due:
        mail_deliver.enqueue()
    return due


def _deliver_later(at: Any) -> None:
    # Engines without run_after (the immediate one of the unit tests) leave the retry to the sweep.
    if default_task_backend.supports_defer:
        mail_deliver.using(run_after=at).enqueue()
    else:
        logger.info("task engine has no run_after: the mail sweep retries at %s", at)
