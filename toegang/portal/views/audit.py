"""The audit trail of an enterprise, a quality or a subdepartment, scoped to the actor."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from toegang.audit.rendering import render_events
from toegang.audit.selectors import audit_events_of_person
from toegang.delegation import selectors
from toegang.portal.common import Scope, crumbs, request_actor
from toegang.portal.filters import AuditEventFilter

PAGE_SIZE = 50


def _page_links(page: Page[Any]) -> list[int | str]:
    # Numbered pages around the current one, with the first and last (Django's "…" in between).
    return list(page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1))


@login_required
def audit(request: HttpRequest, level: str, pk: int) -> HttpResponse:
    actor = request_actor(request)
    scope: Scope
    if level == "e":
        scope = selectors.enterprise_for_actor(actor, pk)
        trail = crumbs(scope)
    elif level == "q":
        scope = selectors.enterprise_quality_for_actor(actor, pk)
        trail = crumbs(scope.enterprise, scope)
    else:
        scope = selectors.subdepartment_for_actor(actor, pk)
        trail = crumbs(scope.enterprise, scope.enterprise_quality, scope)
    # The filter only narrows the actor's scope, decided by the selector.
    filterset = AuditEventFilter(request.GET or None, queryset=selectors.audit_events_for_actor(actor, scope))
    page = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "portal/audit.html",
        {
            "page": page,
            "page_links": _page_links(page),
            "events": render_events(page.object_list),
            "filter": filterset,
            "scope": scope,
            "crumbs": trail,
        },
    )


@login_required
def my_history(request: HttpRequest) -> HttpResponse:
    """The person's own logins and the changes they made or that concern them (self-service)."""
    user = request_actor(request)
    page = Paginator(audit_events_of_person(user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "portal/account/history.html",
        {"page": page, "page_links": _page_links(page), "events": render_events(page.object_list)},
    )
