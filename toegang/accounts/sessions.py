"""Session rules: idle and absolute timeouts, and the step-up to the level a page needs.

Django gives a new session id at login (``login()`` cycles the key) and ends the other sessions
when the password changes (the session auth hash); these add what Django does not do itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _

from toegang.accounts.assurance import session_amr, session_level, ssin_proven
from toegang.accounts.models import Activation
from toegang.accounts.services import account_activate_proven
from toegang.audit.actions import Action
from toegang.audit.services import audit_record
from toegang.delegation.authz import required_level

LOGIN_AT = "toegang_login_at"
SEEN_AT = "toegang_seen_at"
TRACKED_KEY = "toegang_tracked_key"

# Pages every logged-in person reaches with a password: the entity choice, help, their own data,
# the audience choice and the step-up page itself. Everything else in the portal, and the Django
# admin, needs the person's required level.
OPEN_PORTAL_VIEWS = frozenset(
    {"home", "help", "help_image", "me", "my_history", "step_up", "audience", "activate", "claim"}
)
GUARDED_NAMESPACES = frozenset({"portal", "admin"})


def remember_login_time(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    """Connected to ``user_logged_in``: the absolute timeout counts from here; the login is audited
    with the level and methods it proved (the person reads it in "My logins and changes")."""
    request.session[LOGIN_AT] = time.time()
    request.session[SEEN_AT] = time.time()
    if ssin_proven(request, user):
        account_activate_proven(person=user)
    with transaction.atomic():
        audit_record(
            actor=user,
            action=Action.LOGIN_SUCCESS,
            obj=user,
            after={"level": session_level(request, user), "amr": session_amr(request, user)},
        )


class SessionTimeoutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = time.time()
            login_at = request.session.setdefault(LOGIN_AT, now)
            seen_at = request.session.get(SEEN_AT, now)
            if now - seen_at > settings.SESSION_IDLE_SECONDS or now - login_at > settings.SESSION_ABSOLUTE_SECONDS:
                logout(request)
                messages.info(request, _("Your session has ended. Please log in again."))
                return HttpResponseRedirect(
                    f"{reverse('account_login')}?{urlencode({'next': request.get_full_path()})}"
                )
            # Written at most once a minute, so that reads do not turn every request into a write.
            tick = now - seen_at > 60 or SEEN_AT not in request.session
            if tick:
                request.session[SEEN_AT] = now
            # The person's sessions page (allauth.usersessions: "last seen", "log out elsewhere") on the
            # same tick, and whenever the session key changed since (a login step cycles it), instead of
            # allauth's middleware, which writes its row on every request, reads included.
            key = request.session.session_key
            if settings.USERSESSIONS_TRACK_ACTIVITY and key and (tick or request.session.get(TRACKED_KEY) != key):
                UserSession.objects.create_from_request(request)
                request.session[TRACKED_KEY] = key
            # What the authorization rules need to know of this session (``authz.role_usable``).
            request.user.ssin_proven = ssin_proven(request)
            if request.user.ssin_proven and request.user.activation == Activation.NONE:
                account_activate_proven(person=request.user)
        return self.get_response(request)


class StepUpMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        match = request.resolver_match
        if match is None or match.namespace not in GUARDED_NAMESPACES or not request.user.is_authenticated:
            return None
        if match.namespace == "portal" and match.url_name in OPEN_PORTAL_VIEWS:
            return None
        needed = required_level(request.user)
        if session_level(request) >= needed:
            return None
        query = urlencode({"next": request.get_full_path()})
        return HttpResponseRedirect(f"{reverse('portal:step_up')}?{query}")
