"""Step 6 services: adding users by INSZ, their applications, Bekijken changes, Wissen, the e-mails."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError

from tests.conftest import World
from toegang.accounts.models import User
from toegang.applications.models import ApplicationGrant
from toegang.applications.services import person_applications, subdepartment_applications_set
from toegang.audit.models import AuditEvent
from toegang.delegation.models import Role, RoleAssignment, Status
from toegang.delegation.services import (
    AlreadyMember,
    membership_end,
    membership_update,
    subdepartment_user_add,
)
from toegang.identifiers import ssin_make

NEW_SSIN = ssin_make(2004, 2, 29, 123)  # born in 2000 or later: the check uses 2 + YYMMDDSSS


@pytest.fixture(autouse=True)
def _mail(settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def _add(world: World, actor: str = "sb", **kwargs: Any) -> RoleAssignment:
    defaults: dict[str, Any] = {
        "ssin": NEW_SSIN,
        "email": "nieuw@example.test",
        "first_name": "Nora",
        "last_name": "Nieuw",
        "language": "fr",
        "applications": world.apps[:1],
    }
    return subdepartment_user_add(actor=world.person(actor), subdepartment=world.zon.sd, **(defaults | kwargs))


@pytest.mark.django_db
def test_add_new_person_with_applications_audits_and_mails_in_their_language(
    world: World, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        m = _add(world)
    person = m.person
    assert (person.ssin, person.first_name, person.language) == (NEW_SSIN, "Nora", "fr")
    assert not person.has_usable_password()
    assert m.role == Role.USER and m.status == Status.ACTIVE and m.contact_email == "nieuw@example.test"
    assert person_applications(person, world.zon.sd) == world.apps[:1]
    actions = list(AuditEvent.objects.filter(subdepartment=world.zon.sd).values_list("action", flat=True))
    assert actions.count("user.add") == 1 and actions.count("grant.add") == 1
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["nieuw@example.test"]
    assert world.apps[0].name_fr in str(mail.outbox[0].body)
    assert "Nora" in str(mail.outbox[0].body)


@pytest.mark.django_db
def test_no_mail_when_the_transaction_rolls_back(
    world: World, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(ValidationError):
        _add(world, applications=world.apps)  # the third application is not switched on for sd
    assert callbacks == [] and mail.outbox == []
    assert not User.objects.filter(ssin=NEW_SSIN).exists()


@pytest.mark.django_db
def test_known_person_keeps_their_data_and_gets_only_the_membership(world: World) -> None:
    other = world.ander.people["user"]  # works for another enterprise
    m = _add(world, ssin=other.ssin_display, first_name="Changed", last_name="Name", language="de")
    other.refresh_from_db()
    assert m.person == other and other.first_name != "Changed" and other.language != "de"
    assert RoleAssignment.objects.active().filter(person=other).count() == 2


@pytest.mark.django_db
def test_already_member_is_said_with_that_membership(world: World) -> None:
    first = _add(world)
    with pytest.raises(AlreadyMember) as exc:
        _add(world)
    assert exc.value.membership == first
    assert RoleAssignment.objects.filter(person=first.person, subdepartment=world.zon.sd).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"ssin": "04.02.29-123.00"}, None),  # wrong check digits
        ({"email": ""}, "email"),
        ({"first_name": ""}, "first_name"),
        ({"username": "sb"}, "username"),  # taken
    ],
)
def test_bad_input_saves_nothing(world: World, kwargs: dict[str, Any], field: str | None) -> None:
    before = (User.objects.count(), RoleAssignment.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ValidationError) as exc:
        _add(world, **kwargs)
    if field:
        assert field in exc.value.message_dict
    assert (User.objects.count(), RoleAssignment.objects.count(), AuditEvent.objects.count()) == before


@pytest.mark.django_db
@pytest.mark.parametrize("actor", ["sb2", "user", "nobody", "ander_sb", "ander_htb"])
def test_outside_scope_is_denied(world: World, actor: str) -> None:
    with pytest.raises(PermissionDenied):
        _add(world, actor=actor)
    assert not User.objects.filter(ssin=NEW_SSIN).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("actor", ["cosb", "tb", "cotb", "htb", "cohtb", "operator"])
def test_co_sb_and_every_manager_above_may_add(world: World, actor: str) -> None:
    assert _add(world, actor=actor).granted_by == world.person(actor)


@pytest.mark.django_db
def test_bekijken_untick_block_and_mail(world: World, django_capture_on_commit_callbacks: Callable[..., Any]) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        m = _add(world, applications=world.apps[:2])
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        membership_update(
            actor=world.person("cosb"),
            membership=m,
            applications=world.apps[1:2],
            status=Status.BLOCKED,
            email="ander@example.test",
        )
    m.refresh_from_db()
    assert m.status == Status.BLOCKED and m.contact_email == "ander@example.test"
    ended = ApplicationGrant.objects.get(person=m.person, application=world.apps[0])
    assert ended.valid_until is not None and ended.ended_by == world.person("cosb")
    assert person_applications(m.person, world.zon.sd) == world.apps[1:2]
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["ander@example.test"]


@pytest.mark.django_db
def test_sb_cannot_change_the_sb_row_but_tb_can(world: World) -> None:
    sb_row = RoleAssignment.objects.active().get(person=world.person("sb"), subdepartment=world.zon.sd)
    kwargs: dict[str, Any] = {"applications": [], "status": Status.ACTIVE, "email": "x@example.test"}
    with pytest.raises(PermissionDenied):
        membership_update(actor=world.person("sb"), membership=sb_row, **kwargs)
    with pytest.raises(PermissionDenied):
        membership_update(actor=world.person("cosb"), membership=sb_row, **kwargs)
    membership_update(actor=world.person("tb"), membership=sb_row, **kwargs)


@pytest.mark.django_db
def test_wissen_ends_membership_and_grants_here_only(world: World) -> None:
    person = world.person("user")
    other = subdepartment_user_add(
        actor=world.person("sb2"),
        subdepartment=world.zon.sd2,
        ssin=person.ssin or "",
        email="u@example.test",
        applications=world.apps[:1],
    )
    m = RoleAssignment.objects.active().get(person=person, subdepartment=world.zon.sd)
    membership_update(
        actor=world.person("sb"), membership=m, applications=world.apps[:2], status="active", email="u@x.test"
    )
    membership_end(actor=world.person("sb"), membership=m, reason="left")
    m.refresh_from_db()
    assert m.valid_until is not None and m.end_reason == "left" and m.ended_by == world.person("sb")
    assert person_applications(person, world.zon.sd) == []
    assert ApplicationGrant.objects.filter(person=person, subdepartment=world.zon.sd).count() == 2  # kept, ended
    other.refresh_from_db()
    assert other.is_active and person_applications(person, world.zon.sd2) == world.apps[:1]
    assert User.objects.filter(pk=person.pk, is_active=True).exists()
    with pytest.raises(PermissionDenied):  # an ended membership is no longer manageable
        membership_end(actor=world.person("sb"), membership=m)


@pytest.mark.django_db
def test_switching_an_application_off_ends_the_grants_that_depend_on_it(world: World) -> None:
    m = _add(world, applications=world.apps[:2])
    subdepartment_applications_set(actor=world.person("tb"), subdepartment=world.zon.sd, applications=world.apps[1:2])
    assert person_applications(m.person, world.zon.sd) == world.apps[1:2]
    grant = ApplicationGrant.objects.get(person=m.person, application=world.apps[0])
    assert grant.end_reason == "application switched off"
    assert AuditEvent.objects.filter(action="grant.end", object_id=str(grant.pk)).exists()
