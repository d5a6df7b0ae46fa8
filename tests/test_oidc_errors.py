"""Bad input at the OpenID Connect endpoints: RFC 6749 / 6750 error shapes, never a 500."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.db import transaction
from django.test import Client
from oauth2_provider.models import AbstractApplication, Application

from tests.conftest import PASSWORD, World, login
from toegang.delegation.models import Role, RoleAssignment
from toegang.delegation.services import membership_update
from toegang.oidc.services import relying_party_register

CLIENT_ID, SECRET, REDIRECT = "err-client", "err-client-secret-0123456789", "https://rp.example.test/cb"


@pytest.fixture
def client_app(world: World) -> Application:
    with transaction.atomic():
        rp, _ = relying_party_register(
            actor=world.operator,
            application=world.apps[0],
            client_id=CLIENT_ID,
            client_secret=SECRET,
            redirect_uris=[REDIRECT],
        )
        # world's user may use the client's application in facility A.
        user = world.person("user")
        membership = RoleAssignment.objects.active().get(person=user, role=Role.USER)
        membership_update(
            actor=world.person("sb"),
            membership=membership,
            applications=[world.apps[0]],
            status=membership.status,
            email=user.email,
        )
    return rp.client


def basic(client_id: str = CLIENT_ID, secret: str = SECRET) -> dict[str, Any]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def token(client: Client, data: dict[str, str], **headers: Any) -> Any:
    return client.post("/oauth/token/", data, **headers)


def test_token_endpoint_errors(client: Client, client_app: Application) -> None:
    cases = [
        (
            {"grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT},
            basic("nobody"),
            401,
            "invalid_client",
        ),
        (
            {"grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT},
            basic(secret="wrong"),
            401,
            "invalid_client",
        ),
        (
            {
                "grant_type": "authorization_code",
                "code": "no-such-code",
                "redirect_uri": REDIRECT,
                "code_verifier": "a" * 43,
            },
            basic(),
            400,
            "invalid_grant",
        ),
        ({"grant_type": "bogus"}, basic(), 400, "unsupported_grant_type"),
        # The password grant is off (RFC 9700), even with the right password: not a grant this server has.
        ({"grant_type": "password", "username": "user", "password": PASSWORD}, basic(), 400, "unsupported_grant_type"),
        ({"grant_type": "refresh_token", "refresh_token": "nope"}, basic(), 400, "invalid_grant"),
        ({"grant_type": "client_credentials", "scope": "openid"}, basic(), 400, "invalid_scope"),
    ]
    for data, headers, status, error in cases:
        r = token(client, data, **headers)
        assert r.status_code == status, (data, r.status_code, r.content)
        assert r.json()["error"] == error, (data, r.json())
        assert r["Cache-Control"] == "no-store"


def test_malformed_token_requests_are_not_500(client: Client, client_app: Application) -> None:
    r = client.post("/oauth/token/", "{not json", content_type="application/json", **basic())
    assert r.status_code in (400, 401) and "error" in r.json()
    r = client.get("/oauth/token/")
    assert r.status_code == 405


def test_client_credentials_for_the_authorization_api(client: Client, client_app: Application) -> None:
    r = token(client, {"grant_type": "client_credentials", "scope": "authz"}, **basic())
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["scope"] == "authz" and "refresh_token" not in body and "id_token" not in body
    # Introspection by the same client (RFC 7662).
    r = client.post("/oauth/introspect/", {"token": body["access_token"]}, **basic())
    assert r.json()["active"] is True and r.json()["client_id"] == CLIENT_ID
    # The token is no person's: userinfo refuses it.
    r = client.get("/oauth/userinfo/", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert r.status_code in (401, 403)


def test_userinfo_without_a_valid_token(client: Client, db: None) -> None:
    r = client.get("/oauth/userinfo/")
    assert r.status_code == 401 and r["WWW-Authenticate"].startswith("Bearer")
    r = client.get("/oauth/userinfo/", HTTP_AUTHORIZATION="Bearer not-a-token")
    assert r.status_code == 401 and 'error="invalid_token"' in r["WWW-Authenticate"]


def _authorize(client: Client, **params: str) -> Any:
    query = {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": "s1",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
        **params,
    }
    return client.get("/oauth/authorize/", {k: v for k, v in query.items() if v != ""})


def test_authorize_errors(client: Client, world: World, client_app: Application) -> None:
    login(client, world.person("user"))
    # Unknown client or unregistered redirect URI: toegang's own error page, no redirect.
    for params in ({"client_id": "nobody"}, {"redirect_uri": "https://evil.example.test/cb"}, {"client_id": ""}):
        r = _authorize(client, **params)
        assert r.status_code == 400, (params, r.status_code)
        assert not r.has_header("Location")
    # A known client and redirect URI: the error goes back to the client, with the state.
    for params, error in (
        ({"code_challenge": "", "code_challenge_method": ""}, "invalid_request"),  # PKCE required
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),  # no implicit grant
        ({"scope": "openid authz"}, "invalid_scope"),
    ):
        r = _authorize(client, **params)
        assert r.status_code == 302, (params, r.status_code, r.content[:300])
        location = r["Location"]
        assert location.startswith(REDIRECT + "?"), location
        answer = {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}
        assert answer["error"] == error and answer["state"] == "s1", (params, answer)
    # And the request as it should be gives a code (world's user holds apps[0] in facility A).
    r = _authorize(client)
    assert r.status_code == 302 and "code=" in r["Location"]


def test_authorize_with_a_max_age_of_other_digits_is_not_500(
    client: Client, world: World, client_app: Application
) -> None:
    # "²".isdigit() is true and int("²") raises: such a max_age is ignored (issue 12), not a 500.
    login(client, world.person("user"))
    for max_age in ("²", "١٢"):
        r = _authorize(client, max_age=max_age)
        assert r.status_code == 302 and "code=" in r["Location"], (max_age, r.status_code)


def test_unlinked_client_is_unknown(client: Client, world: World, client_app: Application) -> None:
    Application.objects.create(
        client_id="orphan",
        client_secret=SECRET,
        client_type=AbstractApplication.CLIENT_CONFIDENTIAL,
        authorization_grant_type=AbstractApplication.GRANT_AUTHORIZATION_CODE,
        redirect_uris=REDIRECT,
        name="not linked to an application",
    )
    r = token(client, {"grant_type": "client_credentials", "scope": "authz"}, **basic("orphan"))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    login(client, world.person("user"))
    assert _authorize(client, client_id="orphan").status_code == 400


def test_discovery_and_keys(client: Client, db: None) -> None:
    config = client.get("/.well-known/openid-configuration").json()
    assert config["issuer"] == "http://127.0.0.1:8000"
    assert config["authorization_endpoint"].endswith("/oauth/authorize/")
    assert {"ssin", "access", "acr", "amr"} <= set(config["claims_supported"])
    keys = client.get("/.well-known/jwks.json").json()["keys"]
    # RS256 for the ID tokens, ES256 for the JWT access tokens (toegang/oidc/jwt_tokens.py).
    assert [k["alg"] for k in keys] == ["RS256", "ES256"]
