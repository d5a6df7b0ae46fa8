"""The periodic scheduler: APScheduler's cron triggers, each firing claiming its slot in the database.

Why APScheduler rather than RQ's cron (``rqcron``): it serves both engines with one code path (the
embedded database engine has no scheduler of its own), and the claim in the database, not the engine,
is what lets a scheduler run on every host for availability while each firing is enqueued once.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime
from typing import Any

from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.executors.base import BaseExecutor
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from django.conf import settings
from django.db import close_old_connections

from toegang.jobs.schedule import SCHEDULE, Periodic
from toegang.jobs.services import host_id, scheduled_run_fire

logger = logging.getLogger(__name__)


class SlotExecutor(BaseExecutor):
    """Runs a firing in the scheduler's thread with the time it was scheduled for.

    APScheduler's own executors call the job without that time; the slot must be the scheduled time,
    identical on every host, not the host's clock when it got round to it.
    """

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        events = []
        for run_time in run_times:
            try:
                job.func(*job.args, slot=run_time, **job.kwargs)
            except Exception:
                self._run_job_error(job.id, *sys.exc_info()[1:])
                return
            events.append(JobExecutionEvent(EVENT_JOB_EXECUTED, job.id, job._jobstore_alias, run_time))
        self._run_job_success(job.id, events)


def _fire(entry: Periodic, *, host: str, slot: datetime | None = None) -> None:
    # slot has a default only because APScheduler checks the signature against the job's own kwargs;
    # SlotExecutor always passes it.
    if slot is None:
        raise ValueError("a firing needs its scheduled time (SlotExecutor)")
    close_old_connections()
    try:
        scheduled_run_fire(entry=entry, slot=slot, host=host)
    finally:
        close_old_connections()


def configure(scheduler: BaseScheduler, schedule: tuple[Periodic, ...] = SCHEDULE, host: str = "") -> None:
    """Add every periodic job to ``scheduler`` (a BlockingScheduler in production, a background one in tests)."""
    host = host or host_id()
    scheduler.configure(
        executors={"default": SlotExecutor()},
        # A firing missed by more than a minute (the host slept, the process was down) is skipped, not
        # caught up: every job here is a sweep that the next firing covers.
        job_defaults={"coalesce": True, "misfire_grace_time": 60, "max_instances": 1},
        timezone=settings.TIME_ZONE,
    )
    for entry in schedule:
        trigger = CronTrigger.from_crontab(entry.cron, timezone=settings.TIME_ZONE)
        scheduler.add_job(_fire, trigger, args=[entry], kwargs={"host": host}, id=entry.name, name=entry.name)
