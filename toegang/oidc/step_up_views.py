"""The step-up page of the authorization endpoint: a stronger login that a client asked for.

The authorization view (views.py) sends a logged-in person here when the client's ``acr_values`` or
``acr`` claim request needs a level the session has not proved (step_up.py). The page offers the
logins that reach the level (the login page's methods, for a person who is already logged in) and
each of them returns to ``next``: the same authorization request, which then finds the level met.
"""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache

from toegang.accounts.assurance import EID, EXTERNAL, SECOND_FACTOR, level_name, session_level
from toegang.accounts.selectors import authenticator_types
from toegang.oidc.step_up import LEVELS, level_available
from toegang.portal.common import request_actor


def _authorization_request(request: HttpRequest) -> str | None:
    """``next`` if it is this server's authorization endpoint (with its query), else None."""
    target = request.GET.get("next", "")
    endpoint = reverse("oauth2_provider:authorize")
    return target if target.startswith(endpoint + "?") and "\\" not in target else None


@never_cache
def step_up(request: HttpRequest) -> HttpResponse:
    target = _authorization_request(request)
    level = request.GET.get("level", "")
    if target is None or not level.isdigit() or int(level) not in LEVELS:
        return HttpResponseBadRequest()
    needed, have = int(level), session_level(request)
    if have >= needed:
        return HttpResponseRedirect(target)
    types = authenticator_types(request_actor(request))
    return render(
        request,
        "oidc/step_up.html",
        {
            "next": target,
            "needed_name": level_name(needed),
            "have_name": level_name(have),
            "offer_second_factor": needed <= SECOND_FACTOR,
            "has_second_factor": bool({Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN} & types),
            "offer_external": needed <= EXTERNAL and level_available(EXTERNAL),
            "offer_eid": level_available(EID),
        },
    )
