"""The database cache of the default set-up (issue 12, F2): its table comes with migrate, and its
expired entries are removed by a periodic job (toegang/jobs/tasks.py, ``cache_expired_clear``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.core.cache import cache, caches
from django.core.cache.backends.db import DatabaseCache
from django.db import connection
from django.utils import timezone

from toegang.jobs.schedule import SCHEDULE
from toegang.jobs.tasks import cache_expired_clear

DB_CACHE = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "toegang_cache"}}


@pytest.mark.django_db
def test_migrate_made_the_cache_table() -> None:
    assert "toegang_cache" in connection.introspection.table_names()


@pytest.mark.django_db
def test_the_periodic_job_removes_only_expired_entries(settings: Any) -> None:
    settings.CACHES = DB_CACHE  # as without TOEGANG_REDIS_URL, whatever this run's cache is
    assert isinstance(caches["default"], DatabaseCache)
    cache.set("short", 1, 60)
    cache.set("long", 2, 3600)
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=5), tick=False):
        assert cache_expired_clear.call() == 1
    assert cache.get("long") == 2
    with connection.cursor() as cursor:
        cursor.execute("SELECT cache_key FROM toegang_cache")
        assert [key.rsplit(":", 1)[-1] for (key,) in cursor.fetchall()] == ["long"]
    assert any(p.task == "toegang.jobs.tasks.cache_expired_clear" for p in SCHEDULE)
