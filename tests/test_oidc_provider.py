"""toegang as an OpenID Connect provider, driven by a certified relying party.

The relying party is the npm package openid-client (tests/oidc-client-peer/, pinned by its lock
file): it reads toegang's discovery document, builds the authorization request (PKCE S256, state,
nonce), exchanges the code, verifies the ID token's signature against the JWKS and its claims,
calls userinfo, refreshes, and builds the logout URL. toegang runs in pytest-django's live server
with the demo data; the person's browser is a requests.Session that logs in with the real login
form and follows the authorization request until toegang redirects to the client's redirect URI
(on 127.0.0.1, never listening: the Location header is the callback).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urljoin, urlparse

import pytest
import requests
from django.db import transaction

from tests.conftest import totp_now
from toegang.accounts.models import User
from toegang.applications.models import SecuredApplication
from toegang.delegation.models import Role, RoleAssignment
from toegang.delegation.services import membership_update
from toegang.oidc.models import LoginContext
from toegang.oidc.services import relying_party_register
from toegang.seed.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET, demo_load

PEER_DIR = Path(__file__).resolve().parent / "oidc-client-peer"
NODE, NPM = shutil.which("node"), shutil.which("npm")
CLIENT_ID, CLIENT_SECRET = "eloket-test", "eloket-test-secret-for-the-peer"
REDIRECT_URI = "http://127.0.0.1:9/callback"  # nothing listens: the test reads the Location header
POST_LOGOUT_URI = "http://127.0.0.1:9/"
SCOPE = "openid profile email ssin access offline_access"

requires_node = pytest.mark.skipif(
    not (NODE and NPM), reason="node and npm are needed to run openid-client (tests/oidc-client-peer)"
)
live_db = pytest.mark.django_db(transaction=True, serialized_rollback=True)
pytestmark = [requires_node, live_db, pytest.mark.real_clock]


@pytest.fixture(scope="session")
def rp_modules() -> Path:
    if not (PEER_DIR / "node_modules" / "openid-client").is_dir():
        subprocess.run(  # noqa: S603
            [str(NPM), "ci", "--no-audit", "--no-fund"], cwd=PEER_DIR, check=True, timeout=300
        )
    return PEER_DIR


@pytest.fixture
def toegang_url(live_server: Any, settings: Any) -> Iterator[str]:
    url = f"http://127.0.0.1:{live_server.thread.port}"
    # The issuer is TOEGANG_BASE_URL; here, the live server's address.
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": url}
    yield url


@pytest.fixture
def demo(db: None) -> dict[str, User]:
    demo_load()
    eloket = SecuredApplication.objects.get(code="eloket")
    with transaction.atomic():
        relying_party_register(
            actor=None,
            application=eloket,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            redirect_uris=[REDIRECT_URI],
            post_logout_redirect_uris=[POST_LOGOUT_URI],
        )
    return {u.username: u for u in User.objects.all()}


class RP:
    """openid-client, one node process per step."""

    def __init__(self, issuer: str, modules: Path, secret: str = CLIENT_SECRET) -> None:
        self.issuer, self.modules, self.secret = issuer, modules, secret

    def __call__(self, op: str, **kwargs: Any) -> dict[str, Any]:
        request = {
            "op": op,
            "issuer": self.issuer,
            "client_id": CLIENT_ID,
            "client_secret": self.secret,
            "redirect_uri": REDIRECT_URI,
            "scope": SCOPE,
            **kwargs,
        }
        run = subprocess.run(  # noqa: S603
            [str(NODE), "rp.mjs"],
            cwd=self.modules,
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        answer: dict[str, Any] = json.loads(run.stdout)
        return answer


@pytest.fixture
def rp(rp_modules: Path, toegang_url: str, demo: dict[str, User]) -> RP:
    return RP(toegang_url, rp_modules)


# -- the person's browser -------------------------------------------------------------------------


def _csrf(page: requests.Response) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert match, f"no CSRF token on {page.url}"
    return match.group(1)


def log_in(
    s: requests.Session, base: str, username: str, *, next_url: str = "", totp: bool = False
) -> requests.Response:
    """allauth's login form (and the app code page for a person with a second factor)."""
    login_url = f"{base}/nl/accounts/login/" + (f"?next={quote(next_url)}" if next_url else "")
    page = s.get(login_url, timeout=10)
    r = s.post(
        page.url,
        data={"csrfmiddlewaretoken": _csrf(page), "login": username, "password": DEMO_PASSWORD},
        allow_redirects=False,
        timeout=10,
    )
    if totp and r.status_code == 302 and "/2fa/" in r.headers["Location"]:
        page = s.get(urljoin(base, r.headers["Location"]), timeout=10)
        r = s.post(
            page.url,
            data={"csrfmiddlewaretoken": _csrf(page), "code": totp_now(DEMO_TOTP_SECRET)},
            allow_redirects=False,
            timeout=10,
        )
    assert r.status_code == 302, f"login failed: {r.status_code} {r.text[:300]}"
    return r


def browse(s: requests.Session, url: str, base: str) -> requests.Response:
    """Follow toegang's redirects; stop at the first one that leaves toegang (the client's)."""
    for _ in range(10):
        r = s.get(url, allow_redirects=False, timeout=10)
        location = r.headers.get("Location")
        if r.status_code not in (301, 302, 303) or not location:
            return r
        url = urljoin(url, location)
        if not url.startswith(base):
            return r
    raise AssertionError("too many redirects")


def callback_of(r: requests.Response) -> str:
    assert r.status_code == 302, f"expected a redirect to the client, got {r.status_code}: {r.text[:300]}"
    location = r.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?"), location
    return str(location)


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


def signed_in(rp: RP, base: str, username: str = "gebruiker", **params: Any) -> tuple[requests.Session, dict[str, Any]]:
    """A logged-in browser and the client's code-flow answer."""
    s = requests.Session()
    log_in(s, base, username)
    auth = rp("authorize", params=params)
    callback = callback_of(browse(s, auth["url"], base))
    tokens = rp("callback", callback_url=callback, **_pending(auth))
    return s, {**tokens, "auth": auth, "callback": callback}


def _pending(auth: dict[str, Any]) -> dict[str, Any]:
    return {k: auth[k] for k in ("code_verifier", "state", "nonce")}


FACILITIES = {"Residentiële zorginstelling Campus Noord", "Centrum voor kortverblijf De Zonnebloem"}


# -- tests ----------------------------------------------------------------------------------------


def test_code_flow_with_pkce_gives_verified_claims(rp: RP, toegang_url: str, demo: dict[str, User]) -> None:
    greet = demo["gebruiker"]
    s = requests.Session()
    log_in(s, toegang_url, "gebruiker")
    auth = rp("authorize")

    # Discovery at the issuer's root, with the endpoints the contract names.
    meta = auth["discovery"]
    assert meta["issuer"] == toegang_url
    for key, path in {
        "authorization_endpoint": "/oauth/authorize/",
        "token_endpoint": "/oauth/token/",
        "userinfo_endpoint": "/oauth/userinfo/",
        "jwks_uri": "/oauth/.well-known/jwks.json",
        "end_session_endpoint": "/oauth/logout/",
    }.items():
        assert meta[key] == toegang_url + path
    assert {"ssin", "access", "offline_access", "authz"} <= set(meta["scopes_supported"])
    assert "RS256" in meta["id_token_signing_alg_values_supported"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    root_jwks = requests.get(f"{toegang_url}/.well-known/jwks.json", timeout=10).json()
    assert root_jwks["keys"] and root_jwks["keys"][0]["kty"] == "RSA"

    authorize = query(auth["url"])
    assert authorize["code_challenge_method"] == "S256" and authorize["nonce"] == auth["nonce"]
    callback = callback_of(browse(s, auth["url"], toegang_url))
    assert query(callback)["state"] == auth["state"]
    assert query(callback)["iss"] == toegang_url
    tokens = rp("callback", callback_url=callback, **_pending(auth))
    assert "error" not in tokens, tokens

    claims = tokens["id_token_claims"]  # signature, iss, aud, exp, nonce checked by openid-client
    assert claims["iss"] == toegang_url and claims["aud"] == CLIENT_ID
    assert claims["nonce"] == auth["nonce"]
    assert claims["sub"] == str(greet.pk)
    assert claims["ssin"] == greet.ssin
    assert (claims["given_name"], claims["family_name"], claims["email"]) == ("Greet", "Gebruiker", greet.email)
    assert claims["locale"] == "nl"
    assert (claims["acr"], claims["amr"]) == ("200", ["pwd"])  # password alone
    assert abs(claims["auth_time"] - time.time()) < 60
    access = claims["access"]
    assert {a["subdepartment"]["name"] for a in access} == FACILITIES
    for a in access:
        assert a["application"] == "eloket"
        assert a["enterprise"]["name"] == "WZC De Zonnebloem vzw"
        assert a["quality"]["code"] and a["quality"]["name"]
        assert a["subdepartment"]["id"] and a["subdepartment"]["identification_code"]
        assert a["valid_until"] is None
    # userinfo answers the same claims for the access token.
    assert tokens["userinfo"]["sub"] == claims["sub"]
    assert tokens["userinfo"]["ssin"] == greet.ssin
    assert tokens["userinfo"]["access"] == access
    assert tokens["userinfo"]["acr"] == "200"
    assert tokens["refresh_token"]

    # The code is used: a second exchange is refused (RFC 6749 invalid_grant).
    again = rp("callback", callback_url=callback, **_pending(auth))
    assert again["error"] == "invalid_grant", again


def test_scopes_limit_the_claims(rp: RP, toegang_url: str) -> None:
    _s, tokens = signed_in(rp, toegang_url, scope="openid")
    claims = tokens["id_token_claims"]
    assert "ssin" not in claims and "access" not in claims and "email" not in claims
    assert claims["acr"] == "200"


def test_redirect_uri_must_match_exactly(rp: RP, toegang_url: str) -> None:
    s = requests.Session()
    log_in(s, toegang_url, "gebruiker")
    for wrong in (REDIRECT_URI + "/", REDIRECT_URI + "?x=1", "http://127.0.0.1:10/callback", "https://evil.test/cb"):
        auth = rp("authorize", redirect_uri=wrong)
        r = s.get(auth["url"], allow_redirects=False, timeout=10)
        # Never redirected to an unregistered URI: an error page of toegang's own.
        assert r.status_code == 400, (wrong, r.status_code)
        assert "Location" not in r.headers
        assert "invalid_request" in r.text or "Mismatching redirect URI" in unescape(r.text)
    # The token request must repeat the redirect URI of the authorization request.
    auth = rp("authorize")
    callback = callback_of(browse(s, auth["url"], toegang_url))
    # (openid-client sends the callback URL without its query as the redirect_uri.)
    other_callback = callback.replace(REDIRECT_URI, "http://127.0.0.1:9/other")
    other = rp("callback", callback_url=other_callback, **_pending(auth))
    assert other["error"] in ("invalid_request", "invalid_grant"), other


def test_wrong_client_secret_is_refused(rp: RP, rp_modules: Path, toegang_url: str) -> None:
    s = requests.Session()
    log_in(s, toegang_url, "gebruiker")
    auth = rp("authorize")
    callback = callback_of(browse(s, auth["url"], toegang_url))
    wrong = RP(toegang_url, rp_modules, secret="not-the-secret")("callback", callback_url=callback, **_pending(auth))
    assert wrong["error"] == "invalid_client" and wrong["status"] == 401, wrong
    # The code was not spent by the failed attempt.
    assert "error" not in rp("callback", callback_url=callback, **_pending(auth))


def test_prompt_none_without_session_returns_login_required(rp: RP, toegang_url: str) -> None:
    auth = rp("authorize", params={"prompt": "none"})
    r = requests.get(auth["url"], allow_redirects=False, timeout=10)
    answer = query(callback_of(r))
    assert answer["error"] == "login_required" and answer["state"] == auth["state"]
    assert "code" not in answer


def test_prompt_none_with_session_gives_a_code(rp: RP, toegang_url: str) -> None:
    _s, tokens = signed_in(rp, toegang_url, prompt="none")
    assert tokens["id_token_claims"]["sub"]


def test_prompt_login_asks_for_the_login_again(rp: RP, toegang_url: str) -> None:
    s = requests.Session()
    log_in(s, toegang_url, "gebruiker")
    first = time.time()
    time.sleep(1.1)
    auth = rp("authorize", params={"prompt": "login"})
    r = s.get(auth["url"], allow_redirects=False, timeout=10)
    assert r.status_code == 302
    login_url = urljoin(toegang_url, r.headers["Location"])
    assert "/accounts/login/" in login_url
    next_url = query(login_url)["next"]
    assert next_url.startswith("/oauth/authorize/") and "prompt" not in query(next_url)
    # The session was ended: toegang's home page asks for a login.
    assert "/accounts/login/" in browse(s, f"{toegang_url}/nl/", toegang_url).url or "sessionid" not in s.cookies
    back = log_in(s, toegang_url, "gebruiker", next_url=next_url)
    assert back.headers["Location"] == next_url
    callback = callback_of(browse(s, urljoin(toegang_url, next_url), toegang_url))
    tokens = rp("callback", callback_url=callback, **_pending(auth))
    assert tokens["id_token_claims"]["auth_time"] >= int(first) + 1


def test_max_age(rp: RP, toegang_url: str) -> None:
    s = requests.Session()
    log_in(s, toegang_url, "gebruiker")
    # A recent enough login: the code at once, and openid-client checks auth_time against max_age.
    auth = rp("authorize", params={"max_age": "3600"})
    callback = callback_of(browse(s, auth["url"], toegang_url))
    tokens = rp("callback", callback_url=callback, max_age=3600, **_pending(auth))
    assert "error" not in tokens, tokens
    # An older one: log in again first.
    time.sleep(2.1)
    auth = rp("authorize", params={"max_age": "1"})
    r = s.get(auth["url"], allow_redirects=False, timeout=10)
    assert r.status_code == 302 and "/accounts/login/" in r.headers["Location"]
    # With prompt=none the client hears login_required instead.
    log_in(s, toegang_url, "gebruiker")
    time.sleep(2.1)
    auth = rp("authorize", params={"max_age": "1", "prompt": "none"})
    assert query(callback_of(s.get(auth["url"], allow_redirects=False, timeout=10)))["error"] == "login_required"


def test_person_without_grant_gets_the_no_access_page(rp: RP, toegang_url: str, demo: dict[str, User]) -> None:
    # cosb, the co-manager of Campus Noord, holds no application there.
    s = requests.Session()
    log_in(s, toegang_url, "cosb", totp=True)
    auth = rp("authorize")
    r = browse(s, auth["url"], toegang_url)
    assert r.status_code == 403
    assert "Location" not in r.headers
    text = unescape(r.text)
    assert "Sofie Subbeheer" in text  # the subdepartment manager to ask
    assert "sb@demo.toegang.invalid" in text
    assert "Koen Cosub" not in text
    assert not LoginContext.objects.exists()  # no code was made
    # prompt=none: the client is told, without a page.
    auth = rp("authorize", params={"prompt": "none"})
    answer = query(callback_of(s.get(auth["url"], allow_redirects=False, timeout=10)))
    assert answer["error"] == "access_denied" and "code" not in answer


def test_refresh_reflects_an_ended_grant(rp: RP, toegang_url: str, demo: dict[str, User]) -> None:
    _s, tokens = signed_in(rp, toegang_url)
    assert len(tokens["id_token_claims"]["access"]) == 2

    # The SB unticks E-loket for Greet in Campus Noord (the manual's Bekijken page).
    greet, sb = demo["gebruiker"], demo["sb"]
    membership = RoleAssignment.objects.active().get(
        person=greet, role=Role.USER, subdepartment__name="Residentiële zorginstelling Campus Noord"
    )
    with transaction.atomic():
        membership_update(
            actor=sb,
            membership=membership,
            applications=SecuredApplication.objects.filter(code="raas"),
            status=membership.status,
            email=membership.contact_email or greet.email,
        )

    refreshed = rp("refresh", refresh_token=tokens["refresh_token"])
    assert "error" not in refreshed, refreshed
    claims = refreshed["id_token_claims"]
    assert [a["subdepartment"]["name"] for a in claims["access"]] == ["Centrum voor kortverblijf De Zonnebloem"]
    assert claims["acr"] == "200" and claims["amr"] == ["pwd"]  # still the login the person did
    assert claims["auth_time"] == tokens["id_token_claims"]["auth_time"]
    # Rotation: the old refresh token is spent.
    assert rp("refresh", refresh_token=tokens["refresh_token"])["error"] == "invalid_grant"


def test_rp_initiated_logout_ends_the_session(rp: RP, toegang_url: str) -> None:
    s, tokens = signed_in(rp, toegang_url)
    post_logout = "http://127.0.0.1:9/"
    url = rp("logout", id_token_hint=tokens["id_token"], post_logout_redirect_uri=post_logout)["url"]
    assert url.startswith(f"{toegang_url}/oauth/logout/")
    r = s.get(url, allow_redirects=False, timeout=10)
    assert r.status_code == 302 and r.headers["Location"].startswith(post_logout)
    # Logged out: a new authorization request goes to the login page.
    auth = rp("authorize")
    r = s.get(auth["url"], allow_redirects=False, timeout=10)
    assert "/accounts/login/" in r.headers["Location"]
    # And the client's tokens are gone.
    assert rp("refresh", refresh_token=tokens["refresh_token"])["error"] == "invalid_grant"
