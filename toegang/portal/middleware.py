"""A change that lost a race answers "changed by someone else meanwhile; try again", never a 500.

The services take their locks in the domain's one order (``toegang.locks``), so concurrent changes
wait for each other instead of corrupting anything; what can still happen is that one of them loses:
a unique index catches a double post, PostgreSQL breaks a deadlock, a lock wait passes
``TOEGANG_LOCK_TIMEOUT_MS``. The service's transaction has rolled back by the time the exception
reaches this middleware, so nothing of the change was saved. Here, in one place for every view:

- a form (POST and the like) from the portal gets the message on the page it came from (its
  ``Referer`` on this site, else the same address): a redirect, as after a successful save;
- anything else (a GET, the OAuth endpoints) gets a 409 with the message, in JSON where JSON was asked.

The API (``/api/``) runs without this middleware; its own handler answers 409 the same way
(``toegang.api.api``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.utils.http import url_has_allowed_host_and_scheme

from toegang.locks import is_lost_race, lost_race_message

logger = logging.getLogger(__name__)

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ConcurrentChangeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not is_lost_race(exc):
            return None
        logger.warning("%s %s lost a race: %r", request.method, request.path, exc)
        message = lost_race_message()
        wants_json = request.path.startswith("/oauth/") or "application/json" in request.headers.get("Accept", "")
        if request.method in _SAFE_METHODS or wants_json or not hasattr(request, "_messages"):
            if wants_json:
                return JsonResponse({"error": "conflict", "error_description": message}, status=409)
            return HttpResponse(message, status=409, content_type="text/plain; charset=utf-8")
        messages.error(request, message)
        referer = request.headers.get("Referer", "")
        same_site = url_has_allowed_host_and_scheme(
            referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        back = referer if referer and same_site else request.get_full_path()
        return HttpResponseRedirect(back, status=303)
