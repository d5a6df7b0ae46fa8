"""Switching secured applications on and off for a subdepartment."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from toegang.accounts.models import User
from toegang.applications.models import ApplicationGrant, SecuredApplication, SubdepartmentApplication
from toegang.audit.actions import Action, Reason
from toegang.audit.services import audit_columns, audit_record
from toegang.delegation import authz
from toegang.locks import lock_subdepartment
from toegang.organisations.models import Subdepartment


def subdepartment_applications_set(
    *, actor: User, subdepartment: Subdepartment, applications: Iterable[SecuredApplication], reason: str = ""
) -> list[SecuredApplication]:
    """Make the switched-on applications exactly ``applications``; only those the quality offers.

    Switching on adds a link; switching off ends it (``Ended.end``), each change audited.
    """
    authz.require(authz.may(actor, authz.Action.SUBDEPARTMENT_APPLICATIONS, subdepartment))
    wanted = {a.pk: a for a in applications}
    offered = set(subdepartment.quality.applications.filter(is_active=True).values_list("pk", flat=True))
    not_offered = [a for pk, a in wanted.items() if pk not in offered]
    if not_offered:
        raise ValidationError(
            {
                "applications": _("The quality does not offer: %(names)s.")
                % {"names": ", ".join(a.name for a in not_offered)}
            }
        )
    with transaction.atomic():
        # The domain's lock order (toegang/locks.py): the subdepartment, then its links, then the grants.
        # A double-clicked switch form waits here and then finds the first click's links: "now" is
        # read after the wait, or the first click's links would not be active yet at it.
        lock_subdepartment(subdepartment.pk)
        now = timezone.now()
        # A link whose planned end has passed is off already; closing it frees its place for a new one.
        SubdepartmentApplication.objects.filter(subdepartment=subdepartment).close_expired(now)
        current = {
            link.application_id: link
            for link in SubdepartmentApplication.objects.select_for_update(of=("self",))
            .active(now)
            .filter(subdepartment=subdepartment)
            .select_related("application")
        }
        for pk, link in current.items():
            if pk not in wanted:
                link.end(actor=actor, reason=reason or Reason.SWITCHED_OFF, now=now)
                # Switching an application off ends the grants that depend on it, each audited.
                for grant in (
                    ApplicationGrant.objects.active(now)
                    .filter(subdepartment=subdepartment, application_id=pk)
                    .select_related("person", "application")
                ):
                    _grant_end(grant, actor=actor, reason=Reason.APPLICATION_SWITCHED_OFF, now=now)
                audit_record(
                    actor=actor,
                    action=Action.APPLICATION_SWITCH_OFF,
                    obj=link,
                    params={"application": link.application.code},
                    enterprise=subdepartment.enterprise,
                    enterprise_quality=subdepartment.enterprise_quality,
                    subdepartment=subdepartment,
                    before={"application": link.application.code, "on": True},
                    after={"application": link.application.code, "on": False},
                    reason=reason,
                )
        for pk, app in wanted.items():
            if pk not in current:
                link = SubdepartmentApplication.objects.create(
                    subdepartment=subdepartment, application=app, granted_by=actor
                )
                audit_record(
                    actor=actor,
                    action=Action.APPLICATION_SWITCH_ON,
                    obj=link,
                    params={"application": app.code},
                    enterprise=subdepartment.enterprise,
                    enterprise_quality=subdepartment.enterprise_quality,
                    subdepartment=subdepartment,
                    before={"application": app.code, "on": False},
                    after={"application": app.code, "on": True},
                    reason=reason,
                )
    return sorted(wanted.values(), key=lambda a: a.code)


def _grant_audit_fields(grant: ApplicationGrant, *, action: Action) -> dict[str, Any]:
    snapshot = {"person": grant.person_id, "application": grant.application.code, "active": grant.is_active()}
    return {
        "obj": grant,
        "person": grant.person,
        "params": {"application": grant.application.code},
        "enterprise": grant.subdepartment.enterprise,
        "enterprise_quality": grant.subdepartment.enterprise_quality,
        "subdepartment": grant.subdepartment,
        "before": {**snapshot, "active": action != Action.GRANT_ADD},
        "after": snapshot,
    }


def grant_audit_columns(grant: ApplicationGrant, *, actor: User, action: Action) -> dict[str, Any]:
    """The audit event of a grant added, as columns (the CSV import writes them in batches)."""
    return audit_columns(actor=actor, action=action, **_grant_audit_fields(grant, action=action))


def _grant_audit(grant: ApplicationGrant, *, actor: User, action: Action, reason: str = "") -> None:
    audit_record(actor=actor, action=action, reason=reason, **_grant_audit_fields(grant, action=action))


def switched_on_ids(subdepartment: Subdepartment) -> set[int]:
    return set(
        SubdepartmentApplication.objects.active()
        .filter(subdepartment=subdepartment)
        .values_list("application_id", flat=True)
    )


def not_switched_on_error(names: Iterable[str]) -> str:
    return _("Not switched on for this subdepartment: %(names)s.") % {"names": ", ".join(names)}


def _grant_end(grant: ApplicationGrant, *, actor: User, reason: str, now: datetime | None = None) -> None:
    grant.end(actor=actor, reason=reason, now=now)
    _grant_audit(grant, actor=actor, action=Action.GRANT_END, reason=reason)


def person_grants_set(
    *,
    actor: User,
    person: User,
    subdepartment: Subdepartment,
    applications: Iterable[SecuredApplication],
    reason: str = "",
) -> tuple[list[SecuredApplication], list[SecuredApplication]]:
    """Make ``person``'s applications in ``subdepartment`` exactly ``applications``.

    Only applications switched on for the subdepartment may be granted. The caller (the membership
    services) has checked that the actor may manage this person's membership here and runs this in
    its transaction. Returns (added, removed).
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("person_grants_set runs inside the membership service's transaction")
    wanted = {a.pk: a for a in applications}
    switched_on = switched_on_ids(subdepartment)
    refused = [a for pk, a in wanted.items() if pk not in switched_on]
    if refused:
        raise ValidationError({"applications": not_switched_on_error(a.name for a in refused)})
    now = timezone.now()
    # A grant whose planned end has passed is ended already; closing it lets the box be ticked again.
    ApplicationGrant.objects.filter(person=person, subdepartment=subdepartment).close_expired(now)
    current = {
        g.application_id: g
        for g in ApplicationGrant.objects.select_for_update(of=("self",))
        .active(now)
        .filter(person=person, subdepartment=subdepartment)
        .select_related("person", "application", "subdepartment__enterprise", "subdepartment__enterprise_quality")
    }
    removed: list[SecuredApplication] = []
    added: list[SecuredApplication] = []
    for pk, grant in current.items():
        if pk not in wanted:
            _grant_end(grant, actor=actor, reason=reason or Reason.UNTICKED)
            removed.append(grant.application)
    for pk, app in wanted.items():
        if pk not in current:
            grant = ApplicationGrant.objects.create(
                person=person, subdepartment=subdepartment, application=app, granted_by=actor
            )
            _grant_audit(grant, actor=actor, action=Action.GRANT_ADD, reason=reason)
            added.append(app)
    return added, removed


def person_grants_end_all(
    *, actor: User, person: User, subdepartment: Subdepartment, reason: str
) -> list[SecuredApplication]:
    """End every grant of ``person`` in ``subdepartment`` (inside the membership service's transaction)."""
    ended = []
    for grant in (
        ApplicationGrant.objects.select_for_update(of=("self",))
        .active()
        .filter(person=person, subdepartment=subdepartment)
        .select_related("person", "application", "subdepartment__enterprise", "subdepartment__enterprise_quality")
    ):
        _grant_end(grant, actor=actor, reason=reason)
        ended.append(grant.application)
    return ended
