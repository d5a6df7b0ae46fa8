"""Create the OpenID Connect signing key (TOEGANG_OIDC_KEY_FILE) if it does not exist yet."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from toegang.oidc.keys import write_private_key


class Command(BaseCommand):
    help = "Create the RS256 key that signs ID tokens (TOEGANG_OIDC_KEY_FILE), if it is missing."

    def handle(self, *args: Any, **options: Any) -> None:
        path = settings.OIDC_KEY_FILE
        if write_private_key(path):
            self.stdout.write(f"created {path}")
        elif options["verbosity"] > 1:
            self.stdout.write(f"{path} exists")
