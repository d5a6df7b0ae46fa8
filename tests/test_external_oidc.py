"""Login through an external OpenID Connect provider (itsme, the federal login: level 450).

The provider is real and independent: the npm package oidc-provider (tests/oidc-peer/, pinned by its
lock file), run as a node process on 127.0.0.1 for each test with the accounts the test decides.
toegang runs in pytest-django's live server, and a real HTTP client walks the whole
authorization-code flow with PKCE: toegang's login page, allauth's confirmation form, the provider's
own login and consent forms, the callback, and toegang's home page.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlparse

import pytest
import requests
from allauth.account.authentication import AUTHENTICATION_METHODS_SESSION_KEY
from allauth.socialaccount.models import SocialAccount
from django.contrib.sessions.backends.db import SessionStore
from django.utils import translation

from tests.conftest import World
from tests.html_page import parse
from toegang.accounts.adapter import EXTERNAL_FAILED, EXTERNAL_NO_SSIN, EXTERNAL_NOT_KNOWN
from toegang.accounts.models import User
from toegang.audit.models import AuditEvent
from toegang.identifiers import ssin_format, ssin_make

PEER_DIR = Path(__file__).resolve().parent / "oidc-peer"
NODE, NPM = shutil.which("node"), shutil.which("npm")
PROVIDER_ID = "itsme"
CLIENT_ID, CLIENT_SECRET = "toegang-test", "peer-secret-for-tests"

# `make test` runs these wherever node and npm are installed (CI and the development machine have them).
requires_node = pytest.mark.skipif(
    not (NODE and NPM),
    reason="node and npm are needed to run the external OpenID Connect provider (tests/oidc-peer)",
)
# The live server reads what the test wrote, so each test commits; serialized_rollback restores the
# catalogue rows that migrations wrote (audiences, qualities) after the flush.
live_db = pytest.mark.django_db(transaction=True, serialized_rollback=True)


# -- the peer -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def peer_modules() -> Path:
    # `npm ci` installs exactly what package-lock.json pins; once, when node_modules is missing.
    if not (PEER_DIR / "node_modules" / "oidc-provider").is_dir():
        subprocess.run(  # noqa: S603
            [str(NPM), "ci", "--no-audit", "--no-fund"], cwd=PEER_DIR, check=True, timeout=300
        )
    return PEER_DIR


@dataclass
class Peer:
    issuer: str
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class PeerFactory:
    modules: Path
    tmp: Path
    redirect_uri: str
    started: list[Peer] = field(default_factory=list)

    def start(self, accounts: dict[str, dict[str, Any]], *, ssin_claim: str = "ssin") -> Peer:
        log = self.tmp / f"oidc-peer-{len(self.started)}.log"
        env = {
            **os.environ,
            "OIDC_PEER_CLIENT_ID": CLIENT_ID,
            "OIDC_PEER_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_PEER_REDIRECT_URIS": self.redirect_uri,
            "OIDC_PEER_SSIN_CLAIM": ssin_claim,
            "OIDC_PEER_ACCOUNTS": json.dumps(accounts),
        }
        with log.open("wb") as err:
            process = subprocess.Popen(  # noqa: S603
                [str(NODE), "provider.mjs", "0"], cwd=self.modules, env=env, stdout=subprocess.PIPE, stderr=err
            )
        assert process.stdout is not None
        line = process.stdout.readline().decode()  # "oidc-peer listening http://127.0.0.1:<port>"
        if not line.startswith("oidc-peer listening "):
            process.kill()
            raise RuntimeError(f"oidc-peer did not start: {line!r} {log.read_text()}")
        peer = Peer(issuer=line.split()[-1], process=process, log=log)
        self.started.append(peer)
        _wait_for_discovery(peer.issuer)
        return peer

    def stop(self) -> None:
        for peer in self.started:
            peer.process.terminate()
            try:
                peer.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                peer.process.kill()
                peer.process.wait()
            if peer.process.stdout:
                peer.process.stdout.close()


def _wait_for_discovery(issuer: str) -> None:
    deadline = time.monotonic() + 15
    while True:
        try:
            config = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=2).json()
            assert config["issuer"] == issuer
            return
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture
def toegang_url(live_server: Any) -> str:
    # The live server listens on the loopback interface; 127.0.0.1 is also in ALLOWED_HOSTS.
    return f"http://127.0.0.1:{live_server.thread.port}"


@pytest.fixture
def peers(peer_modules: Path, tmp_path: Path, toegang_url: str) -> Iterator[PeerFactory]:
    factory = PeerFactory(
        modules=peer_modules,
        tmp=tmp_path,
        redirect_uri=f"{toegang_url}/nl/accounts/oidc/{PROVIDER_ID}/login/callback/",
    )
    yield factory
    factory.stop()


@pytest.fixture
def use_peer(settings: Any) -> Callable[[Peer], None]:
    """Point toegang at a peer, as TOEGANG_OIDC_* would (see test_settings_from_environment)."""

    def point(peer: Peer, ssin_claim: str = "ssin") -> None:
        settings.OIDC_SSIN_CLAIM = ssin_claim
        settings.SOCIALACCOUNT_PROVIDERS = {
            "openid_connect": {
                "OAUTH_PKCE_ENABLED": True,
                "APPS": [
                    {
                        "provider_id": PROVIDER_ID,
                        "name": "itsme",
                        "client_id": CLIENT_ID,
                        "secret": CLIENT_SECRET,
                        "settings": {
                            "server_url": peer.issuer,
                            "oauth_pkce_enabled": True,
                            "scope": ["openid", "ssin"],
                        },
                    }
                ],
            }
        }

    return point


# -- a browser, as far as these pages need one ----------------------------------------------------


@dataclass
class Walk:
    session: requests.Session
    final: requests.Response
    authorize_query: dict[str, list[str]]

    @property
    def text(self) -> str:
        return html.unescape(self.final.text)


def external_login(base: str, issuer: str, account_id: str, *, abort: bool = False) -> Walk:
    """From toegang's login page through the provider's forms back to toegang, as a person would."""
    s = requests.Session()
    login_page = s.get(f"{base}/nl/accounts/login/", timeout=10)
    hrefs = [h for h in parse(login_page).links if f"/accounts/oidc/{PROVIDER_ID}/login/" in h]
    assert hrefs, "the login page shows no link to the external provider"
    confirm = s.get(urljoin(login_page.url, html.unescape(hrefs[0])), timeout=10)
    # allauth asks to confirm with a POST (no login on GET, so a link cannot start a login).
    (form,) = [f for f in parse(confirm).forms if f["method"] == "post"]
    r = s.post(urljoin(confirm.url, form["action"]), data=form["fields"], timeout=10)
    authorize = next(h.headers["Location"] for h in r.history if h.headers.get("Location", "").startswith(issuer))
    authorize_query = parse_qs(urlparse(authorize).query)
    while r.url.startswith(issuer):
        forms = [f for f in parse(r).forms if f["method"] == "post"]
        assert forms, f"the provider answered without a form: {r.status_code} {r.text[:300]}"
        fields = dict(forms[0]["fields"])
        if fields.get("prompt") == "login":
            if abort:
                r = s.get(urljoin(r.url, f"{urlparse(r.url).path}/abort"), timeout=10)
                continue
            fields.update(login=account_id, password="any password: the dev login checks none")
        r = s.post(urljoin(r.url, forms[0]["action"]), data=fields, timeout=10)
    s.close()  # no kept-alive connection outlives the walk; the cookies stay readable
    return Walk(session=s, final=r, authorize_query=authorize_query)


def session_of(walk: Walk) -> dict[str, Any]:
    key = walk.session.cookies.get("sessionid")
    return SessionStore(session_key=key).load() if key else {}


def message(text: Any) -> str:
    with translation.override("nl"):
        return str(text)


# -- tests ----------------------------------------------------------------------------------------


@requires_node
@live_db
def test_known_ssin_logs_in_the_person(world: World, peers: PeerFactory, use_peer: Any, toegang_url: str) -> None:
    sb = world.person("sb")
    peer = peers.start({"ext-sb": {"ssin": sb.ssin, "given_name": "Anders", "family_name": "Genoemd"}})
    use_peer(peer)

    walk = external_login(toegang_url, peer.issuer, "ext-sb")

    # PKCE: allauth sent an S256 challenge (and the peer refuses any request without one).
    assert walk.authorize_query["code_challenge_method"] == ["S256"]
    assert walk.authorize_query["code_challenge"][0]
    assert sorted(walk.authorize_query["scope"][0].split()) == ["openid", "ssin"]
    # Logged in as sb, on toegang's home page, in a session that records the external login.
    assert urlparse(walk.final.url).path == "/nl/"
    assert str(sb) in walk.text
    session = session_of(walk)
    assert session["_auth_user_id"] == str(sb.pk)
    records = session[AUTHENTICATION_METHODS_SESSION_KEY]
    assert [(r["method"], r["provider"], r["uid"]) for r in records] == [("socialaccount", PROVIDER_ID, "ext-sb")]
    # The identity is now linked to sb; the provider's names do not overwrite the person's own.
    account = SocialAccount.objects.get(provider=PROVIDER_ID, uid="ext-sb")
    assert account.user_id == sb.pk
    assert account.extra_data["userinfo"]["ssin"] == sb.ssin
    sb.refresh_from_db()
    assert (sb.first_name, sb.last_name) == ("Sb", "Test")
    # Audited: the identity linked and accepted (which provider subject), and the login at level 450.
    events = AuditEvent.objects.filter(object_type="accounts.user", object_id=str(sb.pk), action__startswith="login.")
    assert sorted(events.values_list("action", flat=True)) == [
        "login.external.accepted",
        "login.external.linked",
        "login.success",
    ]
    assert all(e.actor_id == sb.pk for e in events)
    external = events.filter(action__startswith="login.external.")
    assert {(e.after or {}).get("uid") for e in external} == {"ext-sb"}
    assert events.get(action="login.success").after == {"level": 450, "amr": ["fed"]}


@requires_node
@live_db
def test_second_login_reuses_the_linked_account(
    world: World, peers: PeerFactory, use_peer: Any, toegang_url: str
) -> None:
    sb = world.person("sb")
    # itsme sends the national number without punctuation; a formatted one is the same person.
    peer = peers.start({"ext-sb": {"ssin": ssin_format(sb.ssin or "")}})
    use_peer(peer)

    first = external_login(toegang_url, peer.issuer, "ext-sb")
    second = external_login(toegang_url, peer.issuer, "ext-sb")

    assert session_of(first)["_auth_user_id"] == session_of(second)["_auth_user_id"] == str(sb.pk)
    assert first.session.cookies["sessionid"] != second.session.cookies["sessionid"]
    assert SocialAccount.objects.filter(user=sb).count() == 1
    actions = list(AuditEvent.objects.filter(object_id=str(sb.pk), action__startswith="login.").values_list("action"))
    assert sorted(a for (a,) in actions) == [
        "login.external.accepted",
        "login.external.accepted",
        "login.external.linked",
        "login.success",
        "login.success",
    ]


def _assert_refused(walk: Walk, text: Any, users_before: int) -> None:
    assert urlparse(walk.final.url).path == "/nl/accounts/login/"
    assert message(text) in walk.text
    assert "_auth_user_id" not in session_of(walk)
    assert SocialAccount.objects.count() == 0
    assert User.objects.count() == users_before


@requires_node
@live_db
def test_unknown_ssin_is_refused_without_creating_anything(
    world: World, peers: PeerFactory, use_peer: Any, toegang_url: str
) -> None:
    stranger = ssin_make(1977, 7, 7, 777)
    assert not User.objects.filter(ssin=stranger).exists()
    peer = peers.start({"ext-stranger": {"ssin": stranger, "email": world.person("sb").email}})
    use_peer(peer)
    users_before = User.objects.count()

    walk = external_login(toegang_url, peer.issuer, "ext-stranger")

    # Not even an e-mail address shared with a person links the identity (no e-mail authentication).
    _assert_refused(walk, EXTERNAL_NOT_KNOWN, users_before)
    event = AuditEvent.objects.get(action="login.external.refused")
    assert (event.object_type, event.actor_id, event.reason) == ("login", None, "unknown_ssin")
    assert event.after == {"provider": PROVIDER_ID, "uid": "ext-stranger", "ssin": stranger}


@requires_node
@live_db
def test_malformed_ssin_gets_the_same_answer_as_an_unknown_one(
    world: World, peers: PeerFactory, use_peer: Any, toegang_url: str
) -> None:
    bad = (world.person("sb").ssin or "")[:9] + "00"  # wrong check digits
    peer = peers.start({"ext-bad": {"ssin": bad}, "ext-short": {"ssin": "12345"}})
    use_peer(peer)
    users_before = User.objects.count()

    for account_id in ("ext-bad", "ext-short"):
        walk = external_login(toegang_url, peer.issuer, account_id)
        _assert_refused(walk, EXTERNAL_NOT_KNOWN, users_before)
        assert message(EXTERNAL_NO_SSIN) not in walk.text

    reasons = AuditEvent.objects.filter(action="login.external.refused").values_list("reason", "after__uid")
    assert sorted(reasons) == [("malformed_ssin", "ext-bad"), ("malformed_ssin", "ext-short")]


@requires_node
@live_db
def test_no_ssin_claim_is_refused(world: World, peers: PeerFactory, use_peer: Any, toegang_url: str) -> None:
    peer = peers.start({"ext-anonymous": {"given_name": "Zonder", "family_name": "Rijksregisternummer"}})
    use_peer(peer)
    users_before = User.objects.count()

    walk = external_login(toegang_url, peer.issuer, "ext-anonymous")

    _assert_refused(walk, EXTERNAL_NO_SSIN, users_before)
    assert message(EXTERNAL_NOT_KNOWN) not in walk.text
    event = AuditEvent.objects.get(action="login.external.refused")
    assert (event.reason, (event.after or {}).get("uid")) == ("no_ssin_claim", "ext-anonymous")


@requires_node
@live_db
def test_configured_claim_name_is_the_one_read(
    world: World, peers: PeerFactory, use_peer: Any, toegang_url: str
) -> None:
    sb = world.person("sb")
    claim = "http://itsme.services/v2/claim/BENationalNumber"
    peer = peers.start({"ext-sb": {claim: sb.ssin}}, ssin_claim=claim)

    use_peer(peer, ssin_claim="ssin")  # toegang looks for another claim: no INSZ for toegang
    refused = external_login(toegang_url, peer.issuer, "ext-sb")
    assert message(EXTERNAL_NO_SSIN) in refused.text

    use_peer(peer, ssin_claim=claim)
    walk = external_login(toegang_url, peer.issuer, "ext-sb")
    assert session_of(walk)["_auth_user_id"] == str(sb.pk)


@requires_node
@live_db
def test_linked_identity_presenting_another_persons_ssin_is_refused(
    world: World, peers: PeerFactory, use_peer: Any, toegang_url: str
) -> None:
    sb, tb = world.person("sb"), world.person("tb")
    first_peer = peers.start({"ext-1": {"ssin": sb.ssin}})
    use_peer(first_peer)
    assert session_of(external_login(toegang_url, first_peer.issuer, "ext-1"))["_auth_user_id"] == str(sb.pk)

    # The provider now says subject ext-1 is tb: the link to sb must not log tb (or sb) in.
    second_peer = peers.start({"ext-1": {"ssin": tb.ssin}})
    use_peer(second_peer)
    walk = external_login(toegang_url, second_peer.issuer, "ext-1")

    assert urlparse(walk.final.url).path == "/nl/accounts/login/"
    assert message(EXTERNAL_NOT_KNOWN) in walk.text
    assert "_auth_user_id" not in session_of(walk)
    assert list(SocialAccount.objects.values_list("uid", "user_id")) == [("ext-1", sb.pk)]
    event = AuditEvent.objects.get(action="login.external.refused")
    assert (event.reason, event.object_id, event.actor_id) == ("linked_to_other_ssin", str(sb.pk), None)


@requires_node
@live_db
def test_cancelling_at_the_provider_returns_to_the_login_page(
    world: World, peers: PeerFactory, use_peer: Any, toegang_url: str
) -> None:
    peer = peers.start({"ext-sb": {"ssin": world.person("sb").ssin}})
    use_peer(peer)

    walk = external_login(toegang_url, peer.issuer, "ext-sb", abort=True)

    assert urlparse(walk.final.url).path == "/nl/accounts/login/"
    assert message(EXTERNAL_FAILED) in walk.text
    assert "_auth_user_id" not in session_of(walk)
    assert SocialAccount.objects.count() == 0
    event = AuditEvent.objects.get(action="login.external.refused")
    assert (event.object_type, event.reason) == ("login", "cancelled")


def test_settings_from_environment() -> None:
    probe = (
        "import json; from django.conf import settings; "
        "print(json.dumps(settings.SOCIALACCOUNT_PROVIDERS['openid_connect'])); print(settings.OIDC_SSIN_CLAIM)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOEGANG_OIDC_")}
    env["DJANGO_SETTINGS_MODULE"] = "toegang.settings"
    run = [sys.executable, "-c", f"import django; django.setup(); {probe}"]

    off = subprocess.run(run, env=env, capture_output=True, text=True, check=True)  # noqa: S603
    assert json.loads(off.stdout.splitlines()[0])["APPS"] == []

    env.update(
        TOEGANG_OIDC_PROVIDER_URL="https://idp.example.test/oidc/",
        TOEGANG_OIDC_CLIENT_ID="client-1",
        TOEGANG_OIDC_CLIENT_SECRET="s3cret",
        TOEGANG_OIDC_PROVIDER_NAME="Federale login",
        TOEGANG_OIDC_PROVIDER_ID="fas",
        TOEGANG_OIDC_SSIN_CLAIM="national_number",
    )
    on = subprocess.run(run, env=env, capture_output=True, text=True, check=True)  # noqa: S603
    provider_settings, claim = on.stdout.splitlines()
    config = json.loads(provider_settings)
    assert config["OAUTH_PKCE_ENABLED"] is True
    assert config["APPS"] == [
        {
            "provider_id": "fas",
            "name": "Federale login",
            "client_id": "client-1",
            "secret": "s3cret",
            "settings": {
                "server_url": "https://idp.example.test/oidc",
                "oauth_pkce_enabled": True,
                "scope": ["openid", "ssin"],
            },
        }
    ]
    assert claim == "national_number"


def test_no_provider_configured_shows_no_external_login(db: None, client: Any, settings: Any) -> None:
    settings.SOCIALACCOUNT_PROVIDERS = {"openid_connect": {"OAUTH_PKCE_ENABLED": True, "APPS": []}}
    page = client.get("/nl/accounts/login/")
    assert page.status_code == 200
    assert "/accounts/oidc/" not in page.content.decode()
    assert client.get(f"/nl/accounts/oidc/{PROVIDER_ID}/login/").status_code == 404
