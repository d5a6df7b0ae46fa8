from __future__ import annotations

from django import template

from toegang.accounts.eid import eid_config

register = template.Library()


@register.simple_tag
def eid_configured() -> bool:
    """Whether this server accepts the eID (a CA bundle is configured); the login page says so."""
    return eid_config().configured
