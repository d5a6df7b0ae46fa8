"""Start-up checks: refuse a configuration that would be unsafe in production."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register

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
