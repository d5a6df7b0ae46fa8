"""After login: the audience choice ("In welke hoedanigheid wenst u zich aan te melden?") and the
step-up page that asks for a stronger login when a page needs it."""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from toegang.accounts.assurance import level_name, session_level
from toegang.accounts.selectors import authenticator_types
from toegang.delegation import selectors
from toegang.delegation.authz import required_level
from toegang.organisations import selectors as org_selectors
from toegang.portal.common import request_actor

AUDIENCE = "toegang_audience"
ENTERPRISE = "toegang_enterprise"


def _safe_next(request: HttpRequest, default: str = "/") -> str:
    """The ``next`` parameter if it is a path of this site ("/nl/…"), else ``default``.

    Only a path that starts with one "/": a relative "foo" would resolve against the current page,
    and was handed to ``redirect()``, which took it for a URL name (NoReverseMatch, a 500).
    """
    target = request.POST.get("next") or request.GET.get("next") or ""
    ok = (
        target.startswith("/")
        and not target.startswith(("//", "/\\"))
        and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    )
    return target if ok else default


@login_required
@require_http_methods(["GET", "POST"])
def audience(request: HttpRequest) -> HttpResponse:
    held = selectors.audiences_for_actor(request_actor(request))
    if request.method == "POST":
        code = request.POST.get("audience", "")
        if code in held:
            # A new session id at every change of capacity (session fixation across capacities).
            request.session.cycle_key()
            request.session[AUDIENCE] = code
            request.session.pop(ENTERPRISE, None)
            return redirect("portal:home")
    audiences = org_selectors.audiences(held)
    return render(request, "portal/audience.html", {"audiences": audiences, "current": request.session.get(AUDIENCE)})


@login_required
def step_up(request: HttpRequest) -> HttpResponse:
    user = request_actor(request)
    target = _safe_next(request)
    needed, have = required_level(user), session_level(request)
    if have >= needed:
        return HttpResponseRedirect(target)
    types = authenticator_types(user)
    return render(
        request,
        "portal/step_up.html",
        {
            "next": target,
            "needed": needed,
            "have": have,
            "needed_name": level_name(needed),
            "have_name": level_name(have),
            "has_totp": Authenticator.Type.TOTP in types,
            "has_webauthn": Authenticator.Type.WEBAUTHN in types,
        },
    )
