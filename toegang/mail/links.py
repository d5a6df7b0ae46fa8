"""Links in e-mails: always on TOEGANG_BASE_URL, never on the host a request named (issue 12, F9).

A request's ``Host`` header is the client's to choose (``Host: 127.0.0.1:4444`` passes ALLOWED_HOSTS,
which ignores the port): a link built from it would send a password-reset key to the attacker's
server. Every mail builds its links with ``absolute_url``; allauth's mails are rebuilt by the
account adapter (toegang/accounts/adapter.py, ``send_mail``), toegang's own use settings.BASE_URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

_ABSOLUTE = re.compile(r"^https?://", re.IGNORECASE)


def absolute_url(location: str) -> str:
    """``location`` (a path, or a URL whose host is dropped) on settings.BASE_URL."""
    bits = urlsplit(location)
    base = urlsplit(settings.BASE_URL)
    path = base.path.rstrip("/") + (bits.path if bits.path.startswith("/") else f"/{bits.path}")
    return urlunsplit((base.scheme, base.netloc, path, bits.query, bits.fragment))


def mail_links(context: dict[str, Any]) -> dict[str, Any]:
    """The context of a mail with every absolute URL in it moved onto settings.BASE_URL."""
    return {k: absolute_url(v) if isinstance(v, str) and _ABSOLUTE.match(v) else v for k, v in context.items()}


@dataclass(frozen=True)
class MailSite:
    """What allauth's mail templates show as ``current_site`` ("Hello from …", the domain at the end)."""

    domain: str
    name: str


def mail_site() -> MailSite:
    domain = urlsplit(settings.BASE_URL).netloc
    return MailSite(domain=domain, name=domain)
