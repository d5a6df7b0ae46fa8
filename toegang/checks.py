"""Start-up checks: refuse a configuration that would be unsafe in production."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register


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
