"""toegang's own contact, privacy and accessibility pages: the footer's links unless the operator
points them at pages of their own (TOEGANG_CONTACT_URL, TOEGANG_PRIVACY_URL, TOEGANG_ACCESSIBILITY_URL)."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

PAGES = ("contact", "privacy", "accessibility")


def about(request: HttpRequest, page: str) -> HttpResponse:
    if page not in PAGES:
        raise Http404
    return render(request, f"portal/about/{page}.html", {"contact_email": settings.CONTACT_EMAIL})
