"""A person logged in with a temporary password reaches only the password change page until they
have chosen their own (NIST SP 800-63B: a password set by someone else is a one-time secret)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import Resolver404, resolve, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _

# The pages such a person may still open: the change page itself, logging out, and allauth's
# reauthentication (which the change page may ask for).
ALLOWED_URL_NAMES = frozenset({"account_change_password", "account_logout", "account_reauthenticate"})


class MustChangePasswordMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and getattr(user, "must_change_password", False)
            and not self._allowed(request.path_info)
        ):
            return self._to_change_page(request)
        return self.get_response(request)

    @staticmethod
    def _allowed(path: str) -> bool:
        if settings.STATIC_URL and path.startswith(str(settings.STATIC_URL)):
            return True
        try:
            match = resolve(path)
        except Resolver404:
            return False
        return match.url_name in ALLOWED_URL_NAMES

    @staticmethod
    def _to_change_page(request: HttpRequest) -> HttpResponse:
        url = reverse("account_change_password")
        if request.method == "GET":
            url = f"{url}?{urlencode({'next': request.get_full_path()})}"
        messages.warning(request, _("You logged in with a temporary password. Choose your own password to continue."))
        return HttpResponseRedirect(url)
