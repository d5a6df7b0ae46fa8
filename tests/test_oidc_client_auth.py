"""Client authentication by key and certificate, pushed authorization requests, request objects and
the FAPI 2.0 client profile (issue 14; docs/oidc.md, "Client authentication", "Pushed authorization
requests", "Request objects", "FAPI 2.0 clients").

The clients are registered as ``manage.py oidc_client`` does; their assertions and request objects
are signed here with joserfc (an independent JOSE library: the provider verifies with PyJWT). The
peers (oauth4webapi, Authlib) drive the same features end to end in test_oidc_par_peers.py.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import time_machine
from cryptography import x509
from cryptography.x509.oid import NameOID
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import Client
from joserfc import jws, jwt
from joserfc.jwk import ECKey, KeySet, RSAKey
from oauth2_provider.models import Application

from tests.conftest import World, login
from tests.test_eid import CA, header
from toegang.audit.models import AuditEvent
from toegang.delegation.models import Role, RoleAssignment
from toegang.delegation.services import membership_update
from toegang.oidc.models import ClientProfile
from toegang.oidc.services import relying_party_register

ISSUER = django_settings.BASE_URL
TOKEN_URL = ISSUER + "/oauth/token/"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636 appendix B
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
REDIRECT = "https://eloket.example.test/cb"
OTHER_REDIRECT = "https://raas.example.test/cb"
JWKS_PORT = 8251  # this branch's port range (8250-8299)

RSA = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"}, private=True)
EC = ECKey.generate_key("P-256", parameters={"kid": "ec-1"}, private=True)
OTHER_RSA = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"}, private=True)  # same kid, another key


def jwks_of(*keys: Any) -> dict[str, Any]:
    return {"keys": [k.as_dict(private=False) for k in keys]}


def sign(claims: dict[str, Any], key: Any, alg: str = "PS256", typ: str | None = None) -> str:
    header = {"alg": alg, "kid": key.kid}
    if typ:
        header["typ"] = typ
    return jwt.encode(header, claims, key, algorithms=[alg])


def assertion(client_id: str, key: Any = RSA, alg: str = "PS256", **changes: Any) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": ISSUER, "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())}
    claims.update(changes)
    return sign({k: v for k, v in claims.items() if v is not None}, key, alg)


def key_auth(client_id: str, token: str | None = None, **changes: Any) -> dict[str, str]:
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": token or assertion(client_id, **changes)}


def register(world: World, client_id: str, redirect: str = REDIRECT, app: int = 0, **profile: Any) -> Application:
    with transaction.atomic():
        rp, _ = relying_party_register(
            actor=world.operator,
            application=world.apps[app],
            client_id=client_id,
            client_secret="a-secret-0123456789-0123456789-0123",
            redirect_uris=[redirect],
            profile=profile or None,
        )
    return rp.client


@pytest.fixture
def keyed(world: World) -> World:
    """eloket-key: private_key_jwt with an inline JWKS (RSA and EC); raas-key likewise, other keys.
    world's user may use both applications in facility A."""
    register(world, "eloket-key", token_endpoint_auth_method="private_key_jwt", jwks=jwks_of(RSA, EC))
    register(
        world, "raas-key", OTHER_REDIRECT, app=1, token_endpoint_auth_method="private_key_jwt", jwks=jwks_of(OTHER_RSA)
    )
    with transaction.atomic():
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


def client_credentials(body: dict[str, str], **extra: Any) -> Any:
    return Client().post("/oauth/token/", {"grant_type": "client_credentials", "scope": "authz", **body}, **extra)


# -- private_key_jwt ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "alg"), [(RSA, "PS256"), (RSA, "RS256"), (EC, "ES256")])
def test_private_key_jwt_authenticates_at_the_token_endpoint(keyed: World, key: Any, alg: str) -> None:
    r = client_credentials(key_auth("eloket-key", assertion("eloket-key", key, alg)))
    assert r.status_code == 200, r.content
    assert r.json()["access_token"]


@pytest.mark.parametrize("aud", [TOKEN_URL, [ISSUER, "https://other.example"], ISSUER + "/oauth/introspect/"])
def test_the_assertions_audience_may_be_the_issuer_or_an_endpoint(keyed: World, aud: Any) -> None:
    assert client_credentials(key_auth("eloket-key", aud=aud)).status_code == 200


def _refused(r: Any) -> None:
    assert r.status_code == 401, r.content
    assert r.json()["error"] == "invalid_client"
    assert r["WWW-Authenticate"].startswith("Basic ")


def test_an_assertion_signed_by_another_key_is_refused(keyed: World) -> None:
    _refused(client_credentials(key_auth("eloket-key", assertion("eloket-key", OTHER_RSA))))


def test_a_replayed_assertion_is_refused(keyed: World) -> None:
    token = assertion("eloket-key")
    assert client_credentials(key_auth("eloket-key", token)).status_code == 200
    _refused(client_credentials(key_auth("eloket-key", token)))
    # The jti is per client and kept in the shared cache: a new jti passes.
    assert client_credentials(key_auth("eloket-key")).status_code == 200


def test_an_expired_assertion_is_refused(keyed: World) -> None:
    now = int(time.time())
    _refused(client_credentials(key_auth("eloket-key", iat=now - 600, exp=now - 120)))


def test_an_assertion_valid_for_long_is_refused(keyed: World) -> None:
    _refused(client_credentials(key_auth("eloket-key", exp=int(time.time()) + 3600)))


@pytest.mark.parametrize("aud", ["https://other-provider.example", ISSUER + "/oauth/userinfo/", None])
def test_an_assertion_for_another_audience_is_refused(keyed: World, aud: str | None) -> None:
    _refused(client_credentials(key_auth("eloket-key", aud=aud)))


@pytest.mark.parametrize("changes", [{"jti": None}, {"sub": "raas-key"}, {"iss": "raas-key"}, {"exp": None}], ids=str)
def test_an_assertion_missing_or_mixing_claims_is_refused(keyed: World, changes: dict[str, Any]) -> None:
    _refused(client_credentials(key_auth("eloket-key", **changes)))


def test_another_clients_assertion_is_not_this_clients(keyed: World) -> None:
    # raas-key's own valid assertion, sent with eloket-key's client_id.
    _refused(client_credentials({"client_id": "eloket-key", **key_auth("raas-key", assertion("raas-key", OTHER_RSA))}))


def test_unsigned_and_hmac_assertions_are_refused(keyed: World) -> None:
    now = int(time.time())
    claims = {"iss": "eloket-key", "sub": "eloket-key", "aud": ISSUER, "exp": now + 60, "jti": "x"}
    unsigned = jws.serialize_compact({"alg": "none"}, json.dumps(claims), None, algorithms=["none"])
    _refused(client_credentials(key_auth("eloket-key", unsigned)))
    # HS256 with the public key's bytes as the secret (the old RS/HS confusion) or any other secret.
    from joserfc.jwk import OctKey

    hmac = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key("a-secret-0123456789-0123456789-0123"))
    _refused(client_credentials(key_auth("eloket-key", hmac)))


def test_a_key_client_cannot_fall_back_to_a_secret(keyed: World) -> None:
    client = Application.objects.get(client_id="eloket-key")
    client.client_secret = "a-known-secret-0123456789-0123456789"  # hashed on save
    client.save()
    basic = base64.b64encode(b"eloket-key:a-known-secret-0123456789-0123456789").decode()
    _refused(client_credentials({}, HTTP_AUTHORIZATION=f"Basic {basic}"))
    _refused(client_credentials({"client_id": "eloket-key", "client_secret": "a-known-secret-0123456789-0123456789"}))


def test_a_secret_client_cannot_use_an_assertion_nor_the_other_secret_form(world: World) -> None:
    register(world, "eloket-basic", token_endpoint_auth_method="client_secret_basic")
    secret = "a-secret-0123456789-0123456789-0123"
    basic = base64.b64encode(f"eloket-basic:{secret}".encode()).decode()
    assert client_credentials({}, HTTP_AUTHORIZATION=f"Basic {basic}").status_code == 200
    _refused(client_credentials({"client_id": "eloket-basic", "client_secret": secret}))
    _refused(client_credentials(key_auth("eloket-basic")))


def test_a_client_without_profile_keeps_both_secret_forms(world: World) -> None:
    register(world, "eloket-old")
    secret = "a-secret-0123456789-0123456789-0123"
    basic = base64.b64encode(f"eloket-old:{secret}".encode()).decode()
    assert client_credentials({}, HTTP_AUTHORIZATION=f"Basic {basic}").status_code == 200
    assert client_credentials({"client_id": "eloket-old", "client_secret": secret}).status_code == 200


def test_private_key_jwt_at_introspection_and_revocation(keyed: World) -> None:
    token = client_credentials(key_auth("eloket-key")).json()["access_token"]
    r = Client().post("/oauth/introspect/", {"token": token, **key_auth("eloket-key")})
    assert r.status_code == 200 and r.json()["active"] is True
    # raas-key authenticates, and learns nothing about eloket's token.
    r = Client().post("/oauth/introspect/", {"token": token, **key_auth("raas-key", assertion("raas-key", OTHER_RSA))})
    assert r.json() == {"active": False}
    r = Client().post(
        "/oauth/introspect/", {"token": token, **key_auth("eloket-key", assertion("eloket-key", OTHER_RSA))}
    )
    assert r.status_code == 401
    r = Client().post("/oauth/revoke_token/", {"token": token, **key_auth("eloket-key")})
    assert r.status_code == 200
    r = Client().post("/oauth/introspect/", {"token": token, **key_auth("eloket-key")})
    assert r.json() == {"active": False}


# -- jwks_uri: fetched, cached, fetched again for a new kid ------------------------------------------


class _JwksServer:
    def __init__(self) -> None:
        self.body = b"{}"
        self.fetches = 0
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.fetches += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(owner.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", JWKS_PORT), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{JWKS_PORT}/jwks.json"

    def publish(self, data: Any) -> None:
        self.body = json.dumps(data).encode() if not isinstance(data, bytes) else data


@pytest.fixture
def jwks_server() -> Iterator[_JwksServer]:
    server = _JwksServer()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_jwks_uri_is_cached_and_fetched_again_when_the_client_rotates(world: World, jwks_server: _JwksServer) -> None:
    jwks_server.publish(jwks_of(RSA))
    register(world, "eloket-uri", token_endpoint_auth_method="private_key_jwt", jwks_uri=jwks_server.url)
    assert client_credentials(key_auth("eloket-uri")).status_code == 200
    assert client_credentials(key_auth("eloket-uri")).status_code == 200
    assert jwks_server.fetches == 1  # cached
    # The client publishes a new key and signs with it at once: its kid is unknown, so fetched again.
    new = ECKey.generate_key("P-256", parameters={"kid": "ec-2026"}, private=True)
    jwks_server.publish(jwks_of(RSA, new))
    assert client_credentials(key_auth("eloket-uri", assertion("eloket-uri", new, "ES256"))).status_code == 200
    assert jwks_server.fetches == 2
    # Made-up kids do not make toegang fetch again and again.
    stranger = ECKey.generate_key("P-256", parameters={"kid": "made-up"}, private=True)
    _refused(client_credentials(key_auth("eloket-uri", assertion("eloket-uri", stranger, "ES256"))))
    _refused(client_credentials(key_auth("eloket-uri", assertion("eloket-uri", stranger, "ES256"))))
    assert jwks_server.fetches == 2


def test_a_jwks_uri_answering_too_much_is_refused(world: World, jwks_server: _JwksServer) -> None:
    jwks_server.publish(b'{"keys": [' + b" " * 70_000 + b"]}")
    register(world, "eloket-uri", token_endpoint_auth_method="private_key_jwt", jwks_uri=jwks_server.url)
    _refused(client_credentials(key_auth("eloket-uri")))


# -- tls_client_auth -----------------------------------------------------------------------------


SUBJECT = "CN=eloket.example,O=Eloket NV,C=BE"


def _client_cert(ca: CA, subject: str = SUBJECT) -> x509.Certificate:
    cert = ca.issue(None)
    # CA.issue names the subject CN=Test,C=BE: reissue with the client's subject.
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name.from_rfc4514_string(subject))
        .issuer_name(ca.cert.subject)
        .public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(cert.not_valid_before_utc)
        .not_valid_after(cert.not_valid_after_utc)
        .sign(ca.key, hashes.SHA256())
    )


@pytest.fixture
def tls(world: World, settings: Any, tmp_path: Path) -> CA:
    ca = CA.make("Test client CA")
    from cryptography.hazmat.primitives import serialization

    bundle = tmp_path / "client-ca.pem"
    bundle.write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
    settings.OIDC_CLIENT_CA_BUNDLE = [str(bundle)]
    settings.EID_TRUSTED_PROXIES = ["127.0.0.1"]
    settings.EID_HEADER = "X-SSL-Client-Cert"
    register(world, "eloket-tls", token_endpoint_auth_method="tls_client_auth", tls_client_auth_subject_dn=SUBJECT)
    return ca


def test_tls_client_auth_with_the_registered_subject(tls: CA) -> None:
    r = client_credentials({"client_id": "eloket-tls"}, HTTP_X_SSL_CLIENT_CERT=header(_client_cert(tls)))
    assert r.status_code == 200, r.content


def test_tls_client_auth_refusals(tls: CA) -> None:
    good = header(_client_cert(tls))
    # Not from the trusted proxy.
    _refused(client_credentials({"client_id": "eloket-tls"}, HTTP_X_SSL_CLIENT_CERT=good, REMOTE_ADDR="10.1.2.3"))
    # Another subject, another CA, no certificate.
    other_subject = header(_client_cert(tls, "CN=raas.example,O=RaaS BV,C=BE"))
    _refused(client_credentials({"client_id": "eloket-tls"}, HTTP_X_SSL_CLIENT_CERT=other_subject))
    _refused(client_credentials({"client_id": "eloket-tls"}, HTTP_X_SSL_CLIENT_CERT=header(_client_cert(CA.make()))))
    _refused(client_credentials({"client_id": "eloket-tls"}))
    # Nor a secret.
    _refused(client_credentials({"client_id": "eloket-tls", "client_secret": "a-secret-0123456789-0123456789-0123"}))


# -- pushed authorization requests ---------------------------------------------------------------


def auth_params(client_id: str = "eloket-key", redirect: str = REDIRECT, **changes: Any) -> dict[str, str]:
    params = {
        "client_id": client_id,
        "response_type": "code",
        "redirect_uri": redirect,
        "scope": "openid profile",
        "state": "st-1",
        "nonce": "n-1",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
    }
    params.update(changes)
    return {k: v for k, v in params.items() if v is not None}


def push(params: dict[str, str], auth: dict[str, str] | None = None) -> Any:
    client_id = params.get("client_id", "eloket-key")
    return Client().post("/oauth/par/", {**params, **(auth if auth is not None else key_auth(client_id))})


def test_par_then_the_authorization_endpoint_gives_a_code(keyed: World) -> None:
    r = push(auth_params())
    assert r.status_code == 201, r.content
    answer = r.json()
    assert answer["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert answer["expires_in"] == 60
    assert r["Cache-Control"] == "no-store" or "no-store" in r["Cache-Control"]
    browser = login(Client(), keyed.person("user"))
    r = browser.get("/oauth/authorize/", {"client_id": "eloket-key", "request_uri": answer["request_uri"]})
    assert r.status_code == 302, r.content[:300]
    callback = urlparse(r["Location"])
    query = parse_qs(callback.query)
    assert callback._replace(query="").geturl() == REDIRECT
    assert query["state"] == ["st-1"] and query["iss"] == [ISSUER]
    # The code, exchanged with private_key_jwt; the ID token carries the pushed nonce.
    r = Client().post(
        "/oauth/token/",
        {
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": REDIRECT,
            "code_verifier": VERIFIER,
            **key_auth("eloket-key"),
        },
    )
    assert r.status_code == 200, r.content
    claims = json.loads(base64.urlsafe_b64decode(r.json()["id_token"].split(".")[1] + "=="))
    assert claims["nonce"] == "n-1" and claims["aud"] == "eloket-key"


def _invalid_request_uri(r: Any) -> None:
    assert r.status_code == 400, (r.status_code, r.get("Location"))
    assert b"invalid_request_uri" in r.content


def test_a_request_uri_is_used_once(keyed: World) -> None:
    request_uri = push(auth_params()).json()["request_uri"]
    browser = login(Client(), keyed.person("user"))
    assert browser.get("/oauth/authorize/", {"client_id": "eloket-key", "request_uri": request_uri}).status_code == 302
    _invalid_request_uri(browser.get("/oauth/authorize/", {"client_id": "eloket-key", "request_uri": request_uri}))
    other = login(Client(), keyed.person("user"))
    _invalid_request_uri(other.get("/oauth/authorize/", {"client_id": "eloket-key", "request_uri": request_uri}))


def test_a_request_uri_survives_the_login_in_its_browser_only(keyed: World) -> None:
    request_uri = push(auth_params()).json()["request_uri"]
    browser = Client()
    r = browser.get("/oauth/authorize/", {"client_id": "eloket-key", "request_uri": request_uri})
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]
    # Someone else who learnt the request_uri (a log, a Referer) gets nothing.
    stranger = login(Client(), keyed.person("user"))
    _invalid_request_uri(stranger.get("/oauth/authorize/", {"client_id": "eloket-key", "request_uri": request_uri}))
    login(browser, keyed.person("user"))
    r = browser.get("/oauth/authorize/", {"client_id": "eloket-key", "request_uri": request_uri})
    assert r.status_code == 302 and r["Location"].startswith(REDIRECT + "?code=")


def test_a_pushed_prompt_login_logs_in_again_and_continues(keyed: World) -> None:
    request_uri = push(auth_params(prompt="login")).json()["request_uri"]
    browser = login(Client(), keyed.person("user"))
    r = browser.get("/oauth/authorize/", {"client_id": "eloket-key", "request_uri": request_uri})
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]
    assert "_auth_user_id" not in browser.session  # the session ended
    login(browser, keyed.person("user"))
    r = browser.get("/oauth/authorize/", {"client_id": "eloket-key", "request_uri": request_uri})
    assert r.status_code == 302 and r["Location"].startswith(REDIRECT + "?code="), r.get("Location")


def test_an_expired_request_uri_is_refused(keyed: World) -> None:
    request_uri = push(auth_params()).json()["request_uri"]
    browser = login(Client(), keyed.person("user"))
    with time_machine.travel(time.time() + 61, tick=False):
        _invalid_request_uri(browser.get("/oauth/authorize/", {"client_id": "eloket-key", "request_uri": request_uri}))


def test_another_clients_request_uri_is_refused(keyed: World) -> None:
    request_uri = push(auth_params()).json()["request_uri"]
    browser = login(Client(), keyed.person("user"))
    _invalid_request_uri(browser.get("/oauth/authorize/", {"client_id": "raas-key", "request_uri": request_uri}))
    # ... and is spent: a leaked request_uri is dead.
    _invalid_request_uri(browser.get("/oauth/authorize/", {"client_id": "eloket-key", "request_uri": request_uri}))


def test_the_urls_other_parameters_are_not_the_pushed_ones(keyed: World) -> None:
    request_uri = push(auth_params()).json()["request_uri"]
    browser = login(Client(), keyed.person("user"))
    r = browser.get(
        "/oauth/authorize/",
        {
            "client_id": "eloket-key",
            "request_uri": request_uri,
            "redirect_uri": "https://evil.example/cb",
            "state": "x",
        },
    )
    assert r.status_code == 302 and r["Location"].startswith(REDIRECT + "?")
    assert parse_qs(urlparse(r["Location"]).query)["state"] == ["st-1"]


def test_par_refusals(keyed: World) -> None:
    r = push(auth_params(), auth={})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = push(auth_params(), auth=key_auth("eloket-key", assertion("eloket-key", OTHER_RSA)))
    assert r.status_code == 401
    r = push({**auth_params(), "request_uri": "urn:ietf:params:oauth:request_uri:abc"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = push(auth_params(redirect="https://eloket.example.test/other"))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = push(auth_params(scope="openid admin"))
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    # raas-key pushing for eloket-key: the client_id beside the assertion is not its issuer.
    r = push(auth_params(), auth=key_auth("raas-key", assertion("raas-key", OTHER_RSA)))
    assert r.status_code == 401


def test_a_client_registered_for_par_cannot_send_a_plain_request(world: World) -> None:
    register(
        world,
        "eloket-par",
        token_endpoint_auth_method="private_key_jwt",
        jwks=jwks_of(RSA),
        require_pushed_authorization_requests=True,
    )
    login_client = login(Client(), world.person("user"))
    r = login_client.get("/oauth/authorize/", auth_params("eloket-par"))
    assert r.status_code == 302
    query = parse_qs(urlparse(r["Location"]).query)
    assert query["error"] == ["invalid_request"] and query["state"] == ["st-1"] and query["iss"] == [ISSUER]
    assert "code" not in query


def test_the_setting_requires_par_for_every_client(keyed: World, settings: Any) -> None:
    settings.OIDC_REQUIRE_PUSHED_AUTHORIZATION_REQUESTS = True
    browser = login(Client(), keyed.person("user"))
    r = browser.get("/oauth/authorize/", auth_params())
    assert parse_qs(urlparse(r["Location"]).query)["error"] == ["invalid_request"]
    assert Client().get("/.well-known/openid-configuration").json()["require_pushed_authorization_requests"] is True


def test_a_request_uri_not_from_par_is_not_supported(keyed: World) -> None:
    browser = login(Client(), keyed.person("user"))
    r = browser.get("/oauth/authorize/", auth_params(request_uri="https://eloket.example.test/request.jwt"))
    assert r.status_code == 302
    assert parse_qs(urlparse(r["Location"]).query)["error"] == ["request_uri_not_supported"]


# -- request objects -------------------------------------------------------------------------------


def request_object(client_id: str = "eloket-key", key: Any = RSA, alg: str = "PS256", **changes: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": client_id,
        "aud": ISSUER,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        **auth_params(client_id),
        "state": "inside",
        "max_age": 3600,
    }
    claims.update(changes)
    return sign({k: v for k, v in claims.items() if v is not None}, key, alg, typ="oauth-authz-req+jwt")


def test_a_signed_request_object_gives_a_code_and_its_parameters_win(keyed: World) -> None:
    browser = login(Client(), keyed.person("user"))
    r = browser.get(
        "/oauth/authorize/",
        {"client_id": "eloket-key", "response_type": "code", "state": "outside", "request": request_object()},
    )
    assert r.status_code == 302, r.content[:300]
    query = parse_qs(urlparse(r["Location"]).query)
    assert "code" in query and query["state"] == ["inside"]


def test_a_request_object_through_par(keyed: World) -> None:
    r = push({"client_id": "eloket-key", "request": request_object(key=EC, alg="ES256")})
    assert r.status_code == 201, r.content
    browser = login(Client(), keyed.person("user"))
    r = browser.get("/oauth/authorize/", {"client_id": "eloket-key", "request_uri": r.json()["request_uri"]})
    assert "code" in parse_qs(urlparse(r["Location"]).query)


def _invalid_request_object(r: Any) -> None:
    assert r.status_code == 302, r.content[:300]
    query = parse_qs(urlparse(r["Location"]).query)
    assert query["error"] == ["invalid_request_object"] and "code" not in query


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: request_object(key=OTHER_RSA), id="another key"),
        pytest.param(lambda: request_object(aud="https://other-provider.example"), id="wrong aud"),
        pytest.param(lambda: request_object(iss="raas-key"), id="wrong iss"),
        pytest.param(lambda: request_object(client_id="raas-key", iss="eloket-key"), id="other client_id"),
        pytest.param(lambda: request_object(exp=int(time.time()) - 120), id="expired"),
        pytest.param(lambda: request_object(nbf=int(time.time()) + 600), id="not yet valid"),
        pytest.param(lambda: request_object(exp=None), id="without exp"),
    ],
)
def test_request_object_refusals(keyed: World, token: Any) -> None:
    browser = login(Client(), keyed.person("user"))
    params = {"client_id": "eloket-key", "response_type": "code", "redirect_uri": REDIRECT, "request": token()}
    _invalid_request_object(browser.get("/oauth/authorize/", params))


def test_an_unsigned_request_object_is_refused(keyed: World) -> None:
    now = int(time.time())
    claims = {"iss": "eloket-key", "aud": ISSUER, "exp": now + 300, **auth_params()}
    unsigned = jws.serialize_compact({"alg": "none"}, json.dumps(claims), None, algorithms=["none"])
    browser = login(Client(), keyed.person("user"))
    params = {"client_id": "eloket-key", "redirect_uri": REDIRECT, "request": unsigned}
    _invalid_request_object(browser.get("/oauth/authorize/", params))
    r = push({"client_id": "eloket-key", "request": unsigned})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request_object"


def test_a_request_object_of_a_client_without_keys_is_refused(world: World) -> None:
    register(world, "eloket-old")
    browser = login(Client(), world.person("user"))
    r = browser.get(
        "/oauth/authorize/",
        {"client_id": "eloket-old", "redirect_uri": REDIRECT, "request": request_object("eloket-old")},
    )
    _invalid_request_object(r)


# -- FAPI 2.0 clients ----------------------------------------------------------------------------


@pytest.fixture
def fapi(keyed: World) -> World:
    register(keyed, "eloket-fapi", token_endpoint_auth_method="private_key_jwt", jwks=jwks_of(RSA, EC), fapi=True)
    return keyed


def test_fapi_client_cannot_be_registered_with_a_secret(world: World) -> None:
    with pytest.raises(ValidationError):
        register(world, "eloket-fapi", token_endpoint_auth_method="client_secret_basic", fapi=True)
    with pytest.raises(ValidationError):
        register(world, "eloket-fapi", fapi=True)


def test_fapi_requires_par(fapi: World) -> None:
    profile = ClientProfile.objects.get(client__client_id="eloket-fapi")
    assert profile.require_pushed_authorization_requests and profile.id_token_signed_response_alg == "ES256"
    browser = login(Client(), fapi.person("user"))
    r = browser.get("/oauth/authorize/", auth_params("eloket-fapi"))
    assert parse_qs(urlparse(r["Location"]).query)["error"] == ["invalid_request"]
    # A request object without PAR neither.
    r = browser.get(
        "/oauth/authorize/",
        {"client_id": "eloket-fapi", "redirect_uri": REDIRECT, "request": request_object("eloket-fapi")},
    )
    assert parse_qs(urlparse(r["Location"]).query)["error"] == ["invalid_request"]


@pytest.mark.parametrize(
    "changes",
    [
        {"code_challenge_method": "plain", "code_challenge": VERIFIER},
        {"code_challenge_method": None, "code_challenge": None},
        {"response_type": "code id_token"},
        {"response_type": "token"},
        {"redirect_uri": None},
        {"redirect_uri": REDIRECT + "/"},
    ],
    ids=str,
)
def test_fapi_par_refusals(fapi: World, changes: dict[str, Any]) -> None:
    r = push(auth_params("eloket-fapi", **changes))
    assert r.status_code == 400, r.content
    assert r.json()["error"] in ("invalid_request", "unsupported_response_type")


def test_fapi_refuses_a_secret_even_one_the_client_still_has(fapi: World) -> None:
    client = Application.objects.get(client_id="eloket-fapi")
    client.client_secret = "a-known-secret-0123456789-0123456789"
    client.save()
    r = push(auth_params("eloket-fapi"), auth={"client_secret": "a-known-secret-0123456789-0123456789"})
    assert r.status_code == 401


def test_fapi_id_token_is_es256_and_verifies_with_the_jwks(fapi: World) -> None:
    request_uri = push(auth_params("eloket-fapi")).json()["request_uri"]
    browser = login(Client(), fapi.person("user"))
    r = browser.get("/oauth/authorize/", {"client_id": "eloket-fapi", "request_uri": request_uri})
    code = parse_qs(urlparse(r["Location"]).query)["code"][0]
    r = Client().post(
        "/oauth/token/",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": VERIFIER,
            **key_auth("eloket-fapi"),
        },
    )
    assert r.status_code == 200, r.content
    id_token = r.json()["id_token"]
    header = json.loads(base64.urlsafe_b64decode(id_token.split(".")[0] + "=="))
    assert header["alg"] == "ES256"
    keys = Client().get("/.well-known/jwks.json").json()
    claims = jwt.decode(id_token, KeySet.import_key_set(keys), algorithms=["ES256"]).claims
    assert claims["aud"] == "eloket-fapi" and claims["nonce"] == "n-1"
    # Other clients keep RS256.
    assert any(k["alg"] == "RS256" for k in keys["keys"]) and any(k["alg"] == "ES256" for k in keys["keys"])


# -- discovery and registration ------------------------------------------------------------------


def test_discovery_names_par_request_objects_and_the_methods(db: None) -> None:
    config = Client().get("/.well-known/openid-configuration").json()
    assert config["pushed_authorization_request_endpoint"] == ISSUER + "/oauth/par/"
    assert config["require_pushed_authorization_requests"] is False
    assert config["request_parameter_supported"] is True
    assert config["request_uri_parameter_supported"] is False
    assert set(config["request_object_signing_alg_values_supported"]) == {"PS256", "ES256", "RS256"}
    methods = ["client_secret_basic", "client_secret_post", "private_key_jwt", "tls_client_auth"]
    for endpoint in ("token", "introspection", "revocation"):
        assert config[f"{endpoint}_endpoint_auth_methods_supported"] == methods
        assert "none" not in config[f"{endpoint}_endpoint_auth_signing_alg_values_supported"]
        assert not any(a.startswith("HS") for a in config[f"{endpoint}_endpoint_auth_signing_alg_values_supported"])
    assert "ES256" in config["id_token_signing_alg_values_supported"]


def test_the_command_registers_a_key_client(world: World, tmp_path: Path) -> None:
    jwks_file = tmp_path / "eloket.jwks.json"
    jwks_file.write_text(json.dumps(jwks_of(RSA)))
    out = StringIO()
    code = world.apps[0].code
    call_command(
        "oidc_client",
        "--application",
        code,
        "--client-id",
        "eloket-cmd",
        "--redirect-uri",
        REDIRECT,
        "--auth-method",
        "private_key_jwt",
        "--jwks-file",
        str(jwks_file),
        "--fapi",
        stdout=out,
    )
    assert "client_secret=" not in out.getvalue()
    profile = ClientProfile.objects.get(client__client_id="eloket-cmd")
    assert profile.token_endpoint_auth_method == "private_key_jwt" and profile.fapi
    assert profile.jwks == jwks_of(RSA)
    event = AuditEvent.objects.filter(params__client_id="eloket-cmd").latest("pk")
    assert event.after is not None and event.after["token_endpoint_auth_method"] == "private_key_jwt"
    assert client_credentials(key_auth("eloket-cmd")).status_code == 200
    # A private key is refused; FAPI with a secret too.
    jwks_file.write_text(json.dumps({"keys": [RSA.as_dict(private=True)]}))
    with pytest.raises(CommandError):
        call_command(
            "oidc_client",
            "--application",
            code,
            "--client-id",
            "x",
            "--redirect-uri",
            REDIRECT,
            "--jwks-file",
            str(jwks_file),
        )
    with pytest.raises(CommandError):
        call_command("oidc_client", "--application", code, "--client-id", "x", "--redirect-uri", REDIRECT, "--fapi")
    call_command(
        "oidc_client",
        "--application",
        code,
        "--client-id",
        "eloket-tls",
        "--redirect-uri",
        REDIRECT,
        "--auth-method",
        "tls_client_auth",
        "--tls-client-auth-subject-dn",
        SUBJECT,
        stdout=StringIO(),
    )
    assert ClientProfile.objects.get(client__client_id="eloket-tls").tls_client_auth_subject_dn == SUBJECT


_ = NameOID  # the subject names above are RFC 4514 strings


@pytest.mark.parametrize("garbage", ["", "x", "a.b.c", "e30.e30.", "eyJhbGciOiJQUzI1NiJ9.bm90IGpzb24.c2ln"])
def test_garbage_is_a_protocol_error_never_a_500(keyed: World, garbage: str) -> None:
    assert client_credentials({"client_assertion_type": ASSERTION_TYPE, "client_assertion": garbage}).status_code == 401
    assert client_credentials({"client_assertion_type": garbage, "client_assertion": garbage}).status_code == 401
    r = push({"client_id": "eloket-key", "request": garbage})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request_object"
    browser = login(Client(), keyed.person("user"))
    for params in (
        {"client_id": "eloket-key", "request": garbage},
        {"client_id": "eloket-key", "request_uri": "urn:ietf:params:oauth:request_uri:" + garbage},
        {"client_id": garbage, "request_uri": "urn:ietf:params:oauth:request_uri:x"},
        {"request": garbage},
    ):
        assert browser.get("/oauth/authorize/", params).status_code in (302, 400), params
    assert Client().get("/oauth/par/").status_code == 405
