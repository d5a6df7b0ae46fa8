"""The scheduler's one write: claim a (job, slot) and enqueue its task, once across every host."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils.module_loading import import_string

from toegang.jobs.models import ScheduledRun
from toegang.jobs.schedule import Periodic

logger = logging.getLogger(__name__)


def scheduled_run_fire(*, entry: Periodic, slot: datetime, host: str) -> str | None:
    """Enqueue ``entry``'s task for ``slot`` unless another scheduler already did; the task result id.

    The claim and, on the database engine, the job row commit together: a scheduler that dies between
    them leaves neither, and the next firing runs the job.
    """
    with transaction.atomic():
        try:
            with transaction.atomic():
                run = ScheduledRun.objects.create(job=entry.name, slot=slot, claimed_by=host[:200])
        except IntegrityError:
            logger.debug("%s at %s already fired by another scheduler", entry.name, slot)
            return None
        result = import_string(entry.task).enqueue()
        ScheduledRun.objects.filter(pk=run.pk).update(task_result_id=str(result.id)[:64])
    logger.info("%s at %s enqueued as %s", entry.name, slot, result.id)
    return str(result.id)
