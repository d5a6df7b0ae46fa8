"""The portal's screens. Views are transports: they turn requests into service calls and render.

Every object named by an id in the URL comes from a scoped selector (404 outside the actor's
scope); every action is decided by ``delegation.authz`` inside the service (403).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from toegang.accounts.models import User
from toegang.applications.models import SecuredApplication
from toegang.delegation import authz, selectors
from toegang.delegation.models import Role, RoleAssignment
from toegang.delegation.services import role_appoint, role_end
from toegang.organisations.models import Enterprise, EnterpriseQuality, Quality, Subdepartment
from toegang.organisations.services import enterprise_register, quality_activate, subdepartment_create
from toegang.portal.forms import (
    AppointForm,
    EndRoleForm,
    EnterpriseRegisterForm,
    QualityActivateForm,
    SubdepartmentForm,
    apply_errors,
)

Scope = Enterprise | EnterpriseQuality | Subdepartment


def _actor(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _appointable(actor: User, scope: Scope, candidates: tuple[str, ...]) -> list[str]:
    return [r for r in candidates if authz.may_appoint(actor, r, scope)]


def _handle_appoint(request: HttpRequest, scope: Scope, roles: list[str]) -> tuple[AppointForm | None, bool]:
    """The appoint form of a page: returns (form, done). POST with action=appoint runs the service."""
    posted = request.method == "POST" and request.POST.get("action") == "appoint"
    if not roles:
        # A crafted POST from someone without an appoint form gets an explicit denial (domain.md §3).
        authz.require(not posted)
        return None, False
    if posted:
        form = AppointForm(request.POST, roles=roles, prefix="appoint")
        if form.is_valid():
            d = form.cleaned_data
            try:
                a = role_appoint(
                    actor=_actor(request),
                    role=Role(d["role"]),
                    scope=scope,
                    ssin=d["ssin"],
                    email=d["email"],
                    phone=d["phone"],
                    first_name=d["first_name"],
                    last_name=d["last_name"],
                )
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("%(person)s was appointed as %(role)s.") % {"person": a.person, "role": a.get_role_display()},
                )
                return form, True
        return form, False
    return AppointForm(roles=roles, prefix="appoint"), False


def _holders(actor: User, scope: Scope, roles: tuple[str, ...]) -> list[dict[str, Any]]:
    with authz.roles_cached():
        return [{"assignment": a, "may_end": authz.may_end(actor, a)} for a in selectors.assignments_in(scope, roles)]


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The entity choice: every enterprise the person holds a role in, then that enterprise's roles."""
    actor = _actor(request)
    held = selectors.audiences_for_actor(actor)
    # "In welke hoedanigheid wenst u zich aan te melden?" only for a person in more than one audience.
    audience = request.session.get("toegang_audience") if len(held) > 1 else None
    if len(held) > 1 and audience not in held:
        return redirect("portal:audience")
    enterprises = [] if actor.is_operator else list(authz.enterprises_visible(actor).order_by("name"))
    if audience is not None:
        enterprises = [e for e in enterprises if e.pk in held[audience]]
    chosen: Enterprise | None = None
    raw = request.GET.get("enterprise") or (str(enterprises[0].pk) if len(enterprises) == 1 else "")
    if raw.isdigit():
        chosen = selectors.enterprise_for_actor(actor, int(raw))
        if request.session.get("toegang_enterprise") != chosen.pk:
            # A new session id at every change of the enterprise one acts for.
            request.session.cycle_key()
            request.session["toegang_enterprise"] = chosen.pk
    links = selectors.role_links(actor, chosen, audience) if chosen else []
    return render(
        request,
        "portal/home.html",
        {"enterprises": enterprises, "chosen": chosen, "links": links, "several_audiences": len(held) > 1},
    )


@login_required
def legal(request: HttpRequest, pk: int) -> HttpResponse:
    """Step 1: the legal representative appoints or replaces the main access manager (and co-HTBs)."""
    actor = _actor(request)
    enterprise = selectors.enterprise_for_actor(actor, pk)
    authz.require(authz.may_manage_main_access_manager(actor, enterprise))
    roles = _appointable(actor, enterprise, (Role.MAIN_ACCESS_MANAGER, Role.CO_MAIN_ACCESS_MANAGER))
    form, done = _handle_appoint(request, enterprise, roles)
    if done:
        return redirect(request.path)
    return render(
        request,
        "portal/legal.html",
        {
            "enterprise": enterprise,
            "form": form,
            "holders": _holders(actor, enterprise, (Role.MAIN_ACCESS_MANAGER, Role.CO_MAIN_ACCESS_MANAGER)),
            "crumbs": _crumbs(enterprise),
        },
    )


@login_required
def enterprise_home(request: HttpRequest, pk: int) -> HttpResponse:
    """HTB home, step 2 and 3: activate qualities, appoint co-HTBs; each quality leads to its TBs."""
    actor = _actor(request)
    enterprise = selectors.enterprise_for_actor(actor, pk)
    authz.require(authz.may(actor, authz.Action.ENTERPRISE_VIEW, enterprise))
    active = EnterpriseQuality.objects.filter(enterprise=enterprise, valid_until__isnull=True).select_related("quality")
    available = Quality.objects.filter(is_active=True).exclude(pk__in=[eq.quality_id for eq in active])
    activate_form = QualityActivateForm(qualities=available, prefix="quality")
    if request.method == "POST" and request.POST.get("action") == "activate":
        activate_form = QualityActivateForm(
            request.POST, qualities=Quality.objects.filter(is_active=True), prefix="quality"
        )
        if activate_form.is_valid():
            try:
                eq = quality_activate(actor=actor, enterprise=enterprise, quality=activate_form.cleaned_data["quality"])
            except ValidationError as exc:
                apply_errors(activate_form, exc)
            else:
                messages.success(request, _("The quality %(name)s was activated.") % {"name": eq.quality.name})
                return redirect(reverse("portal:quality", args=[eq.pk]))
    roles = _appointable(actor, enterprise, (Role.CO_MAIN_ACCESS_MANAGER,))
    form, done = _handle_appoint(request, enterprise, roles)
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
            "holders": _holders(actor, enterprise, (Role.MAIN_ACCESS_MANAGER, Role.CO_MAIN_ACCESS_MANAGER)),
            "crumbs": _crumbs(enterprise),
        },
    )


@login_required
def quality_home(request: HttpRequest, pk: int) -> HttpResponse:
    """TB home, steps 3 to 5: the quality's access managers and its subdepartments."""
    actor = _actor(request)
    eq = selectors.enterprise_quality_for_actor(actor, pk)
    authz.require(authz.may(actor, authz.Action.QUALITY_VIEW, eq))
    offered = eq.quality.applications.filter(is_active=True)
    sub_form: SubdepartmentForm | None = None
    if authz.may(actor, authz.Action.SUBDEPARTMENT_CREATE, eq):
        sub_form = SubdepartmentForm(offered=offered, prefix="sub")
        if request.method == "POST" and request.POST.get("action") == "subdepartment":
            sub_form = SubdepartmentForm(request.POST, offered=SecuredApplication.objects.all(), prefix="sub")
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
    roles = _appointable(actor, eq, (Role.ACCESS_MANAGER, Role.CO_ACCESS_MANAGER))
    form, done = _handle_appoint(request, eq, roles)
    if done:
        return redirect(request.path)
    return render(
        request,
        "portal/quality.html",
        {
            "eq": eq,
            "enterprise": eq.enterprise,
            "subdepartments": Subdepartment.objects.filter(enterprise_quality=eq, valid_until__isnull=True),
            "sub_form": sub_form,
            "form": form,
            "holders": _holders(actor, eq, (Role.ACCESS_MANAGER, Role.CO_ACCESS_MANAGER)),
            "crumbs": _crumbs(eq.enterprise, eq),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def role_end_view(request: HttpRequest, pk: int) -> HttpResponse:
    actor = _actor(request)
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


@login_required
def audit(request: HttpRequest, level: str, pk: int) -> HttpResponse:
    actor = _actor(request)
    scope: Scope
    if level == "e":
        scope = selectors.enterprise_for_actor(actor, pk)
        crumbs = _crumbs(scope)
    elif level == "q":
        scope = selectors.enterprise_quality_for_actor(actor, pk)
        crumbs = _crumbs(scope.enterprise, scope)
    else:
        scope = selectors.subdepartment_for_actor(actor, pk)
        crumbs = _crumbs(scope.enterprise, scope.enterprise_quality, scope)
    events = selectors.audit_events_for_actor(actor, scope)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    return render(request, "portal/audit.html", {"page": page, "scope": scope, "crumbs": crumbs})


def _crumbs(enterprise: Enterprise, eq: EnterpriseQuality | None = None, sd: Subdepartment | None = None) -> list[str]:
    """The manual's breadcrumb: Benaming; Ondernemingsnummer / Hoedanigheid / Subafdeling."""
    crumbs = [
        _("Name: %(name)s; Enterprise number: %(cbe)s") % {"name": enterprise.name, "cbe": enterprise.cbe_display}
    ]
    if eq is not None:
        crumbs.append(
            _("Quality: %(quality)s; Enterprise number: %(cbe)s")
            % {"quality": eq.quality.name, "cbe": enterprise.cbe_display}
        )
    if sd is not None:
        crumbs.append(
            _("Subdepartment: %(name)s; Identification code: %(code)s")
            % {"name": sd.name, "code": sd.identification_code}
        )
    return crumbs


# --- Platform operator: register enterprises and their legal representatives -----------------


@login_required
def operator_home(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    authz.require(actor.is_operator)
    form = EnterpriseRegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            with transaction.atomic():
                enterprise = enterprise_register(actor=actor, cbe_number=d["cbe_number"], name=d["name"])
                role_appoint(
                    actor=actor,
                    role=Role.LEGAL_REPRESENTATIVE,
                    scope=enterprise,
                    ssin=d["ssin"],
                    email=d["email"],
                    first_name=d["first_name"],
                    last_name=d["last_name"],
                )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("The enterprise %(name)s was registered.") % {"name": enterprise.name})
            return redirect(reverse("portal:operator_enterprise", args=[enterprise.pk]))
    q = request.GET.get("q", "").strip()
    enterprises = Enterprise.objects.all()
    if q:
        enterprises = enterprises.filter(name__icontains=q) | enterprises.filter(cbe_number__contains=q)
    page = Paginator(enterprises.order_by("name"), 50).get_page(request.GET.get("page"))
    return render(request, "portal/operator.html", {"form": form, "page": page, "q": q})


@login_required
def operator_enterprise(request: HttpRequest, pk: int) -> HttpResponse:
    actor = _actor(request)
    authz.require(actor.is_operator)
    enterprise = selectors.enterprise_for_actor(actor, pk)
    roles = _appointable(actor, enterprise, (Role.LEGAL_REPRESENTATIVE, Role.MAIN_ACCESS_MANAGER))
    form, done = _handle_appoint(request, enterprise, roles)
    if done:
        return redirect(request.path)
    return render(
        request,
        "portal/operator_enterprise.html",
        {
            "enterprise": enterprise,
            "form": form,
            "holders": _holders(actor, enterprise, (Role.LEGAL_REPRESENTATIVE, Role.MAIN_ACCESS_MANAGER)),
            "crumbs": _crumbs(enterprise),
        },
    )
