"""Helpers of the step-up, token exchange and back-channel logout tests: a registered client of
E-loket (world's app 0) that world's ``user`` may use in facility A, and the code flow driven with
Django's test client (the certified peers drive the live server in the tests that use them)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import jwt
import requests
import requests.adapters
import requests.structures
from django.db import transaction
from django.test import Client
from oauth2_provider.models import Application
from oauth2_provider.settings import oauth2_settings

from tests.conftest import World
from toegang.delegation.models import Role, RoleAssignment
from toegang.delegation.services import membership_update
from toegang.oidc.services import relying_party_register

SECRET = "flows-client-secret-0123456789-abcdef"
REDIRECT = "https://rp.example.test/cb"


def register(world: World, client_id: str, app: int = 0, **extra: Any) -> Application:
    with transaction.atomic():
        rp, _ = relying_party_register(
            actor=world.operator,
            application=world.apps[app],
            client_id=client_id,
            client_secret=SECRET,
            redirect_uris=[REDIRECT],
            # Registered exactly (RP-Initiated Logout §3): the tests' logouts come back here.
            post_logout_redirect_uris=["https://rp.example.test/"],
            **extra,
        )
    return rp.client


def give(world: World, person: str, apps: list[int]) -> None:
    """``person`` (a user of facility A) may use these of world's applications there."""
    user = world.person(person)
    membership = RoleAssignment.objects.active().get(person=user, role=Role.USER, subdepartment=world.zon.sd)
    with transaction.atomic():
        membership_update(
            actor=world.person("sb"),
            membership=membership,
            applications=[world.apps[i] for i in apps],
            status=membership.status,
            email=user.email,
        )


def basic(client_id: str, secret: str = SECRET) -> dict[str, Any]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def authorize(browser: Client, client_id: str, **params: str) -> tuple[Any, str]:
    """The authorization request (PKCE S256); the response and the code verifier."""
    verifier = secrets.token_urlsafe(40)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid access offline_access",
        "state": "st",
        "nonce": "n0",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **params,
    }
    return browser.get(f"/oauth/authorize/?{urlencode(query)}"), verifier


def callback(response: Any) -> dict[str, str]:
    assert response.status_code == 302 and response["Location"].startswith(REDIRECT + "?"), (
        response.status_code,
        response.get("Location"),
    )
    return {k: v[0] for k, v in parse_qs(urlparse(response["Location"]).query).items()}


def exchange(client_id: str, code: str, verifier: str) -> dict[str, Any]:
    r = Client().post(
        "/oauth/token/",
        {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier},
        **basic(client_id),
    )
    assert r.status_code == 200, r.content
    body: dict[str, Any] = r.json()
    return body


def code_flow(browser: Client, client_id: str, **params: str) -> dict[str, Any]:
    response, verifier = authorize(browser, client_id, **params)
    return exchange(client_id, callback(response)["code"], verifier)


def id_claims(id_token: str, audience: str) -> dict[str, Any]:
    """The ID token's claims, its signature verified with the provider's key (PyJWT)."""
    key = jwt.PyJWK(_public_jwk())
    claims: dict[str, Any] = jwt.decode(id_token, key=key, algorithms=["RS256"], audience=audience)
    return claims


def _public_jwk() -> dict[str, Any]:
    from jwcrypto import jwk  # type: ignore[import-untyped]

    key = jwk.JWK.from_pem(oauth2_settings.OIDC_RSA_PRIVATE_KEY.encode())
    public: dict[str, Any] = key.export_public(as_dict=True)
    return public


class DjangoAdapter(requests.adapters.BaseAdapter):
    """A requests transport that hands each request to Django's test client, in this test's
    transaction: Authlib's requests client (OAuth2Session) talks to toegang without a live server."""

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        url = urlparse(request.url or "")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("content-length", "host")}
        content_type = str(headers.pop("Content-Type", "application/octet-stream"))
        body = request.body.encode() if isinstance(request.body, str) else (request.body or b"")
        answer = Client().generic(
            request.method or "GET",
            url.path + (f"?{url.query}" if url.query else ""),
            body,
            content_type=content_type,
            headers=headers,
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response._content = answer.content
        response.headers = requests.structures.CaseInsensitiveDict(answer.headers.items())
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass


def authlib_session(client_id: str, secret: str = SECRET) -> Any:
    """Authlib's OAuth2 client (client_secret_basic) on DjangoAdapter."""
    from authlib.integrations.requests_client import OAuth2Session

    session = OAuth2Session(client_id, secret, token_endpoint_auth_method="client_secret_basic")
    session.mount("http://testserver/", DjangoAdapter())
    return session
