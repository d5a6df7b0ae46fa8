"""Steps 1 and 2: the legal representative's page, the enterprise (HTB) and the quality (TB) pages."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from toegang.applications.selectors import all_applications, offered_applications
from toegang.delegation import authz, selectors
from toegang.delegation.models import Role
from toegang.organisations import selectors as org_selectors
from toegang.organisations.services import enterprise_quality_max_access_set, quality_activate, subdepartment_create
from toegang.portal.common import appointable, crumbs, handle_appoint, holders, request_actor
from toegang.portal.forms import (
    MaxAccessForm,
    QualityActivateForm,
    SubdepartmentForm,
    apply_errors,
)


@login_required
def legal(request: HttpRequest, pk: int) -> HttpResponse:
    """Step 1: the legal representative appoints or replaces the main access manager (and co-HTBs)."""
    actor = request_actor(request)
    enterprise = selectors.enterprise_for_actor(actor, pk)
    authz.require(authz.may_manage_main_access_manager(actor, enterprise))
    roles = appointable(actor, enterprise, (Role.MAIN_ACCESS_MANAGER, Role.CO_MAIN_ACCESS_MANAGER))
    form, done = handle_appoint(request, enterprise, roles)
    if done:
        return redirect(request.path)
    return render(
        request,
        "portal/legal.html",
        {
            "enterprise": enterprise,
            "form": form,
            "holders": holders(actor, enterprise, (Role.MAIN_ACCESS_MANAGER, Role.CO_MAIN_ACCESS_MANAGER)),
            "crumbs": crumbs(enterprise),
        },
    )


@login_required
def enterprise_home(request: HttpRequest, pk: int) -> HttpResponse:
    """HTB home, step 2 and 3: activate qualities, appoint co-HTBs; each quality leads to its TBs."""
    actor = request_actor(request)
    enterprise = selectors.enterprise_for_actor(actor, pk)
    authz.require(authz.may(actor, authz.Action.ENTERPRISE_VIEW, enterprise))
    active = org_selectors.active_qualities(enterprise)
    available = org_selectors.qualities_offered().exclude(pk__in=[eq.quality_id for eq in active])
    activate_form = QualityActivateForm(qualities=available, prefix="quality")
    if request.method == "POST" and request.POST.get("action") == "activate":
        activate_form = QualityActivateForm(request.POST, qualities=org_selectors.qualities_offered(), prefix="quality")
        if activate_form.is_valid():
            try:
                eq = quality_activate(actor=actor, enterprise=enterprise, quality=activate_form.cleaned_data["quality"])
            except ValidationError as exc:
                apply_errors(activate_form, exc)
            else:
                messages.success(request, _("The quality %(name)s was activated.") % {"name": eq.quality.name})
                return redirect(reverse("portal:quality", args=[eq.pk]))
    roles = appointable(actor, enterprise, (Role.CO_MAIN_ACCESS_MANAGER,))
    form, done = handle_appoint(request, enterprise, roles)
    if done:
        return redirect(request.path)
    return render(
        request,
        "portal/enterprise.html",
        {
            "enterprise": enterprise,
            "qualities": active,
            "activate_form": activate_form if available.exists() else None,
            "form": form,
            "holders": holders(actor, enterprise, (Role.MAIN_ACCESS_MANAGER, Role.CO_MAIN_ACCESS_MANAGER)),
            "crumbs": crumbs(enterprise),
        },
    )


@login_required
def quality_home(request: HttpRequest, pk: int) -> HttpResponse:
    """TB home, steps 3 to 5: the quality's access managers and its subdepartments."""
    actor = request_actor(request)
    eq = selectors.enterprise_quality_for_actor(actor, pk)
    authz.require(authz.may(actor, authz.Action.QUALITY_VIEW, eq))
    offered = offered_applications(eq.quality)
    sub_form: SubdepartmentForm | None = None
    if authz.may(actor, authz.Action.SUBDEPARTMENT_CREATE, eq):
        sub_form = SubdepartmentForm(offered=offered, prefix="sub", scheme=eq.quality.identification_scheme)
        if request.method == "POST" and request.POST.get("action") == "subdepartment":
            sub_form = SubdepartmentForm(
                request.POST, offered=all_applications(), prefix="sub", scheme=eq.quality.identification_scheme
            )
            if sub_form.is_valid():
                d = sub_form.cleaned_data
                try:
                    sd = subdepartment_create(
                        actor=actor,
                        enterprise_quality=eq,
                        name=d["name"],
                        identification_code=d["identification_code"],
                        applications=d["applications"],
                    )
                except ValidationError as exc:
                    apply_errors(sub_form, exc)
                else:
                    messages.success(request, _("The subdepartment %(name)s was added.") % {"name": sd.name})
                    return redirect(reverse("portal:subdepartment", args=[sd.pk]))
    max_form: MaxAccessForm | None = None
    if authz.may(actor, authz.Action.QUALITY_LIMITS, eq):
        posted = request.method == "POST" and request.POST.get("action") == "max_access"
        max_form = MaxAccessForm(
            request.POST if posted else None, prefix="max", initial={"max_access_days": eq.max_access_days}
        )
        if posted and max_form.is_valid():
            try:
                enterprise_quality_max_access_set(
                    actor=actor, enterprise_quality=eq, days=max_form.cleaned_data["max_access_days"]
                )
            except ValidationError as exc:
                apply_errors(max_form, exc)
            else:
                messages.success(request, _("The maximum duration of an access was saved."))
                return redirect(request.path)
    elif request.method == "POST" and request.POST.get("action") == "max_access":
        authz.require(False)
    roles = appointable(actor, eq, (Role.ACCESS_MANAGER, Role.CO_ACCESS_MANAGER))
    form, done = handle_appoint(request, eq, roles)
    if done:
        return redirect(request.path)
    return render(
        request,
        "portal/quality.html",
        {
            "eq": eq,
            "enterprise": eq.enterprise,
            "subdepartments": org_selectors.active_subdepartments(eq),
            "sub_form": sub_form,
            "max_form": max_form,
            "form": form,
            "holders": holders(actor, eq, (Role.ACCESS_MANAGER, Role.CO_ACCESS_MANAGER)),
            "crumbs": crumbs(eq.enterprise, eq),
        },
    )
