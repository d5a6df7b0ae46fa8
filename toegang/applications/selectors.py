"""Reads of the applications switched on for a subdepartment and of the grants people hold there.

The subdepartment (and the person) always come from a selector scoped to the actor
(``delegation.selectors``); these functions only read below an object that was already scoped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, QuerySet

from toegang.accounts.models import User
from toegang.applications.models import ApplicationGrant, SecuredApplication, SubdepartmentApplication
from toegang.history import active_q
from toegang.organisations.models import Quality, Subdepartment


def switched_on_applications(subdepartment: Subdepartment) -> QuerySet[SecuredApplication]:
    return SecuredApplication.objects.filter(
        active_q("subdepartment_links__"),
        subdepartment_links__subdepartment=subdepartment,
    ).order_by("code")


def offered_applications(quality: Quality) -> QuerySet[SecuredApplication]:
    """The applications the quality offers now: what a form may offer to switch on."""
    return quality.applications.filter(is_active=True)


def all_applications() -> QuerySet[SecuredApplication]:
    """Every application of the catalogue: a posted form is bound to these, so that one the quality
    does not offer reaches the service, which refuses it by name."""
    return SecuredApplication.objects.all()


def subdepartment_applications(subdepartment: Subdepartment) -> list[SecuredApplication]:
    return list(switched_on_applications(subdepartment))


def person_applications(person: User, subdepartment: Subdepartment) -> list[SecuredApplication]:
    return list(
        SecuredApplication.objects.filter(
            active_q("grants__"), grants__person=person, grants__subdepartment=subdepartment
        ).order_by("code")
    )


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


def application_codes_by_person(subdepartment: Subdepartment, person_ids: set[int]) -> dict[int, list[str]]:
    """The codes of the applications each of these persons holds in the subdepartment now (one query)."""
    codes: dict[int, list[str]] = {}
    for person_id, code in (
        ApplicationGrant.objects.active()
        .filter(subdepartment=subdepartment, person_id__in=person_ids)
        .order_by("application__code")
        .values_list("person_id", "application__code")
    ):
        codes.setdefault(person_id, []).append(code)
    return codes


def person_applications_by_subdepartment(
    person: User, subdepartment_ids: set[int]
) -> dict[int, list[SecuredApplication]]:
    """The applications ``person`` may use now in each of these subdepartments, by code (one query).

    An application the operator switched off in the catalogue (``is_active`` false) is left out.
    The subdepartments come from the person's own memberships (``delegation.selectors.own_facilities``).
    """
    found: dict[int, list[SecuredApplication]] = {}
    for grant in (
        ApplicationGrant.objects.active()
        .filter(person=person, subdepartment_id__in=subdepartment_ids, application__is_active=True)
        .select_related("application")
        .order_by("application__code")
    ):
        found.setdefault(grant.subdepartment_id, []).append(grant.application)
    return found
