"""Register (or update) a confidential OpenID Connect client of a secured application.

    manage.py oidc_client --application eloket --client-id demo-rp \
        --redirect-uri http://127.0.0.1:8001/callback --secret <secret>

Idempotent: an existing client with that id gets the given application, secret and redirect URIs.
Without --secret a random one is made (256 bits); a given one shorter than 32 characters is
accepted with a warning (the demo's). Prints the client id and secret.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from toegang.applications.models import SecuredApplication
from toegang.oidc.services import relying_party_register

# A random secret of this many URL-safe characters has 192 bits; docs/oidc.md, "How client secrets are stored".
MIN_SECRET_LENGTH = 32


class Command(BaseCommand):
    help = "Create or update a confidential OpenID Connect client for a secured application."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--application", required=True, help="code of the secured application, e.g. eloket")
        parser.add_argument("--client-id", required=True)
        parser.add_argument("--redirect-uri", action="append", required=True, help="exact; repeat for more")
        parser.add_argument("--secret", default="", help="client secret (default: a random one)")
        parser.add_argument("--name", default="")
        parser.add_argument(
            "--backchannel-logout-uri",
            default="",
            help="where logout tokens are POSTed when a session ends (OIDC Back-Channel Logout); https",
        )
        parser.add_argument(
            "--backchannel-logout-session-required",
            action="store_true",
            help="the client needs the sid in logout tokens (toegang always sends it)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        application = SecuredApplication.objects.filter(code=options["application"]).first()
        if application is None:
            raise CommandError(f"no secured application with code {options['application']!r}")
        for uri in options["redirect_uri"]:
            if not uri.startswith(("https://", "http://127.0.0.1", "http://localhost", "http://[::1]")):
                raise CommandError(f"redirect URI must be https (or http on the loopback address): {uri}")
        backchannel = options["backchannel_logout_uri"]
        if backchannel and not backchannel.startswith(
            ("https://", "http://127.0.0.1", "http://localhost", "http://[::1]")
        ):
            raise CommandError(
                f"back-channel logout URI must be https (or http on the loopback address): {backchannel}"
            )
        secret = options["secret"] or secrets.token_urlsafe(32)
        if len(secret) < MIN_SECRET_LENGTH:
            # The secret's hash is fast (toegang/oidc/hashers.py): only its randomness protects it.
            self.stderr.write(
                f"warning: a client secret of {len(secret)} characters can be guessed from its stored hash; "
                f"use at least {MIN_SECRET_LENGTH} random characters (or leave out --secret for a random one)"
            )
        try:
            _rp, created = relying_party_register(
                actor=None,
                application=application,
                client_id=options["client_id"],
                client_secret=secret,
                redirect_uris=options["redirect_uri"],
                name=options["name"],
                backchannel_logout_uri=backchannel,
                backchannel_logout_session_required=options["backchannel_logout_session_required"],
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(f"{'created' if created else 'updated'} client for {application.code}")
        self.stdout.write(f"client_id={options['client_id']}")
        self.stdout.write(f"client_secret={secret}")
