"""JWT access tokens and DPoP with an independent client: oauth4webapi (npm, tests/oauth4webapi-peer,
pinned by its lock file) against toegang in the live server, with the demo data.

- ``dpop.mjs``: oauth4webapi's DPoP handle (its own key pair, proofs and nonce handling) gets a
  DPoP-bound token by client credentials and by the code flow, and calls the authorization API and
  userinfo with it.
- ``jwt_access_token.mjs``: oauth4webapi's resource-server validation (``validateJwtAccessToken``,
  RFC 9068: the JWKS, typ, iss, aud, exp, jti, client_id, and cnf with the DPoP proof) accepts the
  tokens toegang issues, as sent to the authorization API.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.test_oidc_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    REDIRECT_URI,
    browse,
    callback_of,
    demo,
    live_db,
    log_in,
    toegang_url,
)
from toegang.accounts.models import User

__all__ = ["demo", "toegang_url"]  # fixtures, imported for the tests below

PEER_DIR = Path(__file__).resolve().parent / "oauth4webapi-peer"
NODE, NPM = shutil.which("node"), shutil.which("npm")
requires_node = pytest.mark.skipif(
    not (NODE and NPM), reason="node and npm are needed to run oauth4webapi (tests/oauth4webapi-peer)"
)
pytestmark = [requires_node, live_db, pytest.mark.real_clock]


@pytest.fixture(scope="session")
def peer_modules() -> Path:
    if not (PEER_DIR / "node_modules" / "oauth4webapi").is_dir():
        subprocess.run(  # noqa: S603
            [str(NPM), "ci", "--no-audit", "--no-fund"], cwd=PEER_DIR, check=True, timeout=300
        )
    return PEER_DIR


def peer(modules: Path, script: str, **request: Any) -> dict[str, Any]:
    run = subprocess.run(  # noqa: S603
        [str(NODE), script],
        cwd=modules,
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer: dict[str, Any] = json.loads(run.stdout)
    assert "error" not in answer, answer
    return answer


@pytest.fixture
def api_url(toegang_url: str, demo: dict[str, User]) -> str:
    return f"{toegang_url}/api/v1/persons/{demo['gebruiker'].ssin}/facilities"


def test_a_dpop_bound_client_credentials_token_calls_the_api(
    peer_modules: Path, toegang_url: str, api_url: str, settings: Any
) -> None:
    settings.OIDC_DPOP_NONCE_REQUIRED = True  # oauth4webapi answers use_dpop_nonce by itself
    common = {"issuer": toegang_url, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    answer = peer(peer_modules, "dpop.mjs", op="client_credentials", api_url=api_url, **common)
    assert answer["token_type"].lower() == "dpop"
    assert answer["api_status"] == 200 and len(answer["api_body"]) == 2, answer
    # The same token as a bearer token: refused (RFC 9449 §7.2).
    r = requests.get(api_url, headers={"Authorization": f"Bearer {answer['access_token']}"}, timeout=10)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("DPoP ")


def test_a_dpop_bound_code_flow_token_calls_userinfo(
    peer_modules: Path, toegang_url: str, demo: dict[str, User]
) -> None:
    common = {"issuer": toegang_url, "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI}
    auth = peer(peer_modules, "dpop.mjs", op="authorize", scope="openid profile", **common)
    browser = requests.Session()
    log_in(browser, toegang_url, "gebruiker")
    callback = callback_of(browse(browser, auth["url"], toegang_url))
    answer = peer(
        peer_modules,
        "dpop.mjs",
        op="callback",
        client_secret=CLIENT_SECRET,
        callback_url=callback,
        code_verifier=auth["code_verifier"],
        state=auth["state"],
        **common,
    )
    assert answer["token_type"].lower() == "dpop"
    assert answer["userinfo"]["given_name"]
    r = requests.get(
        f"{toegang_url}/oauth/userinfo/", headers={"Authorization": f"Bearer {answer['access_token']}"}, timeout=10
    )
    assert r.status_code == 401


@pytest.mark.parametrize("dpop", [False, True])
def test_oauth4webapi_validates_the_jwt_access_token(
    peer_modules: Path, toegang_url: str, api_url: str, dpop: bool
) -> None:
    answer = peer(
        peer_modules,
        "jwt_access_token.mjs",
        issuer=toegang_url,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        api_url=api_url,
        audience=toegang_url,
        dpop=dpop,
    )
    claims = answer["claims"]
    assert claims["client_id"] == claims["sub"] == CLIENT_ID and claims["scope"] == "authz"
    assert claims["iss"] == claims["aud"] == toegang_url
    assert ("cnf" in claims) is dpop
    assert answer["api_status"] == 200 and len(answer["api_body"]) == 2
