"""Bad input never answers 500 (issue 12, F6): a NUL byte anywhere in a request is refused in one place,
``toegang/input_guard.py``, before anything reads it; with a translated 400 in the form the caller
reads (an HTML page, the API's JSON error, OAuth's ``invalid_request``).

On PostgreSQL every vector below answered 500 (``DataError: PostgreSQL text fields cannot contain NUL
(0x00) bytes``); on SQLite they were stored or looked up as they came. Both now answer 400.
"""

from __future__ import annotations

import base64
import json
import re
from re import _parser as sre_parse
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import translation

from tests.conftest import World, login
from tests.test_wsgi import wsgi_call
from toegang import input_guard
from toegang.accounts.models import User

pytestmark = pytest.mark.django_db


def _message(lang: str) -> str:
    with translation.override(lang):
        return input_guard.message()


def assert_refused_html(response: Any, lang: str = "nl") -> None:
    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("text/html")
    assert _message(lang) in response.content.decode()
    assert response["Content-Language"] == lang


def assert_refused_json(response: Any, lang: str = "nl") -> None:
    assert response.status_code == 400, (response.status_code, response.content[:300])
    body = response.json()
    assert body == {"error": "invalid_request", "error_description": _message(lang)}
    assert response["Cache-Control"] == "no-store"


def test_the_message_is_translated() -> None:
    texts = {lang: _message(lang) for lang in ("nl", "fr", "de", "en")}
    assert len(set(texts.values())) == 4 - (texts["en"] == _message("xx")), texts


def _basic(user: bytes, password: bytes) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(user + b":" + password).decode()}


def test_oauth_token_endpoint_refuses_nul_unauthenticated(client: Client, db: None) -> None:
    # The attack's three vectors at /oauth/token/: client_id, HTTP Basic credentials, code.
    data = {"grant_type": "client_credentials", "client_id": "probe\x00", "client_secret": "x"}
    r = client.post("/oauth/token/", data)
    assert_refused_json(r)
    r = client.post("/oauth/token/", {"grant_type": "client_credentials"}, headers=_basic(b"probe\x00", b"x"))
    assert_refused_json(r)
    # RFC 6749 §2.3.1: the Basic user and password are form-encoded first, so %00 is a NUL too.
    r = client.post("/oauth/token/", {"grant_type": "client_credentials"}, headers=_basic(b"probe%00", b"x"))
    assert_refused_json(r)
    r = client.post(
        "/oauth/token/",
        {"grant_type": "authorization_code", "code": "abc\x00", "client_id": "x", "redirect_uri": "http://x"},
        headers={"Accept-Language": "fr"},
    )
    assert_refused_json(r, "fr")
    for path in ("/oauth/introspect/", "/oauth/revoke_token/"):
        assert_refused_json(client.post(path, {"token": "t\x00"}))
    assert_refused_json(client.get("/oauth/userinfo/", headers={"Authorization": "Bearer a\x00b"}))


def test_oauth_authorize_refuses_nul_with_a_page(client: Client, world: World) -> None:
    login(client, world.person("user"))
    r = client.get("/oauth/authorize/", {"client_id": "probe\x00", "response_type": "code"})
    assert_refused_html(r)
    assert not r.has_header("Location")
    r = client.get("/oauth/authorize/?client_id=x&state=%00", headers={"Accept-Language": "de"})
    assert_refused_html(r, "de")


def test_operator_search_refuses_nul(client: Client, world: World) -> None:
    login(client, world.operator)
    assert_refused_html(client.get("/nl/operator/?q=%00"))
    assert_refused_html(client.get("/fr/operator/", {"q": "a\x00b"}), "fr")
    assert client.get("/nl/operator/?q=zon").status_code == 200


def test_login_form_and_portal_forms_refuse_nul(client: Client, world: World) -> None:
    before = User.objects.count()
    assert_refused_html(client.post("/en/accounts/login/", {"login": "sb\x00", "password": "x"}), "en")
    login(client, world.person("sb"))
    sd = world.zon.sd
    r = client.post(f"/nl/s/{sd.pk}/users/new/", {"ssin": "85.07.30-033.28", "action": "save", "first_name": "A\x00"})
    assert_refused_html(r)
    # A multipart form: a field and a file name.
    r = client.post(f"/nl/s/{sd.pk}/users/import/", {"action": "preview\x00"})
    assert_refused_html(r)
    assert User.objects.count() == before


def test_json_body_path_cookie_and_header(client: Client, world: World) -> None:
    # JSON: a \u0000 escape in a key or a string, nested, and a lone surrogate.
    for document in ({"a": "x\x00"}, [{"b": ["c", {"d\x00": 1}]}], {"e": "\ud800"}):
        r = client.post("/oauth/token/", json.dumps(document), content_type="application/json")
        assert_refused_json(r)
    # A raw NUL byte in any other body.
    assert_refused_html(client.post("/nl/accounts/login/", b"a\x00b", content_type="text/plain"))
    assert_refused_html(client.get("/nl/help/img/a%00b"))
    # A session cookie with a NUL (Django's cookie parser decodes "\000") never reaches the session store.
    assert_refused_html(client.get("/nl/", HTTP_COOKIE='sessionid="abcdefgh\\000ijkl"'))
    assert_refused_html(client.get("/nl/", headers={"X-Anything": "a\x00"}))
    # Harmless look-alikes pass: an escaped "%00" is three characters, a NUL in a file's content is the view's.
    assert client.get("/nl/accounts/login/?next=%2500").status_code == 200


def test_api_through_its_own_middleware_list(world: World) -> None:
    # /api/ runs on settings.API_MIDDLEWARE (toegang/wsgi.py): the guard is in that list too.
    status, headers, body = wsgi_call("/api/v1/persons/%00/facilities", {"Accept-Language": "fr"})
    assert status == 400 and headers["content-language"] == ["fr"]
    assert json.loads(body) == {"error": "invalid_request", "error_description": _message("fr")}
    status, _headers, body = wsgi_call("/api/v1/persons/85073003328/facilities?x=%00")
    assert status == 400 and json.loads(body)["error"] == "invalid_request"


def test_api_json_body(client: Client, world: World) -> None:
    body = json.dumps([{"ssin": "85073003328\x00", "subdepartment_id": 1}])
    r = client.post("/api/v1/checks", body, content_type="application/json", headers={"Authorization": "Bearer x"})
    assert_refused_json(r)


# --- The sweep: every URL pattern, with a NUL in the query, the path and a form body ------------------


def _sample(tokens: Any) -> str:
    """The shortest string a parsed regular expression (sre_parse) matches, preferring '1' and 'x'."""
    out = []
    for op, arg in tokens:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name == "ANY":
            out.append("x")
        elif name == "IN":
            kinds = {str(k): v for k, v in arg}
            if "NEGATE" in kinds:
                out.append("x")
            elif "LITERAL" in kinds:
                out.append(chr(kinds["LITERAL"]))
            elif "RANGE" in kinds:
                low, high = kinds["RANGE"]
                out.append("1" if low <= ord("1") <= high else chr(low))
            else:
                out.append("x")
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, _high, sub = arg
            out.append(_sample(sub) * max(low, 1) if low else "")
        elif name == "SUBPATTERN":
            out.append(_sample(arg[-1]))
        elif name == "BRANCH":
            out.append(_sample(arg[1][0]))
        elif name == "CATEGORY":
            out.append("1" if "DIGIT" in str(arg) else "x")
        elif name == "NOT_LITERAL":
            out.append("x" if arg != ord("x") else "y")
        # AT (anchors), ASSERT and the like add nothing.
    return "".join(out)


def every_url() -> list[str]:
    paths: list[str] = []

    def walk(patterns: list[URLPattern | URLResolver], prefix: str) -> None:
        for p in patterns:
            with translation.override("nl"):
                piece = _sample(sre_parse.parse(p.pattern.regex.pattern))
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + piece)
            else:
                paths.append("/" + prefix + piece)

    walk(get_resolver().url_patterns, "")
    return sorted(set(paths))


def test_the_sweep_covers_every_pattern() -> None:
    urls = every_url()
    assert len(urls) > 100, len(urls)  # the portal, OAuth, the API and the admin
    for must in ("/oauth/token/", "/api/v1/checks", "/nl/operator/", "/nl/s/1/users/new/", "/nl/admin/"):
        assert must in urls, must
    assert sum(bool(re.fullmatch(r"/nl/admin/\w+/\w+/x/change/", u)) for u in urls) > 5


def test_every_url_refuses_nul_in_query_path_and_body(client: Client, world: World) -> None:
    login(client, world.operator)
    for url in every_url():
        for response in (
            client.get(url + "?q=%00"),
            client.get(url.rstrip("/") + "%00/"),
            client.post(url, {"q": "\x00"}),
        ):
            assert response.status_code == 400, (url, response.status_code)
            if response["Content-Type"].startswith("application/json"):
                assert response.json()["error_description"] == _message("nl"), url
            else:
                assert _message("nl") in response.content.decode(), url


# --- F7: next= --------------------------------------------------------------------------------------

NEXT_VALUES = (
    "foo",
    "foo/bar",
    "portal:home",
    "//evil.example.test/x",
    "/\\evil.example.test",
    "\\\\evil.example.test",
    "https://evil.example.test/",
    "javascript:alert(1)",
    "%",
    "/" + "a" * 5000,
    "",
)
# Every page that reads a next parameter: ours (step-up, eID) and allauth's.
NEXT_PAGES = (
    "/nl/step-up/",
    "/nl/accounts/login/",
    "/nl/accounts/eid/",
    "/nl/accounts/reauthenticate/",
    "/nl/accounts/2fa/reauthenticate/",
    "/nl/accounts/2fa/totp/activate/",
    "/nl/accounts/logout/",
    "/nl/audience/",
)


def _local(location: str) -> bool:
    """A redirect that stays on this site (allauth keeps a relative "foo" as it is: same site too)."""
    parts = urlsplit(location)
    return (
        parts.scheme in ("", "http")
        and parts.netloc in ("", "testserver")
        and not location.startswith(("//", "/\\", "\\"))
    )


def test_step_up_with_a_relative_next_is_not_500(client: Client, world: World) -> None:
    # The attack: GET /nl/step-up/?next=foo answered 500 (redirect() took "foo" for a URL name).
    login(client, world.person("sb"))
    r = client.get("/nl/step-up/?next=foo")
    assert r.status_code == 302 and r["Location"] == "/"
    assert client.get("/nl/step-up/?next=/nl/me/")["Location"] == "/nl/me/"
    # Below the level the page needs (a password only): the links carry only a local next.
    login(client, world.person("sb"), method="password")
    r = client.get("/nl/step-up/?next=foo")
    assert r.status_code == 200 and "?next=foo" not in r.content.decode().split("</header>")[1]


@pytest.mark.parametrize("who", ["anonymous", "user", "sb"])
def test_every_next_handler_stays_local_and_never_500(client: Client, world: World, who: str) -> None:
    if who != "anonymous":
        login(client, world.person(who))
    for page in NEXT_PAGES:
        for value in NEXT_VALUES:
            for response in (client.get(page, {"next": value}), client.post(page, {"next": value})):
                assert response.status_code < 500, (page, value, response.status_code)
                if response.status_code in (301, 302, 303, 307, 308):
                    assert _local(response["Location"]), (page, value, response["Location"])
            if who != "anonymous" and page == "/nl/accounts/logout/":
                login(client, world.person(who))


# --- Digits that are not ASCII: "²".isdigit() is true, int("²") raises ---------------------------------


def test_unicode_digits_in_ids_are_not_500(client: Client, world: World) -> None:
    client.raise_request_exception = False
    login(client, world.person("sb"))
    for value in ("²", "١٢", "9" * 30):
        assert client.get("/nl/", {"enterprise": value}).status_code == 200, value
    sd = world.zon.sd
    r = client.post(f"/nl/s/{sd.pk}/users/bulk/", {"action": "view", "ids": ["²"]})
    assert r.status_code == 404
