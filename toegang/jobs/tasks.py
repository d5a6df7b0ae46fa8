"""Housekeeping jobs fired by the scheduler (toegang/jobs/schedule.py)."""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.db import connections, router
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
def cache_expired_clear() -> int:
    """Remove the expired entries of the database cache (settings.CACHES without Redis).

    Django's database cache drops expired rows only once the table holds MAX_ENTRIES; failed-login
    counts and used TOTP codes expire within a day, so this keeps the table at what is alive.
    Returns the number of rows removed (0 on Redis, which expires its own keys).
    """
    removed = 0
    for alias in settings.CACHES:
        backend = caches[alias]
        if not isinstance(backend, DatabaseCache):
            continue
        connection = connections[router.db_for_write(backend.cache_model_class)]
        table = connection.ops.quote_name(backend._table)  # type: ignore[attr-defined]
        expires = connection.ops.quote_name("expires")
        now = connection.ops.adapt_datetimefield_value(timezone.now().replace(microsecond=0))
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE {expires} < %s", [now])  # noqa: S608 (names quoted)
            removed += max(cursor.rowcount, 0)
    return removed


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
