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
    """The entity choice: every enterprise the person holds a role in, then that enterprise's roles."""
    actor = request_actor(request)
    held = selectors.audiences_for_actor(actor)
    # "In welke hoedanigheid wenst u zich aan te melden?" only for a person in more than one audience.
    audience = request.session.get("toegang_audience") if len(held) > 1 else None
    if len(held) > 1 and audience not in held:
        return redirect("portal:audience")
    enterprises = [] if authz.may_operate(actor) else list(authz.enterprises_visible(actor).order_by("name"))
    if audience is not None:
        enterprises = [e for e in enterprises if e.pk in held[audience]]
    chosen: Enterprise | None = None
    raw = request.GET.get("enterprise") or (str(enterprises[0].pk) if len(enterprises) == 1 else "")
    # ASCII digits only ("²".isdigit() is true, int("²") is not), and an id that fits in 64 bits.
    if raw.isascii() and raw.isdigit() and len(raw) < 19:
        chosen = selectors.enterprise_for_actor(actor, int(raw))
        if request.session.get("toegang_enterprise") != chosen.pk:
            # A new session id at every change of the enterprise one acts for.
            request.session.cycle_key()
            request.session["toegang_enterprise"] = chosen.pk
    links = selectors.role_links(actor, chosen, audience) if chosen else []
    return render(
        request,
        "portal/home.html",
        {
            "enterprises": enterprises,
            "chosen": chosen,
            "links": links,
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
