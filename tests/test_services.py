"""The services called directly: their validation, their invariants and the audit events they write."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Max
from django.utils import timezone

from tests.conftest import World
from toegang import identifiers
from toegang.accounts.models import User
from toegang.applications.models import SecuredApplication, SubdepartmentApplication
from toegang.applications.selectors import subdepartment_applications
from toegang.applications.services import subdepartment_applications_set
from toegang.audit.models import AuditEvent
from toegang.delegation import authz
from toegang.delegation.models import Role, RoleAssignment
from toegang.delegation.services import role_appoint, role_end
from toegang.identifiers import ssin_make
from toegang.organisations.models import Enterprise, EnterpriseQuality, Quality, Subdepartment
from toegang.organisations.services import enterprise_register, quality_activate, subdepartment_create


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


_serial = itertools.count(1)


def new_ssin() -> str:
    return ssin_make(1992, 7, 20, next(_serial) % 998 + 1)


def nihii(base: int) -> str:
    return f"{base:06d}{97 - base % 97:02d}"


def audit_mark() -> int:
    return AuditEvent.objects.aggregate(m=Max("pk"))["m"] or 0


def events_since(mark: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(pk__gt=mark).order_by("pk"))


def other_application() -> SecuredApplication:
    """An application that exists but that the residential-care quality does not offer."""
    return SecuredApplication.objects.create(
        code="dimona", name_nl="Dimona", name_fr="Dimona", name_de="Dimona", name_en="Dimona"
    )


# --- role_appoint ---------------------------------------------------------------------------------


def test_appoint_unknown_person_needs_names(world: World) -> None:
    ssin = new_ssin()
    mark, roles, users = audit_mark(), RoleAssignment.objects.count(), User.objects.count()
    with pytest.raises(ValidationError) as exc:
        role_appoint(actor=world.zon.people["sb"], role=Role.USER, scope=world.zon.sd, ssin=ssin)
    assert set(exc.value.message_dict) == {"first_name", "last_name"}
    with pytest.raises(ValidationError) as exc:
        role_appoint(actor=world.zon.people["sb"], role=Role.USER, scope=world.zon.sd, ssin=ssin, first_name="An")
    assert set(exc.value.message_dict) == {"last_name"}
    assert RoleAssignment.objects.count() == roles
    assert User.objects.count() == users
    assert events_since(mark) == []


def test_appoint_unknown_person_creates_them(world: World) -> None:
    ssin = new_ssin()
    sb = world.zon.people["sb"]
    a = role_appoint(
        actor=sb,
        role=Role.USER,
        scope=world.zon.sd,
        ssin=identifiers.ssin_format(ssin),
        first_name=" Ëlise ",
        last_name="Van den Berg",
        email="elise@example.test",
        phone="+32 2 123 45 67",
    )
    person = User.objects.get(ssin=ssin)
    assert a.person == person
    # The address the manager typed is the appointment's contact address, not a login address.
    assert (person.first_name, person.last_name, person.email) == ("Ëlise", "Van den Berg", "")
    assert a.contact_email == "elise@example.test"
    assert person.username == "elise.vandenberg"
    assert not person.has_usable_password()
    assert a.is_active() and a.granted_by == sb
    assert (a.contact_email, a.contact_phone) == ("elise@example.test", "+32 2 123 45 67")
    assert (a.enterprise, a.enterprise_quality, a.subdepartment) == (world.zon.enterprise, world.zon.eq, world.zon.sd)


def test_appoint_existing_person_by_ssin_in_any_formatting(world: World) -> None:
    person = world.zon.people["nobody"]
    assert person.ssin
    formatted = f"{person.ssin[:2]}.{person.ssin[2:4]}.{person.ssin[4:6]}-{person.ssin[6:9]} {person.ssin[9:]}"
    users = User.objects.count()
    a = role_appoint(
        actor=world.zon.people["sb"],
        role=Role.USER,
        scope=world.zon.sd,
        ssin=formatted,
        first_name="Ignored",
        last_name="Ignored",
    )
    assert a.person == person
    assert User.objects.count() == users
    person.refresh_from_db()
    assert person.last_name == "Test"  # the known person's names are not overwritten


def test_appoint_invalid_ssin_is_refused(world: World) -> None:
    roles = RoleAssignment.objects.count()
    with pytest.raises(ValidationError):
        role_appoint(
            actor=world.zon.people["sb"],
            role=Role.USER,
            scope=world.zon.sd,
            ssin="85073003329",
            first_name="A",
            last_name="B",
        )
    assert RoleAssignment.objects.count() == roles


def test_duplicate_appointment_is_refused_on_ssin(world: World) -> None:
    user = world.zon.people["user"]
    mark, roles = audit_mark(), RoleAssignment.objects.count()
    with pytest.raises(ValidationError) as exc:
        role_appoint(actor=world.zon.people["sb"], role=Role.USER, scope=world.zon.sd, ssin=user.ssin or "")
    assert list(exc.value.message_dict) == ["ssin"]
    assert RoleAssignment.objects.count() == roles
    assert RoleAssignment.objects.active().filter(person=user, role=Role.USER, subdepartment=world.zon.sd).count() == 1
    assert events_since(mark) == []
    # The same person may hold the same role in another scope, and another role in the same scope.
    role_appoint(actor=world.zon.people["tb"], role=Role.USER, scope=world.zon.sd2, ssin=user.ssin or "")
    role_appoint(
        actor=world.zon.people["sb"], role=Role.CO_SUBDEPARTMENT_MANAGER, scope=world.zon.sd, ssin=user.ssin or ""
    )
    assert RoleAssignment.objects.count() == roles + 2


def test_duplicate_main_access_manager_is_refused(world: World) -> None:
    htb = world.zon.people["htb"]
    roles = RoleAssignment.objects.count()
    with pytest.raises(ValidationError) as exc:
        role_appoint(
            actor=world.zon.people["lr"], role=Role.MAIN_ACCESS_MANAGER, scope=world.zon.enterprise, ssin=htb.ssin or ""
        )
    assert "ssin" in exc.value.message_dict
    assert RoleAssignment.objects.count() == roles
    assert (
        RoleAssignment.objects.active().get(role=Role.MAIN_ACCESS_MANAGER, enterprise=world.zon.enterprise).person
        == htb
    )


def test_appoint_role_at_the_wrong_level_is_refused(world: World) -> None:
    with pytest.raises(PermissionDenied):
        role_appoint(actor=world.operator, role=Role.USER, scope=world.zon.enterprise, ssin=new_ssin())
    with pytest.raises(PermissionDenied):
        role_appoint(actor=world.operator, role=Role.ACCESS_MANAGER, scope=world.zon.sd, ssin=new_ssin())


def test_main_access_manager_appointment_replaces_the_previous_one(world: World) -> None:
    lr, old = world.zon.people["lr"], world.zon.people["htb"]
    successor = world.zon.people["nobody"]
    previous = RoleAssignment.objects.active().get(role=Role.MAIN_ACCESS_MANAGER, enterprise=world.zon.enterprise)
    mark, roles = audit_mark(), RoleAssignment.objects.count()
    a = role_appoint(
        actor=lr, role=Role.MAIN_ACCESS_MANAGER, scope=world.zon.enterprise, ssin=successor.ssin or "", email="s@x.test"
    )
    previous.refresh_from_db()
    assert not previous.is_active()
    assert previous.ended_by == lr and previous.end_reason == "replaced"
    assert RoleAssignment.objects.count() == roles + 1  # the previous row stays, ended
    active = RoleAssignment.objects.active().filter(role=Role.MAIN_ACCESS_MANAGER, enterprise=world.zon.enterprise)
    assert list(active) == [a] and a.person == successor
    # The other enterprise's HTB is untouched.
    assert (
        RoleAssignment.objects.active().filter(role=Role.MAIN_ACCESS_MANAGER, enterprise=world.ander.enterprise).get()
    )
    # The old HTB lost the enterprise; the new one has it.
    assert not authz.may(old, authz.Action.ENTERPRISE_VIEW, world.zon.enterprise)
    assert authz.may(successor, authz.Action.ENTERPRISE_VIEW, world.zon.enterprise)
    end_event, appoint_event = events_since(mark)
    assert (end_event.action, end_event.actor, end_event.reason) == ("role.end", lr, "replaced")
    assert end_event.object_id == str(previous.pk)
    assert end_event.before is not None and end_event.after is not None
    assert end_event.before["valid_until"] is None and end_event.after["valid_until"] is not None
    assert end_event.after["end_reason"] == "replaced"
    assert (appoint_event.action, appoint_event.actor, appoint_event.before) == ("role.appoint", lr, None)
    assert appoint_event.object_id == str(a.pk)
    for e in (end_event, appoint_event):
        assert (e.enterprise, e.enterprise_quality, e.subdepartment) == (world.zon.enterprise, None, None)


def test_role_end_of_main_access_manager_is_refused(world: World) -> None:
    htb = RoleAssignment.objects.active().get(role=Role.MAIN_ACCESS_MANAGER, enterprise=world.zon.enterprise)
    mark = audit_mark()
    for actor in (world.zon.people["lr"], world.operator):
        with pytest.raises(ValidationError):
            role_end(actor=actor, assignment=htb, reason="weg")
    for actor in (world.zon.people["htb"], world.zon.people["cohtb"], world.ander.people["lr"]):
        with pytest.raises(PermissionDenied):
            role_end(actor=actor, assignment=htb, reason="weg")
    htb.refresh_from_db()
    assert htb.is_active() and htb.ended_by is None and htb.end_reason == ""
    assert events_since(mark) == []


def test_role_end_sets_the_end_and_never_deletes(world: World) -> None:
    tb = world.zon.people["tb"]
    cotb = RoleAssignment.objects.active().get(role=Role.CO_ACCESS_MANAGER, enterprise_quality=world.zon.eq)
    roles, mark = RoleAssignment.objects.count(), audit_mark()
    t0 = timezone.now()
    role_end(actor=tb, assignment=cotb, reason="left the organisation")
    cotb.refresh_from_db()
    assert cotb.valid_until is not None and cotb.valid_until >= t0
    assert cotb.ended_by == tb and cotb.end_reason == "left the organisation"
    assert RoleAssignment.objects.count() == roles
    assert not authz.may(world.zon.people["cotb"], authz.Action.QUALITY_VIEW, world.zon.eq)
    (event,) = events_since(mark)
    assert (event.action, event.actor, event.reason) == ("role.end", tb, "left the organisation")
    assert (event.enterprise, event.enterprise_quality, event.subdepartment) == (
        world.zon.enterprise,
        world.zon.eq,
        None,
    )
    assert event.object_type == "delegation.roleassignment" and event.object_id == str(cotb.pk)
    assert event.before is not None and event.after is not None
    assert event.before["valid_until"] is None and event.before["end_reason"] == ""
    assert event.after["valid_until"] == cotb.valid_until.isoformat()
    assert event.after["end_reason"] == "left the organisation"
    assert event.before["role"] == event.after["role"] == Role.CO_ACCESS_MANAGER
    assert event.before["ssin"] == world.zon.people["cotb"].ssin


def test_role_end_without_reason_records_a_default(world: World) -> None:
    cosb = RoleAssignment.objects.active().get(role=Role.CO_SUBDEPARTMENT_MANAGER, subdepartment=world.zon.sd)
    role_end(actor=world.zon.people["sb"], assignment=cosb)
    cosb.refresh_from_db()
    assert not cosb.is_active() and cosb.end_reason == "ended"


def test_role_end_twice_changes_nothing_the_second_time(world: World) -> None:
    sb = world.zon.people["sb"]
    stale = RoleAssignment.objects.active().get(role=Role.USER, subdepartment=world.zon.sd)
    ended = role_end(actor=sb, assignment=stale, reason="first")
    mark = audit_mark()
    first = RoleAssignment.objects.get(pk=stale.pk)
    # Again with the stale object the caller still holds (valid_until unset in memory) ...
    with pytest.raises(ValidationError):
        role_end(actor=sb, assignment=stale, reason="second")
    # ... and again with a fresh copy, as a second request would load it: refused (it is no longer
    # a role anybody can end), nothing changes.
    with pytest.raises((ValidationError, PermissionDenied)):
        role_end(actor=sb, assignment=ended, reason="third")
    again = RoleAssignment.objects.get(pk=stale.pk)
    assert (again.valid_until, again.ended_by_id, again.end_reason) == (
        first.valid_until,
        first.ended_by_id,
        "first",
    )
    assert events_since(mark) == []


def test_reappointing_after_an_end_adds_a_new_row(world: World) -> None:
    sb, user = world.zon.people["sb"], world.zon.people["user"]
    old = RoleAssignment.objects.active().get(role=Role.USER, subdepartment=world.zon.sd, person=user)
    role_end(actor=sb, assignment=old, reason="tijdelijk")
    new = role_appoint(actor=sb, role=Role.USER, scope=world.zon.sd, ssin=user.ssin or "")
    assert new.pk != old.pk
    assert RoleAssignment.objects.filter(role=Role.USER, subdepartment=world.zon.sd, person=user).count() == 2


def test_role_appoint_audit_event(world: World) -> None:
    tb = world.zon.people["tb"]
    mark = audit_mark()
    a = role_appoint(
        actor=tb, role=Role.SUBDEPARTMENT_MANAGER, scope=world.zon.sd2, ssin=world.zon.people["cosb"].ssin or ""
    )
    (event,) = events_since(mark)
    assert (event.action, event.actor, event.before) == ("role.appoint", tb, None)
    assert (event.enterprise, event.enterprise_quality, event.subdepartment) == (
        world.zon.enterprise,
        world.zon.eq,
        world.zon.sd2,
    )
    assert event.object_type == "delegation.roleassignment" and event.object_id == str(a.pk)
    assert event.after is not None
    assert event.after["person"] == world.zon.people["cosb"].pk
    assert event.after["role"] == Role.SUBDEPARTMENT_MANAGER
    assert event.after["subdepartment"] == world.zon.sd2.pk
    assert event.after["valid_until"] is None


def test_role_appoint_rolls_back_when_the_audit_fails(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit event is written in the change's transaction: no audit, no change (and no new person)."""

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("audit store down")

    monkeypatch.setattr("toegang.delegation.services.audit_record", broken)
    ssin = new_ssin()
    roles, users = RoleAssignment.objects.count(), User.objects.count()
    with pytest.raises(RuntimeError):
        role_appoint(
            actor=world.zon.people["sb"], role=Role.USER, scope=world.zon.sd, ssin=ssin, first_name="A", last_name="B"
        )
    with pytest.raises(RuntimeError):
        role_appoint(
            actor=world.zon.people["lr"],
            role=Role.MAIN_ACCESS_MANAGER,
            scope=world.zon.enterprise,
            ssin=world.zon.people["nobody"].ssin or "",
        )
    cosb = RoleAssignment.objects.active().get(role=Role.CO_SUBDEPARTMENT_MANAGER, subdepartment=world.zon.sd)
    with pytest.raises(RuntimeError):
        role_end(actor=world.zon.people["sb"], assignment=cosb)
    assert (RoleAssignment.objects.count(), User.objects.count()) == (roles, users)
    assert (
        RoleAssignment.objects.active().get(role=Role.MAIN_ACCESS_MANAGER, enterprise=world.zon.enterprise).person
        == (world.zon.people["htb"])
    )
    cosb.refresh_from_db()
    assert cosb.is_active()


# --- enterprise_register / quality_activate ---------------------------------------------------------


def test_enterprise_register(world: World) -> None:
    cbe = identifiers.cbe_make(11112222)
    with pytest.raises(PermissionDenied):
        enterprise_register(actor=world.zon.people["htb"], cbe_number=cbe, name="Nieuw vzw")
    mark = audit_mark()
    ent = enterprise_register(actor=world.operator, cbe_number=identifiers.cbe_format(cbe), name="  Nieuw vzw ")
    assert (ent.cbe_number, ent.name) == (cbe, "Nieuw vzw")
    (event,) = events_since(mark)
    assert (event.action, event.actor, event.enterprise, event.before) == (
        "enterprise.register",
        world.operator,
        ent,
        None,
    )
    assert event.after == {"cbe_number": cbe, "name": "Nieuw vzw"}
    with pytest.raises(ValidationError) as exc:
        enterprise_register(actor=world.operator, cbe_number=cbe, name="Dubbel")
    assert "cbe_number" in exc.value.message_dict
    assert Enterprise.objects.filter(cbe_number=cbe).count() == 1


def test_quality_activate_twice_is_refused(world: World) -> None:
    employer = Quality.objects.get(code="employer")
    htb = world.zon.people["htb"]
    mark = audit_mark()
    eq = quality_activate(actor=htb, enterprise=world.zon.enterprise, quality=employer)
    (event,) = events_since(mark)
    assert (event.action, event.actor, event.before, event.after) == (
        "quality.activate",
        htb,
        None,
        {"quality": "employer"},
    )
    assert (event.enterprise, event.enterprise_quality, event.subdepartment) == (world.zon.enterprise, eq, None)
    mark = audit_mark()
    with pytest.raises(ValidationError) as exc:
        quality_activate(actor=world.zon.people["cohtb"], enterprise=world.zon.enterprise, quality=employer)
    assert "quality" in exc.value.message_dict
    assert EnterpriseQuality.objects.filter(enterprise=world.zon.enterprise, quality=employer).count() == 1
    assert events_since(mark) == []
    # The quality the world already activated is refused the same way.
    with pytest.raises(ValidationError):
        quality_activate(actor=htb, enterprise=world.zon.enterprise, quality=world.quality)
    assert EnterpriseQuality.objects.filter(enterprise=world.zon.enterprise, quality=world.quality).count() == 1
    # Another enterprise may activate the same quality.
    quality_activate(actor=world.ander.people["htb"], enterprise=world.ander.enterprise, quality=employer)


def test_quality_activate_inactive_quality_is_refused(world: World) -> None:
    employer = Quality.objects.get(code="employer")
    employer.is_active = False
    employer.save()
    with pytest.raises(ValidationError):
        quality_activate(actor=world.zon.people["htb"], enterprise=world.zon.enterprise, quality=employer)
    assert not EnterpriseQuality.objects.filter(quality=employer).exists()


# --- subdepartment_create -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "31707399",  # check digits off by one
        "7-10000-41-345",  # the manual's example with a wrong check digit
        "1234567",  # too short
        "123456789",  # nine digits: neither 8 nor 11
        "ABCDEFGH",
        "",
    ],
)
def test_subdepartment_create_refuses_a_bad_nihii(world: World, code: str) -> None:
    assert nihii(317073) != "31707399"
    subs, mark = Subdepartment.objects.count(), audit_mark()
    with pytest.raises(ValidationError) as exc:
        subdepartment_create(
            actor=world.zon.people["tb"], enterprise_quality=world.zon.eq, name="Afdeling C", identification_code=code
        )
    assert "identification_code" in exc.value.message_dict
    assert Subdepartment.objects.count() == subs
    assert events_since(mark) == []


def test_subdepartment_create_accepts_formatted_nihii(world: World) -> None:
    sd = subdepartment_create(
        actor=world.zon.people["tb"],
        enterprise_quality=world.zon.eq,
        name="Afdeling C",
        identification_code="7-10000-40-345",
    )
    assert sd.identification_code == "71000040345"


def test_subdepartment_create_refuses_an_empty_name(world: World) -> None:
    subs = Subdepartment.objects.count()
    with pytest.raises(ValidationError) as exc:
        subdepartment_create(
            actor=world.zon.people["tb"], enterprise_quality=world.zon.eq, name="  ", identification_code=nihii(123)
        )
    assert "name" in exc.value.message_dict
    assert Subdepartment.objects.count() == subs


@pytest.mark.parametrize("tenant", ["zon", "ander"])
def test_subdepartment_identification_code_is_unique_per_quality(world: World, tenant: str) -> None:
    """The code of zon's sd, reused in zon's quality or in ander's (same quality): refused."""
    t = world.zon if tenant == "zon" else world.ander
    code = world.zon.sd.identification_code
    subs, mark = Subdepartment.objects.count(), audit_mark()
    with pytest.raises(ValidationError) as exc:
        subdepartment_create(
            actor=t.people["tb"],
            enterprise_quality=t.eq,
            name="Kopie",
            identification_code=f"{code[:2]}-{code[2:6]} {code[6:]}",
            applications=world.apps[:1],
        )
    assert "identification_code" in exc.value.message_dict
    assert Subdepartment.objects.count() == subs
    assert events_since(mark) == []


def test_subdepartment_identification_code_may_repeat_in_another_quality(world: World) -> None:
    employer = Quality.objects.get(code="employer")
    eq = quality_activate(actor=world.zon.people["htb"], enterprise=world.zon.enterprise, quality=employer)
    sd = subdepartment_create(
        actor=world.zon.people["htb"],
        enterprise_quality=eq,
        name="Werkgever",
        identification_code=world.zon.sd.identification_code,
    )
    assert sd.identification_code == world.zon.sd.identification_code


def test_subdepartment_create_with_an_application_not_offered_saves_nothing(world: World) -> None:
    foreign = other_application()
    subs, links, mark = Subdepartment.objects.count(), SubdepartmentApplication.objects.count(), audit_mark()
    with pytest.raises(ValidationError) as exc:
        subdepartment_create(
            actor=world.zon.people["tb"],
            enterprise_quality=world.zon.eq,
            name="Afdeling C",
            identification_code=nihii(424242),
            applications=[world.apps[0], foreign],
        )
    assert "applications" in exc.value.message_dict
    assert (Subdepartment.objects.count(), SubdepartmentApplication.objects.count()) == (subs, links)
    assert events_since(mark) == []


def test_subdepartment_create_audit_events(world: World) -> None:
    cotb = world.zon.people["cotb"]
    mark = audit_mark()
    sd = subdepartment_create(
        actor=cotb,
        enterprise_quality=world.zon.eq,
        name=" Afdeling C ",
        identification_code=nihii(424242),
        applications=world.apps[:2],
    )
    assert (sd.name, sd.enterprise, sd.quality) == ("Afdeling C", world.zon.enterprise, world.quality)
    events = events_since(mark)
    assert [e.action for e in events] == ["subdepartment.create", "application.switch_on", "application.switch_on"]
    for e in events:
        assert e.actor == cotb
        assert (e.enterprise, e.enterprise_quality, e.subdepartment) == (world.zon.enterprise, world.zon.eq, sd)
    assert events[0].before is None
    assert events[0].after == {"name": "Afdeling C", "identification_code": nihii(424242)}
    assert events[0].object_id == str(sd.pk)
    assert sorted(([e.before, e.after] for e in events[1:]), key=str) == sorted(
        ([{"application": a.code, "on": False}, {"application": a.code, "on": True}] for a in world.apps[:2]), key=str
    )


def test_subdepartment_create_rolls_back_when_the_audit_fails(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(**kwargs: Any) -> None:
        raise RuntimeError("audit store down")

    monkeypatch.setattr("toegang.organisations.services.audit_record", broken)
    subs, eqs = Subdepartment.objects.count(), EnterpriseQuality.objects.count()
    with pytest.raises(RuntimeError):
        subdepartment_create(
            actor=world.zon.people["tb"], enterprise_quality=world.zon.eq, name="C", identification_code=nihii(777)
        )
    with pytest.raises(RuntimeError):
        quality_activate(
            actor=world.zon.people["htb"], enterprise=world.zon.enterprise, quality=Quality.objects.get(code="employer")
        )
    assert (Subdepartment.objects.count(), EnterpriseQuality.objects.count()) == (subs, eqs)


# --- subdepartment_applications_set --------------------------------------------------------------------


def test_switching_on_an_application_the_quality_does_not_offer_saves_nothing(world: World) -> None:
    sd = world.zon.sd
    foreign = other_application()
    current = subdepartment_applications(sd)
    links, mark = SubdepartmentApplication.objects.count(), audit_mark()
    for wanted in ([foreign], [*world.apps, foreign], [world.apps[0], foreign]):
        with pytest.raises(ValidationError) as exc:
            subdepartment_applications_set(actor=world.zon.people["tb"], subdepartment=sd, applications=wanted)
        assert "applications" in exc.value.message_dict
        assert "Dimona" in exc.value.message_dict["applications"][0]
    assert subdepartment_applications(sd) == current
    assert SubdepartmentApplication.objects.count() == links
    assert events_since(mark) == []


def test_an_inactive_application_cannot_be_switched_on(world: World) -> None:
    sd2 = world.zon.sd2  # has apps[:1]
    app = world.apps[2]
    app.is_active = False
    app.save()
    with pytest.raises(ValidationError):
        subdepartment_applications_set(actor=world.zon.people["tb"], subdepartment=sd2, applications=[app])
    assert subdepartment_applications(sd2) == world.apps[:1]


def test_switching_off_ends_the_link_and_audits_it(world: World) -> None:
    sd, tb = world.zon.sd, world.zon.people["tb"]
    assert subdepartment_applications(sd) == world.apps[:2]
    link = SubdepartmentApplication.objects.get(subdepartment=sd, application=world.apps[1])
    links, mark = SubdepartmentApplication.objects.count(), audit_mark()
    result = subdepartment_applications_set(
        actor=tb, subdepartment=sd, applications=[world.apps[0]], reason="niet meer"
    )
    assert result == [world.apps[0]]
    assert subdepartment_applications(sd) == [world.apps[0]]
    link.refresh_from_db()
    assert link.valid_until is not None and link.ended_by == tb and link.end_reason == "niet meer"
    assert SubdepartmentApplication.objects.count() == links  # ended, not deleted
    (event,) = events_since(mark)
    assert (event.action, event.actor, event.reason) == ("application.switch_off", tb, "niet meer")
    assert (event.enterprise, event.enterprise_quality, event.subdepartment) == (world.zon.enterprise, world.zon.eq, sd)
    assert event.object_type == "applications.subdepartmentapplication" and event.object_id == str(link.pk)
    code = world.apps[1].code
    assert event.before == {"application": code, "on": True}
    assert event.after == {"application": code, "on": False}

    # Switching it back on adds a new link; the ended one stays as history.
    mark = audit_mark()
    subdepartment_applications_set(actor=tb, subdepartment=sd, applications=world.apps[:2])
    assert SubdepartmentApplication.objects.filter(subdepartment=sd, application=world.apps[1]).count() == 2
    (event,) = events_since(mark)
    assert event.action == "application.switch_on"
    assert (event.before, event.after) == ({"application": code, "on": False}, {"application": code, "on": True})


def test_switching_off_without_reason_records_a_default(world: World) -> None:
    subdepartment_applications_set(actor=world.zon.people["tb"], subdepartment=world.zon.sd, applications=[])
    ended = SubdepartmentApplication.objects.filter(subdepartment=world.zon.sd)
    assert ended.count() == 2
    assert all(link.end_reason == "switched off" and link.valid_until is not None for link in ended)


def test_setting_the_same_applications_changes_nothing(world: World) -> None:
    links, mark = SubdepartmentApplication.objects.count(), audit_mark()
    subdepartment_applications_set(
        actor=world.zon.people["tb"], subdepartment=world.zon.sd, applications=world.apps[:2]
    )
    assert SubdepartmentApplication.objects.count() == links
    assert events_since(mark) == []


def test_applications_set_rolls_back_when_the_audit_fails(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(**kwargs: Any) -> None:
        raise RuntimeError("audit store down")

    monkeypatch.setattr("toegang.applications.services.audit_record", broken)
    with pytest.raises(RuntimeError):
        subdepartment_applications_set(actor=world.zon.people["tb"], subdepartment=world.zon.sd, applications=[])
    assert subdepartment_applications(world.zon.sd) == world.apps[:2]
    assert not SubdepartmentApplication.objects.ended().exists()


# --- The audit trail is append-only ------------------------------------------------------------------


def test_audit_event_is_append_only(world: World) -> None:
    event = AuditEvent.objects.filter(enterprise=world.zon.enterprise).first()
    assert event is not None
    event.reason = "rewritten"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
    event.refresh_from_db()
    assert event.reason != "rewritten"
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_world_is_fully_audited(world: World) -> None:
    """Every change that built the world left one event, by its actor, scoped to its tenant."""
    for tenant in (world.zon, world.ander):
        actions = sorted(AuditEvent.objects.filter(enterprise=tenant.enterprise).values_list("action", flat=True))
        assert actions == sorted(
            ["enterprise.register", "quality.activate"]
            + ["role.appoint"] * 9  # lr, htb, cohtb, tb, cotb, sb, cosb, user, sb2
            + ["subdepartment.create"] * 2
            + ["application.switch_on"] * 3
        )
    assert not AuditEvent.objects.filter(actor__isnull=True).exists()


# --- Identifiers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("85073003328", "85073003328"),
        ("85.07.30-033.28", "85073003328"),
        ("85 07 30 033 28", "85073003328"),
        ("850730-033-28", "85073003328"),
        ("850730/033.28", "85073003328"),
        (" 85.07.30-033.28 ", "85073003328"),
        # Born from 2000 on: the check digits are computed over "2" + the first nine digits.
        (ssin_make(2005, 3, 4, 12), "05030401223"),
        ("05030401223", "05030401223"),
        # BIS numbers: birth month + 20 (sex unknown) or + 40 (sex known).
        ("85231512315", "85231512315"),
        ("85.43.15-123.58", "85431512358"),
    ],
)
def test_ssin_clean_accepts(raw: str, clean: str) -> None:
    assert identifiers.ssin_clean(raw) == clean


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("85073003329", "ssin_invalid"),  # check digits off by one
        ("85073003327", "ssin_invalid"),
        ("05030401224", "ssin_invalid"),  # a 2000s number with neither rule's check digits
        ("85131512342", "ssin_invalid"),  # month 13 (mod-97 right): neither a date nor a BIS month
        ("8507300332", "ssin_format"),  # 10 digits
        ("850730033281", "ssin_format"),  # 12 digits
        ("8507300332a", "ssin_format"),
        ("", "ssin_format"),
    ],
)
def test_ssin_clean_refuses(raw: str, code: str) -> None:
    with pytest.raises(ValidationError) as exc:
        identifiers.ssin_clean(raw)
    assert exc.value.code == code


def test_ssin_post_2000_rule_differs_from_the_old_rule() -> None:
    body = "050304012"
    old_rule = f"{body}{97 - int(body) % 97:02d}"
    new_rule = f"{body}{97 - int('2' + body) % 97:02d}"
    assert old_rule != new_rule
    assert identifiers.ssin_clean(new_rule) == new_rule  # born 2005
    assert identifiers.ssin_clean(old_rule) == old_rule  # born 1905: still a valid number


def test_ssin_format() -> None:
    assert identifiers.ssin_format("85073003328") == "85.07.30-033.28"
    assert identifiers.ssin_format("") == ""


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("0403170701", "0403170701"),
        ("0403.170.701", "0403170701"),
        ("0403 170 701", "0403170701"),
        ("0403-170-701", "0403170701"),
        ("BE0403170701", "0403170701"),
        ("be 0403.170.701", "0403170701"),
        ("403170701", "0403170701"),  # old nine-digit notation
        (identifiers.cbe_make(4031707), identifiers.cbe_make(4031707)),
    ],
)
def test_cbe_clean_accepts(raw: str, clean: str) -> None:
    assert identifiers.cbe_clean(raw) == clean


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("0403170702", "cbe_invalid"),
        ("0403.170.700", "cbe_invalid"),
        ("2000000042", "cbe_invalid"),  # mod-97 right, but the first digit must be 0 or 1
        ("04031707011", "cbe_format"),
        ("04031707", "cbe_format"),
        ("0403.170.70A", "cbe_format"),
        ("", "cbe_format"),
    ],
)
def test_cbe_clean_refuses(raw: str, code: str) -> None:
    with pytest.raises(ValidationError) as exc:
        identifiers.cbe_clean(raw)
    assert exc.value.code == code


def test_cbe_format() -> None:
    assert identifiers.cbe_format("0403170701") == "0403.170.701"


@pytest.mark.parametrize(
    ("raw", "result"),
    [
        ("71000040", "71000040"),
        ("71000040345", "71000040345"),
        ("7-10000-40-345", "71000040345"),
        ("7.10000.40.345", "71000040345"),
        ("71000041", "nihii_invalid"),
        ("7100004", "nihii_format"),
        ("710000403", "nihii_format"),
        ("7100004X", "nihii_format"),
    ],
)
def test_nihii_clean(raw: str, result: str) -> None:
    if result.startswith("nihii_"):
        with pytest.raises(ValidationError) as exc:
            identifiers.nihii_clean(raw)
        assert exc.value.code == result
    else:
        assert identifiers.nihii_clean(raw) == result
