"""Create the OpenID Connect signing keys (TOEGANG_OIDC_KEY_FILE, RSA; TOEGANG_OIDC_EC_KEY_FILE,
EC P-256 for the JWT access tokens and the clients whose ID tokens are ES256) if they do not exist yet."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from toegang.oidc.keys import write_private_key


class Command(BaseCommand):
    help = (
        "Create the keys that sign the tokens (TOEGANG_OIDC_KEY_FILE: RS256 ID tokens; TOEGANG_OIDC_EC_KEY_FILE:"
        " ES256 JWT access tokens and FAPI clients' ID tokens), if missing."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        for path, ec_key in ((settings.OIDC_KEY_FILE, False), (settings.OIDC_EC_KEY_FILE, True)):
            if write_private_key(path, ec_key=ec_key):
                self.stdout.write(f"created {path}")
            elif options["verbosity"] > 1:
                self.stdout.write(f"{path} exists")
