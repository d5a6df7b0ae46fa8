"""JWT access tokens (RFC 9068; issue 14): what the token endpoint issues, and how the authorization
API, userinfo, introspection and revocation treat them.

Two real clients registered as ``manage.py oidc_client`` does (tests/test_oidc_introspection.py's
``clients``): E-loket's and RaaS's; world's user holds both applications in facility A.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import jwt
import pytest
import time_machine
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from oauth2_provider.models import AccessToken

from tests.conftest import World
from tests.test_oidc_introspection import ELOKET, RAAS, basic, clients, introspect, person_tokens
from toegang.oidc import jwt_tokens

__all__ = ["clients"]  # the fixture, imported for the tests below

pytestmark = pytest.mark.django_db
ISSUER = "http://127.0.0.1:8000"


@pytest.fixture(autouse=True)
def _fresh_deny_list_memory() -> None:
    jwt_tokens.forget_local_answers()


def client_credentials(http: Client, rp: tuple[str, str, str] = ELOKET, **extra: Any) -> Any:
    return http.post("/oauth/token/", {"grant_type": "client_credentials", "scope": "authz"}, **basic(rp), **extra)


def cc_token(http: Client, rp: tuple[str, str, str] = ELOKET) -> str:
    r = client_credentials(http, rp)
    assert r.status_code == 200, r.content
    assert r.json()["token_type"] == "Bearer"
    return str(r.json()["access_token"])


def jwks_verify(http: Client, token: str, audience: str = ISSUER) -> dict[str, Any]:
    """Verify as a resource server outside toegang would: with the published JWKS only."""
    keys = {k["kid"]: k for k in http.get("/.well-known/jwks.json").json()["keys"]}
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt" and header["alg"] == "ES256"
    key = jwt.PyJWK(keys[header["kid"]])
    claims: dict[str, Any] = jwt.decode(token, key, algorithms=["ES256"], audience=audience, issuer=ISSUER)
    return claims


def api_check(http: Client, world: World, token: str, scheme: str = "Bearer", **headers: str) -> Any:
    user = world.person("user")
    return http.get(
        f"/api/v1/persons/{user.ssin}/facilities/{world.zon.sd.pk}",
        headers={"Authorization": f"{scheme} {token}", **headers},
    )


def forged(claims: dict[str, Any], *, key: Any = None, kid: str | None = None, typ: str = "at+jwt") -> str:
    """A token as toegang's, but signed by ``key`` (another EC key by default) under ``kid``."""
    keys = jwt_tokens.signing_keys()
    return jwt.encode(
        claims,
        key or ec.generate_private_key(ec.SECP256R1()),
        algorithm="ES256",
        headers={"typ": typ, "kid": keys.kid if kid is None else kid},
    )


def test_client_credentials_token_is_a_signed_jwt_and_not_stored(clients: World) -> None:
    http = Client()
    with CaptureQueriesContext(connection) as ctx:
        token = cc_token(http)
    assert not [q for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE"))]
    claims = jwks_verify(http, token)
    assert claims["sub"] == claims["client_id"] == ELOKET[0]  # RFC 9068 §2.2: no person, the client
    assert claims["scope"] == "authz" and claims["aud"] == ISSUER
    assert claims["exp"] - claims["iat"] == 600 and len(claims["jti"]) >= 16
    assert "cnf" not in claims and "access" not in claims
    assert not AccessToken.objects.exists()


def test_a_persons_token_carries_acr_auth_time_and_access(clients: World) -> None:
    http = Client()
    tokens = person_tokens(http, clients, ELOKET, scope="openid profile access")
    claims = jwks_verify(http, tokens["access_token"])
    user = clients.person("user")
    assert claims["sub"] == str(user.pk) and claims["client_id"] == ELOKET[0]
    assert claims["scope"] == "openid profile access"
    id_token = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert claims["acr"] == id_token["acr"] and claims["auth_time"] == id_token["auth_time"]
    assert [a["subdepartment"]["id"] for a in claims["access"]] == [clients.zon.sd.pk]
    # Stored as its checksum only (RFC 9700 §4), for refresh, userinfo and logout.
    row = AccessToken.objects.get(token_checksum=hashlib.sha256(tokens["access_token"].encode()).hexdigest())
    assert row.token == ""
    # userinfo takes it, and says the same about access.
    r = http.get("/oauth/userinfo/", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert r.status_code == 200, r.content
    assert [a["subdepartment"]["id"] for a in r.json()["access"]] == [clients.zon.sd.pk]
    # A refreshed token is a new JWT of the same login.
    r = http.post(
        "/oauth/token/", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}, **basic(ELOKET)
    )
    assert r.status_code == 200, r.content
    refreshed = jwks_verify(http, r.json()["access_token"])
    assert refreshed["auth_time"] == claims["auth_time"] and refreshed["jti"] != claims["jti"]


def test_the_api_checks_a_jwt_without_the_database(clients: World, settings: Any) -> None:
    http = Client()
    token = cc_token(http)
    assert api_check(http, clients, token).json() == {"allowed": True}
    with CaptureQueriesContext(connection) as ctx:
        r = api_check(http, clients, token)
    assert r.json() == {"allowed": True}
    # The decision's statement only: no token row, client, relying party or deny-list read.
    assert len(ctx.captured_queries) == 1, [q["sql"] for q in ctx.captured_queries]


def test_expired_tokens_are_refused(clients: World) -> None:
    http = Client()
    token = cc_token(http)
    assert api_check(http, clients, token).status_code == 200
    with time_machine.travel(time.time() + 600 + jwt_tokens.LEEWAY_SECONDS + 1):
        r = api_check(http, clients, token)
    assert (r.status_code, r.json()["error"]) == (401, "invalid_token")
    assert r["WWW-Authenticate"].startswith('Bearer realm="toegang", error="invalid_token"')


@pytest.mark.parametrize("case", ["other key", "unknown kid", "wrong issuer", "wrong audience", "id token typ"])
def test_tokens_not_made_by_toegang_for_the_api_are_refused(clients: World, case: str) -> None:
    http = Client()
    claims = jwks_verify(http, cc_token(http))
    if case == "other key":
        token = forged(claims)
    elif case == "unknown kid":
        token = forged(claims, kid="no-such-key")
    elif case == "wrong issuer":
        token = forged({**claims, "iss": "https://evil.example"}, key=jwt_tokens.signing_keys().private)
    elif case == "wrong audience":
        token = forged({**claims, "aud": "https://other.example"}, key=jwt_tokens.signing_keys().private)
    else:
        token = forged(claims, key=jwt_tokens.signing_keys().private, typ="JWT")
    r = api_check(http, clients, token)
    assert (r.status_code, r.json()["error"]) == (401, "invalid_token"), case


def test_an_unsigned_token_is_refused(clients: World) -> None:
    http = Client()
    claims = jwks_verify(http, cc_token(http))
    header = {"typ": "at+jwt", "alg": "none", "kid": jwt_tokens.signing_keys().kid}
    part = [base64.urlsafe_b64encode(json.dumps(x).encode()).rstrip(b"=").decode() for x in (header, claims)]
    r = api_check(http, clients, f"{part[0]}.{part[1]}.")
    assert (r.status_code, r.json()["error"]) == (401, "invalid_token")


def test_a_token_without_the_api_scope_is_403(clients: World) -> None:
    http = Client()
    tokens = person_tokens(http, clients, ELOKET)
    r = api_check(http, clients, tokens["access_token"])
    assert (r.status_code, r.json()["error"]) == (403, "insufficient_scope")


def test_revocation_puts_the_jwt_on_the_deny_list(clients: World) -> None:
    http = Client()
    token, other = cc_token(http), cc_token(http)
    assert api_check(http, clients, token).status_code == 200
    # Another client cannot revoke it (RFC 7009 §2.1): 200, and nothing happens.
    assert http.post("/oauth/revoke_token/", {"token": token}, **basic(RAAS)).status_code == 200
    assert api_check(http, clients, token).status_code == 200
    assert http.post("/oauth/revoke_token/", {"token": token}, **basic(ELOKET)).status_code == 200
    r = api_check(http, clients, token, **{"Accept-Language": "en"})
    assert (r.status_code, r.json()["error"]) == (401, "invalid_token")
    assert r.json()["error_description"] == "The access token has been revoked."
    assert introspect(http, token, ELOKET).json() == {"active": False}
    # The client's other token is untouched.
    assert api_check(http, clients, other).status_code == 200
    assert introspect(http, other, ELOKET).json()["active"] is True


def test_a_revocation_made_elsewhere_is_seen_after_the_local_memory(clients: World, settings: Any) -> None:
    """Another worker revoked it: this worker sees the shared deny-list once its memory of the
    answer (OIDC_DENY_LIST_LOCAL_SECONDS) is over; with 0 at the very next request."""
    settings.OIDC_DENY_LIST_LOCAL_SECONDS = 0
    http = Client()
    token = cc_token(http)
    claims = jwks_verify(http, token)
    assert api_check(http, clients, token).status_code == 200
    cache.set(jwt_tokens.DENY_PREFIX + claims["jti"], 1, 60)  # as deny() in another process
    assert api_check(http, clients, token).status_code == 401


def test_an_unreachable_deny_list_fails_closed(clients: World, monkeypatch: pytest.MonkeyPatch) -> None:
    http = Client()
    token = cc_token(http)

    def down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("cache unreachable")

    monkeypatch.setattr(cache, "get", down)
    r = api_check(http, clients, token)
    assert (r.status_code, r.json()["error"]) == (503, "temporarily_unavailable")


def test_introspection_of_jwts(clients: World) -> None:
    http = Client()
    token = cc_token(http)
    answer = introspect(http, token, ELOKET).json()
    assert answer["active"] is True and answer["client_id"] == ELOKET[0] and answer["scope"] == "authz"
    assert answer["token_type"] == "Bearer" and answer["iss"] == ISSUER
    assert introspect(http, token, RAAS).json() == {"active": False}  # another client's
    assert introspect(http, forged(jwks_verify(http, token)), ELOKET).json() == {"active": False}
    person = person_tokens(http, clients, ELOKET)
    answer = introspect(http, person["access_token"], ELOKET).json()
    assert answer["active"] is True and answer["username"] == clients.person("user").username


def test_logout_ends_a_persons_jwt_at_userinfo(clients: World) -> None:
    """A person's token is also its row: deleting it (logout, refresh-token reuse) ends it at userinfo."""
    http = Client()
    tokens = person_tokens(http, clients, ELOKET)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert http.get("/oauth/userinfo/", headers=headers).status_code == 200
    AccessToken.objects.filter(token_checksum=hashlib.sha256(tokens["access_token"].encode()).hexdigest()).delete()
    assert http.get("/oauth/userinfo/", headers=headers).status_code == 401


def test_discovery_names_the_sender_constrained_tokens(client: Client) -> None:
    config = client.get("/.well-known/openid-configuration").json()
    assert "ES256" in config["dpop_signing_alg_values_supported"]
    assert config["tls_client_certificate_bound_access_tokens"] is True
