"""Housekeeping jobs fired by the scheduler (toegang/jobs/schedule.py)."""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module

from django.conf import settings
from django.utils import timezone
from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, task, task_backends
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from toegang.jobs.models import ScheduledRun

KEEP_RESULTS = timedelta(days=14)


@task()
def sessions_clear() -> None:
    """Remove expired sessions (Django's ``clearsessions``; a no-op for the cache engine)."""
    import_module(settings.SESSION_ENGINE).SessionStore.clear_expired()


@task()
def task_results_prune() -> dict[str, int]:
    """Forget finished job results and scheduler claims older than 14 days.

    They are the engine's bookkeeping, not history: the outbox and the audit trail keep what was done.
    On the Redis engine, RQ expires its own results (result_ttl); only the claims are pruned there.
    """
    cutoff = timezone.now() - KEEP_RESULTS
    results = 0
    backend = task_backends[DEFAULT_TASK_BACKEND_ALIAS]
    if isinstance(backend, DatabaseBackend):
        finished = DBTaskResult.objects.finished().filter(backend_name=backend.alias, finished_at__lte=cutoff)
        results, _ = finished.delete()
    claims, _ = ScheduledRun.objects.filter(slot__lte=cutoff).delete()
    return {"task_results": results, "scheduled_runs": claims}
