"""The 403, 404 and 500 pages in the portal's layout and the request's language (toegang/urls.py).

The 500 page is rendered without the context processors and without the database: whatever broke
the request (a database down, a middleware that failed half-way) must not break its error page too.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.shortcuts import render
from django.template import loader
from django.utils.translation import get_language

from toegang.portal.context_processors import footer_links

logger = logging.getLogger(__name__)


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "403.html", status=403)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    # Django's own page is English and speaks of "CSRF verification"; say what the person can do.
    return render(request, "403_csrf.html", status=403)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    try:
        html = loader.get_template("500.html").render({"footer_links": footer_links(), "LANGUAGE_CODE": get_language()})
    except Exception:  # the last resort: a page that cannot fail
        logger.exception("the 500 page could not be rendered")
        return HttpResponseServerError(
            "<!doctype html><title>500</title><p>Internal server error / Interne serverfout</p>",
        )
    return HttpResponseServerError(html)
