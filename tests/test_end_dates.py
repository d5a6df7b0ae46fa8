"""Planned end dates (issue 15): the last day a manager sets, the quality's maximum, the list's "ends in".

Services first (each rule, audit, nothing saved partially, the lost race with an expiry, cross-tenant),
then the pages (add-user form, user's page, users list and its filter, the quality's page).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.utils import timezone, translation

from tests.conftest import World, login
from toegang.accounts.models import User
from toegang.audit.models import AuditEvent
from toegang.audit.rendering import render_events
from toegang.delegation import csv_import
from toegang.delegation.models import Role, RoleAssignment
from toegang.delegation.services import (
    BulkAction,
    bulk_until,
    last_day_error,
    membership_last_day_set,
    memberships_bulk,
    role_appoint,
    subdepartment_user_add,
)
from toegang.identifiers import ssin_make
from toegang.organisations.models import EnterpriseQuality, Subdepartment
from toegang.organisations.services import enterprise_quality_max_access_set
from toegang.portal.views.users import ends_text

pytestmark = pytest.mark.django_db

NEW_SSIN = ssin_make(1991, 3, 14, 301)
OTHER_SSIN = ssin_make(1993, 8, 21, 402)


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    # The services speak the active language (Dutch by default); the assertions read English.
    with translation.override("en"):
        yield


def _today() -> Any:
    return timezone.localdate()


def _add(world: World, sd: Subdepartment | None = None, ssin: str = NEW_SSIN, **kw: Any) -> RoleAssignment:
    data: dict[str, Any] = {
        "ssin": ssin,
        "email": "interim@example.test",
        "first_name": "Ine",
        "last_name": "Interim",
        "language": "nl",
        "applications": world.apps[:1],
    }
    return subdepartment_user_add(actor=world.person("sb"), subdepartment=sd or world.zon.sd, **(data | kw))


def _max(world: World, days: int | None) -> None:
    enterprise_quality_max_access_set(actor=world.person("tb"), enterprise_quality=world.zon.eq, days=days)


# --- services --------------------------------------------------------------------------------------


def test_add_user_with_a_last_day_ends_at_midnight_after_it(world: World) -> None:
    day = _today() + timedelta(days=3)
    m = _add(world, last_day=day)
    assert m.valid_until == bulk_until(day) and m.ended_at is None
    assert m.is_active() and not m.is_active(at=bulk_until(day))
    event = AuditEvent.objects.get(action="user.add", person=m.person)
    assert isinstance(event.after, dict) and event.after["valid_until"] == bulk_until(day).isoformat()


def test_add_user_with_a_past_last_day_saves_nothing(world: World) -> None:
    persons, memberships = User.objects.count(), RoleAssignment.objects.count()
    with pytest.raises(ValidationError) as exc:
        _add(world, last_day=_today() - timedelta(days=1))
    assert exc.value.message_dict["last_day"] == ["The last day cannot lie in the past."]
    assert (User.objects.count(), RoleAssignment.objects.count()) == (persons, memberships)


def test_the_quality_maximum_is_the_default_and_the_ceiling(world: World) -> None:
    _max(world, 30)
    # No last day given: the maximum is the last day.
    m = _add(world)
    assert m.valid_until == bulk_until(_today() + timedelta(days=30))
    # Beyond it: refused, in the service (the form, the import and the API share it).
    with pytest.raises(ValidationError) as exc:
        _add(world, ssin=OTHER_SSIN, last_day=_today() + timedelta(days=31))
    assert "at most 30 days" in exc.value.message_dict["last_day"][0]
    assert not User.objects.filter(ssin=OTHER_SSIN).exists()
    # Extending beyond it afterwards: refused too, by the single row's change and the bulk action.
    with pytest.raises(ValidationError):
        membership_last_day_set(actor=world.person("sb"), membership=m, last_day=_today() + timedelta(days=40))
    with pytest.raises(ValidationError):
        memberships_bulk(
            actor=world.person("sb"),
            subdepartment=world.zon.sd,
            memberships=[m],
            action=BulkAction.END_DATE,
            last_day=_today() + timedelta(days=40),
        )
    assert RoleAssignment.objects.get(pk=m.pk).valid_until == bulk_until(_today() + timedelta(days=30))


def test_the_maximum_is_translated(world: World) -> None:
    _max(world, 10)
    for lang, words in (("nl", "maximaal 10 dagen"), ("fr", "10 jours"), ("de", "10 Tage")):
        with translation.override(lang), pytest.raises(ValidationError) as exc:
            _add(world, last_day=_today() + timedelta(days=11))
        assert words in exc.value.message_dict["last_day"][0], (lang, exc.value.message_dict)


def test_only_the_tb_and_up_set_the_maximum_audited(world: World) -> None:
    for who in ("sb", "cotb", "ander_tb"):
        with pytest.raises(PermissionDenied):
            enterprise_quality_max_access_set(actor=world.person(who), enterprise_quality=world.zon.eq, days=5)
    _max(world, 365)
    assert EnterpriseQuality.objects.get(pk=world.zon.eq.pk).max_access_days == 365
    event = AuditEvent.objects.get(action="quality.max_access")
    assert (event.before, event.after) == ({"max_access_days": None}, {"max_access_days": 365})
    with translation.override("en"):
        assert "set the maximum duration of an access" in render_events([event])[0].sentence
    with pytest.raises(ValidationError):
        _max(world, 0)
    _max(world, None)
    assert EnterpriseQuality.objects.get(pk=world.zon.eq.pk).max_access_days is None


def test_extend_and_shorten_are_audited_with_who_and_why(world: World) -> None:
    m = _add(world, last_day=_today() + timedelta(days=3))
    longer = _today() + timedelta(days=60)
    m = membership_last_day_set(actor=world.person("sb"), membership=m, last_day=longer, reason="contract extended")
    assert m.valid_until == bulk_until(longer)
    shorter = _today() + timedelta(days=1)
    membership_last_day_set(actor=world.person("cosb"), membership=m, last_day=shorter, reason="left early")
    events = list(AuditEvent.objects.filter(action="user.end_planned", person=m.person).order_by("pk"))
    assert [(e.actor.username if e.actor else "", e.reason, e.params["until"]) for e in events] == [
        ("sb", "contract extended", longer.isoformat()),
        ("cosb", "left early", shorter.isoformat()),
    ]


def test_extending_an_access_that_expired_meanwhile_is_a_clear_message(world: World) -> None:
    m = _add(world, last_day=_today() + timedelta(days=3))
    # The last day passed while the page was open (or the expiry job closed the row).
    RoleAssignment.objects.filter(pk=m.pk).update(valid_until=timezone.now() - timedelta(minutes=1))
    with pytest.raises(ValidationError) as exc:
        membership_last_day_set(actor=world.person("sb"), membership=m, last_day=_today() + timedelta(days=9))
    assert "already ended" in exc.value.messages[0]
    RoleAssignment.objects.filter(pk=m.pk).close_expired()
    with pytest.raises(ValidationError):
        membership_last_day_set(actor=world.person("sb"), membership=m, last_day=_today() + timedelta(days=9))
    assert not AuditEvent.objects.filter(action="user.end_planned").exists()


def test_another_enterprise_cannot_set_an_end_date(world: World) -> None:
    m = _add(world)
    with pytest.raises(PermissionDenied):
        membership_last_day_set(actor=world.person("ander_sb"), membership=m, last_day=_today() + timedelta(days=2))
    assert RoleAssignment.objects.get(pk=m.pk).valid_until is None


def test_an_appointment_may_carry_a_last_day(world: World) -> None:
    day = _today() + timedelta(days=90)
    a = role_appoint(
        actor=world.person("tb"), role=Role.SUBDEPARTMENT_MANAGER, scope=world.zon.sd, ssin=NEW_SSIN,
        email="sb@example.test", first_name="Sara", last_name="Bos", last_day=day,
    )  # fmt: skip
    assert a.valid_until == bulk_until(day)
    with pytest.raises(ValidationError) as exc:
        role_appoint(
            actor=world.person("tb"), role=Role.CO_SUBDEPARTMENT_MANAGER, scope=world.zon.sd, ssin=OTHER_SSIN,
            email="c@example.test", first_name="Cor", last_name="Bos", last_day=_today() - timedelta(days=1),
        )  # fmt: skip
    assert "last_day" in exc.value.message_dict
    assert not User.objects.filter(ssin=OTHER_SSIN).exists()


def test_an_application_cannot_outlive_its_membership() -> None:
    today = _today()
    error = last_day_error(today + timedelta(days=5), today=today, membership_last_day=today + timedelta(days=4))
    assert "cannot outlive the membership" in error
    assert last_day_error(today + timedelta(days=4), today=today, membership_last_day=today + timedelta(days=4)) == ""


# --- the CSV import ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "header"), [("nl", "Einddatum"), ("fr", "Date de fin"), ("de", "Enddatum"), ("en", "End date")]
)
def test_csv_end_date_column_in_four_languages(world: World, lang: str, header: str) -> None:
    day = _today() + timedelta(days=3)
    text = (
        f"ssin;last_name;first_name;email;language;applications;{header}\r\n"
        f"{NEW_SSIN};Interim;Ine;ine@example.test;nl;;{day:%d/%m/%Y}\r\n"
    )
    with translation.override(lang):
        report = csv_import.rows_import(
            actor=world.person("sb"), subdepartment=world.zon.sd, rows=csv_import.parse(text), dry_run=False
        )
    assert report.ok, [r.errors for r in report.rows]
    m = RoleAssignment.objects.get(person__ssin=NEW_SSIN, subdepartment=world.zon.sd)
    assert m.valid_until == bulk_until(day)


def test_csv_bad_end_dates_are_row_errors_and_nothing_is_written(world: World) -> None:
    _max(world, 30)
    past = _today() - timedelta(days=1)
    far = _today() + timedelta(days=31)
    text = (
        "ssin;last_name;first_name;email;language;applications;end_date\r\n"
        f"{NEW_SSIN};Interim;Ine;ine@example.test;nl;;31/02/2027\r\n"
        f"{OTHER_SSIN};Other;Ot;ot@example.test;nl;;{far:%d/%m/%Y}\r\n"
        f"{ssin_make(1980, 1, 2, 33)};Past;Pa;pa@example.test;nl;;{past:%Y-%m-%d}\r\n"
    )
    report = csv_import.rows_import(
        actor=world.person("sb"), subdepartment=world.zon.sd, rows=csv_import.parse(text), dry_run=False
    )
    assert not report.committed
    errors = [" ".join(r.errors) for r in report.rows]
    assert "is not a date" in errors[0]
    assert "at most 30 days" in errors[1]
    assert "cannot lie in the past" in errors[2]
    assert not RoleAssignment.objects.filter(person__ssin__in=[NEW_SSIN, OTHER_SSIN]).exists()


# --- pages -------------------------------------------------------------------------------------------


def _url(sd: Subdepartment, tail: str = "", lang: str = "en") -> str:
    return f"/{lang}/s/{sd.pk}/users/{tail}"


def test_ends_text() -> None:
    today = _today()
    with translation.override("en"):
        assert ends_text(today, today) == "ends today"
        assert ends_text(today + timedelta(days=1), today) == "ends in 1 day"
        assert ends_text(today + timedelta(days=5), today) == "ends in 5 days"
        day = today + timedelta(days=40)
        assert ends_text(day, today) == f"ends on {day:%d/%m/%Y}"
    with translation.override("nl"):
        assert ends_text(today + timedelta(days=3), today) == "eindigt over 3 dagen"
    with translation.override("fr"):
        assert ends_text(today + timedelta(days=3), today) == "se termine dans 3 jours"


def test_users_list_shows_the_planned_end_and_filters_ending_within_30_days(world: World, client: Client) -> None:
    soon = _add(world, last_day=_today() + timedelta(days=5))
    later = _add(world, ssin=OTHER_SSIN, first_name="Lea", last_name="Later", last_day=_today() + timedelta(days=45))
    login(client, world.person("sb"))
    page = client.get(_url(world.zon.sd)).content.decode()
    assert "ends in 5 days" in page
    assert f"ends on {_today() + timedelta(days=45):%d/%m/%Y}" in page
    rows = client.get(_url(world.zon.sd) + "?status=ending").context["page"].object_list
    assert [m.pk for m in rows] == [soon.pk]
    assert later.pk not in [m.pk for m in rows]


def test_add_user_form_sets_the_last_day_and_proposes_the_maximum(world: World, client: Client) -> None:
    _max(world, 20)
    login(client, world.person("sb"))
    page = client.get(_url(world.zon.sd, f"new/?ssin={NEW_SSIN}"))
    assert page.context["form"]["last_day"].initial == _today() + timedelta(days=20)
    data = {
        "action": "save", "ssin": NEW_SSIN, "last_name": "Interim", "first_name": "Ine", "title": "ms",
        "language": "nl", "email": "ine@example.test",
    }  # fmt: skip
    page = client.post(_url(world.zon.sd, "new/"), data | {"last_day": (_today() + timedelta(days=21)).isoformat()})
    assert page.status_code == 200 and "at most 20 days" in page.content.decode()
    assert not User.objects.filter(ssin=NEW_SSIN).exists()
    page = client.post(_url(world.zon.sd, "new/"), data | {"last_day": "not-a-date"})
    assert page.status_code == 200 and page.context["form"].errors["last_day"]
    day = _today() + timedelta(days=3)
    page = client.post(_url(world.zon.sd, "new/"), data | {"last_day": day.isoformat()})
    assert page.status_code == 302
    assert RoleAssignment.objects.get(person__ssin=NEW_SSIN).valid_until == bulk_until(day)


def test_user_page_extends_shortens_and_refuses_with_a_message(world: World, client: Client) -> None:
    m = _add(world, last_day=_today() + timedelta(days=3))
    login(client, world.person("sb"))
    page = client.get(_url(world.zon.sd, f"{m.pk}/")).content.decode()
    assert "last-day/" in page
    day = _today() + timedelta(days=10)
    response = client.post(_url(world.zon.sd, f"{m.pk}/last-day/"), {"last_day": day.isoformat(), "reason": "verlengd"})
    assert response.status_code == 302
    assert RoleAssignment.objects.get(pk=m.pk).valid_until == bulk_until(day)
    past = (_today() - timedelta(days=1)).isoformat()
    refused = client.post(_url(world.zon.sd, f"{m.pk}/last-day/"), {"last_day": past})
    assert refused.status_code == 200 and "cannot lie in the past" in refused.content.decode()
    # Expired meanwhile: a message on the page, not a 500.
    RoleAssignment.objects.filter(pk=m.pk).update(valid_until=timezone.now() - timedelta(seconds=1))
    ended = client.post(_url(world.zon.sd, f"{m.pk}/last-day/"), {"last_day": day.isoformat()}, follow=True)
    assert ended.status_code == 200 and "already ended" in ended.content.decode()


def test_cross_tenant_end_date_by_id_is_404(world: World, client: Client) -> None:
    m = _add(world)
    login(client, world.person("ander_sb"))
    day = (_today() + timedelta(days=2)).isoformat()
    assert client.post(_url(world.zon.sd, f"{m.pk}/last-day/"), {"last_day": day}).status_code == 404
    assert client.post(_url(world.ander.sd, f"{m.pk}/last-day/"), {"last_day": day}).status_code == 404
    assert RoleAssignment.objects.get(pk=m.pk).valid_until is None


def test_quality_page_sets_the_maximum_for_the_tb_only(world: World, client: Client) -> None:
    url = f"/en/q/{world.zon.eq.pk}/"
    login(client, world.person("cotb"))
    assert "max-max_access_days" not in client.get(url).content.decode()
    assert client.post(url, {"action": "max_access", "max-max_access_days": "5"}).status_code == 403
    login(client, world.person("tb"))
    assert client.post(url, {"action": "max_access", "max-max_access_days": "365"}).status_code == 302
    assert EnterpriseQuality.objects.get(pk=world.zon.eq.pk).max_access_days == 365
