"""The manual's "Gebruikers" screen of a subdepartment: the filtered list, its bulk actions, its CSV export.

Views are transports. The subdepartment comes from ``selectors.subdepartment_for_actor`` (404 outside
the actor's scope), the rows from ``selectors.subdepartment_members`` (which asks authz for
SUBDEPARTMENT_VIEW), the ids of a bulk POST from ``selectors.subdepartment_rows_chosen`` (a selection
holding an id that is not a row of this list is refused as a whole, with a message), ending a
membership is the service ``membership_end`` and the other bulk actions ``memberships_bulk``.

Scale: a subdepartment may hold 20,000 users. A page is one COUNT and one LIMIT/OFFSET query on the
partial index ``role_subdep_active`` joined to the person; the export streams the rows in chunks with
the applications read per chunk, so neither builds the whole list in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db import transaction
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    QueryDict,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import format_html
from django.utils.http import content_disposition_header
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_POST

from toegang.accounts.models import User
from toegang.applications.models import SecuredApplication
from toegang.applications.selectors import application_codes_by_person, switched_on_applications
from toegang.delegation import authz, csv_import, selectors
from toegang.delegation.models import SUBDEPARTMENT_ROLES, TYPE_CODE, Role, RoleAssignment, Status
from toegang.delegation.services import BulkAction, last_day_of, membership_end, memberships_bulk
from toegang.identifiers import ssin_format
from toegang.organisations.models import Subdepartment
from toegang.portal.common import crumbs, csv_cell, request_actor
from toegang.portal.filters import DEFAULT_ORDER, ENDED, ENDING_DAYS, STATUS_CHOICES, SubdepartmentUserFilter
from toegang.portal.forms import BulkEndDateForm, BulkEndForm, apply_errors

PAGE_SIZE = 50
# The page sizes a manager may choose ("size" in the query string); any other value is the default.
PAGE_SIZES = (25, 50, 100, 200)
# A bulk POST names at most a page of rows; far more than that is not a form of ours.
BULK_MAX = 500
EXPORT_CHUNK = 1000
EXPORT_COLUMNS = [
    "ssin",
    "last_name",
    "first_name",
    "username",
    "type",
    "status",
    "email",
    "language",
    "applications",
    "application_names",
]
# GET parameters of the list that survive a redirect back to it (filters, sort, page).
LIST_PARAMS = (
    "q", "last_name", "first_name", "username", "type", "ssin", "status", "application", "sort", "size", "page",
)  # fmt: skip

COLUMNS = [
    ("last_name", gettext_lazy("Last name")),
    ("first_name", gettext_lazy("First name")),
    ("username", gettext_lazy("Username")),
    ("type", gettext_lazy("Type")),
    ("ssin", gettext_lazy("INSZ")),
    ("status", gettext_lazy("Status")),
]


def _endable_roles(actor: User, sd: Subdepartment) -> frozenset[str]:
    """The roles whose rows in this list the actor may end (and add).

    ``authz.may_end(actor, row)`` for an active row of ``sd`` is ``authz.may_appoint(actor, row.role,
    sd)``, because the row's scope columns are the subdepartment's. Asking once per role keeps the
    page's query count independent of the number of rows (each authz call reads the actor's roles).
    """
    return frozenset(r for r in SUBDEPARTMENT_ROLES if authz.may_appoint(actor, r, sd))


def _wants_ended(params: QueryDict) -> bool:
    return params.get("status") == ENDED


def _filterset(
    request: HttpRequest, actor: User, sd: Subdepartment, applications: list[SecuredApplication] | None = None
) -> SubdepartmentUserFilter:
    if _wants_ended(request.GET):
        members = selectors.subdepartment_ended_members(actor, sd)
    else:
        members = selectors.subdepartment_members(actor, sd)
    return SubdepartmentUserFilter(
        request.GET or None, queryset=members.order_by(*DEFAULT_ORDER), subdepartment=sd, applications=applications
    )


def _page_size(params: QueryDict) -> int:
    """The chosen page size if it is one of PAGE_SIZES, else the default (never an error)."""
    value = params.get("size", "")
    return int(value) if value.isascii() and value.isdigit() and int(value) in PAGE_SIZES else PAGE_SIZE


def _pager(params: QueryDict, page: Page[RoleAssignment]) -> dict[str, Any]:
    """The pager's links, each keeping the filters, the sort and the page size: first, previous,
    the numbers around the current page (with the first and the last), next, last."""

    def url(n: int) -> str:
        return _query(params, page=str(n))

    last = page.paginator.num_pages
    numbers = page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1)
    return {
        "first_url": url(1) if page.number > 1 else "",
        "prev_url": url(page.previous_page_number()) if page.has_previous() else "",
        "next_url": url(page.next_page_number()) if page.has_next() else "",
        "last_url": url(last) if page.number < last else "",
        "page_links": [
            {"number": n, "url": url(n)} if isinstance(n, int) else {"number": None, "url": ""} for n in numbers
        ],
        "sizes": [
            {"size": n, "url": _query(params, size=str(n), page=None), "current": n == page.paginator.per_page}
            for n in PAGE_SIZES
        ],
    }


def _query(params: QueryDict, **changes: str | None) -> str:
    """The list's query string with ``changes`` applied (None removes a key); unknown keys dropped."""
    q = QueryDict(mutable=True)
    for key in LIST_PARAMS:
        values = [v for v in params.getlist(key) if v]
        if values:
            q.setlist(key, values)
    for key, value in changes.items():
        if value is None:
            q.pop(key, None)
        else:
            q[key] = value
    encoded = q.urlencode()
    return f"?{encoded}" if encoded else ""


def _sort_headers(params: QueryDict, current: str) -> list[dict[str, Any]]:
    headers = []
    for key, label in COLUMNS:
        if current == key:
            state, target = "ascending", f"-{key}"
        elif current == f"-{key}":
            state, target = "descending", key
        else:
            state, target = "", key
        headers.append({"key": key, "label": label, "state": state, "url": _query(params, sort=target, page=None)})
    return headers


def _detail_url(sd: Subdepartment, membership: RoleAssignment) -> str:
    return reverse("portal:user_detail", args=[sd.pk, membership.pk])


# One row of the users table. Built in Python with format_html (which escapes every value), not by a
# template loop: fifty rows of ten cells were a third of the page's time (bench/users_list.py).
_ROW_HTML = (
    "<tr><td>{checkbox}</td><td>{last_name}</td><td>{first_name}</td><td>{username}</td>"
    '<td><abbr title="{role}">{type_code}</abbr></td><td>{ssin}</td><td>{status}{ends}</td>'
    '<td><a href="{url}">{view}<span class="sr-only"> {person}</span></a></td></tr>'
)
_ENDS_HTML = ' <span class="ends">{}</span>'
_CHECKBOX_HTML = (
    '<input type="checkbox" name="ids" value="{pk}" id="select-{pk}">'
    '<label for="select-{pk}" class="sr-only">{label}</label>'
)


def _rows(
    sd: Subdepartment, members: Iterable[RoleAssignment], endable: frozenset[str], ended: bool = False
) -> list[SafeString]:
    """The page's rows, ready to print. Their cells come from the person's fields copied onto the
    membership row, the very values the list filters and sorts on: the page reads no person. Choice
    labels, translations and the detail URL's prefix are looked up once per page, not per row. An
    ended row is never selectable: nothing of the bulk actions applies to it."""
    roles = dict(Role.choices)
    statuses = {**dict(Status.choices), ENDED: _("Ended")}
    view = _("View")
    select = _("Select %(name)s")
    # The detail URL of membership 0, cut before its id: reverse() once instead of fifty times.
    detail_prefix = _detail_url_prefix(sd)
    ends = _Ends()
    rows = []
    for m in members:
        person = f"{m.person_last_name} {m.person_first_name}".strip() or m.person_username
        checkbox = (
            format_html(_CHECKBOX_HTML, pk=m.pk, label=select % {"name": person})
            if not ended and m.role in endable
            else ""
        )
        rows.append(
            format_html(
                _ROW_HTML,
                checkbox=checkbox,
                last_name=m.person_last_name,
                first_name=m.person_first_name,
                username=m.person_username,
                role=roles.get(m.role, m.role),
                type_code=m.type_code,
                ssin=ssin_format(m.person_ssin or ""),
                status=statuses[ENDED] if ended else statuses.get(m.status, m.status),
                ends="" if ended else ends(m.valid_until),
                url=f"{detail_prefix}{m.pk}/",
                view=view,
                person=person,
            )
        )
    return rows


class _Ends:
    """The status cell's planned end: "ends in 5 days" within ENDING_DAYS, "ends on 31/12/2026" beyond.

    From the row's own ``valid_until`` (no query); each text made once per page and distinct day.
    """

    def __init__(self) -> None:
        self.today = timezone.localdate()
        self.made: dict[Any, SafeString | str] = {}

    def __call__(self, until: Any) -> SafeString | str:
        if until is None:
            return ""
        day = last_day_of(until)
        if day not in self.made:
            self.made[day] = format_html(_ENDS_HTML, ends_text(day, self.today)) if day is not None else ""
        return self.made[day]


def ends_text(day: Any, today: Any) -> str:
    """A planned end as the list says it: its last day relative to ``today`` (both Brussels dates)."""
    days = (day - today).days
    if days <= 0:
        return _("ends today")
    if days <= ENDING_DAYS:
        return ngettext("ends in %(count)s day", "ends in %(count)s days", days) % {"count": days}
    return _("ends on %(day)s") % {"day": f"{day:%d/%m/%Y}"}


def _detail_url_prefix(sd: Subdepartment) -> str:
    """``/…/s/<sd>/users/`` of the user pages: the detail URL of membership 0 without its ``0/``."""
    url = reverse("portal:user_detail", args=[sd.pk, 0])
    assert url.endswith("/0/"), url  # the URL pattern ends in <int:membership_pk>/
    return url[: -len("0/")]


@login_required
@require_GET
def users_list(request: HttpRequest, pk: int) -> HttpResponse:
    """Gebruikers: "De lijst van de gebruikers tonen op basis van de volgende criteria"."""
    actor = request_actor(request)
    sd = selectors.subdepartment_for_actor(actor, pk)
    applications = list(switched_on_applications(sd))  # the criterion's choices and the bulk actions'
    fs = _filterset(request, actor, sd, applications)
    ended = _wants_ended(request.GET) and "status" not in fs.form.errors
    page: Page[RoleAssignment] = Paginator(fs.qs, _page_size(request.GET)).get_page(request.GET.get("page"))
    endable = _endable_roles(actor, sd)
    rows = _rows(sd, page.object_list, endable, ended=ended)
    return render(
        request,
        "portal/users/list.html",
        {
            "sd": sd,
            "enterprise": sd.enterprise,
            "filter": fs,
            "search": fs.form["q"],
            "fields": [f for f in fs.form if f.name not in ("sort", "q")],
            "ended": ended,
            "default_size": PAGE_SIZE,
            "sort": fs.sort_value,
            "page": page,
            "rows": rows,
            "headers": _sort_headers(request.GET, fs.sort_value),
            **_pager(request.GET, page),
            "back": _query(request.GET),
            "clear_url": _query(request.GET, **dict.fromkeys(set(LIST_PARAMS) - {"sort", "size"})),
            "export_url": reverse("portal:users_export", args=[sd.pk]) + _query(request.GET, page=None),
            "may_delete": bool(endable),
            "bulk_choices": bulk_choices(sd, applications) if endable else [],
            "may_add": Role.USER in endable,
            "crumbs": crumbs(sd.enterprise, sd.enterprise_quality, sd),
        },
    )


def _posted_ids(request: HttpRequest) -> list[int]:
    raw = request.POST.getlist("ids")
    if len(raw) > BULK_MAX or not all(v.isascii() and v.isdigit() and len(v) < 19 for v in raw):
        raise Http404
    return [int(v) for v in raw]


def _names(members: list[RoleAssignment]) -> str:
    return ", ".join(str(m.person) for m in members)


def _bulk_choice(value: str, offered: dict[int, SecuredApplication]) -> tuple[str, SecuredApplication | None] | None:
    """The list's "action on the selected users": ``block``, ``unblock``, ``end_date``, or
    ``grant:<application id>`` / ``revoke:<application id>`` of an application switched on here."""
    action, _sep, app_id = value.partition(":")
    if action in (BulkAction.GRANT, BulkAction.REVOKE):
        application = offered.get(int(app_id)) if app_id.isascii() and app_id.isdigit() and len(app_id) < 10 else None
        return (action, application) if application is not None else None
    if action in (BulkAction.BLOCK, BulkAction.UNBLOCK, BulkAction.END_DATE) and not app_id:
        return action, None
    return None


def bulk_choices(
    sd: Subdepartment, applications: list[SecuredApplication] | None = None
) -> list[tuple[str, list[tuple[str, str]]]]:
    """The options of the list's "action on the selected users" select, grouped as it shows them
    (``applications``: those switched on here, when the caller has read them already)."""
    apps = list(switched_on_applications(sd)) if applications is None else applications
    groups = [
        (str(BulkAction.GRANT.label), [(f"grant:{a.pk}", a.name) for a in apps]),
        (str(BulkAction.REVOKE.label), [(f"revoke:{a.pk}", a.name) for a in apps]),
        (
            _("Status and end"),
            [
                (BulkAction.BLOCK.value, str(BulkAction.BLOCK.label)),
                (BulkAction.UNBLOCK.value, str(BulkAction.UNBLOCK.label)),
                (BulkAction.END_DATE.value, str(BulkAction.END_DATE.label)),
            ],
        ),
    ]
    return [(label, options) for label, options in groups if options]


@login_required
@require_POST
def users_bulk(request: HttpRequest, pk: int) -> HttpResponse:
    """The buttons under the list: Bekijken, Wissen (after confirmation, with a reason) and the action on
    the selected users (give or take away an application, block, unblock, a last day), confirmed on a
    page that lists the people and what changes for each."""
    actor = request_actor(request)
    sd = selectors.subdepartment_for_actor(actor, pk)
    back_query = _query(QueryDict(request.POST.get("back", "").lstrip("?")))
    back = reverse("portal:users", args=[sd.pk]) + back_query
    action = request.POST.get("action", "")
    if action not in ("view", "delete", "delete_confirm", "bulk", "bulk_confirm"):
        return HttpResponse(status=400)
    ids = _posted_ids(request)
    if not ids:
        messages.warning(request, _("Select at least one user in the list first."))
        return HttpResponseRedirect(back)
    chosen = selectors.subdepartment_rows_chosen(actor, sd, ids)
    if chosen is None:
        # An id of another subdepartment or enterprise (or none at all): a crafted or stale form.
        messages.error(
            request, _("Nothing was changed: the selection holds rows that are not users of this subdepartment.")
        )
        return HttpResponseRedirect(back)
    members = chosen
    context = {
        "sd": sd,
        "members": members,
        "back": back,
        "back_query": back_query,
        "crumbs": crumbs(sd.enterprise, sd.enterprise_quality, sd),
    }

    if action == "view":
        if len(members) == 1:
            return HttpResponseRedirect(_detail_url(sd, members[0]))
        # Several ticked: all of them, each with its own page.
        rows = [{"m": m, "url": _detail_url(sd, m)} for m in members]
        return render(request, "portal/users/selected.html", {**context, "rows": rows})

    if action in ("bulk", "bulk_confirm"):
        return _bulk_action(request, actor, sd, members, context)

    gone = [m for m in members if not m.is_active()]
    if gone:
        messages.error(
            request,
            _("Nothing was deleted: %(names)s had already been deleted. Check the list and try again.")
            % {"names": _names(gone)},
        )
        return HttpResponseRedirect(back)
    refused = [m for m in members if not authz.may_end(actor, m)]
    if refused:
        messages.error(
            request,
            _("Nothing was deleted: you may not delete %(names)s (only a manager of a higher level may).")
            % {"names": _names(refused)},
        )
        return HttpResponseRedirect(back)

    form = BulkEndForm(request.POST if action == "delete_confirm" else None)
    if action == "delete" or not form.is_valid():
        return render(request, "portal/users/confirm_delete.html", {**context, "form": form})

    try:
        # All or nothing: the services' own atomic blocks nest as savepoints inside this one.
        with transaction.atomic():
            for m in members:
                membership_end(actor=actor, membership=m, reason=form.cleaned_data["reason"])
    except ValidationError as exc:
        messages.error(request, _("Nothing was deleted: %(reason)s") % {"reason": " ".join(exc.messages)})
        return HttpResponseRedirect(back)
    messages.success(
        request,
        ngettext("%(count)s user deleted: %(names)s.", "%(count)s users deleted: %(names)s.", len(members))
        % {"count": len(members), "names": _names(members)},
    )
    return HttpResponseRedirect(back)


def _bulk_action(
    request: HttpRequest, actor: User, sd: Subdepartment, members: list[RoleAssignment], context: dict[str, Any]
) -> HttpResponse:
    """The action on the selected users: its confirmation page (``bulk``), then the change (``bulk_confirm``)."""
    back = context["back"]
    offered = {a.pk: a for a in switched_on_applications(sd)}
    choice = _bulk_choice(request.POST.get("bulk", ""), offered)
    if choice is None:
        messages.error(request, _("Choose an action for the selected users."))
        return HttpResponseRedirect(back)
    action, application = choice
    refused = [m for m in members if not authz.may_appoint(actor, m.role, m)]
    if refused:
        messages.error(
            request,
            _("Nothing was changed: you may not change %(names)s (only a manager of a higher level may).")
            % {"names": _names(refused)},
        )
        return HttpResponseRedirect(back)
    confirm = request.POST.get("action") == "bulk_confirm"
    form = BulkEndDateForm(request.POST if confirm else None) if action == BulkAction.END_DATE else None
    last_day = None
    if form is not None and form.is_bound and form.is_valid():
        last_day = form.cleaned_data["last_day"]
    try:
        plan = memberships_bulk(
            actor=actor,
            subdepartment=sd,
            memberships=members,
            action=action,
            application=application,
            last_day=last_day or timezone.localdate(),
            dry_run=True,
        )
    except ValidationError as exc:
        if form is None or "last_day" not in getattr(exc, "error_dict", {}):
            messages.error(request, " ".join(exc.messages))
            return HttpResponseRedirect(back)
        apply_errors(form, exc)  # a day in the past: said next to the field, on this page
        plan = []
    if confirm and (form is None or form.is_valid()):
        changed = [row.membership for row in plan if row.change]
        if not changed:
            messages.info(request, _("Nothing was changed: the selected users were already as asked."))
            return HttpResponseRedirect(back)
        try:
            memberships_bulk(
                actor=actor,
                subdepartment=sd,
                memberships=members,
                action=action,
                application=application,
                last_day=last_day,
            )
        except ValidationError as exc:
            if form is not None and hasattr(exc, "error_dict"):
                apply_errors(form, exc)
            else:
                messages.error(request, " ".join(exc.messages))
                return HttpResponseRedirect(back)
        else:
            messages.success(
                request,
                ngettext(
                    "%(action)s: %(count)s user changed: %(names)s.",
                    "%(action)s: %(count)s users changed: %(names)s.",
                    len(changed),
                )
                % {"action": _bulk_label(action, application), "count": len(changed), "names": _names(changed)},
            )
            return HttpResponseRedirect(back)
    return render(
        request,
        "portal/users/confirm_bulk.html",
        {
            **context,
            "plan": None if action == BulkAction.END_DATE else plan,
            # A last day still to choose: each row's current one.
            "current_days": [(m, last_day_of(m.valid_until)) for m in members],
            "form": form,
            "bulk": request.POST.get("bulk", ""),
            "label": _bulk_label(action, application),
            "changes": sum(1 for row in plan if row.change),
        },
    )


def _bulk_label(action: str, application: SecuredApplication | None) -> str:
    label = str(BulkAction(action).label)
    if application is None:
        return label
    return _("%(action)s: %(application)s") % {"action": label, "application": application.name}


# The export reads tuples, not model instances: building 40,000 instances (membership and person)
# for 20,000 rows was four fifths of its time (bench/users_list.py).
_EXPORT_FIELDS = (
    "person_id",
    "person__ssin",
    "person__last_name",
    "person__first_name",
    "person__username",
    "role",
    "status",
    "contact_email",
    "person__email",
    "person__language",
)


def _export_rows(qs: QuerySet[RoleAssignment], sd: Subdepartment, language: str, ended: bool = False) -> Iterator[str]:
    """Belgian Excel's CSV (csv_import's dialect: ';', BOM, CRLF), headers and status in ``language``.

    The columns the import reads, plus type, status and the applications' names (which it ignores),
    so that the file goes back in as it came out. Streamed: the generator runs after the view has
    returned, so it sets the language itself.
    """
    with translation.override(language):
        names = {a.code: a.name for a in SecuredApplication.objects.all()}
        statuses = {str(value): str(label) for value, label in STATUS_CHOICES}
        # The BOM tells Excel the file is UTF-8 (without it, é and ë come out garbled).
        writer = csv_import.line_writer()
        yield csv_import.BOM + writer.writerow(csv_import.header_row(EXPORT_COLUMNS))
        rows = qs.values_list(*_EXPORT_FIELDS).iterator(chunk_size=EXPORT_CHUNK)
        while chunk := list(islice(rows, EXPORT_CHUNK)):
            # One query per chunk for the applications held here by the chunk's persons.
            apps = application_codes_by_person(sd, {r[0] for r in chunk})
            for person_id, ssin, last, first, username, role, status, contact_email, email, lang in chunk:
                codes = apps.get(person_id, ())
                yield writer.writerow(
                    [
                        # Formatted, so that Excel keeps it as text (11 digits become 8.5073E+10
                        # otherwise); the import accepts any formatting.
                        ssin_format(ssin or ""),
                        csv_cell(last),
                        csv_cell(first),
                        csv_cell(username),
                        TYPE_CODE.get(role, ""),
                        statuses[ENDED] if ended else statuses.get(status, status),
                        csv_cell(contact_email or email),
                        lang,
                        csv_import.APPLICATION_SEPARATOR.join(codes),
                        csv_cell(", ".join(names.get(c, c) for c in codes)),
                    ]
                )


@login_required
@require_GET
def users_export(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """CSV of the filtered, sorted list for Belgian Excel: the columns the CSV import reads, streamed."""
    actor = request_actor(request)
    sd = selectors.subdepartment_for_actor(actor, pk)
    fs = _filterset(request, actor, sd)
    ended = _wants_ended(request.GET) and "status" not in fs.form.errors
    language = translation.get_language() or settings.LANGUAGE_CODE
    response = StreamingHttpResponse(_export_rows(fs.qs, sd, language, ended), content_type="text/csv; charset=utf-8")
    filename = f"users-{sd.pk}-{timezone.localdate():%Y%m%d}.csv"
    disposition = content_disposition_header(as_attachment=True, filename=filename)
    assert disposition is not None
    response["Content-Disposition"] = disposition
    return response
