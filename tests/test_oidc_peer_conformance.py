"""Issue 14's conformance rules driven by independent clients against the live server.

- oauth4webapi (npm, tests/oauth4webapi-peer/authorization_response.mjs) reads authorization
  responses the way it reads any provider's: it refuses a response without ``iss`` when discovery
  announces RFC 9207, so before the fix it could not read toegang's error redirects (``prompt=none``
  gave ``login_required`` without ``iss``) — here it reads every one.
- Authlib (Python) builds the authorization request, which is sent by POST (OpenID Connect Core
  3.1.2.1) without a CSRF token, exchanges the code, and logs out by POST (RP-Initiated Logout §2).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session

from tests import test_oidc_provider as provider
from toegang.accounts.models import User

PEER_DIR = Path(__file__).resolve().parent / "oauth4webapi-peer"
toegang_url, demo = provider.toegang_url, provider.demo  # the live server and E-loket's client
CLIENT_ID, CLIENT_SECRET, REDIRECT_URI = provider.CLIENT_ID, provider.CLIENT_SECRET, provider.REDIRECT_URI
pytestmark = [provider.requires_node, provider.live_db, pytest.mark.real_clock]


@pytest.fixture(scope="session")
def peer_modules() -> Path:
    if not (PEER_DIR / "node_modules" / "oauth4webapi").is_dir():
        subprocess.run(  # noqa: S603
            [str(provider.NPM), "ci", "--no-audit", "--no-fund"], cwd=PEER_DIR, check=True, timeout=300
        )
    return PEER_DIR


def oauth4webapi(base: str, op: str, **kwargs: Any) -> dict[str, Any]:
    request = {
        "op": op,
        "issuer": base,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile",
        **kwargs,
    }
    run = subprocess.run(  # noqa: S603
        [str(provider.NODE), "authorization_response.mjs"],
        cwd=PEER_DIR,
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer: dict[str, Any] = json.loads(run.stdout)
    return answer


def read_response(s: requests.Session, base: str, **params: str) -> dict[str, Any]:
    """oauth4webapi's request, the browser's walk to the client's redirect URI, oauth4webapi's reading."""
    auth = oauth4webapi(base, "authorize", params=params)
    callback = provider.callback_of(provider.browse(s, auth["url"], base))
    return oauth4webapi(
        base, "callback", callback_url=callback, state=auth["state"], code_verifier=auth["code_verifier"]
    )


def test_oauth4webapi_reads_every_authorization_error_by_its_iss(
    peer_modules: Path, toegang_url: str, demo: dict[str, User]
) -> None:
    anonymous = requests.Session()
    assert read_response(anonymous, toegang_url, prompt="none") == {
        "error": "login_required",
        "error_description": None,
    }
    s = requests.Session()
    provider.log_in(s, toegang_url, "gebruiker")
    for params, error in (
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"scope": "openid authz"}, "invalid_scope"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"request": "eyJhbGciOiJub25lIn0.e30."}, "invalid_request_object"),
        ({"request_uri": "urn:example:request"}, "request_uri_not_supported"),
        ({"response_mode": "fragment"}, "invalid_request"),
    ):
        answer = read_response(s, toegang_url, **params)
        assert answer.get("error") == error, (params, answer)
    # A person without the application, prompt=none: toegang's own refusal, as readable.
    cosb = requests.Session()
    provider.log_in(cosb, toegang_url, "cosb", totp=True)
    assert read_response(cosb, toegang_url, prompt="none")["error"] == "access_denied"
    # And the code itself, exchanged by oauth4webapi (which checks the ID token's iss and aud).
    answer = read_response(s, toegang_url)
    assert answer["code"] and answer["sub"] == str(demo["gebruiker"].pk), answer


def test_authlib_authorizes_and_logs_out_by_post(toegang_url: str, demo: dict[str, User]) -> None:
    config = requests.get(f"{toegang_url}/.well-known/openid-configuration", timeout=10).json()
    client = OAuth2Session(
        CLIENT_ID, CLIENT_SECRET, scope="openid profile", redirect_uri=REDIRECT_URI, code_challenge_method="S256"
    )
    verifier = "v" * 20 + "-._~" + "0123456789" * 3  # 54 characters of RFC 7636's unreserved set
    url, state = client.create_authorization_url(config["authorization_endpoint"], code_verifier=verifier)
    endpoint = url.split("?", 1)[0]
    params = dict(parse_qsl(urlsplit(url).query))
    browser = requests.Session()
    provider.log_in(browser, toegang_url, "gebruiker")
    # By POST, form-serialized, with no CSRF token: a code at the redirect URI, with iss.
    r = browser.post(endpoint, data=params, allow_redirects=False, timeout=10)
    callback = provider.callback_of(r)
    answer = provider.query(callback)
    assert answer["state"] == state and answer["iss"] == config["issuer"] and answer["code"]
    tokens = client.fetch_token(config["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    assert tokens["id_token"] and tokens["refresh_token"]
    # RP-initiated logout by POST, to the exactly registered post-logout URI.
    r = browser.post(
        config["end_session_endpoint"],
        data={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": provider.POST_LOGOUT_URI, "state": "x"},
        allow_redirects=False,
        timeout=10,
    )
    assert r.status_code == 302 and r.headers["Location"] == provider.POST_LOGOUT_URI + "?state=x"
    r = browser.get(url, allow_redirects=False, timeout=10)
    assert "/accounts/login/" in r.headers["Location"]  # the session ended
    refreshed = requests.post(
        config["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=10,
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
