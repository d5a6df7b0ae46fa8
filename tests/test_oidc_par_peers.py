"""Pushed authorization requests, private_key_jwt and request objects, driven by independent clients.

- oauth4webapi (npm, tests/oauth4webapi-peer/par_private_key_jwt.mjs, pinned by its lock file): a
  FAPI 2.0 client pushes its request with a ``private_key_jwt`` assertion, the person's browser
  (a requests.Session with the real login form) follows ``client_id`` + ``request_uri``, and
  oauth4webapi checks the callback (``iss``, ``state``), exchanges the code with another assertion,
  checks the ES256 ID token's claims and nonce, and introspects the access token.
- Authlib (Python, requests client): a signed request object (RS256 and PS256) at the authorization
  endpoint and through PAR, the code exchanged with Authlib's ``PrivateKeyJWT``.

The server is pytest-django's live server with the demo data, as in test_oidc_provider.py.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from django.db import transaction
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from tests import test_oidc_provider as provider
from tests.test_oidc_provider import NODE, NPM, REDIRECT_URI, browse, live_db, log_in, query, requires_node
from toegang.accounts.models import User
from toegang.applications.models import SecuredApplication
from toegang.oidc.services import relying_party_register

# The live server as issuer, and the demo data with E-loket: test_oidc_provider.py's fixtures.
toegang_url = provider.toegang_url
demo = provider.demo

PEER_DIR = Path(__file__).resolve().parent / "oauth4webapi-peer"
SCOPE = "openid profile access"

pytestmark = [live_db, pytest.mark.real_clock]

EC = ECKey.generate_key("P-256", parameters={"kid": "fapi-ec-1", "alg": "ES256", "use": "sig"}, private=True)
RSA = RSAKey.generate_key(2048, parameters={"kid": "authlib-rsa-1"}, private=True)


def register(client_id: str, key: Any, **profile: Any) -> None:
    with transaction.atomic():
        relying_party_register(
            actor=None,
            application=SecuredApplication.objects.get(code="eloket"),
            client_id=client_id,
            client_secret="unused-0123456789-0123456789-0123456789",
            redirect_uris=[REDIRECT_URI],
            profile={
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [key.as_dict(private=False)]},
                **profile,
            },
        )


@pytest.fixture(scope="session")
def peer_modules() -> Path:
    if not (PEER_DIR / "node_modules" / "oauth4webapi").is_dir():
        subprocess.run(  # noqa: S603
            [str(NPM), "ci", "--no-audit", "--no-fund"], cwd=PEER_DIR, check=True, timeout=300
        )
    return PEER_DIR


def peer(modules: Path, **request: Any) -> dict[str, Any]:
    run = subprocess.run(  # noqa: S603
        [str(NODE), "par_private_key_jwt.mjs"],
        cwd=modules,
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer: dict[str, Any] = json.loads(run.stdout)
    return answer


@requires_node
def test_oauth4webapi_par_with_private_key_jwt_for_a_fapi_client(
    peer_modules: Path, toegang_url: str, demo: dict[str, User]
) -> None:
    register("eloket-fapi", EC, fapi=True)
    common = {
        "issuer": toegang_url,
        "client_id": "eloket-fapi",
        "private_jwk": EC.as_dict(private=True),
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPE,
        "id_token_alg": "ES256",
    }
    pushed = peer(peer_modules, op="par", **common)
    assert "error" not in pushed, pushed
    assert pushed["request_uri"].startswith("urn:ietf:params:oauth:request_uri:") and pushed["expires_in"] == 60
    browser = requests.Session()
    log_in(browser, toegang_url, "gebruiker")
    r = browse(browser, pushed["authorization_url"], toegang_url)
    assert r.status_code == 302 and r.headers["Location"].startswith(REDIRECT_URI + "?code="), r.text[:300]
    pending = {k: pushed[k] for k in ("code_verifier", "state", "nonce")}
    tokens = peer(peer_modules, op="token", callback_url=r.headers["Location"], **pending, **common)
    assert "error" not in tokens and "message" not in tokens, tokens
    assert tokens["id_token_header"]["alg"] == "ES256"
    assert tokens["id_token_claims"]["aud"] == "eloket-fapi"
    assert tokens["id_token_claims"]["sub"] == str(demo["gebruiker"].pk)
    assert tokens["introspection"]["active"] is True
    # The request_uri was used: the same browser, or another, gets nothing for it.
    again = browse(browser, pushed["authorization_url"], toegang_url)
    assert again.status_code == 400 and "invalid_request_uri" in again.text
    # A plain authorization request of this client is refused (FAPI: PAR required).
    plain = browse(
        browser,
        f"{toegang_url}/oauth/authorize/?client_id=eloket-fapi&response_type=code&redirect_uri={REDIRECT_URI}&state=s",
        toegang_url,
    )
    assert query(plain.headers["Location"])["error"] == "invalid_request"


@requires_node
def test_oauth4webapi_push_with_a_key_the_client_did_not_register(
    peer_modules: Path, toegang_url: str, demo: dict[str, User]
) -> None:
    register("eloket-fapi", EC, fapi=True)
    stranger = ECKey.generate_key("P-256", parameters={"kid": "fapi-ec-1"}, private=True)
    answer = peer(
        peer_modules,
        op="par",
        issuer=toegang_url,
        client_id="eloket-fapi",
        private_jwk=stranger.as_dict(private=True),
        redirect_uri=REDIRECT_URI,
        scope=SCOPE,
    )
    assert answer.get("status") == 401 and answer.get("error") == "invalid_client", answer
    assert answer["scheme"] == "basic"


def _request_object(params: dict[str, str], issuer: str, alg: str) -> str:
    now = int(time.time())
    claims = {**params, "iss": params["client_id"], "aud": issuer, "iat": now, "nbf": now, "exp": now + 300}
    return jwt.encode({"alg": alg, "kid": RSA.kid, "typ": "oauth-authz-req+jwt"}, claims, RSA, algorithms=[alg])


def _authlib(toegang_url: str) -> OAuth2Session:
    # Authlib signs its assertions for an hour unless told: toegang takes at most 5 minutes.
    auth = PrivateKeyJWT(f"{toegang_url}/oauth/token/", claims={"exp": int(time.time()) + 60}, alg="PS256")
    session = OAuth2Session(
        "eloket-authlib",
        RSA,
        token_endpoint_auth_method="private_key_jwt",
        redirect_uri=REDIRECT_URI,
        scope=SCOPE,
        code_challenge_method="S256",
    )
    session.register_client_auth_method(auth)
    return session


@pytest.mark.parametrize(("alg", "through_par"), [("RS256", False), ("PS256", True)])
def test_authlib_request_object(toegang_url: str, demo: dict[str, User], alg: str, through_par: bool) -> None:
    register("eloket-authlib", RSA)
    session = _authlib(toegang_url)
    verifier = "authlib-" + "v" * 50
    url, state = session.create_authorization_url(
        f"{toegang_url}/oauth/authorize/", code_verifier=verifier, nonce="authlib-nonce"
    )
    signed = _request_object(query(url), toegang_url, alg)
    if through_par:
        # The request object is pushed with an assertion Authlib signs for the PAR endpoint (its aud).
        assertion = private_key_jwt_sign(
            RSA,
            client_id="eloket-authlib",
            token_endpoint=f"{toegang_url}/oauth/par/",
            alg="PS256",
            claims={"exp": int(time.time()) + 60},
        )
        r = requests.post(
            f"{toegang_url}/oauth/par/",
            data={
                "client_id": "eloket-authlib",
                "request": signed,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion,
            },
            timeout=10,
        )
        assert r.status_code == 201, r.text
        authorize = f"{toegang_url}/oauth/authorize/?client_id=eloket-authlib&request_uri={r.json()['request_uri']}"
    else:
        # Only client_id and the request object in the URL: the parameters are inside it.
        authorize = f"{toegang_url}/oauth/authorize/?client_id=eloket-authlib&response_type=code&request={signed}"
    browser = requests.Session()
    log_in(browser, toegang_url, "gebruiker")
    r = browse(browser, authorize, toegang_url)
    assert r.status_code == 302 and query(r.headers["Location"]).get("state") == state, r.headers.get("Location")
    token = session.fetch_token(
        f"{toegang_url}/oauth/token/", authorization_response=r.headers["Location"], code_verifier=verifier
    )
    keys = KeySet.import_key_set(requests.get(f"{toegang_url}/.well-known/jwks.json", timeout=10).json())
    claims = jwt.decode(token["id_token"], keys, algorithms=["RS256"]).claims
    assert claims["nonce"] == "authlib-nonce" and claims["aud"] == "eloket-authlib"


def test_authlib_request_object_with_alg_none_is_refused(toegang_url: str, demo: dict[str, User]) -> None:
    register("eloket-authlib", RSA)
    session = _authlib(toegang_url)
    url, _state = session.create_authorization_url(f"{toegang_url}/oauth/authorize/", code_verifier="v" * 50)
    params = query(url)
    now = int(time.time())
    from joserfc import jws

    unsigned = jws.serialize_compact(
        {"alg": "none"},
        json.dumps({**params, "iss": "eloket-authlib", "aud": toegang_url, "exp": now + 300}),
        None,
        algorithms=["none"],
    )
    browser = requests.Session()
    log_in(browser, toegang_url, "gebruiker")
    r = browse(
        browser,
        f"{toegang_url}/oauth/authorize/?client_id=eloket-authlib&redirect_uri={REDIRECT_URI}&request={unsigned}",
        toegang_url,
    )
    answer = query(r.headers["Location"])
    assert answer["error"] == "invalid_request_object" and "code" not in answer
