"""One history: ``.active(at)`` of every model that ends, planned ends, expiry without a job, re-granting.

A row is active while ``valid_from <= at < valid_until`` (no ``valid_until``: open-ended). A
``valid_until`` may lie in the future (a planned end): the row is active until then, and every reader
(the access claim, the API, ``may_use_ssin``, the users list) treats it as ended the instant it has
passed, without any job. Re-granting after such an expiry works: the service closes the expired row.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from tests import test_api
from tests.conftest import World, login
from tests.test_api import Api, application_of, ssin_of
from tests.test_users_list import table_rows
from toegang.applications.models import ApplicationGrant, SubdepartmentApplication
from toegang.applications.selectors import person_applications
from toegang.applications.services import subdepartment_applications_set
from toegang.delegation import authz
from toegang.delegation.models import Role, RoleAssignment
from toegang.delegation.services import membership_update, role_appoint, subdepartment_user_add
from toegang.history import EXPIRED, Ended, HistoryQuerySet, active_q
from toegang.oidc.validator import access_claim
from toegang.organisations.models import Certificate, EnterpriseQuality
from toegang.organisations.services import quality_activate, subdepartment_create

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent

# The check API's fixtures: ``user`` holds E-loket in both facilities of Zonnebloem, and a client token.
access = test_api.access
eloket = test_api.eloket


def _certificate(world: World) -> Certificate:
    now = timezone.now()
    return Certificate.objects.create(
        subdepartment=world.zon.sd,
        pem="-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
        subject="CN=api.zon.test",
        issuer="CN=api.zon.test",
        serial_number="1",
        not_valid_before=now - timedelta(days=1),
        not_valid_after=now + timedelta(days=365),
        fingerprint_sha256="ab" * 32,
        granted_by=world.zon.people["sb"],
    )


def _grant(w: World) -> ApplicationGrant:
    return ApplicationGrant.objects.create(
        person=w.person("user"), subdepartment=w.zon.sd, application=w.apps[0], granted_by=w.person("sb")
    )


def _link(w: World) -> SubdepartmentApplication:
    return SubdepartmentApplication.objects.active().get(subdepartment=w.zon.sd, application=w.apps[0])


# One row of each model that ends, as the world makes it.
ROWS: dict[str, Callable[[World], Ended]] = {
    "role_assignment": lambda w: RoleAssignment.objects.active().get(person=w.person("user"), subdepartment=w.zon.sd),
    "application_grant": _grant,
    "subdepartment_application": _link,
    "enterprise_quality": lambda w: w.zon.eq,
    "subdepartment": lambda w: w.zon.sd,
    "certificate": _certificate,
}


def _only(row: Ended) -> HistoryQuerySet[Any]:
    return cast(HistoryQuerySet[Any], type(row)._default_manager.filter(pk=row.pk))


def _set(row: Ended, **fields: Any) -> None:
    _only(row).update(**fields)
    row.refresh_from_db()


def _active_at(row: Ended, at: datetime | None) -> bool:
    in_queryset = _only(row).active(at).exists()
    assert in_queryset == row.is_active(at), (at, row.valid_from, row.valid_until)
    return in_queryset


@pytest.mark.parametrize("make", ROWS.values(), ids=ROWS.keys())
def test_active_between_valid_from_and_valid_until_excluded(world: World, make: Callable[[World], Ended]) -> None:
    row = make(world)
    start = timezone.now() - timedelta(days=10)
    end = start + timedelta(days=5)
    _set(row, valid_from=start, valid_until=end)
    second = timedelta(seconds=1)
    assert not _active_at(row, start - second)  # not started yet
    assert _active_at(row, start)  # valid_from is included
    assert _active_at(row, start + timedelta(days=2))
    assert _active_at(row, end - second)
    assert not _active_at(row, end)  # valid_until is excluded
    assert not _active_at(row, end + second)
    assert not _active_at(row, None)  # expired now, though no one ended it (ended_at is empty)
    assert row.ended_at is None
    ended = _only(row)
    assert not ended.ended(end - second).exists() and ended.ended(end).exists() and ended.ended().exists()
    assert row.is_ended() and not row.is_ended(end - second)


@pytest.mark.parametrize("make", ROWS.values(), ids=ROWS.keys())
def test_a_planned_end_is_active_until_it_passes(world: World, make: Callable[[World], Ended]) -> None:
    row = make(world)
    planned = timezone.now() + timedelta(days=30)
    _set(row, valid_until=planned)
    assert _active_at(row, None)
    assert _active_at(row, planned - timedelta(microseconds=1))
    assert not _active_at(row, planned)
    with time_machine.travel(planned + timedelta(seconds=1), tick=False):
        assert not _active_at(row, None)
    with time_machine.travel(planned - timedelta(seconds=1), tick=False):
        assert _active_at(row, None)


@pytest.mark.parametrize("make", ROWS.values(), ids=ROWS.keys())
def test_ending_a_row_with_a_planned_end(world: World, make: Callable[[World], Ended]) -> None:
    row = make(world)
    _set(row, valid_from=timezone.now() - timedelta(hours=1), valid_until=timezone.now() + timedelta(days=30))
    row.end(actor=world.operator, reason="test")
    row.refresh_from_db()
    assert row.ended_at is not None and row.valid_until == row.ended_at and row.ended_by == world.operator
    assert not _active_at(row, None)
    # A moment before the end, the row was active: a question about the past still sees it.
    assert _active_at(row, row.ended_at - timedelta(seconds=1))


def test_ending_an_expired_row_keeps_its_real_end(world: World) -> None:
    grant = _grant(world)
    expired = timezone.now() - timedelta(hours=1)
    _set(grant, valid_until=expired)
    grant.end(actor=world.operator, reason="late")
    grant.refresh_from_db()
    assert grant.valid_until == expired and grant.ended_at is not None and grant.ended_at > expired


def test_active_q_through_a_join(world: World) -> None:
    """``filter(grants__…)``-style joins use ``active_q(prefix)``, with the same boundaries."""
    grant = _grant(world)
    user, sd = world.person("user"), world.zon.sd
    end = timezone.now() + timedelta(hours=1)
    _set(grant, valid_until=end)

    def held(at: datetime | None) -> list[str]:
        apps = type(grant.application).objects.filter(
            active_q("grants__", at), grants__person=user, grants__subdepartment=sd
        )
        return [a.code for a in apps]

    assert held(None) == held(end - timedelta(seconds=1)) == [world.apps[0].code]
    assert held(end) == [] and person_applications(user, sd) == [world.apps[0]]
    with time_machine.travel(end, tick=False):
        assert person_applications(user, sd) == []


# --- a planned end blocks a second copy; an expired row does not block re-granting ---------------


def test_a_planned_end_still_blocks_a_second_copy(world: World) -> None:
    grant = _grant(world)
    _set(grant, valid_until=timezone.now() + timedelta(days=1))
    with pytest.raises(IntegrityError), transaction.atomic():
        ApplicationGrant.objects.create(
            person=grant.person,
            subdepartment=grant.subdepartment,
            application=grant.application,
            granted_by=world.operator,
        )


def test_regranting_after_an_expiry(world: World) -> None:
    """A grant whose planned end has passed is ticked again: the expired row is closed, a new one made."""
    zon = world.zon
    user = zon.people["user"]
    membership = RoleAssignment.objects.active().get(person=user, subdepartment=zon.sd)
    membership_update(
        actor=zon.people["sb"], membership=membership, applications=[world.apps[0]], status="active", email="u@x.test"
    )
    old = ApplicationGrant.objects.active().get(person=user, subdepartment=zon.sd)
    expired = timezone.now() - timedelta(minutes=1)
    _set(old, valid_until=expired)
    assert person_applications(user, zon.sd) == []
    membership_update(
        actor=zon.people["sb"], membership=membership, applications=[world.apps[0]], status="active", email="u@x.test"
    )
    old.refresh_from_db()
    new = ApplicationGrant.objects.active().get(person=user, subdepartment=zon.sd)
    assert new.pk != old.pk and person_applications(user, zon.sd) == [world.apps[0]]
    assert old.valid_until == expired and old.ended_at is not None and old.end_reason == EXPIRED


def test_membership_given_again_after_an_expiry(world: World) -> None:
    zon = world.zon
    user = zon.people["user"]
    old = RoleAssignment.objects.active().get(person=user, subdepartment=zon.sd)
    _set(old, valid_until=timezone.now() - timedelta(seconds=1))
    new = subdepartment_user_add(
        actor=zon.people["sb"], subdepartment=zon.sd, ssin=user.ssin or "", email="u@x.test", applications=[]
    )
    old.refresh_from_db()
    assert new.pk != old.pk and new.is_active() and old.end_reason == EXPIRED


def test_a_new_main_access_manager_after_the_old_one_expired(world: World) -> None:
    zon = world.zon
    htb = RoleAssignment.objects.active().get(enterprise=zon.enterprise, role=Role.MAIN_ACCESS_MANAGER)
    _set(htb, valid_until=timezone.now() - timedelta(seconds=1))
    new = role_appoint(
        actor=zon.people["lr"], role=Role.MAIN_ACCESS_MANAGER, scope=zon.enterprise, ssin=zon.people["cotb"].ssin or ""
    )
    assert list(RoleAssignment.objects.active().filter(enterprise=zon.enterprise, role=Role.MAIN_ACCESS_MANAGER)) == [
        new
    ]
    # The same person again after an expiry, too.
    _set(new, valid_until=timezone.now() - timedelta(seconds=1))
    again = role_appoint(
        actor=zon.people["lr"], role=Role.MAIN_ACCESS_MANAGER, scope=zon.enterprise, ssin=zon.people["cotb"].ssin or ""
    )
    assert again.pk != new.pk and again.is_active()


def test_switched_on_again_after_an_expiry(world: World) -> None:
    zon = world.zon
    link = _link(world)
    _set(link, valid_until=timezone.now() - timedelta(seconds=1))
    assert not SubdepartmentApplication.objects.active().filter(pk=link.pk).exists()
    subdepartment_applications_set(actor=zon.people["tb"], subdepartment=zon.sd, applications=world.apps[:2])
    assert SubdepartmentApplication.objects.active().filter(subdepartment=zon.sd).count() == 2


def test_quality_and_identification_code_free_again_after_an_expiry(world: World) -> None:
    zon = world.zon
    _set(zon.sd, valid_until=timezone.now() - timedelta(seconds=1))
    sd = subdepartment_create(
        actor=zon.people["tb"],
        enterprise_quality=zon.eq,
        name="Opvolger",
        identification_code=zon.sd.identification_code,
    )
    assert sd.identification_code == zon.sd.identification_code and sd.is_active()
    _set(zon.eq, valid_until=timezone.now() - timedelta(seconds=1))
    assert not EnterpriseQuality.objects.active().filter(pk=zon.eq.pk).exists()
    eq = quality_activate(actor=zon.people["htb"], enterprise=zon.enterprise, quality=world.quality)
    assert eq.pk != zon.eq.pk and eq.is_active()


def test_a_planned_end_is_no_expiry_for_the_services(world: World) -> None:
    """Re-activating a quality whose activation has only a planned end is refused: it is still there."""
    zon = world.zon
    _set(zon.eq, valid_until=timezone.now() + timedelta(days=1))
    with pytest.raises(ValidationError) as refused:
        quality_activate(actor=zon.people["htb"], enterprise=zon.enterprise, quality=world.quality)
    assert "quality" in refused.value.message_dict and EnterpriseQuality.objects.active().count() == 2


# --- every reader treats a grant whose valid_until has just passed as ended, without a job ------


def test_readers_see_a_grant_end_the_moment_its_valid_until_passes(access: World, eloket: Api, client: Client) -> None:
    zon = access.zon
    user = zon.people["user"]
    ssin, application = ssin_of(user), application_of("eloket")
    grant = ApplicationGrant.objects.active().get(person=user, subdepartment=zon.sd, application=application)
    end = timezone.now() + timedelta(minutes=5)
    _set(grant, valid_until=end)

    def facilities() -> dict[str, Any]:
        claim = access_claim(user.pk, application.pk)
        with translation.override("en"):
            url = reverse("portal:users", args=[zon.sd.pk]) + f"?application={application.pk}"
        page = client.get(url)
        assert page.status_code == 200
        return {
            "claim": [a["subdepartment"]["id"] for a in claim],
            "claim_until": [a["valid_until"] for a in claim if a["subdepartment"]["id"] == zon.sd.pk],
            "api": [f["subdepartment"]["id"] for f in eloket.facilities(ssin).json()],
            "check": eloket.check(ssin, zon.sd.pk).json()["allowed"],
            "batch": eloket.batch([{"ssin": ssin, "subdepartment_id": zon.sd.pk}]).json()[0]["allowed"],
            "may_use_ssin": authz.may_use_ssin(ssin, application.pk, zon.sd.pk),
            "may_use": authz.may_use(user.pk, application.pk, zon.sd.pk),
            "users_list": [row[2] for row in table_rows(page.content.decode())],
        }

    login(client, zon.people["sb"])
    before = facilities()
    assert before["claim"] == before["api"] == [zon.sd.pk, zon.sd2.pk]
    assert before["claim_until"] == [end.isoformat()]  # the published end is the real one
    assert before["check"] and before["batch"] and before["may_use_ssin"] and before["may_use"]
    assert before["users_list"] == [user.username]
    with time_machine.travel(end, tick=False):
        after = facilities()
    assert after["claim"] == after["api"] == [zon.sd2.pk]
    assert not (after["check"] or after["batch"] or after["may_use_ssin"] or after["may_use"])
    assert after["users_list"] == []
    grant.refresh_from_db()
    assert grant.ended_at is None  # nothing swept it: the readers decided on valid_until alone


def test_may_use_ssin_passes_the_moment_as_a_parameter(world: World) -> None:
    statement = authz._may_use_ssin_statement("default")
    assert "now()" not in statement.sql.lower() and "current_timestamp" not in statement.sql.lower()
    assert sum(name == "at" for _i, name in statement.slots) == 8


# --- nobody spells "active" by hand -------------------------------------------------------------

HAND_WRITTEN = re.compile(r"valid_until__isnull|valid_until\s*=\s*None|valid_until\"?\s+IS\s+(NOT\s+)?NULL", re.I)


def test_the_grep_knows_the_spellings() -> None:
    spelled = ["filter(valid_until__isnull=True)", "Q(valid_until = None)", 'WHERE t."valid_until" IS NULL']
    assert all(HAND_WRITTEN.search(s) for s in spelled)
    assert not HAND_WRITTEN.search("grant.valid_until.isoformat() if grant.valid_until else None")


def test_active_is_spelled_only_in_the_history_module() -> None:
    offenders = []
    for folder in ("toegang", "tests", "bench"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix not in {".py", ".html", ".sql"} or "migrations" in path.parts:
                continue
            if path == ROOT / "toegang" / "history.py" or path == Path(__file__).resolve():
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if HAND_WRITTEN.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_every_model_with_valid_until_inherits_the_history_base() -> None:
    from django.apps import apps

    with_end = [m for m in apps.get_models() if any(f.name == "valid_until" for f in m._meta.get_fields())]
    assert with_end and all(issubclass(m, Ended) for m in with_end), with_end
    assert {m.__name__ for m in with_end} >= {
        "RoleAssignment",
        "ApplicationGrant",
        "SubdepartmentApplication",
        "EnterpriseQuality",
        "Subdepartment",
        "Certificate",
    }


def test_the_published_end_is_the_first_planned_end_the_access_rests_on(access: World, eloket: Api) -> None:
    """Grant, membership, subdepartment and activated quality: the access ends with the first of them."""
    zon = access.zon
    user = zon.people["user"]
    application = application_of("eloket")
    grant = ApplicationGrant.objects.active().get(person=user, subdepartment=zon.sd, application=application)
    membership = RoleAssignment.objects.active().get(person=user, subdepartment=zon.sd)
    now = timezone.now().replace(microsecond=0)  # the API publishes milliseconds
    ends = {"grant": now + timedelta(days=30), "membership": now + timedelta(days=20)}
    _set(grant, valid_until=ends["grant"])
    _set(membership, valid_until=ends["membership"])

    def published() -> tuple[list[str | None], list[str | None]]:
        claim = [
            a["valid_until"] for a in access_claim(user.pk, application.pk) if a["subdepartment"]["id"] == zon.sd.pk
        ]
        api = [
            f["valid_until"] for f in eloket.facilities(ssin_of(user)).json() if f["subdepartment"]["id"] == zon.sd.pk
        ]
        return claim, api

    claim, api = published()
    assert claim == [ends["membership"].isoformat()] and len(api) == 1
    assert api[0] is not None and datetime.fromisoformat(api[0].replace("Z", "+00:00")) == ends["membership"]
    _set(zon.eq, valid_until=now + timedelta(days=10))
    assert published()[0] == [(now + timedelta(days=10)).isoformat()]
    # Facility B rests on open-ended rows only, apart from the activated quality of both.
    other = [a["valid_until"] for a in access_claim(user.pk, application.pk) if a["subdepartment"]["id"] == zon.sd2.pk]
    assert other == [(now + timedelta(days=10)).isoformat()]
    _set(zon.eq, valid_until=None)
    other = [a["valid_until"] for a in access_claim(user.pk, application.pk) if a["subdepartment"]["id"] == zon.sd2.pk]
    assert other == [None]
