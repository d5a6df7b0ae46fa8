"""Step-up at the authorization endpoint: ``acr_values`` and the ``acr`` claim request (step_up.py).

A password session asked for level 500 goes to the step-up page, logs in with the eID and comes
back to the same authorization request; the ID token's ``acr`` is what was done. Refusals reach the
client at its redirect URI. The certified peer (openid-client) drives the same flow on the live
server in ``test_openid_client_gets_an_eid_login_from_a_password_session``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlparse

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from django.test import Client
from oauth2_provider.models import Application

from tests.conftest import World, login
from tests.oidc_flows import authorize, callback, code_flow, exchange, give, id_claims, register
from tests.test_eid import CA, header
from tests.test_oidc_provider import (  # noqa: F401 (fixtures)
    RP,
    browse,
    callback_of,
    demo,
    live_db,
    log_in,
    requires_node,
    rp,
    rp_modules,
    toegang_url,
)
from toegang.accounts.models import User
from toegang.oidc.models import LoginContext

CLIENT = "stepup-client"


@pytest.fixture
def client_app(world: World) -> Application:
    app = register(world, CLIENT)
    give(world, "user", [0])
    return app


@pytest.fixture
def ca() -> CA:
    return CA.make()


@pytest.fixture
def eid(settings: Any, tmp_path: Path, ca: CA) -> CA:
    bundle = tmp_path / "ca-bundle.pem"
    bundle.write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
    settings.EID_CA_BUNDLE = [str(bundle)]
    settings.EID_CRL = ""
    settings.EID_TRUSTED_PROXIES = ["127.0.0.1", "::1"]
    settings.EID_HEADER = "X-SSL-Client-Cert"
    return ca


@pytest.mark.django_db
def test_password_session_asked_for_500_steps_up_with_the_eid(world: World, client_app: Application, eid: CA) -> None:
    user = world.person("user")
    browser = login(Client(), user, method="password")
    response, verifier = authorize(browser, CLIENT, acr_values="500")
    assert response.status_code == 302 and response["Location"].startswith("/oauth/step-up/?")
    page = browser.get(response["Location"])
    assert page.status_code == 200
    text = page.content.decode()
    assert 'id="step-up-eid"' in text and "/accounts/eid/" in text
    # The eID link carries the authorization request back.
    eid_link = text.split('id="step-up-eid"><a href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    back = browser.get(eid_link, HTTP_X_SSL_CLIENT_CERT=header(eid.issue(user.ssin)))
    assert back.status_code == 302 and back["Location"].startswith("/oauth/authorize/?")
    assert parse_qs(urlparse(back["Location"]).query)["acr_values"] == ["500"]
    tokens = exchange(CLIENT, callback(browser.get(back["Location"]))["code"], verifier)
    claims = id_claims(tokens["id_token"], CLIENT)
    assert claims["acr"] == "500" and "sc" in claims["amr"]
    assert LoginContext.objects.get(token_family__isnull=False).acr == "500"


@pytest.mark.django_db
def test_a_strong_enough_session_is_not_asked_again(world: World, client_app: Application) -> None:
    browser = login(Client(), world.person("user"), method="mfa")  # level 400
    claims = id_claims(code_flow(browser, CLIENT, acr_values="400")["id_token"], CLIENT)
    assert claims["acr"] == "400"
    # Values toegang does not know are voluntary: ignored.
    assert id_claims(code_flow(browser, CLIENT, acr_values="urn:other:loa:3")["id_token"], CLIENT)["acr"] == "400"
    # A weaker level asked: the session's stronger one is what was done.
    assert id_claims(code_flow(browser, CLIENT, acr_values="200")["id_token"], CLIENT)["acr"] == "400"


@pytest.mark.django_db
def test_essential_acr_answers_one_of_the_values(world: World, client_app: Application) -> None:
    browser = login(Client(), world.person("user"), method="mfa")  # level 400
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": ["200", "urn:x"]}}})
    assert id_claims(code_flow(browser, CLIENT, claims=claims)["id_token"], CLIENT)["acr"] == "200"
    # Essential, but no value toegang knows: refused at the redirect URI.
    unknown = json.dumps({"id_token": {"acr": {"essential": True, "value": "urn:x"}}})
    answer = callback(authorize(browser, CLIENT, claims=unknown)[0])
    assert answer["error"] == "unmet_authentication_requirements" and answer["state"] == "st" and "code" not in answer


@pytest.mark.django_db
def test_essential_acr_needs_the_step_up(world: World, client_app: Application) -> None:
    browser = login(Client(), world.person("user"), method="password")
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": ["400"]}}})
    response, _verifier = authorize(browser, CLIENT, claims=claims)
    assert response["Location"].startswith("/oauth/step-up/?") and "level=400" in response["Location"]


@pytest.mark.django_db
def test_prompt_none_with_a_weaker_session_is_login_required(world: World, client_app: Application, eid: CA) -> None:
    browser = login(Client(), world.person("user"), method="password")
    answer = callback(authorize(browser, CLIENT, acr_values="500", prompt="none")[0])
    assert answer["error"] == "login_required" and "code" not in answer and answer["iss"]


@pytest.mark.django_db
def test_a_level_this_server_cannot_give_is_unmet(world: World, client_app: Application, settings: Any) -> None:
    settings.EID_CA_BUNDLE = []  # no eID on this server
    browser = login(Client(), world.person("user"), method="password")
    answer = callback(authorize(browser, CLIENT, acr_values="500")[0])
    assert answer["error"] == "unmet_authentication_requirements" and "code" not in answer


@pytest.mark.django_db
def test_step_up_page_takes_only_the_authorization_endpoint(world: World, client_app: Application) -> None:
    browser = login(Client(), world.person("user"), method="password")
    assert browser.get("/oauth/step-up/?level=500&next=https://evil.test/").status_code == 400
    assert browser.get("/oauth/step-up/?level=300&next=/oauth/authorize/?x=1").status_code == 400
    # Already strong enough: straight back.
    strong = login(Client(), world.person("user"), method="mfa")
    r = strong.get("/oauth/step-up/?level=400&next=/oauth/authorize/?x=1")
    assert r.status_code == 302 and r["Location"] == "/oauth/authorize/?x=1"


@pytest.mark.django_db
def test_discovery_lists_the_levels(client: Client) -> None:
    meta = client.get("/.well-known/openid-configuration").json()
    assert meta["acr_values_supported"] == ["200", "400", "450", "500"]


# -- the certified relying party on the live server ----------------------------------------------


@requires_node
@live_db
@pytest.mark.real_clock
def test_openid_client_gets_an_eid_login_from_a_password_session(
    rp: RP,  # noqa: F811
    toegang_url: str,  # noqa: F811
    demo: dict[str, User],  # noqa: F811
    eid: CA,
) -> None:
    s = requests.Session()
    log_in(s, toegang_url, "gebruiker")  # password: level 200
    auth = rp("authorize", params={"acr_values": "500", "max_age": "3600"})
    page = browse(s, auth["url"], toegang_url)
    assert page.status_code == 200 and "/oauth/step-up/" in page.url
    eid_link = page.text.split('id="step-up-eid"><a href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    cert = header(eid.issue(demo["gebruiker"].ssin))
    r = s.get(urljoin(toegang_url, eid_link), headers={"X-SSL-Client-Cert": cert}, allow_redirects=False, timeout=10)
    assert r.status_code == 302 and r.headers["Location"].startswith("/oauth/authorize/")
    callback_url = callback_of(browse(s, urljoin(toegang_url, r.headers["Location"]), toegang_url))
    pending = {k: auth[k] for k in ("code_verifier", "state", "nonce")}
    tokens = rp("callback", callback_url=callback_url, max_age=3600, **pending)
    assert "error" not in tokens, tokens
    assert tokens["id_token_claims"]["acr"] == "500"  # signature, nonce, auth_time vs max_age: openid-client
    assert tokens["userinfo"]["acr"] == "500"
    # prompt=none asking for 500 again: the session has it now, a code at once.
    auth = rp("authorize", params={"acr_values": "500", "prompt": "none"})
    assert "code" in parse_qs(urlparse(callback_of(browse(s, auth["url"], toegang_url))).query)
