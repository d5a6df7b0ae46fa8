"""Home: the entity choice, and ending a role from any scope page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from toegang.delegation import authz, selectors
from toegang.delegation.models import Role, RoleAssignment
from toegang.delegation.services import role_end
from toegang.organisations.models import Enterprise
from toegang.portal.common import request_actor
from toegang.portal.forms import (
    EndRoleForm,
    apply_errors,
)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Home: the entity choice of a manager (their roles per enterprise) and a user's own facilities.

    A person with both sees both. The chosen enterprise is remembered in the session; an id there
    that is no longer among the person's enterprises (a role ended, another login) is ignored.
    """
    actor = request_actor(request)
    held = selectors.audiences_for_actor(actor)
    # "In welke hoedanigheid wenst u zich aan te melden?" only for a person in more than one audience.
    audience = request.session.get("toegang_audience") if len(held) > 1 else None
    if len(held) > 1 and audience not in held:
        return redirect("portal:audience")
    enterprises = [] if authz.may_operate(actor) else list(selectors.managed_enterprises(actor).order_by("name"))
    if audience is not None:
        enterprises = [e for e in enterprises if e.pk in held[audience]]
    chosen: Enterprise | None = None
    if "enterprise" in request.GET:
        raw = request.GET["enterprise"]
    elif len(enterprises) == 1:
        raw = str(enterprises[0].pk)
    else:
        remembered = request.session.get("toegang_enterprise")
        raw = str(remembered) if isinstance(remembered, int) and any(e.pk == remembered for e in enterprises) else ""
    # ASCII digits only ("²".isdigit() is true, int("²") is not), and an id that fits in 64 bits.
    if raw.isascii() and raw.isdigit() and len(raw) < 19:
        chosen = selectors.enterprise_for_actor(actor, int(raw))
        if request.session.get("toegang_enterprise") != chosen.pk:
            # A new session id at every change of the enterprise one acts for.
            request.session.cycle_key()
            request.session["toegang_enterprise"] = chosen.pk
    elif raw == "" and "enterprise" in request.GET:
        request.session.pop("toegang_enterprise", None)  # "---------" chosen: no enterprise any more
    links = selectors.role_links(actor, chosen, audience) if chosen else []
    return render(
        request,
        "portal/home.html",
        {
            "enterprises": enterprises,
            "chosen": chosen,
            "links": links,
            "facilities": selectors.own_facilities(actor),
            "several_audiences": len(held) > 1,
            "roles_waiting": authz.roles_waiting(actor),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def role_end_view(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    assignment = selectors.role_assignment_for_actor(actor, pk)
    back = _scope_url(assignment)
    form = EndRoleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            role_end(actor=actor, assignment=assignment, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(
                request,
                _("The role %(role)s of %(person)s was ended.")
                % {"role": assignment.get_role_display(), "person": assignment.person},
            )
            return HttpResponseRedirect(back)
    return render(request, "portal/role_end.html", {"assignment": assignment, "form": form, "back": back})


def _scope_url(a: RoleAssignment) -> str:
    if a.subdepartment_id:
        # The managers of a subdepartment are listed on its Subafdelingszaken page.
        return reverse("portal:subdepartment_affairs", args=[a.subdepartment_id])
    if a.enterprise_quality_id:
        return reverse("portal:quality", args=[a.enterprise_quality_id])
    if a.role == Role.MAIN_ACCESS_MANAGER or a.role == Role.CO_MAIN_ACCESS_MANAGER:
        return reverse("portal:enterprise", args=[a.enterprise_id])
    return reverse("portal:home")
