"""The WSGI application: the authorization API on a short middleware list, the rest on the full one.

Requests under ``/api/`` come from relying parties' back ends with a bearer token, never a browser
session: sessions, authentication by cookie, CSRF, messages, allauth, the password-change redirect,
session tracking, the session timeout and step-up have nothing to do there, yet cost about a third of
a check's CPU (bench/authz_api.py, docs/performance.md). So ``/api/`` runs through
``settings.API_MIDDLEWARE``: security headers, X-Frame-Options (for the interactive docs), the
language from Accept-Language, CommonMiddleware and the request id of the audit context; every other
path through ``settings.MIDDLEWARE``. URLs, views, signals and settings are the same: one Django.
``tests/test_wsgi.py`` drives this very callable (not only Django's test client), so the two lists
cannot drift apart unnoticed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "toegang.settings")
site = get_wsgi_application()  # django.setup() first, then the full stack

from django.conf import settings  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402

API_PREFIX = "/api/"
# The token endpoint: called by the relying parties' back ends with client credentials, never with a
# session, a CSRF token or a language to choose, answering JSON: ``settings.TOKEN_MIDDLEWARE``. The
# full list cost half of a client-credentials request (bench/token_endpoint.py, docs/performance.md).
TOKEN_PATH = "/oauth/token/"  # noqa: S105 (a URL path, not a secret)


class ApiHandler(WSGIHandler):
    """Django's WSGI handler, built from ``settings.API_MIDDLEWARE`` instead of ``MIDDLEWARE``."""

    middleware_setting = "API_MIDDLEWARE"

    def load_middleware(self, is_async: bool = False) -> None:
        # Django reads the list from settings.MIDDLEWARE only; it is swapped for the time of the build
        # (once, at import, before any request is served) and restored.
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = getattr(settings, self.middleware_setting)
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


class TokenHandler(ApiHandler):
    """The same, from ``settings.TOKEN_MIDDLEWARE``."""

    middleware_setting = "TOKEN_MIDDLEWARE"


api = ApiHandler()
token = TokenHandler()


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "")
    handler = api if path.startswith(API_PREFIX) else token if path == TOKEN_PATH else site
    return handler(environ, start_response)
