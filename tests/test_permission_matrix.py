"""The permission matrix: every persona x every action x a target in and out of scope.

The expected outcome is written out below as data, read from the permission rules of
docs/architecture.md, not computed by ``authz``: a change in ``authz`` that grants or withholds a
right makes a cell fail.
Each cell checks the decision (``authz.may`` / ``may_appoint`` / ``may_end``) and then the real
service (or, for the screens, the portal view): a denial raises PermissionDenied and changes nothing;
an allowed call changes the data and writes its audit event inside the service's own transaction.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import translation

from tests.conftest import World, login
from toegang.accounts.models import User
from toegang.applications.models import SubdepartmentApplication
from toegang.applications.selectors import subdepartment_applications
from toegang.applications.services import subdepartment_applications_set
from toegang.audit.models import AuditEvent
from toegang.delegation import authz, selectors
from toegang.delegation.models import Role, RoleAssignment
from toegang.delegation.services import role_appoint, role_end
from toegang.identifiers import ssin_make
from toegang.organisations.models import Enterprise, EnterpriseQuality, Quality, Subdepartment
from toegang.organisations.services import quality_activate, subdepartment_create

Cell = tuple[str, str]  # (action, target)

# --- The universe: actions, the level of their target, and the targets --------------------------

ZON, ANDER, SD2 = "zon", "ander", "zon_sd2"  # SD2: world.zon.sd2, the other subdepartment of zon's quality

ENTERPRISE_ROLES = ("legal_representative", "main_access_manager", "co_main_access_manager")
QUALITY_ROLES = ("access_manager", "co_access_manager")
SUBDEPARTMENT_ROLES = ("subdepartment_manager", "co_subdepartment_manager", "user")

ACTION_LEVEL: dict[str, str] = {
    **{f"appoint:{r}": "enterprise" for r in ENTERPRISE_ROLES},
    **{f"appoint:{r}": "quality" for r in QUALITY_ROLES},
    **{f"appoint:{r}": "subdepartment" for r in SUBDEPARTMENT_ROLES},
    **{f"end:{r}": "enterprise" for r in ENTERPRISE_ROLES},
    **{f"end:{r}": "quality" for r in QUALITY_ROLES},
    **{f"end:{r}": "subdepartment" for r in SUBDEPARTMENT_ROLES},
    "quality_activate": "enterprise",
    "subdepartment_create": "quality",
    "subdepartment_applications": "subdepartment",
    "view:enterprise": "enterprise",
    "view:quality": "quality",
    "view:subdepartment": "subdepartment",
    "audit:e": "enterprise",
    "audit:q": "quality",
    "audit:s": "subdepartment",
}
TARGETS: dict[str, tuple[str, ...]] = {
    "enterprise": (ZON, ANDER),
    "quality": (ZON, ANDER),
    "subdepartment": (ZON, ANDER, SD2),
}
ALL_CELLS: frozenset[Cell] = frozenset((a, t) for a, level in ACTION_LEVEL.items() for t in TARGETS[level])

PERSONAS = ("operator", "lr", "htb", "cohtb", "tb", "cotb", "sb", "cosb", "user", "nobody", "ander_htb")


def cells(targets: Iterable[str], *actions: str) -> set[Cell]:
    return {(a, t) for a in actions for t in targets}


# --- The expected table ---------------------------------------------------------------------------
# Ranks: HTB > co-HTB > TB > co-TB > SB > co-SB > user. Appointing or ending a role needs a strictly
# higher role covering the scope; the HTB only by a legal representative or an operator; legal
# representatives only by operators; a legal representative may also appoint co-HTBs. Activating a
# quality needs co-HTB+; creating a subdepartment or switching its applications co-TB+; viewing the
# enterprise co-HTB+, a quality co-TB+, a subdepartment and an audit trail co-SB+ covering it.

OWN = (ZON,)
BOTH_SUBDEPARTMENTS = (ZON, SD2)  # the whole quality of zon: its TB covers sd and sd2

HTB_IN_ENTERPRISE = (
    "appoint:co_main_access_manager",
    "end:co_main_access_manager",
    "quality_activate",
    "view:enterprise",
    "audit:e",
)
COHTB_IN_ENTERPRISE = ("quality_activate", "view:enterprise", "audit:e")
COHTB_IN_QUALITY = (
    "appoint:access_manager",
    "end:access_manager",
    "appoint:co_access_manager",
    "end:co_access_manager",
    "subdepartment_create",
    "view:quality",
    "audit:q",
)
TB_IN_QUALITY = (
    "appoint:co_access_manager",
    "end:co_access_manager",
    "subdepartment_create",
    "view:quality",
    "audit:q",
)
COTB_IN_QUALITY = ("subdepartment_create", "view:quality", "audit:q")
COTB_IN_SUBDEPARTMENT = (
    "appoint:subdepartment_manager",
    "end:subdepartment_manager",
    "appoint:co_subdepartment_manager",
    "end:co_subdepartment_manager",
    "appoint:user",
    "end:user",
    "subdepartment_applications",
    "view:subdepartment",
    "audit:s",
)
SB_IN_SUBDEPARTMENT = (
    "appoint:co_subdepartment_manager",
    "end:co_subdepartment_manager",
    "appoint:user",
    "end:user",
    "view:subdepartment",
    "audit:s",
)
COSB_IN_SUBDEPARTMENT = ("appoint:user", "end:user", "view:subdepartment", "audit:s")

EXPECTED: dict[str, set[Cell]] = {
    "operator": set(ALL_CELLS),
    "lr": cells(
        OWN,
        "appoint:main_access_manager",
        "end:main_access_manager",  # allowed by authz; the service then refuses: replace, not remove
        "appoint:co_main_access_manager",
        "end:co_main_access_manager",
    ),
    "htb": cells(OWN, *HTB_IN_ENTERPRISE, *COHTB_IN_QUALITY) | cells(BOTH_SUBDEPARTMENTS, *COTB_IN_SUBDEPARTMENT),
    "cohtb": cells(OWN, *COHTB_IN_ENTERPRISE, *COHTB_IN_QUALITY) | cells(BOTH_SUBDEPARTMENTS, *COTB_IN_SUBDEPARTMENT),
    "tb": cells(OWN, *TB_IN_QUALITY) | cells(BOTH_SUBDEPARTMENTS, *COTB_IN_SUBDEPARTMENT),
    "cotb": cells(OWN, *COTB_IN_QUALITY) | cells(BOTH_SUBDEPARTMENTS, *COTB_IN_SUBDEPARTMENT),
    "sb": cells(OWN, *SB_IN_SUBDEPARTMENT),  # not SD2: another SB's subdepartment
    "cosb": cells(OWN, *COSB_IN_SUBDEPARTMENT),
    "user": set(),
    "nobody": set(),
    # Another enterprise's HTB: everything an HTB may, but only in its own enterprise (ANDER).
    "ander_htb": cells((ANDER,), *HTB_IN_ENTERPRISE, *COHTB_IN_QUALITY, *COTB_IN_SUBDEPARTMENT),
}

MATRIX = [
    pytest.param(persona, action, target, id=f"{persona}-{action}-{target}")
    for persona in PERSONAS
    for action, target in sorted(ALL_CELLS)
]


def test_expected_table_is_well_formed() -> None:
    assert set(EXPECTED) == set(PERSONAS)
    for persona, allowed in EXPECTED.items():
        assert allowed <= ALL_CELLS, (persona, allowed - ALL_CELLS)
    # Spot checks that keep the table honest against the rules it was written from.
    assert ("appoint:main_access_manager", ZON) not in EXPECTED["htb"]
    assert ("appoint:legal_representative", ZON) not in EXPECTED["lr"]
    assert ("end:access_manager", ZON) not in EXPECTED["tb"]
    assert ("view:subdepartment", SD2) not in EXPECTED["sb"]
    assert not any(t in (ZON, SD2) for _a, t in EXPECTED["ander_htb"])
    assert not any(t == ANDER for p in PERSONAS if p not in ("operator", "ander_htb") for _a, t in EXPECTED[p])
    assert len(ALL_CELLS) == 59


# --- Helpers --------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


_ssin_serial = itertools.count(1)


def new_ssin() -> str:
    return ssin_make(1991, 6, 15, next(_ssin_serial) % 998 + 1)


def persona(world: World, name: str) -> User:
    if name == "operator":
        return world.operator
    if name == "ander_htb":
        return world.ander.people["htb"]
    return world.zon.people[name]


def scope_for(world: World, target: str, level: str) -> Enterprise | EnterpriseQuality | Subdepartment:
    tenant = world.ander if target == ANDER else world.zon
    if level == "enterprise":
        return tenant.enterprise
    if level == "quality":
        return tenant.eq
    return tenant.sd2 if target == SD2 else tenant.sd


def counts() -> dict[str, int]:
    return {
        "roles": RoleAssignment.objects.count(),
        "active_roles": RoleAssignment.objects.active().count(),
        "users": User.objects.count(),
        "qualities": EnterpriseQuality.objects.count(),
        "subdepartments": Subdepartment.objects.count(),
        "links": SubdepartmentApplication.objects.count(),
        "active_links": SubdepartmentApplication.objects.active().count(),
        "audit": AuditEvent.objects.count(),
    }


@contextmanager
def audit_spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[AuditEvent, int]]]:
    """Record each audit event written, with the depth of atomic blocks open when it was written."""
    written: list[tuple[AuditEvent, int]] = []
    original = AuditEvent.save

    def save(self: AuditEvent, *args: Any, **kwargs: Any) -> None:
        written.append((self, len(connection.atomic_blocks)))
        original(self, *args, **kwargs)

    monkeypatch.setattr(AuditEvent, "save", save)
    yield written
    monkeypatch.setattr(AuditEvent, "save", original)


def assert_audited_in_service_transaction(
    written: list[tuple[AuditEvent, int]], depth: int, actor: User, action: str, obj_pk: int
) -> None:
    """The change is audited, by this actor, inside an atomic block the service opened."""
    assert written, "no audit event was written"
    assert all(d > depth for _e, d in written), "audit event written outside the service's transaction"
    assert all(e.actor_id == actor.pk for e, _d in written)
    assert any(e.action == action and e.object_id == str(obj_pk) for e, _d in written), [
        (e.action, e.object_id) for e, _d in written
    ]
    assert AuditEvent.objects.filter(pk__in=[e.pk for e, _d in written]).count() == len(written)


def get_status(client: Client, actor: User, name: str, *args: object) -> int:
    login(client, actor)
    with translation.override("nl"):
        url = reverse(name, args=args)
    return client.get(url).status_code


# --- The matrix -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("who", "action", "target"), MATRIX)
def test_permission_matrix(
    world: World, client: Client, monkeypatch: pytest.MonkeyPatch, who: str, action: str, target: str
) -> None:
    actor = persona(world, who)
    allowed = (action, target) in EXPECTED[who]
    level = ACTION_LEVEL[action]
    obj = scope_for(world, target, level)
    kind, _sep, arg = action.partition(":")

    if kind == "appoint":
        _check_appoint(actor, Role(arg), obj, allowed, monkeypatch)
    elif kind == "end":
        _check_end(world, actor, Role(arg), obj, allowed, monkeypatch)
    elif kind == "quality_activate":
        assert isinstance(obj, Enterprise)
        _check_quality_activate(actor, obj, allowed, monkeypatch)
    elif kind == "subdepartment_create":
        assert isinstance(obj, EnterpriseQuality)
        _check_subdepartment_create(actor, obj, allowed, monkeypatch)
    elif kind == "subdepartment_applications":
        assert isinstance(obj, Subdepartment)
        _check_applications(world, actor, obj, allowed, monkeypatch)
    elif kind == "view":
        view_action = {
            "enterprise": authz.Action.ENTERPRISE_VIEW,
            "quality": authz.Action.QUALITY_VIEW,
            "subdepartment": authz.Action.SUBDEPARTMENT_VIEW,
        }[arg]
        assert authz.may(actor, view_action, obj) is allowed
        status = get_status(client, actor, f"portal:{arg}", obj.pk)
        assert status == 200 if allowed else status in (403, 404), status
    elif kind == "audit":
        assert authz.may(actor, authz.Action.AUDIT_VIEW, obj) is allowed
        if allowed:
            events = selectors.audit_events_for_actor(actor, obj)
            assert events.exists()  # every scope in the world was created through audited services
        else:
            with pytest.raises(PermissionDenied):
                selectors.audit_events_for_actor(actor, obj)
        status = get_status(client, actor, "portal:audit", arg, obj.pk)
        assert status == 200 if allowed else status in (403, 404), status
    else:  # pragma: no cover
        raise AssertionError(action)


def _check_appoint(
    actor: User,
    role: Role,
    scope: Enterprise | EnterpriseQuality | Subdepartment,
    allowed: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert authz.may_appoint(actor, role, scope) is allowed
    ssin = new_ssin()
    before = counts()
    depth = len(connection.atomic_blocks)
    with audit_spy(monkeypatch) as written:
        if not allowed:
            with pytest.raises(PermissionDenied):
                role_appoint(actor=actor, role=role, scope=scope, ssin=ssin, first_name="Nieuw", last_name="Persoon")
            assert counts() == before
            assert not written
            assert not User.objects.filter(ssin=ssin).exists()
            return
        a = role_appoint(
            actor=actor,
            role=role,
            scope=scope,
            ssin=ssin,
            first_name="Nieuw",
            last_name="Persoon",
            email="nieuw@example.test",
        )
    a.refresh_from_db()
    assert a.is_active() and a.role == role and a.person.ssin == ssin and a.granted_by_id == actor.pk
    assert authz.scope_of(a) == authz.scope_of(scope)
    assert_audited_in_service_transaction(written, depth, actor, "role.appoint", a.pk)
    after = counts()
    assert after["roles"] == before["roles"] + 1
    assert after["users"] == before["users"] + 1
    if role == Role.MAIN_ACCESS_MANAGER:  # replaces: still exactly one active HTB
        assert after["active_roles"] == before["active_roles"]
        assert (
            RoleAssignment.objects.active()
            .filter(role=Role.MAIN_ACCESS_MANAGER, enterprise_id=authz.scope_of(scope).enterprise_id)
            .count()
            == 1
        )
    else:
        assert after["active_roles"] == before["active_roles"] + 1


def _check_end(
    world: World,
    actor: User,
    role: Role,
    scope: Enterprise | EnterpriseQuality | Subdepartment,
    allowed: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if role == Role.MAIN_ACCESS_MANAGER:
        assert isinstance(scope, Enterprise)
        assignment = RoleAssignment.objects.active().get(role=role, enterprise=scope)
    else:  # a fresh holder of the role in the target scope, appointed by the operator
        assignment = role_appoint(
            actor=world.operator, role=role, scope=scope, ssin=new_ssin(), first_name="Te", last_name="Beëindigen"
        )
        assignment = RoleAssignment.objects.get(pk=assignment.pk)
    assert authz.may_end(actor, assignment) is allowed
    before = counts()
    depth = len(connection.atomic_blocks)
    with audit_spy(monkeypatch) as written:
        if not allowed:
            with pytest.raises(PermissionDenied):
                role_end(actor=actor, assignment=assignment, reason="matrix")
        elif role == Role.MAIN_ACCESS_MANAGER:
            # Allowed to manage the HTB, but the HTB is replaced, never removed.
            with pytest.raises(ValidationError):
                role_end(actor=actor, assignment=assignment, reason="matrix")
        else:
            role_end(actor=actor, assignment=assignment, reason="matrix")
    assignment.refresh_from_db()
    if not allowed or role == Role.MAIN_ACCESS_MANAGER:
        assert assignment.is_active() and assignment.ended_by_id is None
        assert counts() == before
        assert not written
        return
    assert not assignment.is_active()
    assert assignment.ended_by_id == actor.pk and assignment.end_reason == "matrix"
    assert_audited_in_service_transaction(written, depth, actor, "role.end", assignment.pk)
    after = counts()
    assert after["roles"] == before["roles"]  # never deleted
    assert after["active_roles"] == before["active_roles"] - 1


def _check_quality_activate(
    actor: User, enterprise: Enterprise, allowed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert authz.may(actor, authz.Action.QUALITY_ACTIVATE, enterprise) is allowed
    employer = Quality.objects.get(code="employer")
    before = counts()
    depth = len(connection.atomic_blocks)
    with audit_spy(monkeypatch) as written:
        if not allowed:
            with pytest.raises(PermissionDenied):
                quality_activate(actor=actor, enterprise=enterprise, quality=employer)
            assert counts() == before
            assert not written
            return
        eq = quality_activate(actor=actor, enterprise=enterprise, quality=employer)
    assert eq.enterprise_id == enterprise.pk and eq.quality_id == employer.pk and eq.granted_by_id == actor.pk
    assert_audited_in_service_transaction(written, depth, actor, "quality.activate", eq.pk)
    assert counts()["qualities"] == before["qualities"] + 1


def _check_subdepartment_create(
    actor: User, eq: EnterpriseQuality, allowed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert authz.may(actor, authz.Action.SUBDEPARTMENT_CREATE, eq) is allowed
    code = f"500001{97 - 500001 % 97:02d}"
    before = counts()
    depth = len(connection.atomic_blocks)
    with audit_spy(monkeypatch) as written:
        if not allowed:
            with pytest.raises(PermissionDenied):
                subdepartment_create(
                    actor=actor, enterprise_quality=eq, name="Nieuwe afdeling", identification_code=code
                )
            assert counts() == before
            assert not written
            return
        sd = subdepartment_create(actor=actor, enterprise_quality=eq, name="Nieuwe afdeling", identification_code=code)
    assert sd.enterprise_quality_id == eq.pk and sd.enterprise_id == eq.enterprise_id and sd.granted_by_id == actor.pk
    assert_audited_in_service_transaction(written, depth, actor, "subdepartment.create", sd.pk)
    assert counts()["subdepartments"] == before["subdepartments"] + 1


def _check_applications(
    world: World, actor: User, sd: Subdepartment, allowed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert authz.may(actor, authz.Action.SUBDEPARTMENT_APPLICATIONS, sd) is allowed
    current = subdepartment_applications(sd)
    wanted = list(world.apps)  # every offered application: at least one is switched on
    assert set(current) < set(wanted)
    old_links = set(SubdepartmentApplication.objects.values_list("pk", flat=True))
    before = counts()
    depth = len(connection.atomic_blocks)
    with audit_spy(monkeypatch) as written:
        if not allowed:
            with pytest.raises(PermissionDenied):
                subdepartment_applications_set(actor=actor, subdepartment=sd, applications=wanted)
            assert counts() == before
            assert subdepartment_applications(sd) == current
            assert not written
            return
        subdepartment_applications_set(actor=actor, subdepartment=sd, applications=wanted)
    assert subdepartment_applications(sd) == sorted(wanted, key=lambda a: a.code)
    added = SubdepartmentApplication.objects.exclude(pk__in=old_links)
    assert all(link.subdepartment_id == sd.pk and link.granted_by_id == actor.pk for link in added)
    assert added.count() == len(wanted) - len(current)
    for link in added:
        assert_audited_in_service_transaction(written, depth, actor, "application.switch_on", link.pk)
