"""Reads scoped to the actor: an id from a request becomes an object only through these.

An object outside what the actor may see is a 404 (its existence is not revealed); an object the
actor may see but not act on is a 403, raised by the caller through ``authz.require``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from toegang.accounts.models import User
from toegang.applications.models import SecuredApplication
from toegang.applications.selectors import person_applications_by_subdepartment
from toegang.audit.models import AuditEvent
from toegang.delegation import authz
from toegang.delegation.models import SUBDEPARTMENT_ROLES, Role, RoleAssignment, Status, UserImport
from toegang.history import ended_q
from toegang.organisations.models import Enterprise, EnterpriseQuality, Subdepartment


def enterprise_for_actor(actor: User, pk: int) -> Enterprise:
    obj = authz.enterprises_visible(actor).filter(pk=pk).first()
    if obj is None:
        raise Http404
    return obj


def enterprise_quality_for_actor(actor: User, pk: int) -> EnterpriseQuality:
    obj = authz.enterprise_qualities_visible(actor).filter(pk=pk).first()
    if obj is None:
        raise Http404
    return obj


def subdepartment_for_actor(actor: User, pk: int) -> Subdepartment:
    obj = authz.subdepartments_visible(actor).filter(pk=pk).first()
    if obj is None:
        raise Http404
    return obj


def role_assignment_for_actor(actor: User, pk: int) -> RoleAssignment:
    """An assignment is reachable only by whoever may end it."""
    obj = (
        RoleAssignment.objects.select_related("person", "enterprise", "enterprise_quality", "subdepartment")
        .filter(pk=pk)
        .first()
    )
    if obj is None or not authz.may_end(actor, obj):
        raise Http404
    return obj


def assignments_in(
    scope: Enterprise | EnterpriseQuality | Subdepartment, roles: tuple[str, ...]
) -> list[RoleAssignment]:
    """Active holders of ``roles`` exactly at ``scope`` (not below it)."""
    qs = RoleAssignment.objects.active().filter(role__in=roles).select_related("person").order_by("person__last_name")
    if isinstance(scope, Enterprise):
        qs = qs.filter(enterprise=scope, enterprise_quality__isnull=True)
    elif isinstance(scope, EnterpriseQuality):
        qs = qs.filter(enterprise_quality=scope, subdepartment__isnull=True)
    else:
        qs = qs.filter(subdepartment=scope)
    return list(qs)


def audit_events_for_actor(actor: User, scope: Enterprise | EnterpriseQuality | Subdepartment) -> QuerySet[AuditEvent]:
    authz.require(authz.may(actor, authz.Action.AUDIT_VIEW, scope))
    qs = AuditEvent.objects.select_related("actor")
    if isinstance(scope, Enterprise):
        return qs.filter(enterprise=scope)
    if isinstance(scope, EnterpriseQuality):
        return qs.filter(enterprise_quality=scope)
    return qs.filter(subdepartment=scope)


def person_audit_events_for_actor(actor: User, subdepartment: Subdepartment, person: User) -> QuerySet[AuditEvent]:
    """A person's history in one subdepartment: what was given, changed, blocked and ended for them."""
    return audit_events_for_actor(actor, subdepartment).filter(person=person)


@dataclass(frozen=True)
class RoleLink:
    label: str
    url: str


def role_audiences(actor: User) -> list[tuple[RoleAssignment, set[str]]]:
    """Each of the actor's roles with the audiences ("In welke hoedanigheid …") it belongs to.

    A role in a quality or below belongs to that quality's audience; a role over the whole
    enterprise to the audiences of every quality the enterprise activated, and to none in particular
    (so to every audience) while it has none: it then never makes anyone choose.
    """
    roles = authz.actor_roles(actor)
    eqs = (
        EnterpriseQuality.objects.active()
        .filter(
            Q(pk__in={r.enterprise_quality_id for r in roles}) | Q(enterprise_id__in={r.enterprise_id for r in roles}),
        )
        .values_list("pk", "enterprise_id", "quality__audience__code")
    )
    by_eq = {pk: code for pk, _e, code in eqs}
    by_enterprise: dict[int, set[str]] = {}
    for _pk, enterprise_id, code in eqs:
        by_enterprise.setdefault(enterprise_id, set()).add(code)
    return [
        (
            r,
            {by_eq[r.enterprise_quality_id]}
            if r.enterprise_quality_id in by_eq
            else set(by_enterprise.get(r.enterprise_id, set())),
        )
        for r in roles
    ]


def audiences_for_actor(actor: User) -> dict[str, set[int]]:
    """Audience code -> the enterprises where the actor holds a role in that audience.

    More than one key means the person chooses a capacity after login.
    """
    pairs = role_audiences(actor)
    codes: set[str] = set().union(*(c for _r, c in pairs)) if pairs else set()
    return {code: {r.enterprise_id for r, c in pairs if not c or code in c} for code in codes}


def role_links(actor: User, enterprise: Enterprise, audience: str | None = None) -> list[RoleLink]:
    """The links of the entity choice: one per role the actor holds in ``enterprise``.

    With ``audience``, only the roles of that audience.
    """
    roles = [
        r
        for r, codes in role_audiences(actor)
        if r.enterprise_id == enterprise.pk and (audience is None or not codes or audience in codes)
    ]
    eq_ids = {r.enterprise_quality_id for r in roles if r.enterprise_quality_id}
    sd_ids = {r.subdepartment_id for r in roles if r.subdepartment_id}
    eqs = {eq.pk: eq for eq in EnterpriseQuality.objects.filter(pk__in=eq_ids).select_related("quality")}
    sds = {sd.pk: sd for sd in Subdepartment.objects.filter(pk__in=sd_ids)}
    links: list[RoleLink] = []
    seen: set[str] = set()

    def add(label: str, url: str) -> None:
        if url not in seen:
            seen.add(url)
            links.append(RoleLink(label, url))

    for r in sorted(roles, key=lambda r: -authz.RANK.get(r.role, 9)):
        if r.role == Role.LEGAL_REPRESENTATIVE:
            add(_("Legal representative"), reverse("portal:legal", args=[enterprise.pk]))
        elif r.role == Role.MAIN_ACCESS_MANAGER:
            add(_("Main access manager"), reverse("portal:enterprise", args=[enterprise.pk]))
        elif r.role == Role.CO_MAIN_ACCESS_MANAGER:
            add(_("Co-main access manager"), reverse("portal:enterprise", args=[enterprise.pk]))
        elif r.role in (Role.ACCESS_MANAGER, Role.CO_ACCESS_MANAGER) and r.enterprise_quality_id in eqs:
            eq = eqs[r.enterprise_quality_id]
            add(_("Quality: %(name)s") % {"name": eq.quality.name}, reverse("portal:quality", args=[eq.pk]))
        elif r.role in (Role.SUBDEPARTMENT_MANAGER, Role.CO_SUBDEPARTMENT_MANAGER) and r.subdepartment_id in sds:
            sd = sds[r.subdepartment_id]
            add(_("Subdepartment: %(name)s") % {"name": sd.name}, reverse("portal:subdepartment", args=[sd.pk]))
    if authz.may_operate(actor):
        add(_("Platform operator"), reverse("portal:enterprise", args=[enterprise.pk]))
    return links


def membership_for_actor(actor: User, subdepartment: Subdepartment, pk: int) -> RoleAssignment:
    """A row of the subdepartment's users list (SB, co-SB or USE), only for those who may see it."""
    authz.require(authz.may(actor, authz.Action.SUBDEPARTMENT_VIEW, subdepartment))
    obj = (
        RoleAssignment.objects.active()
        .filter(pk=pk, subdepartment=subdepartment, role__in=SUBDEPARTMENT_ROLES)
        .select_related("person", "subdepartment", "enterprise", "enterprise_quality")
        .first()
    )
    if obj is None:
        raise Http404
    return obj


def membership_or_ended_for_actor(actor: User, subdepartment: Subdepartment, pk: int) -> RoleAssignment:
    """A row of the subdepartment's users list, current or ended (the ended user's page), for those who may see it.

    A row whose membership ended keeps its URL: its page says when, by whom and why it ended.
    """
    authz.require(authz.may(actor, authz.Action.SUBDEPARTMENT_VIEW, subdepartment))
    obj = (
        RoleAssignment.objects.filter(pk=pk, subdepartment=subdepartment, role__in=SUBDEPARTMENT_ROLES)
        .select_related("person", "subdepartment", "enterprise", "enterprise_quality", "ended_by", "granted_by")
        .first()
    )
    if obj is None:
        raise Http404
    return obj


def current_membership(subdepartment: Subdepartment, person: User) -> RoleAssignment | None:
    """The person's active row in the subdepartment's users list (after their ended one, say), if any."""
    return (
        RoleAssignment.objects.active()
        .filter(subdepartment=subdepartment, person=person, role__in=SUBDEPARTMENT_ROLES)
        .order_by("-valid_from")
        .first()
    )


def subdepartment_rows_chosen(actor: User, subdepartment: Subdepartment, ids: list[int]) -> list[RoleAssignment] | None:
    """The rows ticked for a bulk action, in the order given (ended ones too); None if any id is not a
    row of this subdepartment's list (another subdepartment's, another enterprise's, unknown): the
    caller refuses the whole selection without saying which, so nothing outside the scope is revealed."""
    authz.require(authz.may(actor, authz.Action.SUBDEPARTMENT_VIEW, subdepartment))
    found = {
        a.pk: a
        for a in RoleAssignment.objects.filter(
            pk__in=ids, subdepartment=subdepartment, role__in=SUBDEPARTMENT_ROLES
        ).select_related("person", "subdepartment", "enterprise", "enterprise_quality")
    }
    if any(pk not in found for pk in ids):
        return None
    return [found[pk] for pk in dict.fromkeys(ids)]


def subdepartment_members(actor: User, subdepartment: Subdepartment) -> QuerySet[RoleAssignment]:
    """The rows of the subdepartment's users list: its active SB, co-SB and USE.

    Nothing about the person's roles elsewhere is read: the list shows this membership only. The
    list filters, sorts and shows the person's fields copied onto the row (``PERSON_COPIES``), so a
    page is one statement that reads no person: joined in the page's query, PostgreSQL may join the
    subdepartment's every person (20,000) before the LIMIT whenever the order is not that of an
    index, and did at full scale (docs/performance.md). Callers that need more of the person
    (the export) join it themselves.
    """
    authz.require(authz.may(actor, authz.Action.SUBDEPARTMENT_VIEW, subdepartment))
    return RoleAssignment.objects.active().filter(subdepartment=subdepartment, role__in=SUBDEPARTMENT_ROLES)


def subdepartment_ended_members(actor: User, subdepartment: Subdepartment) -> QuerySet[RoleAssignment]:
    """The rows of the list's status "Ended": the people whose membership here has ended.

    One row per person, their membership that ended last (a person ended twice is listed once),
    and only while they hold no membership here that has not ended (current, or planned to start):
    someone given access again is back among the current rows. What the list filters, sorts and
    shows are the row's copies, as for the current rows.
    """
    authz.require(authz.may(actor, authz.Action.SUBDEPARTMENT_VIEW, subdepartment))
    now = timezone.now()
    here = RoleAssignment.objects.filter(
        subdepartment=subdepartment, role__in=SUBDEPARTMENT_ROLES, person=OuterRef("person")
    )
    not_ended = here.exclude(ended_q(at=now))
    ended_later = here.filter(valid_until__lte=now).filter(
        Q(valid_until__gt=OuterRef("valid_until")) | Q(valid_until=OuterRef("valid_until"), pk__gt=OuterRef("pk"))
    )
    return (
        RoleAssignment.objects.ended(at=now)
        .filter(subdepartment=subdepartment, role__in=SUBDEPARTMENT_ROLES)
        .exclude(Exists(not_ended))
        .exclude(Exists(ended_later))
    )


def membership_counts(subdepartment: Subdepartment) -> dict[str, int]:
    """Active members of the subdepartment per role (SB, co-SB, user): one grouped query."""
    rows = (
        RoleAssignment.objects.active()
        .filter(subdepartment=subdepartment)
        .values_list("role")
        .annotate(n=Count("id"))
        .values_list("role", "n")
    )
    return dict(rows)


def managers_to_ask(person: User, application: SecuredApplication | None) -> list[authz.Granter]:
    """Whom the person may ask for ``application``: in each subdepartment where they are a member,
    the managers who may give it (``authz.granters``: the subdepartment's own first), not themselves."""
    memberships = (
        RoleAssignment.objects.active()
        .filter(person=person, role__in=SUBDEPARTMENT_ROLES, status=Status.ACTIVE)
        .select_related("subdepartment__quality")
    )
    subdepartments = {m.subdepartment_id: m.subdepartment for m in memberships if m.subdepartment is not None}
    granters = authz.granters(application, subdepartments.values())
    return [g for g in granters if g.assignment.person_id != person.pk]


def person_to_add(actor: User, subdepartment: Subdepartment, ssin: str) -> tuple[User | None, RoleAssignment | None]:
    """For "Een gebruiker aanmaken": the person with this INSZ if known, and their active user row here.

    Only for those who may add users here; what the page shows of a person known elsewhere is their
    identity, never their other memberships.
    """
    authz.require(authz.may_appoint(actor, Role.USER, subdepartment))
    person = User.objects.filter(ssin=ssin).first()
    if person is None:
        return None, None
    member = RoleAssignment.objects.active().filter(person=person, role=Role.USER, subdepartment=subdepartment).first()
    return person, member


def user_import_for_actor(actor: User, subdepartment: Subdepartment, pk: int) -> UserImport:
    """An import of ``subdepartment`` (already scoped to the actor by its own selector); 404 otherwise."""
    obj = (
        UserImport.objects.filter(
            pk=pk, subdepartment=subdepartment, subdepartment__in=authz.subdepartments_visible(actor)
        )
        .defer("text")
        .first()
    )
    if obj is None:
        raise Http404
    return obj


# --- The user's own Home: where they work, what they may use, whom to ask -----------------------

# The managers a user is shown for a facility, nearest first: its own, then its quality's.
_FACILITY_MANAGER_ROLES = (
    Role.SUBDEPARTMENT_MANAGER,
    Role.CO_SUBDEPARTMENT_MANAGER,
    Role.ACCESS_MANAGER,
    Role.CO_ACCESS_MANAGER,
)


@dataclass(frozen=True)
class FacilityManager:
    name: str
    role: str  # the role's label in the active language
    email: str  # the address given for this appointment; "" when it has none


@dataclass(frozen=True)
class OwnFacility:
    subdepartment: Subdepartment
    blocked: bool
    applications: list[SecuredApplication]
    managers: list[FacilityManager]


def own_facilities(actor: User) -> list[OwnFacility]:
    """The facilities where the actor is a user, with what they may use there and who manages them.

    Only the actor's own memberships that this login may use (``authz.actor_roles``), in facilities
    still active; the applications are the actor's own grants there; the managers are the facility's
    SB and co-SB and its quality's TB and co-TB (not the actor), with the contact address of their
    appointment. Four queries, whatever the number of facilities.
    """
    memberships = {
        r.subdepartment_id: r for r in authz.actor_roles(actor) if r.role == Role.USER and r.subdepartment_id
    }
    if not memberships:
        return []
    subdepartments = list(
        Subdepartment.objects.active()
        .filter(pk__in=memberships.keys())
        .select_related("enterprise", "quality")
        .order_by("enterprise__name", "name", "pk")
    )
    applications = person_applications_by_subdepartment(actor, {sd.pk for sd in subdepartments})
    rows = (
        RoleAssignment.objects.active()
        .filter(role__in=_FACILITY_MANAGER_ROLES, status=Status.ACTIVE, person__is_active=True)
        .filter(
            Q(subdepartment_id__in=[sd.pk for sd in subdepartments])
            | Q(
                enterprise_quality_id__in={sd.enterprise_quality_id for sd in subdepartments},
                subdepartment__isnull=True,
            )
        )
        .exclude(person=actor)
        .select_related("person")
    )
    by_subdepartment: dict[int, list[RoleAssignment]] = {}
    by_quality: dict[int, list[RoleAssignment]] = {}
    for r in rows:
        if r.subdepartment_id:
            by_subdepartment.setdefault(r.subdepartment_id, []).append(r)
        elif r.enterprise_quality_id:
            by_quality.setdefault(r.enterprise_quality_id, []).append(r)

    def managers(sd: Subdepartment) -> list[FacilityManager]:
        found = by_subdepartment.get(sd.pk, []) + by_quality.get(sd.enterprise_quality_id, [])
        found.sort(key=lambda r: (_FACILITY_MANAGER_ROLES.index(Role(r.role)), r.person.last_name, r.person.first_name))
        seen: set[int] = set()
        result: list[FacilityManager] = []
        for r in found:
            if r.person_id in seen:  # named once, at the nearest of their roles
                continue
            seen.add(r.person_id)
            name = f"{r.person.first_name} {r.person.last_name}".strip() or r.person.username
            result.append(FacilityManager(name=name, role=r.get_role_display(), email=r.contact_email))
        return result

    return [
        OwnFacility(
            subdepartment=sd,
            blocked=memberships[sd.pk].status == Status.BLOCKED,
            applications=[] if memberships[sd.pk].status == Status.BLOCKED else applications.get(sd.pk, []),
            managers=managers(sd),
        )
        for sd in subdepartments
    ]


def managed_enterprises(actor: User) -> QuerySet[Enterprise]:
    """The entity choice of Home: the enterprises where the actor holds a role other than user."""
    ids = {r.enterprise_id for r in authz.actor_roles(actor) if r.role != Role.USER}
    return authz.enterprises_visible(actor).filter(pk__in=ids)
