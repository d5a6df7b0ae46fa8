"""Create the OpenID Connect signing keys (TOEGANG_OIDC_KEY_FILE, TOEGANG_OIDC_EC_KEY_FILE) if they do not exist yet."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from toegang.oidc.keys import write_ec_private_key, write_private_key


class Command(BaseCommand):
    help = (
        "Create the RS256 key that signs ID tokens (TOEGANG_OIDC_KEY_FILE) and the ES256 key that signs "
        "JWT access tokens (TOEGANG_OIDC_EC_KEY_FILE), if they are missing."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        for path, write in (
            (settings.OIDC_KEY_FILE, write_private_key),
            (settings.OIDC_EC_KEY_FILE, write_ec_private_key),
        ):
            if write(path):
                self.stdout.write(f"created {path}")
            elif options["verbosity"] > 1:
                self.stdout.write(f"{path} exists")
