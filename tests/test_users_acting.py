"""Acting on users: correcting a person's data, the ended user's page and giving access again, bulk actions.

Services first (authz for each action, audit, all or nothing), then the pages (what is offered to
whom, cross-tenant ids in a POST, a double-posted confirmation, a lost race).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.utils import timezone, translation

from tests.conftest import World, login
from toegang.accounts.models import Activation, Title, User
from toegang.applications.models import ApplicationGrant
from toegang.applications.services import person_grants_set
from toegang.audit.models import AuditEvent
from toegang.audit.rendering import render_events
from toegang.delegation import authz, services
from toegang.delegation.models import Role, RoleAssignment, Status
from toegang.delegation.services import (
    BulkAction,
    bulk_until,
    membership_end,
    memberships_bulk,
    person_correct,
    role_appoint,
    subdepartment_user_add,
)
from toegang.identifiers import ssin_make, ssin_sex
from toegang.locks import ConcurrentChange
from toegang.organisations.models import Subdepartment
from toegang.portal.forms import title_suggested

pytestmark = pytest.mark.django_db

NEW_SSIN = ssin_make(1990, 4, 12, 101)
OTHER_SSIN = ssin_make(1992, 6, 3, 202)


def _add(world: World, sd: Subdepartment, ssin: str = NEW_SSIN, actor: str = "sb", **kw: Any) -> RoleAssignment:
    data: dict[str, Any] = {
        "ssin": ssin,
        "email": "piet@example.test",
        "first_name": "Piet",
        "last_name": "Peters",
        "title": "mr",
        "language": "nl",
        "applications": world.apps[:1],
    }
    return subdepartment_user_add(actor=world.person(actor), subdepartment=sd, **(data | kw))


def _correct(world: World, who: str, person: User, sd: Subdepartment | None = None, **kw: Any) -> User:
    values = {"last_name": "Peeters", "first_name": "Piet", "title": "mr", "language": "fr"} | kw
    return person_correct(actor=world.person(who), person=person, subdepartment=sd or world.zon.sd, **values)


def _url(sd: Subdepartment, tail: str = "") -> str:
    return f"/en/s/{sd.pk}/users/{tail}"


# --- the title the INSZ suggests -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("ssin", "sex", "title"),
    [
        (ssin_make(1985, 7, 30, 33), "M", Title.MR),  # national number, odd sequence number
        (ssin_make(1985, 7, 30, 34), "F", Title.MS),  # even
        (ssin_make(1985, 27, 30, 33), None, None),  # BIS number, month + 20: sex unknown
        (ssin_make(1985, 47, 30, 34), "F", Title.MS),  # BIS number, month + 40: sex known
        ("12345678901", None, None),  # not a valid INSZ
    ],
)
def test_title_suggested_from_the_insz_only_where_it_says_the_sex(
    ssin: str, sex: str | None, title: str | None
) -> None:
    assert ssin_sex(ssin) == sex
    assert title_suggested(ssin) == title


def test_add_form_preselects_the_suggested_title_and_marks_required_fields(world: World, client: Client) -> None:
    login(client, world.person("sb"))
    woman = ssin_make(1979, 2, 2, 2)
    form = client.get(_url(world.zon.sd, "new/"), {"ssin": woman}).context["form"]
    assert form.initial["title"] == Title.MS
    assert "Suggested from the INSZ" in str(form.fields["title"].help_text)
    assert form.fields["last_name"].label == "Last name *" and form.fields["first_name"].label == "First name *"
    assert form.fields["username"].label == "Username"  # optional: no mark
    assert form.fields["email"].label == "E-mail address *"  # marked once, in its own label
    # Never forced: another title is saved as chosen.
    response = client.post(
        _url(world.zon.sd, "new/"),
        {"action": "save", "ssin": woman, "last_name": "Aerts", "first_name": "Alex", "title": "mx"}
        | {"language": "nl", "email": "alex@example.test"},
    )
    assert response.status_code == 302
    assert User.objects.get(ssin=woman).title == Title.NEUTRAL
    # A BIS number without the sex: no suggestion.
    bis = ssin_make(1985, 27, 30, 33)
    form = client.get(_url(world.zon.sd, "new/"), {"ssin": bis}).context["form"]
    assert "title" not in form.initial and not form.fields["title"].help_text
    # A person already known: their identity is shown, nothing to fill in, nothing marked.
    known = client.get(_url(world.zon.sd, "new/"), {"ssin": world.person("sb2").ssin or ""}).context["form"]
    assert known.fields["last_name"].label == "Last name"


def test_add_form_without_names_for_a_new_insz_says_which(world: World, client: Client) -> None:
    login(client, world.person("sb"))
    response = client.post(
        _url(world.zon.sd, "new/"),
        {"action": "save", "ssin": NEW_SSIN, "title": "mr", "language": "nl", "email": "x@example.test"},
    )
    errors = response.context["form"].errors
    assert errors["last_name"] == ["This INSZ is not known yet: enter the last name."]
    assert errors["first_name"] == ["This INSZ is not known yet: enter the first name."]
    assert not User.objects.filter(ssin=NEW_SSIN).exists()


# --- correcting a person's data --------------------------------------------------------------------


def test_correction_by_the_creating_manager_is_saved_audited_and_copied_to_the_list(world: World) -> None:
    m = _add(world, world.zon.sd)
    person = _correct(world, "sb", m.person)
    person.refresh_from_db()
    assert (person.last_name, person.language) == ("Peeters", "fr")
    m.refresh_from_db()
    assert m.person_last_name == "Peeters"  # the users list shows and sorts the corrected name
    event = AuditEvent.objects.get(action="person.correct")
    assert event.actor == world.person("sb") and event.person == person and event.subdepartment == world.zon.sd
    with translation.override("en"):
        (rendered,) = render_events([event])
    assert rendered.sentence == "Sb Test corrected the personal data of Piet Peeters"
    changes = {(c.field, c.before, c.after) for c in rendered.changes}
    assert changes == {("Last name", "Peters", "Peeters"), ("Language", "Dutch", "French")}


def test_correction_changing_nothing_writes_no_event(world: World) -> None:
    m = _add(world, world.zon.sd)
    _correct(world, "sb", m.person, last_name="Peters", language="nl")
    assert not AuditEvent.objects.filter(action="person.correct").exists()


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        ("sb", True),  # added the person
        ("cosb", True),  # a manager of that subdepartment above the user role
        ("tb", True),
        ("htb", True),
        ("operator", True),
        ("sb2", False),  # another subdepartment of the same quality
        ("ander_sb", False),  # another enterprise
        ("ander_htb", False),
        ("user", False),
        ("lr", False),
    ],
)
def test_who_may_correct(world: World, who: str, allowed: bool) -> None:
    m = _add(world, world.zon.sd)
    assert authz.may_correct_person(world.person(who), m.person) is allowed
    if not allowed:
        with pytest.raises(PermissionDenied):
            _correct(world, who, m.person)
        m.person.refresh_from_db()
        assert m.person.last_name == "Peters"


def test_a_person_added_elsewhere_is_not_corrected_by_this_subdepartment(world: World) -> None:
    """Piet was added by the SB of B; A's SB adds him too later: only B's managers may correct him."""
    _add(world, world.zon.sd2, actor="sb2")
    m = _add(world, world.zon.sd)
    assert not authz.may_correct_person(world.person("sb"), m.person)
    assert authz.may_correct_person(world.person("sb2"), m.person)


def test_confirmed_identity_is_read_only(world: World, client: Client) -> None:
    m = _add(world, world.zon.sd)
    User.objects.filter(pk=m.person_id).update(activation=Activation.PERSON)
    person = User.objects.get(pk=m.person_id)
    assert not authz.may_correct_person(world.person("sb"), person)
    assert not authz.may_correct_person(world.operator, person)
    with pytest.raises(PermissionDenied):
        _correct(world, "sb", person)
    login(client, world.person("sb"))
    html = client.get(_url(world.zon.sd, f"{m.pk}/")).content.decode()
    assert "this person's identity has been confirmed with eID or itsme" in html
    assert _url(world.zon.sd, f"{m.pk}/person/") not in html
    response = client.post(_url(world.zon.sd, f"{m.pk}/person/"), {"last_name": "X", "first_name": "Y"}, follow=True)
    assert "can no longer be corrected here" in response.content.decode()
    assert User.objects.get(pk=m.person_id).last_name == "Peters"


def test_identity_confirmed_between_the_check_and_the_save_is_refused(world: World) -> None:
    m = _add(world, world.zon.sd)
    stale = User.objects.get(pk=m.person_id)
    User.objects.filter(pk=m.person_id).update(activation=Activation.PERSON)  # logged in with eID meanwhile
    with pytest.raises(ValidationError, match="can no longer be corrected"):
        _correct(world, "sb", stale)
    assert User.objects.get(pk=m.person_id).last_name == "Peters"
    assert not AuditEvent.objects.filter(action="person.correct").exists()


def test_correction_page(world: World, client: Client) -> None:
    m = _add(world, world.zon.sd)
    login(client, world.person("sb"))
    html = client.get(_url(world.zon.sd, f"{m.pk}/")).content.decode()
    assert f'href="{_url(world.zon.sd, f"{m.pk}/person/")}"' in html
    page = client.get(_url(world.zon.sd, f"{m.pk}/person/"))
    assert page.context["form"].fields["last_name"].label == "Last name *"
    assert "Fields marked with a * are required" in page.content.decode()
    bad = client.post(_url(world.zon.sd, f"{m.pk}/person/"), {"last_name": " ", "first_name": "Piet"})
    assert bad.status_code == 200 and "last_name" in bad.context["form"].errors
    response = client.post(
        _url(world.zon.sd, f"{m.pk}/person/"),
        {"last_name": "Peeters", "first_name": "Pieter", "title": "mr", "language": "nl"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == _url(world.zon.sd, f"{m.pk}/")
    assert "Last name: Peters → Peeters" in " ".join(response.content.decode().split())
    # Another enterprise's manager reaches neither the page nor the POST.
    other = login(Client(), world.person("ander_sb"))
    assert other.get(_url(world.zon.sd, f"{m.pk}/person/")).status_code == 404
    assert other.post(_url(world.zon.sd, f"{m.pk}/person/"), {"last_name": "X"}).status_code == 404
    # A manager of this subdepartment who may not correct (the user's own page at their level) gets 403.
    cosb_row = RoleAssignment.objects.active().get(person=world.person("cosb"), subdepartment=world.zon.sd)
    User.objects.filter(pk=world.person("cosb").pk).update(activation=Activation.NONE)
    assert login(Client(), world.person("cosb")).post(_url(world.zon.sd, f"{cosb_row.pk}/person/")).status_code in (
        403,
        404,
    )


# --- the ended user's page and giving access again -------------------------------------------------


def test_ended_user_page_shows_when_by_whom_why_and_gives_access_again(
    world: World, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    m = _add(world, world.zon.sd)
    membership_end(actor=world.person("sb"), membership=m, reason="uit dienst")
    login(client, world.person("sb"))
    page = client.get(_url(world.zon.sd, f"{m.pk}/"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Ended user" in html and "uit dienst" in html and "Sb Test" in html
    assert timezone.localtime(m.ended_at or timezone.now()).strftime("%d/%m/%Y") in html
    assert page.context["form"] is not None  # "Give access again"
    assert page.context["form"].initial["email"] == "piet@example.test"

    again = _url(world.zon.sd, f"{m.pk}/again/")
    data = {"email": "piet@example.test", "applications": [world.apps[1].pk]}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(again, data, follow=True)
    new = RoleAssignment.objects.active().get(person=m.person, subdepartment=world.zon.sd)
    assert new.pk != m.pk
    assert response.redirect_chain[-1][0] == _url(world.zon.sd, f"{new.pk}/")
    grants = ApplicationGrant.objects.active().filter(person=m.person, subdepartment=world.zon.sd)
    assert [g.application for g in grants] == [world.apps[1]]
    assert AuditEvent.objects.filter(action="user.add", object_id=str(new.pk), actor=world.person("sb")).exists()
    # Posted twice: one membership, and the ended page now points to the current one.
    response = client.post(again, data, follow=True)
    assert "already a user of this subdepartment" in response.content.decode()
    assert RoleAssignment.objects.active().filter(person=m.person, subdepartment=world.zon.sd).count() == 1
    assert client.get(_url(world.zon.sd, f"{m.pk}/")).context["current"] == new


def test_ended_user_page_of_a_planned_end_that_passed(world: World, client: Client) -> None:
    m = _add(world, world.zon.sd)
    RoleAssignment.objects.filter(pk=m.pk).update(valid_until=timezone.now() - timedelta(days=1))
    login(client, world.person("sb"))
    html = client.get(_url(world.zon.sd, f"{m.pk}/")).content.decode()
    assert "the last day set for it had passed" in html


def test_ended_user_page_is_scoped_and_give_again_needs_the_right(world: World, client: Client) -> None:
    m = _add(world, world.zon.sd)
    membership_end(actor=world.person("sb"), membership=m)
    for who in ("ander_sb", "sb2", "user"):
        c = login(Client(), world.person(who))
        assert c.get(_url(world.zon.sd, f"{m.pk}/")).status_code in (403, 404), who
        response = c.post(_url(world.zon.sd, f"{m.pk}/again/"), {"email": "a@example.test"})
        assert response.status_code in (403, 404), who
    # Through another subdepartment's URL: not found.
    c = login(Client(), world.person("sb2"))
    assert c.get(_url(world.zon.sd2, f"{m.pk}/")).status_code == 404
    assert c.post(_url(world.zon.sd2, f"{m.pk}/again/"), {"email": "a@example.test"}).status_code == 404
    assert not RoleAssignment.objects.active().filter(person=m.person).exists()
    # A POST to the ended row's own page changes nothing.
    login(client, world.person("sb"))
    assert (
        client.post(_url(world.zon.sd, f"{m.pk}/"), {"email": "a@example.test", "status": "active"}).status_code == 403
    )


# --- bulk actions: the service ---------------------------------------------------------------------


def _three(world: World) -> list[RoleAssignment]:
    sd = world.zon.sd
    return [
        _add(world, sd),
        _add(world, sd, ssin=OTHER_SSIN, first_name="Ann", last_name="Aerts", applications=world.apps[:2]),
        RoleAssignment.objects.active().get(person=world.person("user"), subdepartment=sd),
    ]


def _bulk(world: World, who: str, members: list[RoleAssignment], action: str, **kw: Any) -> Any:
    return memberships_bulk(
        actor=world.person(who), subdepartment=world.zon.sd, memberships=members, action=action, **kw
    )


def test_bulk_revoke_and_grant_change_only_who_needs_it_audited_per_person(world: World) -> None:
    members = _three(world)
    app = world.apps[1]  # only Ann has it
    plan = _bulk(world, "sb", members, BulkAction.GRANT, application=app, dry_run=True)
    assert [bool(r.change) for r in plan] == [True, False, True]
    assert not ApplicationGrant.objects.active().filter(application=app, person=members[0].person).exists()
    _bulk(world, "sb", members, BulkAction.GRANT, application=app)
    granted = ApplicationGrant.objects.active().filter(application=app, subdepartment=world.zon.sd)
    assert granted.filter(person__in=[m.person for m in members]).count() == 3
    assert AuditEvent.objects.filter(action="grant.add", params__application=app.code).count() == 2 + 1  # + Ann's add
    # Taken away from all three; posted twice, nothing more happens.
    _bulk(world, "sb", members, BulkAction.REVOKE, application=app)
    plan = _bulk(world, "sb", members, BulkAction.REVOKE, application=app)
    assert not any(r.change for r in plan)
    assert not granted.filter(person__in=[m.person for m in members]).exists()
    assert AuditEvent.objects.filter(action="grant.end", params__application=app.code).count() == 3


def test_bulk_block_unblock_and_last_day(world: World) -> None:
    members = _three(world)
    _bulk(world, "sb", members, BulkAction.BLOCK)
    assert set(RoleAssignment.objects.filter(pk__in=[m.pk for m in members]).values_list("status", flat=True)) == {
        Status.BLOCKED
    }
    events = AuditEvent.objects.filter(action="user.change").order_by("pk")
    with translation.override("en"):
        assert render_events(events)[0].sentence.startswith("Sb Test blocked ")
    _bulk(world, "sb", members[:1], BulkAction.UNBLOCK)
    assert RoleAssignment.objects.get(pk=members[0].pk).status == Status.ACTIVE

    day = timezone.localdate() + timedelta(days=30)
    _bulk(world, "sb", members, BulkAction.END_DATE, last_day=day)
    for m in RoleAssignment.objects.filter(pk__in=[m.pk for m in members]):
        assert m.valid_until == bulk_until(day) and m.is_active() and m.ended_at is None
    event = AuditEvent.objects.filter(action="user.end_planned").first()
    assert event is not None
    with translation.override("nl"):
        assert f"{day:%d/%m/%Y}" in render_events([event])[0].sentence
    with pytest.raises(ValidationError):
        _bulk(world, "sb", members, BulkAction.END_DATE, last_day=timezone.localdate() - timedelta(days=1))


def test_bulk_refuses_rows_the_actor_may_not_change_and_changes_nothing(world: World) -> None:
    members = _three(world)
    cosb_row = RoleAssignment.objects.active().get(person=world.person("cosb"), subdepartment=world.zon.sd)
    with pytest.raises(PermissionDenied):
        _bulk(world, "cosb", [members[0], cosb_row], BulkAction.BLOCK)
    # A row of another subdepartment, or of another enterprise, passed to the service.
    for foreign in (
        RoleAssignment.objects.active().get(person=world.person("sb2"), subdepartment=world.zon.sd2),
        RoleAssignment.objects.active().get(person=world.person("ander_user")),
    ):
        with pytest.raises(PermissionDenied):
            _bulk(world, "sb", [members[0], foreign], BulkAction.BLOCK)
    assert not RoleAssignment.objects.filter(status=Status.BLOCKED).exists()
    assert not AuditEvent.objects.filter(action="user.change").exists()


@pytest.mark.parametrize("action", BulkAction.values)
@pytest.mark.parametrize("who", ["cosb", "ander_sb", "user", "sb2"])
def test_bulk_each_action_needs_the_right_on_every_row(world: World, action: str, who: str) -> None:
    """The co-SB's own row (their level), and for the others rows outside their reach: refused, nothing saved."""
    members = _three(world)
    cosb_row = RoleAssignment.objects.active().get(person=world.person("cosb"), subdepartment=world.zon.sd)
    rows = [members[0], cosb_row] if who == "cosb" else members
    extra = {"application": world.apps[0], "last_day": timezone.localdate() + timedelta(days=3)}
    with pytest.raises(PermissionDenied):
        _bulk(world, who, rows, action, **extra)
    # Every row as it was: active, without a planned end.
    assert all(
        r.status == Status.ACTIVE and r.valid_until is None
        for r in RoleAssignment.objects.filter(pk__in=[r.pk for r in rows])
    )
    assert ApplicationGrant.objects.active().filter(person=members[0].person).count() == 1
    # The SB may do it (on the rows below their level).
    _bulk(world, "sb", members, action, **extra)


def test_bulk_grant_of_an_application_not_switched_on_is_refused(world: World) -> None:
    members = _three(world)
    with pytest.raises(ValidationError, match="Not switched on"):
        _bulk(world, "sb", members, BulkAction.GRANT, application=world.apps[2])
    assert not ApplicationGrant.objects.filter(application=world.apps[2]).exists()


def test_bulk_with_a_row_ended_meanwhile_changes_nothing(world: World) -> None:
    members = _three(world)
    membership_end(actor=world.person("tb"), membership=members[1])
    with pytest.raises(ValidationError, match="had already ended"):
        _bulk(world, "sb", members, BulkAction.BLOCK)
    assert not RoleAssignment.objects.filter(status=Status.BLOCKED).exists()


# --- bulk actions: the pages ------------------------------------------------------------------------


def _post(client: Client, sd: Subdepartment, action: str, ids: list[Any], **data: Any) -> Any:
    # From the list's page, as a browser sends it (a lost race returns there).
    return client.post(
        _url(sd, "bulk/"),
        {"action": action, "ids": [str(i) for i in ids], **data},
        follow=True,
        HTTP_REFERER=f"http://testserver{_url(sd)}",
    )


def test_list_has_a_labelled_select_all_checkbox_and_the_action_bar(world: World, client: Client) -> None:
    login(client, world.person("sb"))
    html = client.get(_url(world.zon.sd)).content.decode()
    assert '<input type="checkbox" id="select-all" class="select-all" hidden>' in html
    assert '<label for="select-all" class="sr-only">Select all users on this page</label>' in html
    assert "toegang/users_list.js" in html and "<script>" not in html  # a static file: the CSP forbids inline
    assert '<select name="bulk" id="bulk-action">' in html
    assert (
        f'<option value="grant:{world.apps[0].pk}">' in html and f'<option value="revoke:{world.apps[1].pk}">' in html
    )
    assert f'value="grant:{world.apps[2].pk}"' not in html  # not switched on here
    # The SB's own row has no checkbox (an SB does not change an SB); the co-SB's and the user's do.
    sb_row = RoleAssignment.objects.active().get(person=world.person("sb"), subdepartment=world.zon.sd)
    user_row = RoleAssignment.objects.active().get(person=world.person("user"), subdepartment=world.zon.sd)
    assert f'name="ids" value="{sb_row.pk}"' not in html and f'name="ids" value="{user_row.pk}"' in html
    # A plain user of the list sees neither.
    assert login(Client(), world.person("user")).get(_url(world.zon.sd)).status_code in (403, 404)


def test_bulk_take_away_confirm_page_lists_people_and_changes_then_applies_once(world: World, client: Client) -> None:
    members = _three(world)
    ids = [m.pk for m in members]
    app = world.apps[0]
    login(client, world.person("sb"))
    page = _post(client, world.zon.sd, "bulk", ids, bulk=f"revoke:{app.pk}")
    html = " ".join(page.content.decode().split())
    assert "Take an application away: " + app.name in html
    assert "Peters" in html and "Aerts" in html and f"loses {app.name}" in html
    assert f"does not have {app.name}" in html  # the user who has not got it: listed, left as is
    assert (
        ApplicationGrant.objects.active().filter(application=app, person__in=[m.person for m in members]).count() == 2
    )
    response = _post(client, world.zon.sd, "bulk_confirm", ids, bulk=f"revoke:{app.pk}")
    assert "2 users changed" in response.content.decode()
    assert (
        not ApplicationGrant.objects.active().filter(application=app, person__in=[m.person for m in members]).exists()
    )
    # The confirmation posted again: nothing applied twice, no error.
    again = _post(client, world.zon.sd, "bulk_confirm", ids, bulk=f"revoke:{app.pk}")
    assert again.status_code == 200 and "Nothing was changed" in again.content.decode()
    assert AuditEvent.objects.filter(action="grant.end", params__application=app.code).count() == 2


def test_bulk_end_date_needs_a_valid_day(world: World, client: Client) -> None:
    members = _three(world)
    ids = [m.pk for m in members]
    login(client, world.person("sb"))
    page = _post(client, world.zon.sd, "bulk", ids, bulk="end_date")
    assert "Last day: none yet → the day chosen below" in page.content.decode()
    assert 'type="date"' in page.content.decode()
    page = _post(client, world.zon.sd, "bulk_confirm", ids, bulk="end_date", last_day="")
    assert page.context["form"].errors["last_day"]
    past = (timezone.localdate() - timedelta(days=2)).isoformat()
    page = _post(client, world.zon.sd, "bulk_confirm", ids, bulk="end_date", last_day=past)
    assert page.context["form"].errors["last_day"] == ["The last day cannot lie in the past."]
    assert all(r.valid_until is None for r in RoleAssignment.objects.filter(pk__in=ids))
    day = timezone.localdate() + timedelta(days=7)
    _post(client, world.zon.sd, "bulk_confirm", ids, bulk="end_date", last_day=day.isoformat())
    assert RoleAssignment.objects.filter(pk__in=ids, valid_until=bulk_until(day)).count() == 3
    page = _post(client, world.zon.sd, "bulk", ids, bulk="end_date")
    assert f"Last day: {day:%d/%m/%Y} now → the day chosen below" in page.content.decode()
    # The user's page shows the planned last day.
    assert f"{day:%d/%m/%Y}" in client.get(_url(world.zon.sd, f"{ids[0]}/")).content.decode()


@pytest.mark.parametrize("where", ["sd2", "ander"])
def test_bulk_post_with_an_id_of_another_scope_is_refused_with_a_message(
    world: World, client: Client, where: str
) -> None:
    members = _three(world)
    foreign = (
        RoleAssignment.objects.active().get(person=world.person("sb2"), subdepartment=world.zon.sd2)
        if where == "sd2"
        else RoleAssignment.objects.active().get(person=world.person("ander_user"))
    )
    login(client, world.person("sb"))
    for action in ("bulk", "bulk_confirm"):
        response = _post(client, world.zon.sd, action, [members[0].pk, foreign.pk], bulk="block")
        assert "Nothing was changed: the selection holds rows that are not users of this subdepartment." in (
            response.content.decode()
        )
    assert not RoleAssignment.objects.filter(status=Status.BLOCKED).exists()


def test_bulk_rows_the_actor_may_not_change_are_refused_with_a_message(world: World, client: Client) -> None:
    members = _three(world)
    other_sb = role_appoint(
        actor=world.person("tb"),
        role=Role.SUBDEPARTMENT_MANAGER,
        scope=world.zon.sd,
        ssin=world.person("nobody").ssin or "",
    )
    login(client, world.person("sb"))
    response = _post(client, world.zon.sd, "bulk_confirm", [members[0].pk, other_sb.pk], bulk="block")
    assert "you may not change Test Nobody" in response.content.decode()
    assert not RoleAssignment.objects.filter(status=Status.BLOCKED).exists()


def test_bulk_unknown_choice_is_refused(world: World, client: Client) -> None:
    members = _three(world)
    login(client, world.person("sb"))
    events = AuditEvent.objects.count()
    for bulk in ("explode", "grant:", "grant:999999", f"grant:{world.apps[2].pk}", "block:1"):
        response = _post(client, world.zon.sd, "bulk_confirm", [members[0].pk], bulk=bulk)
        assert "Choose an action for the selected users." in response.content.decode(), bulk
    assert AuditEvent.objects.count() == events
    assert not ApplicationGrant.objects.filter(application=world.apps[2]).exists()


def test_bulk_lost_race_saves_nothing_and_says_so(
    world: World, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    members = _three(world)
    real = person_grants_set
    calls: list[int] = []

    def racing(**kw: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise ConcurrentChange
        return real(**kw)

    # The name the bulk service calls, in its own module.
    monkeypatch.setattr(services, "person_grants_set", racing)
    login(client, world.person("sb"))
    app = world.apps[1]
    response = _post(client, world.zon.sd, "bulk_confirm", [m.pk for m in members], bulk=f"grant:{app.pk}")
    assert "This was changed by someone else meanwhile; try again." in response.content.decode()
    assert len(calls) == 2
    assert ApplicationGrant.objects.active().filter(application=app).count() == 1  # Ann's own, from before


def test_bulk_delete_takes_a_reason(world: World, client: Client) -> None:
    members = _three(world)
    login(client, world.person("sb"))
    page = _post(client, world.zon.sd, "delete", [members[0].pk])
    assert "reason" in page.context["form"].fields
    _post(client, world.zon.sd, "delete_confirm", [members[0].pk], reason="contract ended")
    m = RoleAssignment.objects.get(pk=members[0].pk)
    assert not m.is_active() and m.end_reason == "contract ended"


def test_the_correction_reads_with_the_screens_own_labels(world: World) -> None:
    m = _add(world, world.zon.sd)
    _correct(world, "sb", m.person, first_name="Pieter")
    event = AuditEvent.objects.get(action="person.correct")
    for lang, expected in (("nl", {"Naam", "Voornaam", "Taalkeuze"}), ("fr", {"Nom", "Prénom", "Langue"})):
        with translation.override(lang):
            assert {c.field for c in render_events([event])[0].changes} == expected
