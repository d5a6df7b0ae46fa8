"""Accesses that end by themselves (issue 15): reminders before a planned end, the expiry job after it.

The clock is moved with time-machine (``tick=False``: each step is one fixed instant). Readers treat
an access as ended at its ``valid_until`` before any job runs (tests/test_history.py shows every
reader); the job closes the rows, records "expired" once and mails the person and the managers.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.db import connection, connections, transaction
from django.test import Client, TestCase
from django.utils import timezone, translation

from tests.conftest import World
from tests.test_api import RP, Api, application_of, ssin_of
from tests.test_api import access as access
from toegang.accounts.models import User
from toegang.applications.models import ApplicationGrant
from toegang.audit.actions import Action, Reason
from toegang.audit.models import AuditEvent
from toegang.audit.rendering import render_events
from toegang.delegation import expiry
from toegang.delegation.models import ExpiryReminder, Role, RoleAssignment
from toegang.delegation.services import BulkAction, memberships_bulk
from toegang.history import EXPIRED
from toegang.jobs.schedule import SCHEDULE
from toegang.mail.models import OutgoingMail
from toegang.oidc.validator import access_claim
from toegang.organisations.models import reminder_thresholds

pytestmark = pytest.mark.django_db


def _membership(world: World, who: str = "user") -> RoleAssignment:
    return RoleAssignment.objects.active().get(person=world.person(who), subdepartment=world.zon.sd, role=Role.USER)


def _set_last_day(world: World, days_ahead: int) -> datetime:
    """The SB sets the user's last day in Facility A (the users list's bulk action): ``valid_until``."""
    zon = world.zon
    with TestCase.captureOnCommitCallbacks(execute=True):
        memberships_bulk(
            actor=zon.people["sb"],
            subdepartment=zon.sd,
            memberships=[_membership(world)],
            action=BulkAction.END_DATE,
            last_day=timezone.localdate() + timedelta(days=days_ahead),
        )
    until = _membership(world).valid_until
    assert until is not None
    mail.outbox = []
    return until


def _outbox(since: int = 0, **filters: Any) -> list[OutgoingMail]:
    return list(OutgoingMail.objects.filter(pk__gt=since, **filters).order_by("pk"))


def _last_mail() -> int:
    return OutgoingMail.objects.order_by("pk").values_list("pk", flat=True).last() or 0


def _events(action: Action) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action.value).order_by("pk"))


def _remind(at: datetime) -> dict[str, int]:
    with time_machine.travel(at, tick=False):
        return expiry.expiry_reminders_send()


def _expire(at: datetime) -> dict[str, int]:
    with time_machine.travel(at, tick=False):
        return expiry.accesses_expire()


def test_the_jobs_are_on_the_schedule() -> None:
    tasks = {p.name: p.task for p in SCHEDULE}
    assert tasks["delegation.expire"] == "toegang.delegation.tasks.accesses_expire"
    assert tasks["delegation.remind"] == "toegang.delegation.tasks.expiry_reminders_send"


def test_reminder_days_are_read_leniently() -> None:
    assert reminder_thresholds("14,3") == (14, 3)
    assert reminder_thresholds("3, 14,14,x,0") == (14, 3)
    assert reminder_thresholds("") == ()


def test_an_end_three_days_ahead_reminds_then_ends_at_that_instant_then_the_job_records_it_once(
    access: World, client: Client
) -> None:
    zon = access.zon
    user = zon.people["user"]
    user.language = "fr"
    user.save(update_fields=["language"])
    application = application_of("eloket")
    until = _set_last_day(access, 3)
    since = _last_mail()
    now = timezone.now()
    assert timedelta(days=3) < until - now <= timedelta(days=4)

    # Today: within 14 days of the end, not within 3: the 14-day reminder, to the user and the managers.
    assert _remind(now)["mails"] == 3  # the user, the SB and the co-SB of Facility A
    first = _outbox(since, to="u@example.test")
    assert len(first) == 1 and first[0].language == "fr"
    assert "Votre accès pour Facility A prend bientôt fin" in first[0].subject
    # Once per threshold: a later run, still before the 3-day threshold (at 23:30 in Brussels, an hour
    # later would already be within 3 days of the end).
    later = now + min(timedelta(hours=1), (until - now - timedelta(days=3)) / 2)
    assert _remind(later) == {"reminders": 0, "mails": 0}

    # Three days before the end: the 3-day reminder, once.
    three_days = until - timedelta(days=3) + timedelta(minutes=1)
    assert _remind(three_days)["mails"] == 3
    assert _remind(three_days + timedelta(hours=1))["mails"] == 0
    reminders = _outbox(since, to="u@example.test")
    assert len(reminders) == 2
    day = f"{timezone.localtime(until) - timedelta(days=1):%d/%m/%Y}"
    assert f"dernier jour {day}" in reminders[1].body and "Madame, Monsieur" not in reminders[1].subject
    managers = _outbox(since, to="sb@example.test")
    assert len(managers) == 2 and user.username in managers[1].body
    assert ExpiryReminder.objects.count() == 2  # 14 and 3 days, for the membership (its grant has no end of its own)

    # At the end: gone for the API and the claim at that very instant, before any job ran.
    with time_machine.travel(until, tick=False):
        eloket = Api(client, RP(application).token(client))  # a token of that day
        assert [f["subdepartment"]["id"] for f in eloket.facilities(ssin_of(user)).json()] == [zon.sd2.pk]
        assert not eloket.check(ssin_of(user), zon.sd.pk).json()["allowed"]
        assert [a["subdepartment"]["id"] for a in access_claim(user.pk, application.pk)] == [zon.sd2.pk]
    assert _membership_row(access).ended_at is None

    # The job: "expired" once, the grant in Facility A ended with the membership, the people told.
    done = _expire(until + timedelta(minutes=3))
    assert done["roles_expired"] == 1 and done["grants_expired"] == 0 and done["grants_ended"] == 1
    row = _membership_row(access)
    assert (row.ended_at, row.ended_by, row.end_reason) == (until + timedelta(minutes=3), None, EXPIRED)
    (event,) = _events(Action.ROLE_EXPIRED)
    assert event.at == until and event.actor is None and event.person == user and event.subdepartment == zon.sd
    (grant_event,) = _events(Action.GRANT_END)
    assert grant_event.reason == Reason.MEMBERSHIP_ENDED and grant_event.actor is None
    grant = ApplicationGrant.objects.get(person=user, subdepartment=zon.sd, application=application)
    assert grant.ended_at is not None and grant.valid_until == until
    assert ApplicationGrant.objects.active().filter(person=user, subdepartment=zon.sd2).count() == 2  # B untouched
    notice = _outbox(since, to="u@example.test")[-1]
    assert notice.subject == "Votre accès pour Facility A a pris fin" and notice.language == "fr"
    assert "Vous n'êtes plus utilisateur de cette sous-section." in notice.body

    # A second run changes nothing and sends nothing.
    mails, events = OutgoingMail.objects.count(), AuditEvent.objects.count()
    assert _expire(until + timedelta(minutes=8)) == dict.fromkeys(expiry._COUNTS, 0)
    assert (OutgoingMail.objects.count(), AuditEvent.objects.count()) == (mails, events)


def _membership_row(world: World) -> RoleAssignment:
    return RoleAssignment.objects.filter(person=world.person("user"), subdepartment=world.zon.sd).latest("pk")


def test_an_expired_grant_is_recorded_as_expired_and_the_last_one_ends_the_membership(access: World) -> None:
    zon = access.zon
    user = zon.people["user"]
    grant = ApplicationGrant.objects.active().get(person=user, subdepartment=zon.sd)
    end = timezone.now() + timedelta(days=2)
    ApplicationGrant.objects.filter(pk=grant.pk).update(valid_until=end)
    # Facility B: one of two grants expires, the other stays: the membership there stays.
    grant_b = ApplicationGrant.objects.active().get(person=user, subdepartment=zon.sd2, application__code="cirro")
    ApplicationGrant.objects.filter(pk=grant_b.pk).update(valid_until=end)

    done = _expire(end + timedelta(seconds=1))
    assert done["grants_expired"] == 2 and done["memberships_ended"] == 1 and done["roles_expired"] == 0
    assert {e.object_id for e in _events(Action.GRANT_EXPIRED)} == {str(grant.pk), str(grant_b.pk)}
    assert all(e.at == end for e in _events(Action.GRANT_EXPIRED))
    (ended,) = _events(Action.USER_END)
    assert ended.reason == Reason.LAST_GRANT_EXPIRED and ended.subdepartment == zon.sd and ended.actor is None
    assert not RoleAssignment.objects.active().filter(person=user, subdepartment=zon.sd).exists()
    assert RoleAssignment.objects.active().filter(person=user, subdepartment=zon.sd2).exists()
    # The trail reads the events as sentences, in the reader's language.
    with translation.override("en"):
        sentences = [r.sentence for r in render_events(_events(Action.GRANT_EXPIRED))]
    assert all("ended at its planned end" in s for s in sentences), sentences


def test_a_membership_without_applications_is_not_ended_by_the_job(world: World) -> None:
    """The SB may keep a user without any application (unticked): only an expiry ends a membership."""
    assert not ApplicationGrant.objects.filter(person=world.person("user"), subdepartment=world.zon.sd).exists()
    assert _expire(timezone.now())["memberships_ended"] == 0
    assert _membership(world).ended_at is None


def test_the_notice_goes_only_to_that_subdepartments_managers(access: World) -> None:
    zon, ander = access.zon, access.ander
    end = timezone.now() + timedelta(hours=1)
    RoleAssignment.objects.filter(pk=_membership(access).pk).update(valid_until=end)
    since = _last_mail()
    _expire(end)
    recipients = {m.to for m in _outbox(since)}
    assert recipients == {"u@example.test", "sb@example.test", "cosb@example.test"}
    foreign = {f"{p.username}@example.test" for p in ander.people.values()} | {"sb2@example.test"}
    assert not recipients & foreign
    assert zon.people["sb2"].email not in recipients


def test_an_access_extended_meanwhile_is_not_expired(access: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The job's UPDATE re-checks valid_until: an extension committed after its read wins."""
    end = timezone.now() + timedelta(hours=1)
    membership = _membership(access)
    RoleAssignment.objects.filter(pk=membership.pk).update(valid_until=end)
    later = end + timedelta(days=30)
    real_close = expiry._close

    def extended_between_read_and_update(model: Any, candidates: Any, **kwargs: Any) -> list[int]:
        if model is RoleAssignment and kwargs.get("until") is None:
            list(candidates.values_list("pk", flat=True))  # the job has read the row as due
            RoleAssignment.objects.filter(pk=membership.pk).update(valid_until=later)  # a manager extends it
        return real_close(model, candidates, **kwargs)

    monkeypatch.setattr(expiry, "_close", extended_between_read_and_update)
    assert _expire(end + timedelta(seconds=1))["roles_expired"] == 0
    membership.refresh_from_db()
    assert membership.ended_at is None and membership.valid_until == later
    assert not _events(Action.ROLE_EXPIRED)


# --- PostgreSQL: two workers at once -------------------------------------------------------------

live_db = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@live_db
def test_two_runs_at_once_do_not_double_anything(world: World) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so there is no concurrent run")
    zon = world.zon
    sb = zon.people["sb"]
    people = [User.objects.create_user(username=f"nurse{i}", email=f"n{i}@example.test") for i in range(60)]
    until = timezone.now() + timedelta(days=2)
    memberships = [
        RoleAssignment(
            person=p, role=Role.USER, enterprise=zon.enterprise, enterprise_quality=zon.eq, subdepartment=zon.sd,
            granted_by=sb, valid_until=until,
        )
        for p in people
    ]  # fmt: skip
    RoleAssignment.objects.bulk_create(memberships)
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run(job: Any, at: datetime) -> None:
        try:
            with time_machine.travel(at, tick=False):
                barrier.wait(10)
                job()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def both(job: Any, at: datetime) -> None:
        threads = [threading.Thread(target=run, args=(job, at)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors

    both(lambda: expiry.expiry_reminders_send(), timezone.now())
    assert OutgoingMail.objects.filter(to__startswith="n").count() == 60  # each nurse once
    assert ExpiryReminder.objects.count() == 60 * 2
    both(lambda: expiry.accesses_expire(batch=7), until + timedelta(seconds=1))
    assert AuditEvent.objects.filter(action=Action.ROLE_EXPIRED.value).count() == 60
    assert OutgoingMail.objects.filter(to__startswith="n").count() == 120
    assert RoleAssignment.objects.filter(end_reason=EXPIRED, person__in=people).count() == 60


@live_db
def test_a_manager_extending_the_access_while_the_job_runs_wins(world: World) -> None:
    """The manager's transaction holds the row (extended, not committed yet): the job skips it, and
    after the commit finds its planned end in the future."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so there is no concurrent run")
    end = timezone.now() + timedelta(seconds=2)
    membership = _membership(world)
    RoleAssignment.objects.filter(pk=membership.pk).update(valid_until=end)
    later = end + timedelta(days=30)
    locked, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def manager() -> None:
        try:
            with transaction.atomic():
                RoleAssignment.objects.select_for_update().filter(pk=membership.pk).update(valid_until=later)
                locked.set()
                assert release.wait(30)
        except BaseException as exc:
            errors.append(exc)
            locked.set()
        finally:
            connections.close_all()

    thread = threading.Thread(target=manager)
    thread.start()
    assert locked.wait(30) and not errors
    assert _expire(end + timedelta(seconds=1))["roles_expired"] == 0  # skipped, not waited for
    release.set()
    thread.join(30)
    assert not errors
    assert _expire(end + timedelta(seconds=2))["roles_expired"] == 0  # extended: not due any more
    membership.refresh_from_db()
    assert membership.ended_at is None and membership.valid_until == later
