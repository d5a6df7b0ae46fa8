"""The demo relying party (demo/, `make demo-rp`): E-loket Zorg en Gezondheid (demo).

First its own parts without a network: the picker built from an `access` claim, a posted choice the
claim did not offer, and the authorization API's "no". Then the whole thing end to end: toegang in
the live server, the demo app served in a thread on a free loopback port, and a requests session
walking the login of `gebruiker` (toegang's password form, the consent if any, the callback) to the
picker; after the subdepartment manager unticks E-loket in one facility, a new login offers only
the other one, and the API refuses the old choice at once.
"""

from __future__ import annotations

import html
import importlib.util
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from django.contrib.sessions.backends.db import SessionStore
from django.core.management import call_command
from werkzeug.serving import BaseWSGIServer, make_server

from demo.app import (
    ApiUnavailable,
    AuthzApi,
    Config,
    Decision,
    Facility,
    Login,
    create_app,
    decision_from_api,
    facilities_from_access,
    facility_chosen,
)
from tests.html_page import parse
from toegang.accounts.models import User
from toegang.applications.models import SecuredApplication
from toegang.delegation.models import Role, RoleAssignment, Status
from toegang.delegation.services import membership_update
from toegang.seed.demo import DEMO_PASSWORD, demo_load


def _entry(sd_id: Any, name: str, code: str, enterprise: str = "WZC De Zonnebloem vzw") -> dict[str, Any]:
    return {
        "enterprise": {"cbe_number": "0404031707", "name": enterprise},
        "quality": {"code": "residential_care", "name": "Residentiële zorginstelling"},
        "subdepartment": {"id": sd_id, "identification_code": code, "name": name},
        "application": "eloket",
        "valid_until": None,
    }


ACCESS = [
    _entry(12, "Residentiële zorginstelling Campus Noord", "71012345"),
    _entry(7, "Centrum voor kortverblijf De Zonnebloem", "71054321"),
]


# -- the pure parts -------------------------------------------------------------------------------


def test_picker_lists_each_facility_of_the_access_claim_by_name() -> None:
    facilities = facilities_from_access(ACCESS)

    assert [(f.subdepartment_id, f.name, f.identification_code) for f in facilities] == [
        ("7", "Centrum voor kortverblijf De Zonnebloem", "71054321"),
        ("12", "Residentiële zorginstelling Campus Noord", "71012345"),
    ]
    assert {(f.enterprise_name, f.cbe_number, f.quality_name) for f in facilities} == {
        ("WZC De Zonnebloem vzw", "0404031707", "Residentiële zorginstelling")
    }


@pytest.mark.parametrize(
    "access",
    [None, "not a list", {"subdepartment": {"id": 1}}, [], [None, 3, "x"], [{"subdepartment": {"name": "no id"}}]],
)
def test_picker_is_empty_for_a_missing_or_malformed_claim(access: Any) -> None:
    assert facilities_from_access(access) == []


def test_picker_skips_malformed_entries_and_duplicates() -> None:
    access = [*ACCESS, ACCESS[0], {"subdepartment": "not an object"}, {"enterprise": {"name": "no facility"}}]

    assert [f.subdepartment_id for f in facilities_from_access(access)] == ["7", "12"]


def test_a_choice_is_accepted_only_when_the_claim_offered_it() -> None:
    facilities = facilities_from_access(ACCESS)

    chosen = facility_chosen(facilities, "12")
    assert chosen is not None and chosen.name == "Residentiële zorginstelling Campus Noord"
    for refused in ("13", "", None, " ", "7; drop", ["7"]):
        assert facility_chosen(facilities, refused) is None
    assert facility_chosen([], "7") is None


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, {"allowed": True}, True),
        (200, {"allowed": False, "reason": "no grant"}, False),
        (404, {"detail": "Not Found"}, False),
        (404, None, False),
        (403, {"detail": "another application's facility"}, False),
    ],
)
def test_the_apis_answer_is_read_as_yes_only_when_it_says_so(status: int, body: Any, expected: bool) -> None:
    assert decision_from_api(status, body).allowed is expected


@pytest.mark.parametrize(
    ("status", "body"),
    [(200, {}), (200, {"allowed": "yes"}), (200, None), (500, {"allowed": True}), (401, {"detail": "expired"})],
)
def test_an_unclear_answer_is_no_answer_never_a_yes(status: int, body: Any) -> None:
    with pytest.raises(ApiUnavailable):
        decision_from_api(status, body)


class _FakeApi(AuthzApi):
    def __init__(self, answer: Decision | Exception) -> None:
        self.answer = answer
        self.asked: list[tuple[str, str]] = []

    def check(self, ssin: str, subdepartment_id: str) -> Decision:
        self.asked.append((ssin, subdepartment_id))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def _client_logged_in(api: AuthzApi) -> Any:
    app = create_app(Config(issuer="http://127.0.0.1:9", session_secret="test"), authz=api)
    person = {
        "sub": "1",
        "name": "Gert Gebruiker",
        "ssin": "85073003328",
        "facilities": [f.as_session() for f in facilities_from_access(ACCESS)],
    }
    key = app.extensions["demo_rp_logins"].put(Login(token={"access_token": "x"}, person=person))
    client = app.test_client()
    with client.session_transaction() as s:
        s["login"] = key
    return client


def test_picker_page_shows_the_manuals_words_and_both_facilities() -> None:
    client = _client_logged_in(_FakeApi(Decision(True)))

    page = client.get("/").get_data(as_text=True)

    assert "Selecteer in de keuzelijst uw voorziening" in page
    assert re.findall(r'<option value="(\d+)"', page) == ["7", "12"]
    assert "Gert Gebruiker" in page


def test_posting_a_facility_outside_the_claim_is_refused_without_asking_the_api() -> None:
    api = _FakeApi(Decision(True))
    client = _client_logged_in(api)

    response = client.post("/choose", data={"facility": "999"})

    assert response.status_code == 400
    assert "Die voorziening staat niet in uw keuzelijst" in response.get_data(as_text=True)
    assert api.asked == []
    assert client.get("/facility").headers["Location"] == "/"  # nothing was chosen


def test_a_confirmed_choice_shows_what_the_application_would_show() -> None:
    api = _FakeApi(Decision(True))
    client = _client_logged_in(api)

    assert client.post("/choose", data={"facility": "12"}).headers["Location"] == "/facility"
    page = client.get("/facility").get_data(as_text=True)

    assert api.asked == [("85073003328", "12")]
    for shown in ("Residentiële zorginstelling Campus Noord", "71012345", "WZC De Zonnebloem vzw", "Gert Gebruiker"):
        assert html.escape(shown) in page or shown in page


def test_the_apis_no_refuses_with_a_clear_message_and_forgets_the_choice() -> None:
    api = _FakeApi(Decision(False, "no grant"))
    client = _client_logged_in(api)
    client.post("/choose", data={"facility": "7"})

    response = client.get("/facility")

    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "Geen toegang" in page
    assert "toegang bevestigt niet (meer) dat u E-loket mag gebruiken voor deze voorziening" in page
    assert "71054321" in page
    assert client.get("/facility").headers["Location"] == "/"


def test_an_unreachable_api_is_not_taken_for_a_yes() -> None:
    client = _client_logged_in(_FakeApi(ApiUnavailable("connection refused")))
    client.post("/choose", data={"facility": "7"})

    response = client.get("/facility")

    assert response.status_code == 503
    assert "niet bereikbaar" in response.get_data(as_text=True)


def test_configuration_from_the_environment() -> None:
    config = Config.from_environment(
        {
            "DEMO_RP_ISSUER": "http://127.0.0.1:8123/",
            "DEMO_RP_CLIENT_ID": "rp",
            "DEMO_RP_CLIENT_SECRET": "s",
            "DEMO_RP_PORT": "8111",
        }
    )
    assert (config.issuer, config.client_id, config.client_secret, config.base_url) == (
        "http://127.0.0.1:8123",
        "rp",
        "s",
        "http://127.0.0.1:8111",
    )
    assert config.discovery_url == "http://127.0.0.1:8123/.well-known/openid-configuration"
    defaults = Config.from_environment({})
    assert (defaults.issuer, defaults.client_id, defaults.base_url) == (
        "http://127.0.0.1:8000",
        "demo-rp",
        "http://127.0.0.1:8001",
    )
    assert isinstance(facilities_from_access(ACCESS)[0], Facility)


# -- end to end: toegang in the live server, the demo app beside it -------------------------------

# The live server reads what the test wrote, so each test commits; serialized_rollback restores the
# catalogue rows that migrations wrote (audiences, qualities) after the flush.
live_db = pytest.mark.django_db(transaction=True, serialized_rollback=True)
# The flow needs toegang's OpenID Connect provider (toegang/oidc) and authorization API (toegang/api).
requires_provider = pytest.mark.skipif(
    importlib.util.find_spec("toegang.oidc.management.commands.oidc_client") is None
    or importlib.util.find_spec("toegang.api.api") is None,
    reason="toegang's OpenID Connect provider or authorization API is not in this tree",
)


@dataclass
class DemoRp:
    url: str
    server: BaseWSGIServer
    app: Any

    def session_of(self, s: requests.Session) -> dict[str, Any]:
        """The demo's session cookie as the browser holds it (signed, not encrypted)."""
        cookie = s.cookies.get("eloket_demo_session")
        return dict(self.app.session_interface.get_signing_serializer(self.app).loads(cookie)) if cookie else {}


@pytest.fixture
def toegang_url(live_server: Any, settings: Any) -> str:
    url = f"http://127.0.0.1:{live_server.thread.port}"
    # The issuer the ID tokens name and discovery publishes is the live server, as TOEGANG_BASE_URL would say.
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": url}
    return url


@pytest.fixture
def demo_rp(toegang_url: str) -> Iterator[DemoRp]:
    # The port is known only once the server is bound; the app (whose redirect URI names it) after.
    holder: dict[str, Any] = {}
    server = make_server("127.0.0.1", 0, lambda environ, start: holder["app"](environ, start), threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    holder["app"] = create_app(
        Config(issuer=toegang_url, client_id="demo-rp", client_secret="demo-rp-secret", base_url=url)
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield DemoRp(url=url, server=server, app=holder["app"])
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def _toegang_session(s: requests.Session) -> dict[str, Any]:
    key = s.cookies.get("sessionid")
    return SessionStore(session_key=key).load() if key else {}


def _demo_login(
    demo: DemoRp, toegang_url: str, username: str, password: str
) -> tuple[requests.Session, requests.Response]:
    """Open the demo app, log in at toegang with a password, come back to the picker."""
    s = requests.Session()
    r = s.get(f"{demo.url}/login", timeout=10)
    assert r.url.startswith(f"{toegang_url}/nl/accounts/login/"), r.url
    (form,) = [f for f in parse(r).forms if f["method"] == "post" and "password" in f["fields"]]
    fields = {**form["fields"], "login": username, "password": password}
    r = s.post(urljoin(r.url, form["action"] or r.url), data=fields, timeout=10)
    assert r.url.startswith(demo.url), f"{r.url}: {r.text[:500]}"
    return s, r


@requires_provider
@live_db
def test_demo_app_offers_both_facilities_then_only_the_one_left(toegang_url: str, demo_rp: DemoRp) -> None:
    demo_load()
    call_command(
        "oidc_client",
        application="eloket",
        client_id="demo-rp",
        redirect_uri=[f"{demo_rp.url}/callback"],
        post_logout_redirect_uri=[f"{demo_rp.url}/"],
        secret="demo-rp-secret",
        stdout=open(os.devnull, "w"),  # noqa: SIM115
    )
    greet = User.objects.get(username="gebruiker")
    noord = RoleAssignment.objects.active().get(
        person=greet, role=Role.USER, subdepartment__name="Residentiële zorginstelling Campus Noord"
    )
    kortverblijf = RoleAssignment.objects.active().get(
        person=greet, role=Role.USER, subdepartment__name="Centrum voor kortverblijf De Zonnebloem"
    )

    # Logged in through toegang: the picker offers both facilities, by the manual's words.
    s, picker = _demo_login(demo_rp, toegang_url, "gebruiker", DEMO_PASSWORD)
    text = html.unescape(picker.text)
    assert "Selecteer in de keuzelijst uw voorziening" in text
    assert "Greet Gebruiker" in text
    assert sorted(parse(picker).options) == sorted([str(kortverblijf.subdepartment_id), str(noord.subdepartment_id)])
    # The browser holds a key, not the tokens or the INSZ.
    assert set(demo_rp.session_of(s)) == {"login"}

    # The choice, confirmed by the authorization API: what E-loket would show.
    chosen = s.post(f"{demo_rp.url}/choose", data={"facility": str(noord.subdepartment_id)}, timeout=10)
    assert chosen.status_code == 200 and chosen.url == f"{demo_rp.url}/facility"
    shown = html.unescape(chosen.text)
    for expected in (
        "Residentiële zorginstelling Campus Noord",
        "71000238",
        "WZC De Zonnebloem vzw",
        "Greet Gebruiker",
    ):
        assert expected in shown

    # The SB unticks E-loket for Greet in Campus Noord (Bekijken), keeping RaaS.
    raas = SecuredApplication.objects.get(code="raas")
    membership_update(
        actor=User.objects.get(username="sb"),
        membership=noord,
        applications=[raas],
        status=Status.ACTIVE,
        email=greet.email,
    )

    # At once: the API refuses the choice the open session still holds.
    refused = s.get(f"{demo_rp.url}/facility", timeout=10)
    assert refused.status_code == 403
    assert "toegang bevestigt niet (meer)" in html.unescape(refused.text)

    # At the next login, the picker offers only the facility left; a post of the old one is refused.
    s2, again = _demo_login(demo_rp, toegang_url, "gebruiker", DEMO_PASSWORD)
    assert parse(again).options == [str(kortverblijf.subdepartment_id)]
    assert "Residentiële zorginstelling Campus Noord" not in html.unescape(again.text)
    forged = s2.post(f"{demo_rp.url}/choose", data={"facility": str(noord.subdepartment_id)}, timeout=10)
    assert forged.status_code == 400

    # The first session sees the same at its next token refresh (the refresh token, no new login).
    refreshed = s.post(f"{demo_rp.url}/refresh", timeout=10)
    assert refreshed.url == f"{demo_rp.url}/"
    assert parse(refreshed).options == [str(kortverblijf.subdepartment_id)]

    # RP-initiated logout: toegang's end_session_endpoint ends its session and sends the person back.
    out = s.post(f"{demo_rp.url}/logout", timeout=10)
    assert any(h.url.startswith(f"{toegang_url}/oauth/logout/") for h in out.history)
    assert out.url == f"{demo_rp.url}/"
    assert "Aanmelden via toegang" in html.unescape(out.text)
    assert "_auth_user_id" not in _toegang_session(s)
    assert s.get(f"{demo_rp.url}/login", timeout=10).url.startswith(f"{toegang_url}/nl/accounts/login/")
