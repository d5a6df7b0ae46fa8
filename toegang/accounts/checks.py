"""Start-up checks: refuse a configuration that would be unsafe in production."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.http.request import validate_host

from toegang.accounts.eid import load_ca_bundle, load_crls, proxies_parse


@register(Tags.security, deploy=True)
def secret_key_set(app_configs: Any, **kwargs: Any) -> list[Error]:
    if settings.SECRET_KEY == settings.DEV_SECRET_KEY:
        return [
            Error(
                "TOEGANG_SECRET_KEY is not set: the development key must not be used in production.",
                id="toegang.E001",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def allowed_hosts_closed(app_configs: Any, **kwargs: Any) -> list[Error]:
    """Only named hosts (issue 12, F9): a wildcard answers any Host header an attacker sends."""
    errors: list[Error] = []
    if any(host == "*" or host == "." for host in settings.ALLOWED_HOSTS):
        errors.append(Error("TOEGANG_ALLOWED_HOSTS must name the hosts, not '*'.", id="toegang.E002"))
    base = urlsplit(settings.BASE_URL).hostname or ""
    if not validate_host(f"[{base}]" if ":" in base else base, settings.ALLOWED_HOSTS):
        errors.append(Error(f"TOEGANG_ALLOWED_HOSTS does not allow TOEGANG_BASE_URL's host {base}.", id="toegang.E003"))
    return errors


@register(Tags.security)
def eid_configuration_readable(app_configs: Any, **kwargs: Any) -> list[Error]:
    """The eID CA bundle and CRL must be readable, and the trusted proxies addresses (docs/eid.md)."""
    errors: list[Error] = []
    try:
        proxies_parse(settings.EID_TRUSTED_PROXIES)
    except ValueError as exc:
        errors.append(Error(f"TOEGANG_EID_TRUSTED_PROXIES: {exc}", id="toegang.E041"))
    for path in settings.EID_CA_BUNDLE:
        try:
            if not load_ca_bundle([Path(path)]):
                raise ValueError("no PEM certificate in it")
        except (OSError, ValueError) as exc:
            errors.append(Error(f"TOEGANG_EID_CA_BUNDLE: cannot read {path}: {exc}", id="toegang.E042"))
    if settings.EID_CRL:
        try:
            load_crls(Path(settings.EID_CRL))
        except (OSError, ValueError) as exc:
            errors.append(Error(f"TOEGANG_EID_CRL: cannot read {settings.EID_CRL}: {exc}", id="toegang.E043"))
    return errors
