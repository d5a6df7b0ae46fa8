"""The audit trail of an enterprise, a quality or a subdepartment, scoped to the actor."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from toegang.audit.selectors import audit_events_of_person
from toegang.delegation import selectors
from toegang.portal.common import Scope, crumbs, request_actor


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
    events = selectors.audit_events_for_actor(actor, scope)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    return render(request, "portal/audit.html", {"page": page, "scope": scope, "crumbs": trail})


@login_required
def my_history(request: HttpRequest) -> HttpResponse:
    """The person's own logins and the changes they made or that concern them (self-service)."""
    user = request_actor(request)
    page = Paginator(audit_events_of_person(user), 50).get_page(request.GET.get("page"))
    return render(request, "portal/account/history.html", {"page": page})
