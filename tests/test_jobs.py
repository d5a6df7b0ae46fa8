"""Periodic jobs in-process: the slot claim, the schedule table, the housekeeping tasks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks.base import Task
from django_tasks_db.models import DBTaskResult

from toegang.jobs.models import ScheduledRun
from toegang.jobs.schedule import SCHEDULE, Periodic
from toegang.jobs.scheduler import configure
from toegang.jobs.services import scheduled_run_fire
from toegang.jobs.tasks import sessions_clear, task_results_prune

DATABASE_ENGINE = {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}


def test_every_schedule_line_names_a_task_and_a_valid_crontab() -> None:
    assert len({e.name for e in SCHEDULE}) == len(SCHEDULE)
    assert {"mail.sweep", "sessions.clear", "tasks.prune"} <= {e.name for e in SCHEDULE}
    for entry in SCHEDULE:
        assert isinstance(import_string(entry.task), Task)
    scheduler = BackgroundScheduler()
    configure(scheduler, host="test")
    assert sorted(job.id for job in scheduler.get_jobs()) == sorted(e.name for e in SCHEDULE)


@pytest.mark.django_db
def test_a_slot_fires_once_whoever_fires_it(settings: Any) -> None:
    settings.TASKS = {"default": DATABASE_ENGINE}
    entry = Periodic("test.once", "toegang.jobs.tasks.sessions_clear", "* * * * *")
    slot = timezone.now().replace(second=0, microsecond=0)
    first = scheduled_run_fire(entry=entry, slot=slot, host="a")
    assert first is not None
    assert scheduled_run_fire(entry=entry, slot=slot, host="b") is None
    nxt = scheduled_run_fire(entry=entry, slot=slot + timedelta(minutes=1), host="b")
    assert nxt is not None and nxt != first
    assert list(ScheduledRun.objects.order_by("slot").values_list("claimed_by", "task_result_id")) == [
        ("a", first),
        ("b", nxt),
    ]
    assert DBTaskResult.objects.filter(task_path="toegang.jobs.tasks.sessions_clear").count() == 2


@pytest.mark.django_db
def test_a_firing_whose_enqueue_fails_leaves_no_claim(settings: Any) -> None:
    entry = Periodic("test.broken", "toegang.jobs.tasks.no_such_task", "* * * * *")
    with pytest.raises(ImportError):
        scheduled_run_fire(entry=entry, slot=timezone.now(), host="a")
    assert not ScheduledRun.objects.exists()


@pytest.mark.django_db
def test_sessions_clear_removes_only_expired_sessions() -> None:
    for age in (-1, 1):
        store = SessionStore()
        store.set_expiry(timezone.now() + timedelta(days=age))
        store.save()
    sessions_clear.call()
    assert Session.objects.count() == 1 and Session.objects.get().expire_date > timezone.now()


@pytest.mark.django_db
def test_prune_forgets_results_and_claims_older_than_14_days(settings: Any) -> None:
    settings.TASKS = {"default": DATABASE_ENGINE}
    old, recent = (timezone.now() - timedelta(days=d) for d in (15, 13))
    for when in (old, recent):
        result = sessions_clear.enqueue()
        DBTaskResult.objects.filter(id=result.id).update(status="SUCCESSFUL", finished_at=when)
        ScheduledRun.objects.create(job="x", slot=when, claimed_by="a")
    waiting = sessions_clear.enqueue()  # not finished: kept whatever its age
    DBTaskResult.objects.filter(id=waiting.id).update(enqueued_at=old)
    assert task_results_prune.call() == {"task_results": 1, "scheduled_runs": 1}
    assert DBTaskResult.objects.count() == 2 and ScheduledRun.objects.get().slot == recent
