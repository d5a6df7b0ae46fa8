"""Enqueue a task once per (job, slot), whichever host asks first: the periodic scheduler's firings
and the mail job's retries."""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.module_loading import import_string

from toegang.jobs.models import ScheduledRun
from toegang.jobs.schedule import Periodic

logger = logging.getLogger(__name__)


def host_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def slot_enqueue(*, job: str, slot: datetime, task: Any, host: str, run_after: datetime | None = None) -> str | None:
    """Enqueue ``task`` for ``(job, slot)`` unless that was done already (by anyone); the task result id.

    The claim and, on the database engine, the job row commit together: a process that dies between
    them leaves neither, and the next firing or retry enqueues the job.
    """
    with transaction.atomic():
        try:
            with transaction.atomic():
                run = ScheduledRun.objects.create(job=job, slot=slot, claimed_by=host[:200])
        except IntegrityError:
            logger.debug("%s at %s already enqueued by another process", job, slot)
            return None
        result = (task.using(run_after=run_after) if run_after is not None else task).enqueue()
        ScheduledRun.objects.filter(pk=run.pk).update(task_result_id=str(result.id)[:64])
    logger.info("%s at %s enqueued as %s", job, slot, result.id)
    return str(result.id)


def scheduled_run_fire(*, entry: Periodic, slot: datetime, host: str) -> str | None:
    """One firing of a periodic job: its task enqueued once for ``slot`` across every scheduler."""
    return slot_enqueue(job=entry.name, slot=slot, task=import_string(entry.task), host=host)
