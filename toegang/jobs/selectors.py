"""Reads of the job claims: which periodic firings were enqueued, and by which host."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from toegang.jobs.models import ScheduledRun


def scheduled_runs_since(since: datetime) -> QuerySet[ScheduledRun]:
    """The claims made since ``since``, newest first (for the admin and for operators' checks)."""
    return ScheduledRun.objects.filter(claimed_at__gte=since).order_by("-claimed_at")
