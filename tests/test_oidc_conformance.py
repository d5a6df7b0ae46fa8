"""The conformance failures of issue 14 at the provider's endpoints, by plain HTTP (Django's client).

Each test names the rule it checks (docs/oidc.md, "Conformance"). The independent clients drive the
same rules from outside in tests/test_oidc_peer_conformance.py (oauth4webapi, Authlib) and the
discovery document is held to the endpoints' behaviour in tests/test_oidc_discovery.py.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from django.db import transaction
from django.test import Client
from oauth2_provider.models import AccessToken, Application, RefreshToken

from tests.conftest import World, login
from toegang.audit.actions import Action
from toegang.audit.models import AuditEvent
from toegang.delegation.models import Role, RoleAssignment
from toegang.delegation.services import membership_update
from toegang.oidc.services import relying_party_register

ISSUER = "http://127.0.0.1:8000"
ELOKET = ("conf-eloket", "conf-eloket-secret-0123456789-0123", "https://eloket.example.test/cb")
RAAS = ("conf-raas", "conf-raas-secret-0123456789-012345", "https://raas.example.test/cb")
ELOKET_LOGOUT = "https://eloket.example.test/logged-out"
RAAS_LOGOUT = "http://127.0.0.1:8123/raas-out"  # a loopback one: its port counts too
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636 appendix B
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()


@pytest.fixture
def clients(world: World) -> World:
    """E-loket's client (with a post-logout URI) on apps[0], RaaS's on apps[1]; world's user holds both."""
    with transaction.atomic():
        for (client_id, secret, redirect), app, post_logout in zip(
            (ELOKET, RAAS), world.apps[:2], ([ELOKET_LOGOUT], [RAAS_LOGOUT]), strict=True
        ):
            relying_party_register(
                actor=world.operator,
                application=app,
                client_id=client_id,
                client_secret=secret,
                redirect_uris=[redirect],
                post_logout_redirect_uris=post_logout,
            )
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


def basic(rp: tuple[str, str, str]) -> dict[str, Any]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{rp[0]}:{rp[1]}".encode()).decode()}


def request_params(rp: tuple[str, str, str] = ELOKET, /, **params: str) -> dict[str, str]:
    query = {
        "client_id": rp[0],
        "response_type": "code",
        "redirect_uri": rp[2],
        "scope": "openid profile",
        "state": "st-1",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        **params,
    }
    return {k: v for k, v in query.items() if v != ""}


def answer_of(r: Any, rp: tuple[str, str, str] = ELOKET) -> dict[str, str]:
    """The parameters of a redirect to the client's redirect URI."""
    assert r.status_code == 302, (r.status_code, r.content[:300])
    assert r["Location"].startswith(rp[2] + "?"), r["Location"]
    return {k: v[0] for k, v in parse_qs(urlparse(r["Location"]).query).items()}


def code_flow(http: Client, rp: tuple[str, str, str] = ELOKET) -> dict[str, Any]:
    code = answer_of(http.get("/oauth/authorize/", request_params(rp)), rp)["code"]
    r = http.post(
        "/oauth/token/",
        {"grant_type": "authorization_code", "code": code, "redirect_uri": rp[2], "code_verifier": VERIFIER},
        **basic(rp),
    )
    assert r.status_code == 200, r.content
    return {**r.json(), "code": code}


def userinfo_status(http: Client, access_token: str) -> int:
    return int(http.get("/oauth/userinfo/", HTTP_AUTHORIZATION=f"Bearer {access_token}").status_code)


# -- RFC 9207: iss on every authorization response ---------------------------------------------------


def test_every_authorization_error_redirect_carries_iss(clients: World) -> None:
    http = Client()
    # Nobody logged in, prompt=none: login_required (django-oauth-toolkit's own redirect).
    cases: list[tuple[dict[str, str], str]] = [({"prompt": "none"}, "login_required")]
    for params, error in cases:
        answer = answer_of(http.get("/oauth/authorize/", request_params(**params)))
        assert answer["error"] == error and answer["iss"] == ISSUER and answer["state"] == "st-1", answer
    login(http, clients.person("user"))
    cases = [
        ({"code_challenge": "", "code_challenge_method": ""}, "invalid_request"),  # PKCE required
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),  # implicit
        ({"response_type": "code id_token"}, "unsupported_response_type"),  # hybrid
        ({"response_type": "bogus"}, "unsupported_response_type"),
        ({"scope": "openid authz"}, "invalid_scope"),
        ({"request": "eyJhbGciOiJub25lIn0.e30."}, "invalid_request_object"),  # OIDC Core 6: unsigned
        ({"request_uri": "https://eloket.example.test/req.jwt"}, "request_uri_not_supported"),
        ({"response_mode": "fragment"}, "invalid_request"),
        ({"response_mode": "form_post"}, "invalid_request"),
        ({"resource": "not-an-absolute-uri"}, "invalid_target"),  # RFC 8707, django-oauth-toolkit's own
    ]
    for params, error in cases:
        answer = answer_of(http.get("/oauth/authorize/", request_params(**params)))
        assert answer["error"] == error, (params, answer)
        assert answer["iss"] == ISSUER and answer["state"] == "st-1", (params, answer)
        assert "code" not in answer
    # The code itself, once, with iss once.
    r = http.get("/oauth/authorize/", request_params())
    assert answer_of(r)["code"] and r["Location"].count("iss=") == 1
    # A person without the application, prompt=none: access_denied (toegang's own refusal).
    nobody = Client()
    login(nobody, clients.person("nobody"))
    answer = answer_of(nobody.get("/oauth/authorize/", request_params(prompt="none")))
    assert answer["error"] == "access_denied" and answer["iss"] == ISSUER


def test_a_declined_consent_redirect_carries_iss(clients: World) -> None:
    Application.objects.filter(client_id=ELOKET[0]).update(skip_authorization=False)
    http = Client()
    login(http, clients.person("user"))
    page = http.get("/oauth/authorize/", request_params())
    assert page.status_code == 200 and b'name="allow"' in page.content
    form = {**request_params(), "scope": "openid profile", "csrfmiddlewaretoken": page.context["csrf_token"]}
    answer = answer_of(http.post("/oauth/authorize/", form))  # no "allow": the person declined
    assert answer["error"] == "access_denied" and answer["iss"] == ISSUER


# -- OIDC Core 3.1.2.1: the authorization request by POST, without opening a CSRF hole ---------------


def test_authorization_request_by_post(clients: World) -> None:
    http = Client(enforce_csrf_checks=True)
    login(http, clients.person("user"))
    answer = answer_of(http.post("/oauth/authorize/", request_params()))
    assert answer["code"] and answer["iss"] == ISSUER and answer["state"] == "st-1"
    # Its errors too.
    assert answer_of(http.post("/oauth/authorize/", request_params(prompt="none login")))["iss"] == ISSUER
    # No session (a cross-site POST carries no SameSite=Lax cookie): on by GET, which carries it.
    r = Client(enforce_csrf_checks=True).post("/oauth/authorize/", request_params(prompt="none"))
    assert r.status_code == 303
    assert parse_qs(urlparse(r["Location"]).query) == {k: [v] for k, v in request_params(prompt="none").items()}


def test_consent_form_keeps_its_csrf_check(clients: World) -> None:
    Application.objects.filter(client_id=ELOKET[0]).update(skip_authorization=False)
    http = Client(enforce_csrf_checks=True)
    login(http, clients.person("user"))
    page = http.get("/oauth/authorize/", request_params())
    token = page.context["csrf_token"]
    # A forged consent (allow, no CSRF token) is read as a new request: the consent page again, no code.
    r = http.post("/oauth/authorize/", {**request_params(), "allow": "Authorize"})
    assert r.status_code == 200 and b'name="allow"' in r.content and not r.has_header("Location")
    # A wrong CSRF token: refused.
    r = http.post("/oauth/authorize/", {**request_params(), "allow": "Authorize", "csrfmiddlewaretoken": "x" * 64})
    assert r.status_code == 403
    # The person's own consent: the code.
    r = http.post("/oauth/authorize/", {**request_params(), "allow": "Authorize", "csrfmiddlewaretoken": token})
    assert answer_of(r)["code"]


# -- OIDC Core 3.1.2.1: redirect_uri is required --------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "text"),
    [("nl", "redirect_uri"), ("fr", "redirect_uri"), ("de", "redirect_uri"), ("en", "did not say where")],
)
def test_a_request_without_redirect_uri_is_refused_on_a_page(clients: World, language: str, text: str) -> None:
    http = Client(HTTP_ACCEPT_LANGUAGE=language)
    login(http, clients.person("user"))
    r = http.get("/oauth/authorize/", request_params(redirect_uri=""))
    assert r.status_code == 400 and not r.has_header("Location")
    assert r["Content-Language"] == language
    assert text in r.content.decode()
    assert "invalid_request" in r.content.decode()
    # Nobody logged in: the same page, before any login.
    r = Client(HTTP_ACCEPT_LANGUAGE=language).get("/oauth/authorize/", request_params(redirect_uri=""))
    assert r.status_code == 400 and not r.has_header("Location")


def test_the_error_page_is_translated(clients: World) -> None:
    pages = {}
    for language in ("nl", "fr", "de", "en"):
        http = Client(HTTP_ACCEPT_LANGUAGE=language)
        pages[language] = http.get("/oauth/authorize/", request_params(redirect_uri="")).content.decode()
    assert len(set(pages.values())) == 4
    assert "The application did not say" not in pages["nl"] + pages["fr"] + pages["de"]


def test_a_token_request_without_redirect_uri_is_refused(clients: World) -> None:
    http = Client()
    login(http, clients.person("user"))
    code = answer_of(http.get("/oauth/authorize/", request_params()))["code"]
    r = http.post(
        "/oauth/token/", {"grant_type": "authorization_code", "code": code, "code_verifier": VERIFIER}, **basic(ELOKET)
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.content


# -- RFC 6749 §4.1.2: a replayed code revokes the tokens of its first exchange --------------------------


def test_replaying_a_code_revokes_the_tokens_it_gave(clients: World) -> None:
    http = Client()
    login(http, clients.person("user"))
    first = code_flow(http)
    assert userinfo_status(http, first["access_token"]) == 200
    other = code_flow(http, RAAS)  # another client's tokens: untouched
    again = http.post(
        "/oauth/token/",
        {
            "grant_type": "authorization_code",
            "code": first["code"],
            "redirect_uri": ELOKET[2],
            "code_verifier": VERIFIER,
        },
        **basic(ELOKET),
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert userinfo_status(http, first["access_token"]) == 401
    r = http.post(
        "/oauth/token/", {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, **basic(ELOKET)
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert userinfo_status(http, other["access_token"]) == 200
    event = AuditEvent.objects.get(action=Action.OIDC_CODE_REPLAYED)
    assert event.params["client_id"] == ELOKET[0] and event.person == clients.person("user")
    # Another client presenting the code revokes nothing of E-loket's (nor learns anything).
    fresh = code_flow(http)
    r = http.post(
        "/oauth/token/",
        {"grant_type": "authorization_code", "code": fresh["code"], "redirect_uri": RAAS[2], "code_verifier": VERIFIER},
        **basic(RAAS),
    )
    assert r.json()["error"] == "invalid_grant" and userinfo_status(http, fresh["access_token"]) == 200


# -- RFC 7636 §4.1: code_verifier = 43*128unreserved -----------------------------------------------------


def test_code_verifier_must_be_43_to_128_unreserved_characters(clients: World) -> None:
    http = Client()
    login(http, clients.person("user"))
    for verifier in ("a" * 42, "a" * 129, "a" * 42 + "+", "a" * 42 + " ", "a" * 42 + "é"):
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        code = answer_of(http.get("/oauth/authorize/", request_params(code_challenge=challenge)))["code"]
        r = http.post(
            "/oauth/token/",
            {"grant_type": "authorization_code", "code": code, "redirect_uri": ELOKET[2], "code_verifier": verifier},
            **basic(ELOKET),
        )
        assert r.status_code == 400 and r.json()["error"] in ("invalid_request", "invalid_grant"), (verifier, r.content)
    # 43 and 128 of the whole unreserved set are fine.
    for verifier in ("A-Za-z0-9._~" * 4)[:43], ("A-Za-z0-9._~" * 11)[:128]:
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        code = answer_of(http.get("/oauth/authorize/", request_params(code_challenge=challenge)))["code"]
        r = http.post(
            "/oauth/token/",
            {"grant_type": "authorization_code", "code": code, "redirect_uri": ELOKET[2], "code_verifier": verifier},
            **basic(ELOKET),
        )
        assert r.status_code == 200, (verifier, r.content)


# -- RFC 6750 §2.3: no access token in the query string ---------------------------------------------------


def test_an_access_token_in_the_query_string_is_refused(clients: World) -> None:
    http = Client()
    login(http, clients.person("user"))
    tokens = code_flow(http)
    assert userinfo_status(http, tokens["access_token"]) == 200
    r = http.get("/oauth/userinfo/", {"access_token": tokens["access_token"]})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    assert r["WWW-Authenticate"].startswith("Bearer")
    # The authorization API (client credentials, scope authz): the header only.
    cc = http.post("/oauth/token/", {"grant_type": "client_credentials", "scope": "authz"}, **basic(ELOKET)).json()
    path = f"/api/v1/persons/{clients.person('user').ssin}/facilities"
    assert http.get(path, HTTP_AUTHORIZATION=f"Bearer {cc['access_token']}").status_code == 200
    assert http.get(path, {"access_token": cc["access_token"]}).status_code == 401
    r = http.get(path, {"access_token": cc["access_token"]}, HTTP_AUTHORIZATION=f"Bearer {cc['access_token']}")
    assert r.status_code == 401


def test_the_device_grant_is_not_a_grant_of_this_server(clients: World) -> None:
    # django-oauth-toolkit routes it to a flow toegang has no endpoints for (and answered 500).
    for data in ({}, {"device_code": "x"}):
        r = Client().post(
            "/oauth/token/", {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", **data}, **basic(ELOKET)
        )
        assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
        assert r["Cache-Control"] == "no-store"


# -- RP-Initiated Logout 1.0 ----------------------------------------------------------------------------


def logged_in(world: World, username: str = "user") -> Client:
    http = Client(enforce_csrf_checks=True)
    login(http, world.person(username))
    return http


def session_alive(http: Client) -> bool:
    return "_auth_user_id" in http.session


def test_logout_by_post_with_the_sessions_id_token(clients: World) -> None:
    http = logged_in(clients)
    eloket, raas = code_flow(http), code_flow(http, RAAS)
    r = http.post(
        "/oauth/logout/",
        {"id_token_hint": eloket["id_token"], "post_logout_redirect_uri": ELOKET_LOGOUT, "state": "bye"},
    )
    assert r.status_code == 302 and r["Location"] == ELOKET_LOGOUT + "?state=bye"
    assert not session_alive(http)
    # What docs/oidc.md says ends: the calling client's tokens of the person, nobody else's.
    assert userinfo_status(http, eloket["access_token"]) == 401
    assert not RefreshToken.objects.filter(application__client_id=ELOKET[0], revoked__isnull=True).exists()
    assert userinfo_status(http, raas["access_token"]) == 200
    assert RefreshToken.objects.filter(application__client_id=RAAS[0], revoked__isnull=True).exists()
    event = AuditEvent.objects.get(action=Action.OIDC_LOGOUT)
    assert event.params["client_id"] == ELOKET[0] and event.person == clients.person("user")


def test_logout_without_id_token_hint_asks_the_person_by_get_and_by_post(clients: World) -> None:
    http = logged_in(clients)
    code_flow(http)
    for r in (
        http.get("/oauth/logout/", {"client_id": ELOKET[0]}),
        http.post("/oauth/logout/", {"client_id": ELOKET[0]}),
        # A forged confirmation (allow, but no CSRF token) is a new request: it asks again.
        http.post("/oauth/logout/", {"client_id": ELOKET[0], "allow": "on"}),
    ):
        assert r.status_code == 200 and b'name="allow"' in r.content, r.status_code
        assert session_alive(http)
    assert AccessToken.objects.filter(application__client_id=ELOKET[0]).exists()
    # A wrong CSRF token is refused; the person's own confirmation logs out.
    r = http.post("/oauth/logout/", {"client_id": ELOKET[0], "allow": "on", "csrfmiddlewaretoken": "y" * 64})
    assert r.status_code == 403 and session_alive(http)
    page = http.get("/oauth/logout/", {"client_id": ELOKET[0]})
    r = http.post(
        "/oauth/logout/", {"client_id": ELOKET[0], "allow": "on", "csrfmiddlewaretoken": page.context["csrf_token"]}
    )
    assert r.status_code == 302 and not session_alive(http)
    assert not AccessToken.objects.filter(application__client_id=ELOKET[0]).exists()


def test_logout_by_post_without_a_session_goes_on_by_get(clients: World) -> None:
    params = {"client_id": ELOKET[0], "post_logout_redirect_uri": ELOKET_LOGOUT}
    r = Client(enforce_csrf_checks=True).post("/oauth/logout/", params)
    assert r.status_code == 303 and r["Location"] == "/oauth/logout/?" + urlencode(params)


def test_an_id_token_hint_of_another_person_is_refused(clients: World) -> None:
    greet = logged_in(clients)
    greet_tokens = code_flow(greet)
    sb = logged_in(clients, "sb")
    for r in (
        sb.get("/oauth/logout/", {"id_token_hint": greet_tokens["id_token"]}),
        sb.post("/oauth/logout/", {"id_token_hint": greet_tokens["id_token"]}),
    ):
        assert r.status_code == 400 and not r.has_header("Location")
        assert "another person" in r.content.decode() or "ander" in r.content.decode()
    # Nobody logged out, nobody's tokens revoked.
    assert session_alive(sb) and session_alive(greet)
    assert userinfo_status(greet, greet_tokens["access_token"]) == 200


def test_post_logout_redirect_uri_must_be_registered_exactly(clients: World) -> None:
    for wrong in (
        "https://eloket.example.test/",  # the origin of the redirect URI (accepted before)
        ELOKET[2],  # the redirect URI itself
        ELOKET_LOGOUT + "/",
        ELOKET_LOGOUT + "?x=1",
        "http://127.0.0.1:9/",  # any port on the loopback address (accepted before)
    ):
        http = logged_in(clients)
        tokens = code_flow(http)
        r = http.get("/oauth/logout/", {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": wrong})
        assert r.status_code == 400 and not r.has_header("Location"), wrong
        assert session_alive(http)
    # On the loopback address another port is another URI (django-oauth-toolkit accepted any port).
    for wrong in ("http://127.0.0.1:9/raas-out", "http://127.0.0.1/raas-out", RAAS[2]):
        http = logged_in(clients)
        tokens = code_flow(http, RAAS)
        r = http.get("/oauth/logout/", {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": wrong})
        assert r.status_code == 400 and session_alive(http), wrong
    # The registered ones, exactly: logged out and sent there.
    for rp, uri in ((ELOKET, ELOKET_LOGOUT), (RAAS, RAAS_LOGOUT)):
        http = logged_in(clients)
        tokens = code_flow(http, rp)
        r = http.get("/oauth/logout/", {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": uri})
        assert r.status_code == 302 and r["Location"] == uri and not session_alive(http)
