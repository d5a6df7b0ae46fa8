"""Sender-constrained access tokens (issue 14): DPoP (RFC 9449) and client certificates (RFC 8705 §3),
at the token endpoint, the authorization API and userinfo. The proofs are made here with PyJWT and
jwcrypto, as a client library would; oauth4webapi's own run is tests/test_oauth4webapi_peer.py.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
import time
from typing import Any
from urllib.parse import quote

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.test import Client
from jwcrypto import jwk  # type: ignore[import-untyped]

from tests.conftest import World
from tests.test_oidc_introspection import ELOKET, basic, clients, introspect, person_tokens
from tests.test_oidc_jwt_tokens import api_check, jwks_verify
from toegang.oidc import dpop, jwt_tokens

__all__ = ["clients"]  # the fixture, imported for the tests below

pytestmark = pytest.mark.django_db
TOKEN_URL = "http://testserver/oauth/token/"
USERINFO_URL = "http://testserver/oauth/userinfo/"


@pytest.fixture(autouse=True)
def _fresh_deny_list_memory() -> None:
    jwt_tokens.forget_local_answers()


class DpopKey:
    """A client's DPoP key and the proofs it signs."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.jwk = jwk.JWK.from_pyca(self.private.public_key())
        self.public = json.loads(self.jwk.export_public())
        self.jkt = self.jwk.thumbprint()

    def proof(
        self,
        method: str,
        url: str,
        token: str | None = None,
        *,
        iat: float | None = None,
        nonce: str | None = None,
        header: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        body: dict[str, Any] = {
            "jti": secrets.token_urlsafe(12),
            "htm": method,
            "htu": url,
            "iat": int(time.time() if iat is None else iat),
        }
        if token is not None:
            body["ath"] = base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()
        if nonce is not None:
            body["nonce"] = nonce
        body.update(claims)
        return jwt.encode(
            body, self.private, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": self.public, **(header or {})}
        )


def api_url(world: World) -> str:
    return f"http://testserver/api/v1/persons/{world.person('user').ssin}/facilities/{world.zon.sd.pk}"


def dpop_token(http: Client, key: DpopKey) -> str:
    r = http.post(
        "/oauth/token/",
        {"grant_type": "client_credentials", "scope": "authz"},
        HTTP_DPOP=key.proof("POST", TOKEN_URL),
        **basic(ELOKET),
    )
    assert r.status_code == 200, r.content
    assert r.json()["token_type"] == "DPoP"
    return str(r.json()["access_token"])


# --- DPoP --------------------------------------------------------------------------------------------


def test_a_dpop_bound_token_is_accepted_with_a_proof_of_its_key(clients: World) -> None:
    http, key = Client(), DpopKey()
    token = dpop_token(http, key)
    assert jwks_verify(http, token)["cnf"] == {"jkt": key.jkt}
    r = api_check(http, clients, token, "DPoP", DPoP=key.proof("GET", api_url(clients), token))
    assert r.status_code == 200, r.content
    assert r.json() == {"allowed": True}
    answer = introspect(http, token, ELOKET).json()
    assert answer["token_type"] == "DPoP" and answer["cnf"] == {"jkt": key.jkt}


def _refused(r: Any, error: str = "invalid_token") -> str:
    assert r.status_code == 401, r.content
    assert r.json()["error"] == error
    challenge = str(r["WWW-Authenticate"])
    assert challenge.startswith(f'DPoP realm="toegang", error="{error}"'), challenge
    assert "algs=" in challenge
    return challenge


def test_a_dpop_bound_token_sent_as_bearer_is_refused(clients: World) -> None:
    http, key = Client(), DpopKey()
    token = dpop_token(http, key)
    _refused(api_check(http, clients, token))
    _refused(api_check(http, clients, token, DPoP=key.proof("GET", api_url(clients), token)))


def test_a_replayed_proof_is_refused(clients: World) -> None:
    http, key = Client(), DpopKey()
    token = dpop_token(http, key)
    proof = key.proof("GET", api_url(clients), token)
    assert api_check(http, clients, token, "DPoP", DPoP=proof).status_code == 200
    _refused(api_check(http, clients, token, "DPoP", DPoP=proof), "invalid_dpop_proof")


@pytest.mark.parametrize(
    "case", ["wrong htu", "wrong htm", "wrong ath", "other key", "old iat", "private key in jwk", "no proof", "two"]
)
def test_bad_proofs_are_refused(clients: World, case: str) -> None:
    http, key = Client(), DpopKey()
    token = dpop_token(http, key)
    url = api_url(clients)
    proofs = {
        "wrong htu": key.proof("GET", "http://testserver/api/v1/checks", token),
        "wrong htm": key.proof("POST", url, token),
        "wrong ath": key.proof("GET", url, token + "x"),
        "other key": DpopKey().proof("GET", url, token),
        "old iat": key.proof("GET", url, token, iat=time.time() - 3600),
        "private key in jwk": key.proof(
            "GET", url, token, header={"jwk": json.loads(jwk.JWK.from_pyca(key.private).export_private())}
        ),
        "no proof": "",
        "two": key.proof("GET", url, token) + "," + key.proof("GET", url, token),
    }
    extra = {"DPoP": proofs[case]} if proofs[case] else {}
    r = api_check(http, clients, token, "DPoP", **extra)
    _refused(r, "invalid_token" if case == "other key" else "invalid_dpop_proof")


def test_the_dpop_scheme_with_an_unbound_token_is_refused(clients: World) -> None:
    http, key = Client(), DpopKey()
    r = http.post("/oauth/token/", {"grant_type": "client_credentials", "scope": "authz"}, **basic(ELOKET))
    token = r.json()["access_token"]
    _refused(api_check(http, clients, token, "DPoP", DPoP=key.proof("GET", api_url(clients), token)))


def test_a_bad_proof_at_the_token_endpoint_is_400(clients: World) -> None:
    http, key = Client(), DpopKey()
    for proof in ("not-a-jwt", key.proof("POST", "http://testserver/oauth/other/"), key.proof("GET", TOKEN_URL)):
        r = http.post(
            "/oauth/token/", {"grant_type": "client_credentials", "scope": "authz"}, HTTP_DPOP=proof, **basic(ELOKET)
        )
        assert (r.status_code, r.json()["error"]) == (400, "invalid_dpop_proof"), proof


def test_server_nonces(clients: World, settings: Any) -> None:
    settings.OIDC_DPOP_NONCE_REQUIRED = True
    http, key = Client(), DpopKey()
    form = {"grant_type": "client_credentials", "scope": "authz"}
    r = http.post("/oauth/token/", form, HTTP_DPOP=key.proof("POST", TOKEN_URL), **basic(ELOKET))
    assert (r.status_code, r.json()["error"]) == (400, "use_dpop_nonce")
    nonce = r["DPoP-Nonce"]
    r = http.post("/oauth/token/", form, HTTP_DPOP=key.proof("POST", TOKEN_URL, nonce=nonce), **basic(ELOKET))
    assert r.status_code == 200, r.content
    token = r.json()["access_token"]
    r = api_check(http, clients, token, "DPoP", DPoP=key.proof("GET", api_url(clients), token))
    _refused(r, "use_dpop_nonce")
    assert r["DPoP-Nonce"] == nonce
    r = api_check(http, clients, token, "DPoP", DPoP=key.proof("GET", api_url(clients), token, nonce=nonce))
    assert r.status_code == 200
    assert not dpop.nonce_valid("0.forged") and not dpop.nonce_valid(dpop.current_nonce(time.time() - 3600))


def test_userinfo_and_refresh_with_dpop(clients: World) -> None:
    """A person's token bound at the code exchange; userinfo wants the proof. The refresh token of a
    confidential client is not bound (RFC 9449 §5): a refresh with another key binds the new token to it."""
    http, key = Client(), DpopKey()
    tokens = person_tokens(http, clients, ELOKET, HTTP_DPOP=key.proof("POST", TOKEN_URL))
    assert tokens["token_type"] == "DPoP"
    token = tokens["access_token"]
    assert jwks_verify(http, token)["cnf"] == {"jkt": key.jkt}
    r = http.get(
        "/oauth/userinfo/", headers={"Authorization": f"DPoP {token}"}, HTTP_DPOP=key.proof("GET", USERINFO_URL, token)
    )
    assert r.status_code == 200, r.content
    assert r.json()["sub"] == str(clients.person("user").pk)
    r = http.get("/oauth/userinfo/", headers={"Authorization": f"Bearer {token}"})
    _refused(r)
    r = http.get(
        "/oauth/userinfo/", headers={"Authorization": f"DPoP {token}"}, HTTP_DPOP=key.proof("GET", USERINFO_URL)
    )
    _refused(r, "invalid_dpop_proof")  # no ath
    other = DpopKey()
    r = http.post(
        "/oauth/token/",
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        HTTP_DPOP=other.proof("POST", TOKEN_URL),
        **basic(ELOKET),
    )
    assert r.status_code == 200, r.content
    assert jwks_verify(http, r.json()["access_token"])["cnf"] == {"jkt": other.jkt}


# --- certificate-bound tokens (RFC 8705 §3) -------------------------------------------------------------


def certificate(name: str) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )


def cert_header(cert: x509.Certificate) -> dict[str, Any]:
    """As nginx's $ssl_client_escaped_cert in TOEGANG_EID_HEADER (docs/eid.md)."""
    return {"HTTP_X_SSL_CLIENT_CERT": quote(cert.public_bytes(serialization.Encoding.PEM).decode())}


def test_a_certificate_bound_token_needs_its_certificate(clients: World) -> None:
    http = Client()
    mine, other = certificate("eloket back end"), certificate("someone else")
    r = http.post(
        "/oauth/token/", {"grant_type": "client_credentials", "scope": "authz"}, **basic(ELOKET), **cert_header(mine)
    )
    assert r.status_code == 200 and r.json()["token_type"] == "Bearer", r.content
    token = r.json()["access_token"]
    thumbprint = base64.urlsafe_b64encode(hashlib.sha256(mine.public_bytes(serialization.Encoding.DER)).digest())
    assert jwks_verify(http, token)["cnf"] == {"x5t#S256": thumbprint.rstrip(b"=").decode()}
    user, sd = clients.person("user").ssin, clients.zon.sd.pk
    url = f"/api/v1/persons/{user}/facilities/{sd}"
    auth: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert http.get(url, **auth, **cert_header(mine)).status_code == 200
    for extra in ({}, cert_header(other), {**cert_header(mine), "REMOTE_ADDR": "10.9.9.9"}):
        r = http.get(url, **auth, **extra)
        assert (r.status_code, r.json()["error"]) == (401, "invalid_token"), extra


def test_a_certificate_from_an_untrusted_address_binds_nothing(clients: World) -> None:
    http = Client()
    r = http.post(
        "/oauth/token/",
        {"grant_type": "client_credentials", "scope": "authz"},
        **basic(ELOKET),
        **cert_header(certificate("x")),
        REMOTE_ADDR="10.9.9.9",
    )
    assert r.status_code == 200
    assert "cnf" not in jwks_verify(http, r.json()["access_token"])
