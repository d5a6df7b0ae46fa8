"""The one authorization decision of toegang.

Everything that asks "may ACTOR do ACTION on OBJECT" or "which objects may ACTOR see" asks this
module: views, services, the admin, management commands and (later) the API and the OIDC claims.
No view or template has a rule of its own.

The model (docs/architecture.md, "Permission rules"):
- A scope is an enterprise, an activated quality (enterprise quality) or a subdepartment; a role held
  in a scope covers that scope and everything below it.
- Managers are ranked HTB > co-HTB > TB > co-TB > SB > co-SB > user. An actor may appoint or end a
  role only if one of the actor's roles covers the target scope with a strictly higher rank: so
  nobody changes a manager at their own level or above, and a co-role never touches its principal.
- The main access manager (HTB) is appointed, replaced or removed only by a legal representative of
  the enterprise or by a platform operator. Legal representatives are registered by operators only.
- Platform operators (staff accounts) may do everything; they act through the same services.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import DateTimeField, Exists, F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Least
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from toegang.accounts.models import PASSWORD, Activation, User
from toegang.applications.models import ApplicationGrant, SecuredApplication, SubdepartmentApplication
from toegang.delegation.models import (
    ENTERPRISE_ROLES,
    QUALITY_ROLES,
    SUBDEPARTMENT_ROLES,
    Role,
    RoleAssignment,
    Status,
)
from toegang.history import active_q
from toegang.organisations.models import Enterprise, EnterpriseQuality, Subdepartment


class Action(StrEnum):
    ENTERPRISE_VIEW = "enterprise_view"
    QUALITY_ACTIVATE = "quality_activate"
    QUALITY_VIEW = "quality_view"
    SUBDEPARTMENT_CREATE = "subdepartment_create"
    SUBDEPARTMENT_VIEW = "subdepartment_view"
    SUBDEPARTMENT_APPLICATIONS = "subdepartment_applications"
    AUDIT_VIEW = "audit_view"
    # Upload, replace and revoke the X.509 certificates a subdepartment's systems call the API with.
    SUBDEPARTMENT_CERTIFICATES = "subdepartment_certificates"
    # The quality's ceiling of its users' access (``EnterpriseQuality.max_access_days``): its TB and up.
    QUALITY_LIMITS = "quality_limits"


RANK: dict[str, int] = {
    Role.MAIN_ACCESS_MANAGER: 6,
    Role.CO_MAIN_ACCESS_MANAGER: 5,
    Role.ACCESS_MANAGER: 4,
    Role.CO_ACCESS_MANAGER: 3,
    Role.SUBDEPARTMENT_MANAGER: 2,
    Role.CO_SUBDEPARTMENT_MANAGER: 1,
    Role.USER: 0,
}

# The lowest manager rank, held in a scope covering the target, that allows each action.
ACTION_MIN_RANK: dict[Action, int] = {
    Action.ENTERPRISE_VIEW: RANK[Role.CO_MAIN_ACCESS_MANAGER],
    Action.QUALITY_ACTIVATE: RANK[Role.CO_MAIN_ACCESS_MANAGER],
    Action.QUALITY_VIEW: RANK[Role.CO_ACCESS_MANAGER],
    Action.QUALITY_LIMITS: RANK[Role.ACCESS_MANAGER],
    Action.SUBDEPARTMENT_CREATE: RANK[Role.CO_ACCESS_MANAGER],
    Action.SUBDEPARTMENT_APPLICATIONS: RANK[Role.CO_ACCESS_MANAGER],
    Action.SUBDEPARTMENT_VIEW: RANK[Role.CO_SUBDEPARTMENT_MANAGER],
    Action.AUDIT_VIEW: RANK[Role.CO_SUBDEPARTMENT_MANAGER],
    Action.SUBDEPARTMENT_CERTIFICATES: RANK[Role.CO_SUBDEPARTMENT_MANAGER],
}

# The level at which each role is held.
ROLE_LEVEL: dict[str, str] = {
    **dict.fromkeys(ENTERPRISE_ROLES, "enterprise"),
    **dict.fromkeys(QUALITY_ROLES, "quality"),
    Role.SUBDEPARTMENT_MANAGER: "subdepartment",
    Role.CO_SUBDEPARTMENT_MANAGER: "subdepartment",
    Role.USER: "subdepartment",
}


@dataclass(frozen=True)
class Scope:
    enterprise_id: int
    enterprise_quality_id: int | None = None
    subdepartment_id: int | None = None

    @property
    def level(self) -> str:
        if self.subdepartment_id is not None:
            return "subdepartment"
        if self.enterprise_quality_id is not None:
            return "quality"
        return "enterprise"

    def covers(self, other: Scope) -> bool:
        """True if this scope is ``other`` or contains it."""
        return (
            self.enterprise_id == other.enterprise_id
            and (self.enterprise_quality_id is None or self.enterprise_quality_id == other.enterprise_quality_id)
            and (self.subdepartment_id is None or self.subdepartment_id == other.subdepartment_id)
        )


Target = Enterprise | EnterpriseQuality | Subdepartment | RoleAssignment | Scope


def scope_of(target: Target) -> Scope:
    if isinstance(target, Scope):
        return target
    if isinstance(target, Enterprise):
        return Scope(target.pk)
    if isinstance(target, EnterpriseQuality):
        return Scope(target.enterprise_id, target.pk)
    if isinstance(target, Subdepartment):
        return Scope(target.enterprise_id, target.enterprise_quality_id, target.pk)
    return Scope(target.enterprise_id, target.enterprise_quality_id, target.subdepartment_id)


_roles_cache: ContextVar[dict[int, list[RoleAssignment]] | None] = ContextVar("toegang_roles_cache", default=None)


@contextmanager
def roles_cached() -> Iterator[None]:
    """Within this block each actor's roles are read once: for pages that ask authz once per row.

    Only for reads; services always read the roles afresh.
    """
    token = _roles_cache.set({})
    try:
        yield
    finally:
        _roles_cache.reset(token)


def role_usable(actor: User, assignment: RoleAssignment) -> bool:
    """May this login of ``actor`` use ``assignment``? The identity model (docs/security.md).

    A role lands on a person known by INSZ; whoever holds the account's login channels is not
    necessarily that person. So a role counts only when the session proved the INSZ (eID, itsme:
    ``ssin_proven``, set on the user by the session middleware), or the person activated the account
    themselves with a proven identity, or the person confirmed this very assignment through its
    activation link (sent to the address its own manager entered).
    """
    return bool(assignment.confirmed_at is not None or actor.activation == Activation.PERSON or actor.ssin_proven)


def usable_subdepartment_ids(person: User, *, ssin_proven: bool) -> set[int] | None:
    """The subdepartments whose accesses a login of ``person`` may use (``role_usable``); None: all.

    For the ``access`` claim, whose token endpoint knows the login only by its level.
    """
    if ssin_proven or person.activation == Activation.PERSON:
        return None
    return set(
        RoleAssignment.objects.active()
        .filter(person=person, subdepartment__isnull=False, confirmed_at__isnull=False)
        .values_list("subdepartment_id", flat=True)
    )


def roles_waiting(actor: User) -> int:
    """How many of the actor's active assignments this login may not use yet (``role_usable``)."""
    if not actor.is_authenticated or not actor.is_active:
        return 0
    total = RoleAssignment.objects.active().filter(person=actor).count()
    return total - len(actor_roles(actor))


def actor_roles(actor: User) -> list[RoleAssignment]:
    """The actor's active role assignments that this login may use (``role_usable``).

    One indexed query, or none inside ``roles_cached``.
    """
    if not actor.is_authenticated or not actor.is_active:
        return []
    cache = _roles_cache.get()
    if cache is not None and actor.pk in cache:
        return cache[actor.pk]
    roles = [r for r in RoleAssignment.objects.active().filter(person=actor) if role_usable(actor, r)]
    if cache is not None:
        cache[actor.pk] = roles
    return roles


def _rank_over(actor: User, scope: Scope) -> int:
    """The highest manager rank the actor holds in a scope covering ``scope``; -1 if none."""
    ranks = [RANK[r.role] for r in actor_roles(actor) if r.role in RANK and scope_of(r).covers(scope)]
    return max(ranks, default=-1)


def is_legal_representative(actor: User, enterprise_id: int) -> bool:
    return any(r.role == Role.LEGAL_REPRESENTATIVE and r.enterprise_id == enterprise_id for r in actor_roles(actor))


def may_operate(actor: User | AnonymousUser | None) -> bool:
    """The operator area: registering enterprises and legal representatives, the catalogues."""
    return isinstance(actor, User) and actor.is_operator


def may_register_enterprise(actor: User) -> bool:
    return may_operate(actor)


def highest_role(actor: User, target: Target) -> RoleAssignment | None:
    """The actor's highest-ranked manager (or user) role whose scope covers ``target``; None if none."""
    scope = scope_of(target)
    covering = [r for r in actor_roles(actor) if r.role in RANK and scope_of(r).covers(scope)]
    return max(covering, key=lambda r: RANK[r.role], default=None)


def required_level(user: User) -> int:
    """The assurance level a person needs for the management screens: the strictest of their roles'.

    ``TOEGANG_MIN_LEVEL`` configures it per role (settings.ASSURANCE_MIN_LEVEL); a person without a
    role needs a password login.
    """
    levels = settings.ASSURANCE_MIN_LEVEL
    needed = [int(levels.get(r.role, levels["default"])) for r in actor_roles(user)]
    if user.is_operator:
        needed.append(int(levels["operator"]))
    return max(needed, default=PASSWORD)


def may_set_temporary_password(actor: User, person: User) -> bool:
    """An operator, or a manager who may end every role the person holds, and never for oneself.

    So nobody takes over an account that has rights outside the actor's reach, nor a manager's at
    the actor's own level or above; an operator's account is only an operator's to reset.
    """
    if not actor.is_active or actor.pk == person.pk:
        return False
    if actor.is_operator:
        return True
    if person.is_staff:
        return False
    roles = list(RoleAssignment.objects.active().filter(person=person))
    return bool(roles) and all(may_end(actor, r) for r in roles)


def may(actor: User, action: Action, target: Target) -> bool:
    if not actor.is_authenticated or not actor.is_active:
        return False
    if actor.is_operator:
        return True
    minimum = ACTION_MIN_RANK[action]
    # A manager role that only an operator or legal representative may see needs rank >= 1:
    # plain users (rank 0) never reach management screens.
    return _rank_over(actor, scope_of(target)) >= max(minimum, 1)


def may_appoint(actor: User, role: str, target: Target) -> bool:
    """May ``actor`` appoint (or end) ``role`` in the scope of ``target``?"""
    if not actor.is_authenticated or not actor.is_active:
        return False
    scope = scope_of(target)
    if ROLE_LEVEL[role] != scope.level:
        return False
    if actor.is_operator:
        return True
    if role == Role.LEGAL_REPRESENTATIVE:
        return False
    if role == Role.MAIN_ACCESS_MANAGER:
        return is_legal_representative(actor, scope.enterprise_id)
    if role == Role.CO_MAIN_ACCESS_MANAGER and is_legal_representative(actor, scope.enterprise_id):
        return True
    return _rank_over(actor, scope) > RANK[role]


def may_end(actor: User, assignment: RoleAssignment) -> bool:
    return assignment.is_active() and may_appoint(actor, assignment.role, assignment)


def may_manage_main_access_manager(actor: User, enterprise: Enterprise) -> bool:
    return may_appoint(actor, Role.MAIN_ACCESS_MANAGER, enterprise)


def identity_confirmed(person: User) -> bool:
    """Does the person's identity (INSZ, names) now rest on their own proof rather than a manager's typing?

    The account became the person's own at a login that proved the INSZ (eID, itsme, the federal
    login) or by claiming it from such a session (``Activation.PERSON``, docs/security.md, "Identity
    model"); the names are the national register's from then on.
    """
    return person.activation == Activation.PERSON


def creating_assignment(person: User) -> RoleAssignment | None:
    """The role assignment that created the person: their first (adding a user or appointing a
    manager creates the person together with it); None for a person created otherwise (an operator)."""
    return RoleAssignment.objects.filter(person=person).order_by("valid_from", "pk").first()


def may_correct_person(actor: User, person: User) -> bool:
    """May ``actor`` correct the names, title and language of ``person`` typed by a manager?

    Until the person's identity is confirmed (``identity_confirmed``): an operator, or whoever may
    appoint (and end) the role of the assignment that created the person, in its scope: the manager
    who added them while they still manage there, and the managers above that role there (for a
    user added to a subdepartment: its SB and co-SB, its quality's TB and co-TB, the enterprise's HTB
    and co-HTB). Never one's own data (that is the personal-data page), never an operator's account.
    """
    if not actor.is_authenticated or not actor.is_active or actor.pk == person.pk or person.is_staff:
        return False
    if identity_confirmed(person):
        return False
    if actor.is_operator:
        return True
    first = creating_assignment(person)
    return first is not None and may_appoint(actor, first.role, first)


# --- Who may give a person access to an application in a subdepartment. ----------------------------

# Giving access is adding the person as a user with the application ticked (``may_appoint`` of USER:
# any manager role covering the subdepartment). An application not switched on there must first be
# switched on, which needs a quality manager or higher; one the quality does not offer nobody can
# give. Nearest first: the subdepartment's own managers, then its quality's, then the enterprise's.
GRANTER_ROLES: tuple[Role, ...] = (
    Role.SUBDEPARTMENT_MANAGER,
    Role.CO_SUBDEPARTMENT_MANAGER,
    Role.ACCESS_MANAGER,
    Role.CO_ACCESS_MANAGER,
    Role.MAIN_ACCESS_MANAGER,
    Role.CO_MAIN_ACCESS_MANAGER,
)


def _grant_min_rank(application: SecuredApplication | None, subdepartment: Subdepartment) -> int | None:
    """The lowest manager rank that may give ``application`` in ``subdepartment``; None: nobody may."""
    if application is None:
        return RANK[Role.CO_SUBDEPARTMENT_MANAGER]
    if SubdepartmentApplication.objects.active().filter(subdepartment=subdepartment, application=application).exists():
        return RANK[Role.CO_SUBDEPARTMENT_MANAGER]
    if subdepartment.quality.applications.filter(pk=application.pk, is_active=True).exists():
        return ACTION_MIN_RANK[Action.SUBDEPARTMENT_APPLICATIONS]
    return None


def may_grant(actor: User, application: SecuredApplication | None, subdepartment: Subdepartment) -> bool:
    """May ``actor`` give someone ``application`` in ``subdepartment`` (switching it on if needed)?"""
    if not actor.is_authenticated or not actor.is_active:
        return False
    if actor.is_operator:
        return True
    minimum = _grant_min_rank(application, subdepartment)
    return minimum is not None and _rank_over(actor, scope_of(subdepartment)) >= minimum


@dataclass(frozen=True)
class Granter:
    """A manager who may give access to the application in ``subdepartment``."""

    assignment: RoleAssignment
    subdepartment: Subdepartment


def granters(application: SecuredApplication | None, subdepartments: Iterable[Subdepartment]) -> list[Granter]:
    """The active managers who may give ``application`` in each subdepartment, nearest first.

    Per subdepartment its SB and co-SB, then the TB and co-TB of its quality, then the HTB and co-HTB
    of its enterprise (operators are not named: they are not the enterprise's managers). A manager
    covering several of the subdepartments is named once, at the nearest. One query for the roles.
    """
    sds = list(subdepartments)
    if not sds:
        return []
    rows = (
        RoleAssignment.objects.active()
        .filter(role__in=GRANTER_ROLES, status=Status.ACTIVE, person__is_active=True)
        .filter(
            Q(subdepartment_id__in=[sd.pk for sd in sds])
            | Q(enterprise_quality_id__in={sd.enterprise_quality_id for sd in sds}, subdepartment__isnull=True)
            | Q(enterprise_id__in={sd.enterprise_id for sd in sds}, enterprise_quality__isnull=True)
        )
        .select_related("person")
    )
    roles = list(rows)
    found: dict[int, tuple[tuple[int, str, str, int], Granter]] = {}
    for sd in sds:
        minimum = _grant_min_rank(application, sd)
        if minimum is None:
            continue
        target = scope_of(sd)
        for r in roles:
            if RANK[r.role] < minimum or not scope_of(r).covers(target):
                continue
            key = (GRANTER_ROLES.index(Role(r.role)), sd.name, r.person.last_name, r.pk)
            if r.pk not in found or key < found[r.pk][0]:
                found[r.pk] = (key, Granter(r, sd))
    return [granter for _key, granter in sorted(found.values(), key=lambda kv: kv[0])]


DENIED = _("You do not have the rights for this action in this scope.")


def require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied(DENIED)


# --- What may the actor see: every lookup of an id from a request goes through these. ---------


def _role_ids(actor: User) -> tuple[set[int], set[int], set[int]]:
    """Enterprise, enterprise-quality and subdepartment ids where the actor holds a manager role."""
    ent: set[int] = set()
    eq: set[int] = set()
    sd: set[int] = set()
    for r in actor_roles(actor):
        if r.role in (Role.MAIN_ACCESS_MANAGER, Role.CO_MAIN_ACCESS_MANAGER):
            ent.add(r.enterprise_id)
        elif r.role in QUALITY_ROLES and r.enterprise_quality_id:
            eq.add(r.enterprise_quality_id)
        elif r.role in (Role.SUBDEPARTMENT_MANAGER, Role.CO_SUBDEPARTMENT_MANAGER) and r.subdepartment_id:
            sd.add(r.subdepartment_id)
    return ent, eq, sd


def enterprises_visible(actor: User) -> QuerySet[Enterprise]:
    """Every enterprise where the actor holds any role (the entity choice), all for operators."""
    if actor.is_operator:
        return Enterprise.objects.all()
    ids = {r.enterprise_id for r in actor_roles(actor)}
    return Enterprise.objects.filter(pk__in=ids)


def enterprise_qualities_visible(actor: User) -> QuerySet[EnterpriseQuality]:
    qs = EnterpriseQuality.objects.active().select_related("enterprise", "quality")
    if actor.is_operator:
        return qs
    ent, eq, _sd = _role_ids(actor)
    return qs.filter(Q(enterprise_id__in=ent) | Q(pk__in=eq))


def subdepartments_visible(actor: User) -> QuerySet[Subdepartment]:
    qs = Subdepartment.objects.active().select_related("enterprise", "quality", "enterprise_quality")
    if actor.is_operator:
        return qs
    ent, eq, sd = _role_ids(actor)
    return qs.filter(Q(enterprise_id__in=ent) | Q(enterprise_quality_id__in=eq) | Q(pk__in=sd))


# --- What the applications learn: which facilities a person may act for (claims and check API). --


def _active_grants(application_id: int, person: Q, at: datetime | None = None) -> QuerySet[ApplicationGrant]:
    """The active grants of the application that the person(s) in ``person`` may use at ``at`` (now).

    A grant counts while it is active, the person's membership of that subdepartment is active and
    not blocked, the person's account is active, and the subdepartment and its activated quality
    are active. (Switching an application off for a subdepartment already ends its grants.)
    ``person`` selects on the grant's person: by id, or by INSZ through the join on the account that
    the ``is_active`` test needs anyway, so a question by INSZ is still one statement.
    """
    membership = RoleAssignment.objects.active(at).filter(
        person_id=OuterRef("person_id"),
        subdepartment_id=OuterRef("subdepartment_id"),
        role__in=SUBDEPARTMENT_ROLES,
        status=Status.ACTIVE,
    )
    return (
        ApplicationGrant.objects.active(at)
        .filter(
            person,
            active_q("subdepartment__", at),
            active_q("subdepartment__enterprise_quality__", at),
            application_id=application_id,
            person__is_active=True,
        )
        .filter(Exists(membership))
    )


# "No end" inside ``Least``, which is NULL on SQLite as soon as one of its arguments is.
_OPEN_END = datetime(9999, 12, 31, tzinfo=UTC)


def _until(field: str | Subquery) -> Coalesce:
    value = F(field) if isinstance(field, str) else field
    return Coalesce(value, Value(_OPEN_END, output_field=DateTimeField()), output_field=DateTimeField())


def _facilities(grants: QuerySet[ApplicationGrant]) -> QuerySet[ApplicationGrant]:
    # The access ends with the first of the histories it rests on: the grant, the membership (the
    # one that lasts longest, if the person holds several here), the subdepartment and its activated
    # quality. ``access_until`` reads it; the claim and the API publish it.
    membership_until = (
        RoleAssignment.objects.active()
        .filter(
            person_id=OuterRef("person_id"),
            subdepartment_id=OuterRef("subdepartment_id"),
            role__in=SUBDEPARTMENT_ROLES,
            status=Status.ACTIVE,
        )
        .order_by(F("valid_until").desc(nulls_first=True))
        .values("valid_until")[:1]
    )
    return (
        grants.select_related("subdepartment__enterprise", "subdepartment__quality", "application")
        .annotate(
            _access_until=Least(
                _until("valid_until"),
                _until(Subquery(membership_until)),
                _until("subdepartment__valid_until"),
                _until("subdepartment__enterprise_quality__valid_until"),
            )
        )
        .order_by("subdepartment__name", "subdepartment_id")
    )


def access_until(grant: ApplicationGrant) -> datetime | None:
    """When the access through ``grant`` (one of ``facilities_for``'s) ends as planned; None: open-ended."""
    until = getattr(grant, "_access_until", grant.valid_until)
    return None if until is None or until >= _OPEN_END else until


def facilities_for(person_id: int, application_id: int) -> QuerySet[ApplicationGrant]:
    """The grants through which the person may use the application now, one per facility.

    One indexed lookup on (person, application) plus an EXISTS on the membership, and per facility
    found the membership's planned end (``access_until``).
    """
    return _facilities(_active_grants(application_id, Q(person_id=person_id)))


def facilities_for_ssin(ssin: str, application_id: int) -> QuerySet[ApplicationGrant]:
    """``facilities_for`` of the person with this INSZ (11 digits), in one statement; none if unknown."""
    return _facilities(_active_grants(application_id, Q(person__ssin=ssin)))


def may_use(person_id: int, application_id: int, subdepartment_id: int) -> bool:
    """May the person use the application for this facility? The check API's one question."""
    return _active_grants(application_id, Q(person_id=person_id, subdepartment_id=subdepartment_id)).exists()


@dataclass(frozen=True)
class _Statement:
    """An ORM query compiled once, with the positions of its variable parameters.

    Building and compiling ``may_use_ssin``'s query costs more CPU than PostgreSQL spends running it
    (about 0.5 ms a check on the full data set, measured in bench/authz_api.py). The query is still
    written once, above, in the ORM; only its SQL text is kept, per database alias.
    """

    sql: str
    params: tuple[Any, ...]
    slots: tuple[tuple[int, str], ...]

    def run(self, alias: str, **values: object) -> bool:
        # The moment of the question, as the database adapts it (SQLite: text); a caller may fix it.
        values.setdefault("at", connections[alias].ops.adapt_datetimefield_value(timezone.now()))
        params: list[Any] = list(self.params)
        for index, name in self.slots:
            params[index] = values[name]
        with connections[alias].cursor() as cursor:
            cursor.execute(self.sql, params)
            return cursor.fetchone() is not None


_statements: dict[str, _Statement] = {}
# Values nobody asks about, to find where each argument lands among the compiled parameters.
_SENTINELS: dict[object, str] = {"toegang-ssin-sentinel": "ssin", -(2**62) + 1: "application", -(2**62) + 2: "sd"}
# The moment of the check is a parameter too, never the database's now(): the statement's idea of
# "active" is the ORM's (``toegang.history.active_q``), to the microsecond. A moment in the far
# future, so that the compiled condition is the present-or-later one (with ``ended_at IS NULL``,
# which the partial index ``grant_person_app_active`` needs).
_AT_SENTINEL = datetime(9999, 12, 30, 23, 59, 58, 123457, tzinfo=UTC)


def _may_use_ssin_statement(alias: str) -> _Statement:
    statement = _statements.get(alias)
    if statement is None:
        ssin, application, sd = _SENTINELS
        assert isinstance(ssin, str) and isinstance(application, int) and isinstance(sd, int)
        query = _active_grants(application, Q(person__ssin=ssin, subdepartment_id=sd), _AT_SENTINEL)
        sql, params = query.using(alias).query.exists().get_compiler(using=alias).as_sql()
        slots = tuple((i, _SENTINELS[p]) for i, p in enumerate(params) if isinstance(p, str | int) and p in _SENTINELS)
        assert sorted(name for _i, name in slots) == sorted(_SENTINELS.values()), (sql, params)
        # The moment, as the database adapts it (SQLite: text), in the four histories of the question
        # (grant, membership, subdepartment, activated quality), each bounded on both sides.
        at_sentinel = connections[alias].ops.adapt_datetimefield_value(_AT_SENTINEL)
        at_slots = tuple((i, "at") for i, p in enumerate(params) if p == at_sentinel)
        assert len(at_slots) == 8, (sql, params)
        statement = _statements[alias] = _Statement(sql, tuple(params), slots + at_slots)
    return statement


def may_use_ssin(ssin: str, application_id: int, subdepartment_id: int, *, using: str = DEFAULT_DB_ALIAS) -> bool:
    """``may_use`` of the person with this INSZ (11 digits): one statement, False for an unknown INSZ.

    The check API's hot path: the statement is ``_active_grants``'s query compiled once per process.
    """
    return _may_use_ssin_statement(using).run(using, ssin=ssin, application=application_id, sd=subdepartment_id)


def facilities_for_many(ssins: Iterable[str], application_id: int) -> dict[str, set[int]]:
    """For many INSZ at once (the batch check): each person's facility ids for the application.

    One statement whatever the number of people (the unique INSZ index, then each person's
    (person, application) grant index); an INSZ unknown or without access is absent from the answer.
    """
    found: dict[str, set[int]] = {}
    rows = _active_grants(application_id, Q(person__ssin__in=set(ssins))).values_list(
        "person__ssin", "subdepartment_id"
    )
    for ssin, subdepartment_id in rows:
        if ssin is not None:  # never: the filter is on the INSZ
            found.setdefault(ssin, set()).add(subdepartment_id)
    return found
