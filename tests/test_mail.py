"""The outbox: mails commit or roll back with the change, one job per transaction, back-off on errors."""

from __future__ import annotations

import smtplib
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from toegang.jobs.models import ScheduledRun
from toegang.mail import services, tasks
from toegang.mail.models import MailStatus, OutgoingMail
from toegang.mail.services import mail_deliver_due, mail_enqueue, mail_enqueue_many


@pytest.fixture(autouse=True)
def _mail(settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def _hooks(callbacks: list[Any]) -> list[Any]:
    return [c for c in callbacks if isinstance(c, services._DeliveryHook)]


@pytest.mark.django_db
def test_one_job_per_transaction_sends_every_row_after_commit(django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        mail_enqueue(to="a@example.test", subject="A", body="body a")
        mail_enqueue(to="b@example.test", subject="B", body="body b", html="<p>b</p>")
        assert mail_enqueue_many([("c@example.test", "C", "c"), ("d@example.test", "D", "d")]) == 2
        assert mail.outbox == []  # nothing leaves before commit
    assert len(_hooks(callbacks)) == 1
    assert sorted(m.to[0] for m in mail.outbox) == [f"{x}@example.test" for x in "abcd"]
    html = next(m for m in mail.outbox if m.to == ["b@example.test"])
    assert html.alternatives[0][1] == "text/html"  # type: ignore[attr-defined]
    assert set(OutgoingMail.objects.values_list("status", flat=True)) == {MailStatus.SENT}
    assert OutgoingMail.objects.filter(sent_at__isnull=True).count() == 0


@pytest.mark.django_db
def test_a_rolled_back_change_leaves_no_mail(django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            mail_enqueue(to="a@example.test", subject="A", body="a")
            raise RuntimeError("the change failed")
        with transaction.atomic():
            mail_enqueue(to="b@example.test", subject="B", body="b")
            # A savepoint rolled back inside the change: its hook went with it, the outer one stays.
            try:
                with transaction.atomic():
                    mail_enqueue(to="c@example.test", subject="C", body="c")
                    raise RuntimeError
            except RuntimeError:
                pass
    assert [m.to for m in mail.outbox] == [["b@example.test"]]
    assert list(OutgoingMail.objects.values_list("to", flat=True)) == ["b@example.test"]
    assert len(_hooks(callbacks)) == 1


class _RefusingBackend:
    """An SMTP server that is down: every open fails as a refused connection does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def open(self) -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    def close(self) -> None:
        pass

    def send_messages(self, messages: list[Any]) -> int:
        raise AssertionError("not reached")


@pytest.mark.django_db
def test_server_down_stops_the_run_and_backs_off_doubling_then_gives_up(settings: Any) -> None:
    settings.EMAIL_BACKEND = "tests.test_mail._RefusingBackend"
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        mail_enqueue(to="a@example.test", subject="A", body="a")
        mail_enqueue(to="b@example.test", subject="B", body="b")
        result = mail_deliver_due()
        # The run stops at the first server error: the second mail keeps its turn, untouched.
        assert (result.sent, result.failed) == (0, 1)
        a, b = OutgoingMail.objects.order_by("id")
        assert a.status == MailStatus.PENDING and a.attempts == 1 and b.attempts == 0
        assert "ConnectionRefusedError" in a.last_error
        assert a.next_attempt_at == start + timedelta(minutes=1) == result.retry_at
        delays = []
        for _ in range(9):
            clock.move_to(OutgoingMail.objects.get(pk=a.pk).next_attempt_at)
            OutgoingMail.objects.filter(pk=b.pk).update(next_attempt_at=start + timedelta(days=2))
            before = timezone.now()
            mail_deliver_due()
            delays.append(OutgoingMail.objects.get(pk=a.pk).next_attempt_at - before)
        assert [d.total_seconds() / 60 for d in delays] == [2, 4, 8, 16, 32, 60, 60, 60, 60]
        clock.move_to(start + services.GIVE_UP_AFTER)
        OutgoingMail.objects.filter(pk=b.pk).update(next_attempt_at=start)
        for _ in range(2):
            mail_deliver_due()
    assert set(OutgoingMail.objects.values_list("status", flat=True)) == {MailStatus.FAILED}
    assert OutgoingMail.objects.get(pk=a.pk).attempts == 11


@pytest.mark.django_db
def test_failing_delivery_jobs_schedule_one_retry_for_the_minute(settings: Any) -> None:
    settings.EMAIL_BACKEND = "tests.test_mail._RefusingBackend"
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    start = timezone.now().replace(second=10)
    # Three changes within a minute while the server is down: each one's delivery job fails on its mail …
    with time_machine.travel(start, tick=False) as clock:
        for n in range(3):
            clock.move_to(start + timedelta(seconds=n))
            mail_enqueue(to=f"{n}@example.test", subject="S", body="s")
            assert tasks.mail_deliver.call()["failed"] == 1
    # … leave one retry, at the start of the minute after the first back-off ends.
    retries = DBTaskResult.objects.filter(task_path="toegang.mail.tasks.mail_deliver")
    assert [r.run_after for r in retries] == [start.replace(second=0, microsecond=0) + timedelta(minutes=2)]
    assert ScheduledRun.objects.get(job="mail.retry").task_result_id == str(retries.get().id)


class _OneRecipientRefused:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def send_messages(self, messages: list[Any]) -> int:
        if messages[0].to == ["bad@example.test"]:
            raise smtplib.SMTPRecipientsRefused({"bad@example.test": (550, b"no such user")})
        mail.outbox.append(messages[0])
        return 1


@pytest.mark.django_db
def test_a_refused_recipient_does_not_hold_up_the_others(settings: Any) -> None:
    settings.EMAIL_BACKEND = "tests.test_mail._OneRecipientRefused"
    mail_enqueue_many([("bad@example.test", "X", "x"), ("good@example.test", "Y", "y")])
    result = mail_deliver_due()
    assert (result.sent, result.failed) == (1, 1)
    assert [m.to for m in mail.outbox] == [["good@example.test"]]
    assert OutgoingMail.objects.get(to="bad@example.test").status == MailStatus.PENDING


@pytest.mark.django_db
def test_a_worker_that_died_mid_send_leaves_its_mails_to_be_sent_after_their_lease() -> None:
    mail_enqueue_many([("a@example.test", "A", "a"), ("b@example.test", "B", "b")])
    claimed = services._claim(5)  # a worker claims its batch and is killed
    assert [m.status for m in claimed] == [MailStatus.SENDING] * 2
    # Nobody else may take them while the lease runs …
    assert services._claim(5) == [] and mail_deliver_due().sent == 0 and tasks.mail_sweep.call() == 0
    # … and once it has passed, the sweep makes them due and the next run sends them.
    with time_machine.travel(timezone.now() + services.LEASE + timedelta(seconds=1), tick=False):
        assert tasks.mail_sweep.call() == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["a@example.test", "b@example.test"]
    assert list(OutgoingMail.objects.values_list("status", "attempts")) == [(MailStatus.SENT, 1)] * 2


@pytest.mark.django_db
def test_a_run_stopped_by_its_limit_puts_back_what_it_claimed() -> None:
    mail_enqueue_many([(f"{n}@example.test", "S", "s") for n in range(5)])
    assert mail_deliver_due(limit=2).sent == 2
    assert OutgoingMail.objects.filter(status=MailStatus.PENDING).count() == 3
    assert mail_deliver_due().sent == 3 and len(mail.outbox) == 5


def test_retry_delay_doubles_from_a_minute_to_an_hour() -> None:
    assert [services.retry_delay(n).total_seconds() for n in (1, 2, 3, 7, 8, 30)] == [60, 120, 240, 3600, 3600, 3600]
