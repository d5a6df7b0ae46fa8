"""Reads about one subdepartment, for the screens of its managers.

The subdepartment itself always comes from ``delegation.selectors.subdepartment_for_actor`` (404
outside the actor's scope); these functions only read below an object that was already scoped, and
the certificate functions check the certificate right themselves (403).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count
from django.http import Http404

from toegang.accounts.models import User
from toegang.applications.models import ApplicationGrant, SecuredApplication, SubdepartmentApplication
from toegang.delegation import authz
from toegang.delegation.models import RoleAssignment
from toegang.organisations.models import Certificate, Subdepartment


@dataclass(frozen=True)
class ApplicationUse:
    application: SecuredApplication
    since: datetime
    users: int


def application_use(subdepartment: Subdepartment) -> list[ApplicationUse]:
    """The applications switched on for the subdepartment, since when, and how many people hold each (2 queries)."""
    links = (
        SubdepartmentApplication.objects.active()
        .filter(subdepartment=subdepartment)
        .select_related("application")
        .order_by("application__code")
    )
    counts = dict(
        ApplicationGrant.objects.active()
        .filter(subdepartment=subdepartment)
        .values_list("application_id")
        .annotate(n=Count("person_id", distinct=True))
        .values_list("application_id", "n")
    )
    return [ApplicationUse(link.application, link.valid_from, counts.get(link.application_id, 0)) for link in links]


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


def certificates_for_actor(actor: User, subdepartment: Subdepartment) -> list[Certificate]:
    """Every certificate of the subdepartment, active ones first (revoked ones stay: history)."""
    authz.require(authz.may(actor, authz.Action.SUBDEPARTMENT_CERTIFICATES, subdepartment))
    qs = Certificate.objects.filter(subdepartment=subdepartment).select_related("granted_by", "ended_by")
    return sorted(qs, key=lambda c: (not c.is_active(), -c.valid_from.timestamp(), -c.pk))


def certificate_for_actor(actor: User, subdepartment: Subdepartment, pk: int) -> Certificate:
    """One certificate of an already scoped subdepartment; another subdepartment's id is a 404."""
    authz.require(authz.may(actor, authz.Action.SUBDEPARTMENT_CERTIFICATES, subdepartment))
    obj = Certificate.objects.filter(subdepartment=subdepartment, pk=pk).select_related("subdepartment").first()
    if obj is None:
        raise Http404
    return obj
