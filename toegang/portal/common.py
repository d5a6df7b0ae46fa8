"""Helpers that the portal's view modules share: the acting person, breadcrumbs, the appoint form."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from toegang.accounts.models import Language, User
from toegang.delegation import authz, selectors
from toegang.delegation.models import Role
from toegang.delegation.services import role_appoint
from toegang.organisations.models import Enterprise, EnterpriseQuality, Subdepartment
from toegang.portal.forms import (
    AppointForm,
    apply_errors,
)

Scope = Enterprise | EnterpriseQuality | Subdepartment


def request_actor(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def manager_language() -> str:
    """The language the manager works in now, as a person's language: a new person starts with it."""
    current = (get_language() or "")[:2]
    return current if current in Language.values else Language.NL


def appointable(actor: User, scope: Scope, candidates: tuple[str, ...]) -> list[str]:
    return [r for r in candidates if authz.may_appoint(actor, r, scope)]


def handle_appoint(request: HttpRequest, scope: Scope, roles: list[str]) -> tuple[AppointForm | None, bool]:
    """The appoint form of a page: returns (form, done). POST with action=appoint runs the service."""
    posted = request.method == "POST" and request.POST.get("action") == "appoint"
    if not roles:
        # A crafted POST from someone without an appoint form gets an explicit denial
        # (docs/architecture.md, Permission rules 8).
        authz.require(not posted)
        return None, False
    if posted:
        form = AppointForm(request.POST, roles=roles, prefix="appoint")
        if form.is_valid():
            d = form.cleaned_data
            try:
                a = role_appoint(
                    actor=request_actor(request),
                    role=Role(d["role"]),
                    scope=scope,
                    ssin=d["ssin"],
                    email=d["email"],
                    phone=d["phone"],
                    first_name=d["first_name"],
                    last_name=d["last_name"],
                    language=manager_language(),
                    last_day=d["last_day"],
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


def holders(actor: User, scope: Scope, roles: tuple[str, ...]) -> list[dict[str, Any]]:
    with authz.roles_cached():
        return [{"assignment": a, "may_end": authz.may_end(actor, a)} for a in selectors.assignments_in(scope, roles)]


def crumbs(enterprise: Enterprise, eq: EnterpriseQuality | None = None, sd: Subdepartment | None = None) -> list[str]:
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


# A cell starting with one of these is a formula to Excel; the apostrophe makes it text (OWASP).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_START) else value
