"""Register (or update) a confidential OpenID Connect client of a secured application.

    manage.py oidc_client --application eloket --client-id demo-rp \
        --redirect-uri http://127.0.0.1:8001/callback --post-logout-redirect-uri http://127.0.0.1:8001/ \
        --secret <secret>

Idempotent: an existing client with that id gets the given application, secret, redirect URIs and
post-logout redirect URIs (none given: none registered, the person stays on toegang after logout).
Without --secret a random one is made (256 bits); a given one shorter than 32 characters is
accepted with a warning (the demo's). Prints the client id and secret.

How the client authenticates (docs/oidc.md, "Client authentication"), e.g. with a key:

    manage.py oidc_client --application eloket --client-id eloket-prod \
        --redirect-uri https://eloket.example/cb --auth-method private_key_jwt --jwks-file eloket.jwks.json

``--auth-method`` (client_secret_basic, client_secret_post, private_key_jwt, tls_client_auth),
``--jwks-file``/``--jwks-uri`` (its public keys), ``--tls-client-auth-subject-dn``/``--tls-client-auth-san-dns``
(its certificate), ``--require-par``, ``--fapi`` (FAPI 2.0: PAR, PKCE S256, key or certificate, ES256
ID tokens), ``--id-token-alg``. Any of them sets the whole profile; without them it stays as it is.
A client authenticating by key or certificate has no secret (none is printed).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from toegang.applications.models import SecuredApplication
from toegang.oidc.models import SECRET_METHODS, ClientAuthMethod
from toegang.oidc.services import relying_party_register

# A random secret of this many URL-safe characters has 192 bits; docs/oidc.md, "How client secrets are stored".
MIN_SECRET_LENGTH = 32


class Command(BaseCommand):
    help = "Create or update a confidential OpenID Connect client for a secured application."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--application", required=True, help="code of the secured application, e.g. eloket")
        parser.add_argument("--client-id", required=True)
        parser.add_argument("--redirect-uri", action="append", required=True, help="exact; repeat for more")
        parser.add_argument(
            "--post-logout-redirect-uri",
            action="append",
            default=[],
            help="where the client may send the person after logout, exact; repeat for more",
        )
        parser.add_argument("--secret", default="", help="client secret (default: a random one)")
        parser.add_argument("--name", default="")
        parser.add_argument("--auth-method", choices=ClientAuthMethod.values, help="token_endpoint_auth_method")
        parser.add_argument("--jwks-file", help="the client's public keys, a JWK set in a JSON file")
        parser.add_argument("--jwks-uri", help="where the client publishes its JWK set (https)")
        parser.add_argument(
            "--tls-client-auth-subject-dn", help="tls_client_auth: the certificate's subject (RFC 4514)"
        )
        parser.add_argument("--tls-client-auth-san-dns", help="tls_client_auth: a DNS name of the certificate")
        parser.add_argument("--require-par", action="store_true", help="only pushed authorization requests")
        parser.add_argument("--fapi", action="store_true", help="the FAPI 2.0 Security Profile's rules")
        parser.add_argument("--id-token-alg", choices=["RS256", "ES256"], help="ID token signature")
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
        for uri in [*options["redirect_uri"], *options["post_logout_redirect_uri"]]:
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
        profile = self._profile(options)
        try:
            _rp, created = relying_party_register(
                actor=None,
                application=application,
                client_id=options["client_id"],
                client_secret=secret,
                redirect_uris=options["redirect_uri"],
                post_logout_redirect_uris=options["post_logout_redirect_uri"],
                name=options["name"],
                profile=profile,
                backchannel_logout_uri=backchannel,
                backchannel_logout_session_required=options["backchannel_logout_session_required"],
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(f"{'created' if created else 'updated'} client for {application.code}")
        self.stdout.write(f"client_id={options['client_id']}")
        if profile is None or profile["token_endpoint_auth_method"] in SECRET_METHODS:
            self.stdout.write(f"client_secret={secret}")
        else:
            self.stdout.write(f"token_endpoint_auth_method={profile['token_endpoint_auth_method']}")

    def _profile(self, options: dict[str, Any]) -> dict[str, Any] | None:
        names = ("auth_method", "jwks_file", "jwks_uri", "tls_client_auth_subject_dn", "tls_client_auth_san_dns")
        if not any(options.get(n) for n in (*names, "require_par", "fapi", "id_token_alg")):
            return None
        jwks = None
        if options.get("jwks_file"):
            try:
                jwks = json.loads(Path(options["jwks_file"]).read_text())
            except (OSError, ValueError) as exc:
                raise CommandError(f"cannot read the JWKS file: {exc}") from exc
        method = options.get("auth_method") or (
            ClientAuthMethod.PRIVATE_KEY_JWT
            if (jwks or options.get("jwks_uri"))
            else ClientAuthMethod.CLIENT_SECRET_BASIC
        )
        return {
            "token_endpoint_auth_method": method,
            "jwks": jwks,
            "jwks_uri": options.get("jwks_uri") or "",
            "tls_client_auth_subject_dn": options.get("tls_client_auth_subject_dn") or "",
            "tls_client_auth_san_dns": options.get("tls_client_auth_san_dns") or "",
            "require_pushed_authorization_requests": options.get("require_par", False),
            "fapi": options.get("fapi", False),
            "id_token_signed_response_alg": options.get("id_token_alg") or "RS256",
        }
