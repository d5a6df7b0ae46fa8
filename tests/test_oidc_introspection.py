"""Token introspection (RFC 7662) and the client-authentication challenges (RFC 6749 §5.2).

Issue 12 F8: any confidential client could introspect any other client's tokens (RaaS learnt
E-loket's tokens, scopes and usernames). Issue 14 items 5 and 6: failed client authentication was
challenged with ``Bearer`` at the token endpoint and answered 403 HTML at introspection; a refresh
token introspected as inactive. Two real clients, registered as ``manage.py oidc_client`` does.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.db import transaction
from django.test import Client
from oauth2_provider.models import RefreshToken

from tests.conftest import World, login
from toegang.delegation.models import Role, RoleAssignment
from toegang.delegation.services import membership_update
from toegang.oidc.services import relying_party_register

ELOKET = ("eloket-prod", "eloket-secret-0123456789-0123456789", "https://eloket.example.test/cb")
RAAS = ("raas-prod", "raas-secret-0123456789-0123456789-01", "https://raas.example.test/cb")
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636 appendix B
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()


@pytest.fixture
def clients(world: World) -> World:
    """E-loket's client on world.apps[0], RaaS's on world.apps[1]; world's user holds both in facility A."""
    with transaction.atomic():
        for (client_id, secret, redirect), app in zip((ELOKET, RAAS), world.apps[:2], strict=True):
            relying_party_register(
                actor=world.operator,
                application=app,
                client_id=client_id,
                client_secret=secret,
                redirect_uris=[redirect],
            )
        user = world.person("user")
        membership = RoleAssignment.objects.active().get(person=user, role=Role.USER)
        membership_update(
            actor=world.person("sb"),
            membership=membership,
            applications=world.apps[:2],
            status=membership.status,
            email=user.email,
        )
    return world


def basic(client: tuple[str, str, str], secret: str | None = None) -> dict[str, Any]:
    credentials = f"{client[0]}:{client[1] if secret is None else secret}".encode()
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(credentials).decode()}


def person_tokens(
    http: Client, world: World, rp: tuple[str, str, str], scope: str = "openid profile", **extra: Any
) -> dict[str, Any]:
    """The code flow for world's user at ``rp``: its access, refresh and ID tokens."""
    login(http, world.person("user"))
    r = http.get(
        "/oauth/authorize/",
        {
            "client_id": rp[0],
            "response_type": "code",
            "redirect_uri": rp[2],
            "scope": scope,
            "state": "s",
            "code_challenge": CHALLENGE,
            "code_challenge_method": "S256",
        },
    )
    assert r.status_code == 302, r.content[:300]
    code = parse_qs(urlparse(r["Location"]).query)["code"][0]
    r = http.post(
        "/oauth/token/",
        {"grant_type": "authorization_code", "code": code, "redirect_uri": rp[2], "code_verifier": VERIFIER},
        **basic(rp),
        **extra,
    )
    assert r.status_code == 200, r.content
    body: dict[str, Any] = r.json()
    assert body["refresh_token"]
    return body


def introspect(http: Client, token: str, rp: tuple[str, str, str], **data: str) -> Any:
    return http.post("/oauth/introspect/", {"token": token, **data}, **basic(rp))


def test_a_client_cannot_introspect_another_clients_tokens(clients: World) -> None:
    http = Client()
    eloket = person_tokens(http, clients, ELOKET)
    raas_cc = http.post("/oauth/token/", {"grant_type": "client_credentials", "scope": "authz"}, **basic(RAAS)).json()
    # RaaS asks about E-loket's access and refresh tokens: the answer of an unknown token, nothing more.
    for token in (eloket["access_token"], eloket["refresh_token"]):
        r = introspect(http, token, RAAS)
        assert r.status_code == 200 and r.json() == {"active": False}, r.content
        assert r.json() == introspect(http, "no-such-token", RAAS).json()
    # And the other way round, for RaaS's client-credentials token.
    assert introspect(http, raas_cc["access_token"], ELOKET).json() == {"active": False}
    # Each client still learns about its own.
    own = introspect(http, eloket["access_token"], ELOKET).json()
    assert own["active"] is True and own["client_id"] == ELOKET[0] and own["username"] == "user", own
    assert own["scope"] == "openid profile"
    assert introspect(http, raas_cc["access_token"], RAAS).json()["client_id"] == RAAS[0]


def test_introspection_without_valid_client_credentials_is_401_basic_json(clients: World) -> None:
    http = Client(enforce_csrf_checks=True)  # server-to-server: no CSRF token, as a real client
    cc = http.post("/oauth/token/", {"grant_type": "client_credentials", "scope": "authz"}, **basic(ELOKET)).json()
    for headers in (
        {},
        basic(ELOKET, secret="wrong"),
        basic(("nobody", "x", "")),
        {"HTTP_AUTHORIZATION": f"Bearer {cc['access_token']}"},  # a token is not client authentication
        {"HTTP_AUTHORIZATION": "Basic !!!not-base64"},
    ):
        r = http.post("/oauth/introspect/", {"token": cc["access_token"]}, **headers)
        assert r.status_code == 401, (headers, r.status_code, r.content[:200])
        assert r["WWW-Authenticate"].startswith("Basic realm="), headers
        assert r["Content-Type"] == "application/json" and r.json()["error"] == "invalid_client"
    # The client secret in the body (client_secret_post) authenticates too.
    r = http.post(
        "/oauth/introspect/", {"token": cc["access_token"], "client_id": ELOKET[0], "client_secret": ELOKET[1]}
    )
    assert r.status_code == 200 and r.json()["active"] is True
    assert "no-store" in r["Cache-Control"]
    # No token: 400; a token in the query string of a GET (it would land in access logs): 405.
    assert http.post("/oauth/introspect/", {}, **basic(ELOKET)).status_code == 400
    assert http.get("/oauth/introspect/", {"token": cc["access_token"]}, **basic(ELOKET)).status_code == 405


def test_a_valid_refresh_token_introspects_as_active_until_it_is_spent(clients: World) -> None:
    http = Client()
    tokens = person_tokens(http, clients, ELOKET)
    answer = introspect(http, tokens["refresh_token"], ELOKET).json()
    assert answer["active"] is True and answer["username"] == "user" and answer["client_id"] == ELOKET[0], answer
    assert answer["scope"] == "openid profile" and answer["exp"] > 0
    # The hint only orders the search: both answer the same.
    assert introspect(http, tokens["refresh_token"], ELOKET, token_type_hint="refresh_token").json() == answer
    assert introspect(http, tokens["access_token"], ELOKET, token_type_hint="refresh_token").json()["active"]
    # Rotation spends it: the old one is inactive, the new one active.
    r = http.post(
        "/oauth/token/", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}, **basic(ELOKET)
    )
    assert r.status_code == 200, r.content
    assert introspect(http, tokens["refresh_token"], ELOKET).json() == {"active": False}
    fresh = r.json()["refresh_token"]
    assert introspect(http, fresh, ELOKET).json()["active"] is True
    # Revoked (RFC 7009): inactive.
    assert http.post("/oauth/revoke_token/", {"token": fresh}, **basic(ELOKET)).status_code == 200
    assert RefreshToken.objects.filter(revoked__isnull=True).count() == 0
    assert introspect(http, fresh, ELOKET).json() == {"active": False}


def test_failed_basic_client_authentication_is_challenged_with_basic(clients: World) -> None:
    http = Client()
    for headers in (basic(ELOKET, secret="wrong"), basic(("nobody", "x", ""))):
        r = http.post("/oauth/token/", {"grant_type": "client_credentials", "scope": "authz"}, **headers)
        assert r.status_code == 401 and r.json()["error"] == "invalid_client"
        assert r["WWW-Authenticate"].startswith("Basic realm="), r["WWW-Authenticate"]
        r = http.post("/oauth/revoke_token/", {"token": "x"}, **headers)
        assert r.status_code == 401 and r["WWW-Authenticate"].startswith("Basic realm="), r.headers
    # A successful request carries no challenge.
    r = http.post("/oauth/token/", {"grant_type": "client_credentials", "scope": "authz"}, **basic(ELOKET))
    assert r.status_code == 200 and not r.has_header("WWW-Authenticate")


def test_discovery_names_the_introspection_and_revocation_endpoints(db: None) -> None:
    for path in ("/.well-known/openid-configuration", "/oauth/.well-known/openid-configuration"):
        config = Client().get(path).json()
        assert config["introspection_endpoint"] == "http://127.0.0.1:8000/oauth/introspect/", config
        assert config["revocation_endpoint"] == "http://127.0.0.1:8000/oauth/revoke_token/"
        for endpoint in ("introspection", "revocation"):
            assert config[f"{endpoint}_endpoint_auth_methods_supported"] == [
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",  # test_oidc_client_auth.py
                "tls_client_auth",
            ]
