"""The platform operator: register enterprises and their legal representatives."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from toegang.delegation import authz, selectors
from toegang.delegation.models import Role
from toegang.delegation.services import role_appoint
from toegang.organisations import selectors as org_selectors
from toegang.organisations.services import enterprise_register
from toegang.portal.common import appointable, crumbs, handle_appoint, holders, request_actor
from toegang.portal.forms import (
    EnterpriseRegisterForm,
    apply_errors,
)


@login_required
def operator_home(request: HttpRequest) -> HttpResponse:
    actor = request_actor(request)
    authz.require(authz.may_operate(actor))
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
    page = Paginator(org_selectors.enterprises_for_operator(actor, q), 50).get_page(request.GET.get("page"))
    return render(request, "portal/operator.html", {"form": form, "page": page, "q": q})


@login_required
def operator_enterprise(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    authz.require(authz.may_operate(actor))
    enterprise = selectors.enterprise_for_actor(actor, pk)
    roles = appointable(actor, enterprise, (Role.LEGAL_REPRESENTATIVE, Role.MAIN_ACCESS_MANAGER))
    form, done = handle_appoint(request, enterprise, roles)
    if done:
        return redirect(request.path)
    return render(
        request,
        "portal/operator_enterprise.html",
        {
            "enterprise": enterprise,
            "form": form,
            "holders": holders(actor, enterprise, (Role.LEGAL_REPRESENTATIVE, Role.MAIN_ACCESS_MANAGER)),
            "crumbs": crumbs(enterprise),
        },
    )
