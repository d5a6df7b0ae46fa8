from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse, translate_url
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from toegang.delegation import authz
from toegang.portal.views.help import help_role_for


def portal(request: HttpRequest) -> dict[str, Any]:
    """The header's language links (NL | FR | DE | EN) point at the same page in the other language;
    ``help_role``: the guide the header's Help link opens for this page (a view may pass its own);
    ``may_operate``: whether the header links to the operator area (the decision is authz's)."""
    path = request.get_full_path()
    return {
        "language_links": [(code, code.upper(), translate_url(path, code)) for code, _name in settings.LANGUAGES],
        "help_role": help_role_for(request),
        # Pages served without the authentication middleware (the API's docs in the bench's
        # server) have no request.user: nobody operates there.
        "may_operate": authz.may_operate(getattr(request, "user", None)),
        "footer_links": footer_links(),
    }


def footer_links() -> list[tuple[Any, str]]:
    """The footer's contact, privacy and accessibility links: the operator's (settings) or toegang's own.

    Needs neither the database nor the request, so the 500 page has them too.
    """
    lang = get_language() or settings.LANGUAGE_CODE
    links = [
        (_("Contact"), settings.CONTACT_URL, "contact"),
        (_("Privacy"), settings.PRIVACY_URL, "privacy"),
        (_("Accessibility statement"), settings.ACCESSIBILITY_URL, "accessibility"),
    ]
    return [
        (label, url.replace("{lang}", lang) if url else reverse("portal:about", args=[page]))
        for label, url, page in links
    ]
