"""Claims of enqueued-once jobs: one row per (job, slot), whichever host enqueued it.

The periodic scheduler's firings and the mail job's retries (toegang/jobs/services.py).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ScheduledRun(models.Model):
    # The unique (job, slot) pair is the lock: a process enqueues the job only if its insert won, so
    # with schedulers on several hosts each firing is enqueued once (toegang/jobs/scheduler.py).
    job = models.CharField(_("job"), max_length=100)
    slot = models.DateTimeField(_("slot"))
    claimed_at = models.DateTimeField(_("claimed at"), default=timezone.now)
    claimed_by = models.CharField(_("claimed by"), max_length=200)
    task_result_id = models.CharField(_("task result"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("scheduled run")
        verbose_name_plural = _("scheduled runs")
        constraints = [models.UniqueConstraint(fields=["job", "slot"], name="jobs_scheduled_run_once")]

    def __str__(self) -> str:
        return f"{self.job} @ {self.slot:%Y-%m-%d %H:%M}"
