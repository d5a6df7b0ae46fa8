"""The WSGI application itself (toegang/wsgi.py): /api/ on the short middleware list, the rest on the
full one. Driven through ``toegang.wsgi.application``, as gunicorn calls it, not Django's test client
(which always builds the full stack), so the API's path cannot drift from what is deployed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client, RequestFactory
from django.utils import translation

from tests.conftest import World
from tests.test_api import RP, access, application_of, ssin_of  # noqa: F401 (access: a fixture)
from toegang import wsgi

pytestmark = pytest.mark.django_db


@contextmanager
def same_connection() -> Iterator[None]:
    # As Django's test client does: the handler must not close the test's connection (its transaction).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def wsgi_call(path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, list[str]], bytes]:
    environ = RequestFactory().get(path, headers=headers or {}).environ
    answer: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        answer["status"] = int(status.split()[0])
        answer["headers"] = {}
        for name, value in response_headers:
            answer["headers"].setdefault(name.lower(), []).append(value)

    with same_connection():
        body = wsgi.application(environ, start_response)
        try:
            content = b"".join(body)
        finally:
            body.close()  # type: ignore[attr-defined]
    return answer["status"], answer["headers"], content


# The API's own stand-in for LocaleMiddleware (the language from Accept-Language alone), in its place.
API_LANGUAGE = "toegang.api.middleware.AcceptLanguageMiddleware"


def test_the_api_list_is_a_subsequence_of_the_full_one() -> None:
    full = settings.MIDDLEWARE
    api_list = [
        "django.middleware.locale.LocaleMiddleware" if m == API_LANGUAGE else m for m in settings.API_MIDDLEWARE
    ]
    positions = [full.index(m) for m in api_list]
    assert positions == sorted(positions)
    for needed in (
        "SecurityMiddleware",
        "ContentSecurityPolicyMiddleware",
        "NulByteMiddleware",
        "AcceptLanguageMiddleware",
        "NoStoreMiddleware",
        "XFrameOptionsMiddleware",
        "RequestContextMiddleware",
    ):
        assert any(m.endswith(needed) for m in settings.API_MIDDLEWARE)
    for cookie_bound in (
        "SessionMiddleware",
        "AuthenticationMiddleware",
        "CsrfViewMiddleware",
        "AccountMiddleware",
        "MessageMiddleware",
        "LocaleMiddleware",
    ):
        assert not any(m.endswith(cookie_bound) for m in settings.API_MIDDLEWARE)


def test_api_answers_carry_the_security_headers_and_follow_accept_language(access: World) -> None:  # noqa: F811
    user = ssin_of(access.zon.people["user"])
    status, headers, body = wsgi_call(f"/api/v1/persons/{user}/facilities", {"Accept-Language": "fr"})
    assert status == 401
    assert headers["www-authenticate"] == ['Bearer realm="toegang"']
    assert headers["x-content-type-options"] == ["nosniff"]
    assert headers["referrer-policy"] == ["same-origin"]
    assert headers["x-frame-options"] == ["DENY"]
    assert len(headers["x-request-id"][0]) == 32
    assert headers["content-language"] == ["fr"]
    with translation.override("fr"):
        french = translation.gettext("A bearer token is required.")
    assert french != "A bearer token is required."
    assert json.loads(body)["error_description"] == french
    # The request id a caller sends is the one answered (the audit context).
    assert wsgi_call("/api/openapi.json", {"X-Request-Id": "abc-123"})[1]["x-request-id"] == ["abc-123"]


def test_api_calls_never_make_a_session_or_a_cookie(access: World, client: Client) -> None:  # noqa: F811
    rp = RP(application_of("eloket"))
    token = rp.token(client)
    user, sd = ssin_of(access.zon.people["user"]), access.zon.sd.pk
    before = Session.objects.count()
    status, headers, body = wsgi_call(f"/api/v1/persons/{user}/facilities/{sd}", {"Authorization": f"Bearer {token}"})
    assert (status, body) == (200, b'{"allowed": true}')
    assert "set-cookie" not in headers
    assert "Cookie" not in " ".join(headers.get("vary", []))  # no session middleware looked
    # A browser's session cookie sent along is not even read.
    status, headers, _body = wsgi_call(
        f"/api/v1/persons/{user}/facilities/{sd}",
        {"Authorization": f"Bearer {token}", "Cookie": "sessionid=whatever; csrftoken=x"},
    )
    assert status == 200 and "set-cookie" not in headers
    assert Session.objects.count() == before


def test_other_paths_keep_the_full_stack() -> None:
    status, headers, _body = wsgi_call("/nl/accounts/login/")
    assert status == 200
    assert any(c.strip().startswith("csrftoken=") for c in headers.get("set-cookie", []))  # CSRF middleware ran
    assert "Cookie" in headers["vary"][0]
    assert headers["x-frame-options"] == ["DENY"] and headers["x-content-type-options"] == ["nosniff"]
    assert "x-request-id" in headers


def wsgi_post(path: str, data: dict[str, str], headers: dict[str, str]) -> tuple[int, dict[str, list[str]], bytes]:
    environ = RequestFactory().post(path, data, headers=headers).environ
    answer: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        answer["status"] = int(status.split()[0])
        answer["headers"] = {}
        for name, value in response_headers:
            answer["headers"].setdefault(name.lower(), []).append(value)

    with same_connection():
        body = wsgi.application(environ, start_response)
        try:
            content = b"".join(body)
        finally:
            body.close()  # type: ignore[attr-defined]
    return answer["status"], answer["headers"], content


def test_the_token_endpoint_runs_on_its_own_short_list(access: World) -> None:  # noqa: F811
    full = settings.MIDDLEWARE
    positions = [full.index(m) for m in settings.TOKEN_MIDDLEWARE]
    assert positions == sorted(positions)
    for needed in ("SecurityMiddleware", "NulByteMiddleware", "RequestContextMiddleware"):
        assert any(m.endswith(needed) for m in settings.TOKEN_MIDDLEWARE)
    rp = RP(application_of("eloket"))
    basic = "Basic " + base64.b64encode(f"{rp.client.client_id}:{rp.secret}".encode()).decode()
    form = {"grant_type": "client_credentials", "scope": "authz"}
    before = Session.objects.count()
    status, headers, body = wsgi_post("/oauth/token/", form, {"Authorization": basic, "Cookie": "sessionid=x"})
    assert status == 200 and json.loads(body)["token_type"] == "Bearer"
    assert headers["cache-control"] == ["no-store"] and headers["x-content-type-options"] == ["nosniff"]
    assert len(headers["x-request-id"][0]) == 32
    assert "set-cookie" not in headers and Session.objects.count() == before
    # The NUL guard is on the list: a 400, never oauthlib's parsing of it.
    status, _headers, _body = wsgi_post("/oauth/token/", {**form, "scope": "authz\x00"}, {"Authorization": basic})
    assert status == 400


def test_the_api_check_keeps_every_protection_on_its_short_list(access: World, client: Client) -> None:  # noqa: F811
    """The check endpoint through the deployed callable: the same security headers as a portal page
    (CSP, no-store, nosniff, frame options, request id), a NUL refused, the language from
    Accept-Language and never from a cookie; a portal page still runs the full stack."""
    rp = RP(application_of("eloket"))
    token = rp.token(client)
    user, sd = ssin_of(access.zon.people["user"]), access.zon.sd.pk
    path = f"/api/v1/persons/{user}/facilities/{sd}"
    portal_status, portal, _body = wsgi_call("/nl/accounts/login/")
    assert portal_status == 200
    for _round in range(2):  # the second time from what the middleware remembered
        status, headers, body = wsgi_call(path, {"Authorization": f"Bearer {token}", "Accept-Language": "fr"})
        assert (status, body) == (200, b'{"allowed": true}')
        assert headers["content-type"] == ["application/json; charset=utf-8"]
        assert headers["content-security-policy"] == portal["content-security-policy"]
        assert "default-src 'self'" in headers["content-security-policy"][0]
        assert "frame-ancestors 'none'" in headers["content-security-policy"][0]
        assert headers["cache-control"] == ["max-age=0, no-cache, no-store, must-revalidate, private"]
        assert headers["expires"] and headers["x-content-type-options"] == ["nosniff"]
        assert headers["x-frame-options"] == ["DENY"] and len(headers["x-request-id"][0]) == 32
        assert headers["content-language"] == ["fr"] and headers["vary"] == ["Accept-Language"]
    # A language cookie (a browser's, sent along) is not the API's: Accept-Language, else Dutch.
    cookie = f"{settings.LANGUAGE_COOKIE_NAME}=de"
    headers = wsgi_call(path, {"Authorization": f"Bearer {token}", "Accept-Language": "fr", "Cookie": cookie})[1]
    assert headers["content-language"] == ["fr"]
    assert wsgi_call(path, {"Authorization": f"Bearer {token}", "Cookie": cookie})[1]["content-language"] == ["nl"]
    # A NUL byte: the guard's 400, before the token or the decision.
    status, headers, body = wsgi_call(f"/api/v1/persons/{user}/facilities/{sd}?x=%00", {"Accept-Language": "fr"})
    assert status == 400 and json.loads(body)["error"] == "invalid_request"
    assert headers["x-content-type-options"] == ["nosniff"]
    # The portal: sessions, CSRF, the language of the URL, the same CSP (built the portal's way).
    assert any(c.strip().startswith("csrftoken=") for c in portal["set-cookie"])
    assert portal["content-language"] == ["nl"] and "Cookie" in portal["vary"][0]
    assert "no-store" in portal["cache-control"][0]
