"""List filters of the portal (django-filter): declared filters, no hand parsing of GET parameters.

A filter only narrows the queryset it is given; the scope (which subdepartment, which actor) is
decided before, by the selectors. An invalid value in one field (a malformed INSZ, an unknown sort
key, an application of another subdepartment) is reported on the form and that field is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Exists, F, Func, OuterRef, Q, QuerySet
from django.db.models.expressions import OrderBy
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from toegang.applications.models import ApplicationGrant, SecuredApplication
from toegang.applications.selectors import switched_on_applications
from toegang.audit.actions import Action
from toegang.audit.models import AuditEvent
from toegang.delegation.models import TYPE_CODE, RoleAssignment, Status
from toegang.folding import fold
from toegang.organisations.models import Subdepartment

_SSIN_SEPARATORS = re.compile(r"[\s.\-/]")


class SsinPrefixField(forms.CharField):
    """An INSZ or its first digits, in any formatting (85.07.30-033.28, 850730 033 28, 85.07)."""

    def clean(self, value: Any) -> str:
        value = super().clean(value)
        if not value:
            return ""
        digits = _SSIN_SEPARATORS.sub("", value)
        if not digits.isdigit() or len(digits) > 11:
            raise ValidationError(
                _("Enter an INSZ or its first digits, for example 85.07.30-033.28 or 85.07."), code="ssin_prefix"
            )
        return digits


class SsinPrefixFilter(django_filters.CharFilter):
    field_class = SsinPrefixField


# Column parameter -> the model fields it sorts on. Ties are broken by name and id, so that paging
# through a sorted list never shows a row twice or skips one. The person's columns are read from
# their copies on the membership row (delegation.models.PERSON_COPIES): sorting or filtering on the
# person through the join made PostgreSQL join all of a facility's 20,000 persons for one page.
SORT_FIELDS: dict[str, str] = {
    "last_name": "person_last_name",
    "first_name": "person_first_name",
    "username": "person_username",
    # The role values sort as their codes do: co_subdepartment_manager (CSB) < subdepartment_manager
    # (SB) < user (USE).
    "type": "role",
    "ssin": "person_ssin",
    "status": "status",
}
# The order of the index role_subdep_name_active: the default page is a walk of it.
DEFAULT_ORDER = ("person_last_name", "person_first_name", "pk")


class _SameValue(Func):
    """The column's value as an expression (``col || ''``: the same value, order and NULLs), which no
    index of the column serves."""

    template = "(%(expressions)s || '')"


# The criteria that match words of names: with one of them the rows found are read through the
# trigram indexes (PostgreSQL) and sorted, not found by walking the order's index.
TEXT_CRITERIA = ("q", "last_name", "first_name", "username")


def _order_by_values(qs: QuerySet[Any]) -> QuerySet[Any]:
    """``qs`` in the same order, sorted after the rows are found instead of read in index order.

    For a search: walking the name index until 50 matches turn up reads half the subdepartment
    when the matches share a letter ("Lefèvre": 10,000 of 20,000 rows, 9-12 ms), where reading the
    matches through the trigram indexes and sorting them takes 1-2 ms (docs/performance.md). The
    planner cannot know that the matches cluster in the index order, so the order is given as
    expressions that no index serves.
    """
    ordering = []
    for name in qs.query.order_by:
        if not isinstance(name, str) or name.lstrip("-") in ("pk", "id"):
            ordering.append(name)
            continue
        expression = _SameValue(F(name.lstrip("-")))
        ordering.append(OrderBy(expression, descending=name.startswith("-")))
    return qs.order_by(*ordering)


class StableOrderingFilter(django_filters.OrderingFilter):
    def filter(self, qs: QuerySet[Any], value: Any) -> QuerySet[Any]:
        ordering = [self.get_ordering_value(p) for p in value or () if p]
        return qs.order_by(*ordering, *(f for f in DEFAULT_ORDER if f not in ordering))


TYPE_ROLES: dict[str, str] = {code: role for role, code in TYPE_CODE.items()}

# The status filter's third value: the memberships of this subdepartment that have ended (the list
# then reads them, selectors.subdepartment_ended_members, instead of the current ones).
ENDED = "ended"
# The status filter's fourth value: current memberships whose planned end (last day) falls within
# ENDING_DAYS days from today (today included): the accesses to extend or let go.
ENDING = "ending"
ENDING_DAYS = 30
STATUS_CHOICES = [*Status.choices, (ENDED, _("Ended")), (ENDING, _("Ends within 30 days"))]
# At most this many words of a search count; each must match (a name of five parts is rare).
SEARCH_WORDS = 5


def search_q(value: str) -> Q:
    """The list's quick search: an INSZ (or its first digits) in any formatting, or words.

    Each word, folded as the stored copies are (``toegang.folding``), must be part of the last name,
    the first name or the username: "zoe lefevre" finds "Lefèvre Zoë", "EVRE" finds her too.
    """
    digits = _SSIN_SEPARATORS.sub("", value)
    if digits.isdigit():
        return Q(person_ssin__startswith=digits[:11])
    condition = Q()
    for word in value.split()[:SEARCH_WORDS]:
        folded = fold(word)
        condition &= (
            Q(person_last_name_folded__contains=folded)
            | Q(person_first_name_folded__contains=folded)
            | Q(person_username__icontains=folded)
        )
    return condition


class SubdepartmentUserFilter(django_filters.FilterSet):
    """The manual's "De lijst van de gebruikers tonen op basis van de volgende criteria"."""

    q = django_filters.CharFilter(
        label=_("Search"),
        method="filter_q",
        max_length=200,
        widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off", "spellcheck": "false"}),
    )
    # Naam and Voornaam compare folded, as the search does: "lefevre" finds "Lefèvre".
    last_name = django_filters.CharFilter(
        field_name="person_last_name_folded", label=_("Last name"), method="filter_folded", max_length=150
    )
    first_name = django_filters.CharFilter(
        field_name="person_first_name_folded", label=_("First name"), method="filter_folded", max_length=150
    )
    username = django_filters.CharFilter(field_name="person_username", lookup_expr="icontains", label=_("Username"))
    type = django_filters.ChoiceFilter(
        label=_("Type"),
        choices=[(code, code) for code in TYPE_ROLES],
        method="filter_type",
        empty_label=_("(all)"),
    )
    ssin = SsinPrefixFilter(label=_("INSZ"), method="filter_ssin")
    status = django_filters.ChoiceFilter(
        label=_("Status"), choices=STATUS_CHOICES, method="filter_status", empty_label=_("(all)")
    )
    application = django_filters.ChoiceFilter(
        label=_("Secured applications"), choices=[], method="filter_application", empty_label=_("(all)")
    )
    sort = StableOrderingFilter(fields=[(field, param) for param, field in SORT_FIELDS.items()])

    class Meta:
        model = RoleAssignment
        fields: list[str] = []

    def __init__(
        self,
        *args: Any,
        subdepartment: Subdepartment,
        applications: Sequence[SecuredApplication] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.subdepartment = subdepartment
        # Only the applications switched on here: an application id of elsewhere is an invalid choice.
        # The caller passes them when it shows them elsewhere too (the list's bulk actions): one query.
        if applications is None:
            applications = list(switched_on_applications(subdepartment))
        self.filters["application"].extra["choices"] = [(str(a.pk), a.name) for a in applications]

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        qs: QuerySet[Any] = super().filter_queryset(queryset)
        if any(self.form.cleaned_data.get(name) for name in TEXT_CRITERIA):
            qs = _order_by_values(qs)
        return qs

    @property
    def sort_value(self) -> str:
        """The sort parameter if it is a whitelisted one, else empty (the default order applies)."""
        if not self.is_bound or "sort" in self.form.errors:
            return ""
        value = self.form.cleaned_data.get("sort") or []
        return str(value[0]) if value else ""

    def filter_q(self, qs: QuerySet[RoleAssignment], name: str, value: str) -> QuerySet[RoleAssignment]:
        return qs.filter(search_q(value))

    def filter_folded(self, qs: QuerySet[RoleAssignment], name: str, value: str) -> QuerySet[RoleAssignment]:
        return qs.filter(**{f"{name}__contains": fold(value.strip())})

    def filter_status(self, qs: QuerySet[RoleAssignment], name: str, value: str) -> QuerySet[RoleAssignment]:
        # "Ended" chose the queryset itself (the view asks the selector of ended memberships).
        if value == ENDED:
            return qs
        if value == ENDING:
            # Ends by midnight after the 30th day: last day today + 30 at the latest (Brussels time).
            limit = _midnight(timezone.localdate() + timedelta(days=ENDING_DAYS + 1))
            return qs.filter(valid_until__lte=limit)
        return qs.filter(status=value)

    def filter_type(self, qs: QuerySet[RoleAssignment], name: str, value: str) -> QuerySet[RoleAssignment]:
        return qs.filter(role=TYPE_ROLES[value])

    def filter_ssin(self, qs: QuerySet[RoleAssignment], name: str, value: str) -> QuerySet[RoleAssignment]:
        # Within the subdepartment's rows (read through its index), not through the person's index.
        if len(value) == 11:
            return qs.filter(person_ssin=value)
        return qs.filter(person_ssin__startswith=value)

    def filter_application(self, qs: QuerySet[RoleAssignment], name: str, value: str) -> QuerySet[RoleAssignment]:
        # ``value`` is one of the choices: the id of an application switched on here.
        held_here = ApplicationGrant.objects.active().filter(
            person=OuterRef("person"),
            subdepartment=self.subdepartment,
            application_id=int(value),
        )
        return qs.filter(Exists(held_here))


def _person_words(prefix: str, value: str) -> Q:
    """A person named by INSZ (or its first digits) or by words of their name or username."""
    digits = _SSIN_SEPARATORS.sub("", value)
    if digits.isdigit():
        return Q(**{f"{prefix}__ssin__startswith": digits[:11]})
    condition = Q()
    for word in value.split()[:5]:
        condition &= (
            Q(**{f"{prefix}__first_name__icontains": word})
            | Q(**{f"{prefix}__last_name__icontains": word})
            | Q(**{f"{prefix}__username__iexact": word})
        )
    return condition


class AuditEventFilter(django_filters.FilterSet):
    """The trail's criteria: who acted, whom it concerned, which action, in which period."""

    who = django_filters.CharFilter(label=_("Who (name or INSZ)"), method="filter_who")
    whom = django_filters.CharFilter(label=_("Concerning (name or INSZ)"), method="filter_whom")
    action = django_filters.ChoiceFilter(
        field_name="action", label=_("Action"), choices=Action.choices, empty_label=_("(all)")
    )
    since = django_filters.DateFilter(
        label=_("From"), method="filter_since", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = django_filters.DateFilter(
        label=_("To (inclusive)"), method="filter_until", widget=forms.DateInput(attrs={"type": "date"})
    )

    class Meta:
        model = AuditEvent
        fields: list[str] = []

    def filter_who(self, qs: QuerySet[AuditEvent], name: str, value: str) -> QuerySet[AuditEvent]:
        return qs.filter(_person_words("actor", value))

    def filter_whom(self, qs: QuerySet[AuditEvent], name: str, value: str) -> QuerySet[AuditEvent]:
        return qs.filter(_person_words("person", value))

    # Days are the reader's days: bounds at local midnight, compared on the indexed column itself
    # (not its date in SQL, which no index serves).
    def filter_since(self, qs: QuerySet[AuditEvent], name: str, value: date) -> QuerySet[AuditEvent]:
        return qs.filter(at__gte=_midnight(value))

    def filter_until(self, qs: QuerySet[AuditEvent], name: str, value: date) -> QuerySet[AuditEvent]:
        return qs.filter(at__lt=_midnight(value + timedelta(days=1)))


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))
