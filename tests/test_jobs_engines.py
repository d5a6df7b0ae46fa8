"""The job engines with real worker processes: SMTP down and back, the Redis engine, two schedulers.

Each test runs its worker or scheduler as a subprocess on the test database (a file for SQLite, see
tests/conftest.py), speaking real SMTP to a small sink in this file. They poll with short sleeps and
bounded timeouts: a few seconds each.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone
from django_tasks import TaskResultStatus, task_backends
from django_tasks_db.models import DBTaskResult

from tests.conftest import World, login
from tests.smtp_sink import down_port, smtp_sink
from toegang.delegation.models import RoleAssignment
from toegang.identifiers import ssin_make
from toegang.jobs.models import ScheduledRun
from toegang.mail.models import MailStatus, OutgoingMail
from toegang.mail.services import mail_enqueue
from toegang.mail.tasks import mail_deliver, mail_sweep

ROOT = Path(__file__).resolve().parent.parent
NEW = ssin_make(1988, 8, 8, 809)
DATABASE_ENGINE = {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
REDIS_URL = os.environ.get("TOEGANG_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def process_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOEGANG_")}
    env |= {
        "DJANGO_SETTINGS_MODULE": "toegang.settings",
        "PYTHONPATH": str(ROOT),
        "TOEGANG_DATABASE_URL": database_url(),
        "TOEGANG_LOG_LEVEL": "WARNING",
        "TOEGANG_EMAIL_TIMEOUT": "5",
    }
    return env | {f"TOEGANG_{k}": v for k, v in extra.items()}


def manage(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop(process: subprocess.Popen[str]) -> str:
    if process.poll() is None:
        process.terminate()
    try:
        output, _ = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output or ""


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _add_user(client: Client, world: World) -> Any:
    form = {
        "action": "save",
        "ssin": NEW,
        "last_name": "Nieuw",
        "first_name": "Nele",
        "title": "ms",
        "language": "nl",
        "email": "nele@example.test",
        "applications": [str(world.apps[0].pk)],
    }
    return client.post(f"/nl/s/{world.zon.sd.pk}/users/new/", form)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_smtp_down_saves_every_change_and_delivers_once_smtp_is_back(
    world: World, client: Client, settings: Any
) -> None:
    down = down_port()  # bound, not listening: the SMTP server is down, and the port stays ours
    port = int(down.getsockname()[1])
    settings.TASKS = {"default": DATABASE_ENGINE}
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
    OutgoingMail.objects.all().update(status=MailStatus.SENT)  # the personas' own mails are not the subject

    # Two changes that mail: a user added by the SB (delegation), a password reset (allauth).
    login(client, world.person("sb"))
    response = _add_user(client, world)
    assert response.status_code == 302
    assert RoleAssignment.objects.active().filter(person__ssin=NEW, subdepartment=world.zon.sd).exists()
    response = Client().post("/nl/accounts/password/reset/", {"email": world.person("user").email})
    assert response.status_code == 302
    waiting = OutgoingMail.objects.filter(status=MailStatus.PENDING)
    assert sorted(waiting.values_list("to", flat=True)) == ["nele@example.test", world.person("user").email]
    assert DBTaskResult.objects.filter(task_path="toegang.mail.tasks.mail_deliver").count() == 2

    worker = manage(
        "db_worker", "--queue-name", "default", "--interval", "0.1", "--no-startup-delay",
        env=process_env(EMAIL_URL=f"smtp://127.0.0.1:{port}"),
    )  # fmt: skip
    try:
        wait_for(lambda: not DBTaskResult.objects.ready().exists(), "the worker to try the mail jobs")
        wait_for(lambda: not DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING).exists(), "the jobs")
        tried = waiting.filter(attempts__gte=1)
        assert tried.count() >= 1
        for mail in tried:
            assert "Connection refused" in mail.last_error or "ConnectionRefused" in mail.last_error
            assert mail.next_attempt_at > timezone.now() + timedelta(seconds=30)  # back-off: a minute
        # The job put itself back for the first retry (run_after), and nothing else was lost.
        retries = DBTaskResult.objects.filter(task_path="toegang.mail.tasks.mail_deliver", status="READY")
        assert retries.count() >= 1 and all(r.run_after < timezone.now() + timedelta(minutes=2) for r in retries)
        assert OutgoingMail.objects.filter(status=MailStatus.PENDING).count() == 2

        with smtp_sink(port, held=down) as sink:
            # A minute passes: the back-off ends and the rescheduled job comes due.
            now = timezone.now()
            waiting.update(next_attempt_at=now)
            retries.update(run_after=now)
            # Sent, not merely no longer pending: a claimed row (SENDING) is still on its way to the sink.
            unsent = OutgoingMail.objects.exclude(status=MailStatus.SENT)
            wait_for(lambda: not unsent.exists(), "the mails to be sent", timeout=30)
            assert sorted(to for recipients, _ in sink.messages for to in recipients) == sorted(
                ["nele@example.test", world.person("user").email]
            )
            assert set(OutgoingMail.objects.values_list("status", flat=True)) == {MailStatus.SENT}
            # More runs (the sweep, another delivery job) find nothing to send again: exactly once.
            extra = [mail_sweep.enqueue().id, mail_deliver.enqueue().id]
            wait_for(
                lambda: DBTaskResult.objects.filter(id__in=extra, status=TaskResultStatus.SUCCESSFUL).count() == 2,
                "the extra runs",
            )
            assert len(sink.messages) == 2
            reset = next(body for recipients, body in sink.messages if recipients == [world.person("user").email])
            assert "/accounts/password/reset/key/" in reset
    finally:
        output = stop(worker)
    assert "Traceback" not in output, output


def _redis_or_skip() -> Any:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis is not reachable at {REDIS_URL} ({exc}): the Redis engine is not tested")
    return client


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_redis_engine_an_rqworker_process_runs_the_mail_job(settings: Any) -> None:
    redis_client = _redis_or_skip()
    redis_client.flushdb()
    settings.TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    settings.RQ_QUEUES = {"default": {"URL": REDIS_URL}}
    import django_rq

    port = free_port()
    with smtp_sink(port) as sink:
        with transaction.atomic():
            mail_enqueue(to="rq@example.test", subject="Through RQ", body="Sent by an rqworker.")
            assert django_rq.get_queue("default").count == 0  # not before commit
        queue = django_rq.get_queue("default")
        assert queue.count == 1
        worker = manage(
            "rqworker", "default", "--job-class", "django_tasks_rq.Job", "--burst",
            env=process_env(TASK_ENGINE="redis", REDIS_URL=REDIS_URL, EMAIL_URL=f"smtp://127.0.0.1:{port}"),
        )  # fmt: skip
        try:
            worker.wait(timeout=60)
        finally:
            output = stop(worker)
        assert worker.returncode == 0, output
        assert [recipients for recipients, _ in sink.messages] == [["rq@example.test"]]
    assert OutgoingMail.objects.get().status == MailStatus.SENT
    (job_id,) = queue.finished_job_registry.get_job_ids()
    result = task_backends["default"].get_result(job_id)
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == {"sent": 1, "failed": 0, "retry_at": None}
    redis_client.flushdb()


# Two schedulers as two hosts would run them, each with the real configuration but a job that fires
# every second (production's crontab lines fire at most once a minute), until a shared deadline.
SCHEDULER = """
import logging, sys, threading, time
import django
django.setup()
from apscheduler.schedulers.blocking import BlockingScheduler
from toegang.jobs.schedule import Periodic
from toegang.jobs.scheduler import configure
logging.getLogger("toegang.jobs").setLevel(logging.DEBUG)
scheduler = BlockingScheduler()
configure(scheduler, (Periodic("test.tick", "toegang.jobs.tasks.sessions_clear", "* * * * *"),), host=sys.argv[1])
scheduler.reschedule_job("test.tick", trigger="cron", second="*")
threading.Timer(max(float(sys.argv[2]) - time.time(), 3), scheduler.shutdown, kwargs={"wait": False}).start()
scheduler.start()
"""


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_schedulers_enqueue_each_firing_once() -> None:
    deadline = time.time() + 10
    env = process_env(TASK_ENGINE="database", LOG_LEVEL="INFO")
    hosts = [
        subprocess.Popen(  # noqa: S603
            [sys.executable, "-c", SCHEDULER, name, str(deadline)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in ("host-a", "host-b")
    ]
    outputs = []
    for process in hosts:
        try:
            outputs.append(process.communicate(timeout=40)[0])
        finally:
            stop(process)
    assert all(p.returncode == 0 for p in hosts), outputs
    runs = list(ScheduledRun.objects.filter(job="test.tick").order_by("slot"))
    enqueued = sum(out.count("enqueued as") for out in outputs)
    skipped = sum(out.count("already enqueued by another process") for out in outputs)
    # Both schedulers fired the seconds they were both up; for each slot one enqueued, the other stood back.
    assert len(runs) >= 2 and enqueued == len(runs) and skipped >= 1, outputs
    assert len({r.slot for r in runs}) == len(runs)
    assert all(r.slot.microsecond == 0 for r in runs)  # the scheduled second, not the host's clock
    jobs = DBTaskResult.objects.filter(task_path="toegang.jobs.tasks.sessions_clear")
    assert sorted(str(j.id) for j in jobs) == sorted(r.task_result_id for r in runs)
