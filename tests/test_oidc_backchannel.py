"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0; toegang/oidc/backchannel.py).

A real receiving endpoint: a small HTTP server on 127.0.0.1 stands for the clients' back-channel
logout URIs; it verifies each logout token's signature against toegang's JWKS with PyJWT and checks
its claims as a relying party must (§2.6). The jobs run in the test's process when the change
commits (the immediate engine of the unit tests).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from typing import Any
from urllib.parse import parse_qs, urlencode

import jwt
import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import Application
from oauth2_provider.settings import oauth2_settings

from tests.conftest import World, login
from tests.oidc_flows import REDIRECT, code_flow, give, id_claims, register
from toegang.accounts.sessions import LOGIN_AT
from toegang.audit.models import AuditEvent
from toegang.oidc.backchannel import EVENT, backchannel_deliver_due, oidc_sessions_expire, person_sessions_end
from toegang.oidc.models import BackchannelLogout, LogoutStatus, OidcSession, RelyingParty

A, B, C = "bcl-a", "bcl-b", "bcl-c"  # A and B have a back-channel logout URI, C has none


@dataclass
class Receiver:
    """The clients' back-channel endpoints: /a and /b, answering ``status`` (200 by default)."""

    base: str
    received: dict[str, list[str]] = field(default_factory=lambda: {"/a": [], "/b": []})
    status: int = 200

    def verified(self, path: str, client_id: str, jwks: dict[str, Any]) -> list[dict[str, Any]]:
        """Each logout token received at ``path``, verified as Back-Channel Logout 1.0 §2.6 says."""
        keys = jwt.PyJWKSet.from_dict(jwks)
        result = []
        for token in self.received[path]:
            header = jwt.get_unverified_header(token)
            assert header["typ"] == "logout+jwt" and header["alg"] == "RS256"
            key = next(k for k in keys.keys if k.key_id == header["kid"])
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=["RS256"],
                audience=client_id,
                issuer=oauth2_settings.OIDC_ISS_ENDPOINT,
                options={"require": ["iss", "aud", "iat", "exp", "jti", "sub", "sid", "events"]},
            )
            assert claims["events"] == {EVENT: {}} and "nonce" not in claims
            result.append(claims)
        return result


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            me = state["r"]
            if self.path in me.received and self.headers.get("Content-Type") == "application/x-www-form-urlencoded":
                me.received[self.path].extend(form.get("logout_token", []))
            self.send_response(me.status)
            self.send_header("Cache-Control", "no-store")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = None
    for port in range(8350, 8400):  # this branch's ports
        with contextlib.suppress(OSError):
            server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
            break
    assert server is not None, "no free port in 8350-8399"
    state["r"] = Receiver(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state["r"]
    server.shutdown()
    server.server_close()


@pytest.fixture
def clients(world: World, receiver: Receiver) -> dict[str, Application]:
    give(world, "user", [0])
    return {
        A: register(world, A, backchannel_logout_uri=f"{receiver.base}/a", backchannel_logout_session_required=True),
        B: register(world, B, backchannel_logout_uri=f"{receiver.base}/b"),
        C: register(world, C),
    }


def jwks() -> dict[str, Any]:
    keys: dict[str, Any] = Client().get("/oauth/.well-known/jwks.json").json()
    return keys


Capture = Callable[..., Any]


def signed_into_a_and_c(world: World, capture: Capture) -> tuple[Client, str]:
    browser = login(Client(), world.person("user"), method="password")
    with capture(execute=True):
        id_token = code_flow(browser, A)["id_token"]
        code_flow(browser, C)
    return browser, str(id_claims(id_token, A)["sid"])


@pytest.mark.django_db
def test_logout_in_toegang_tells_the_clients_the_session_used(
    world: World, clients: dict[str, Application], receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    browser, sid = signed_into_a_and_c(world, django_capture_on_commit_callbacks)
    assert set(OidcSession.objects.filter(sid=sid).values_list("client__client_id", flat=True)) == {A, C}
    with django_capture_on_commit_callbacks(execute=True):
        assert browser.post("/nl/accounts/logout/").status_code == 302
    [claims] = receiver.verified("/a", A, jwks())
    assert claims["sid"] == sid and claims["sub"] == str(world.person("user").pk)
    assert claims["exp"] > claims["iat"]
    assert receiver.received["/b"] == []  # the session never logged into B: nothing for B
    assert BackchannelLogout.objects.get().status == LogoutStatus.SENT
    assert not OidcSession.objects.filter(ended_at__isnull=True).exists()
    event = AuditEvent.objects.get(action="oidc.session.ended")
    assert event.params["clients"] == [A, C] and event.params["notified"] == 1
    # A second logout of the same (ended) session sends nothing more.
    with django_capture_on_commit_callbacks(execute=True):
        browser.post("/nl/accounts/logout/")
    assert len(receiver.received["/a"]) == 1


@pytest.mark.django_db
def test_a_failed_delivery_is_retried_later(
    world: World, clients: dict[str, Application], receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    browser, _sid = signed_into_a_and_c(world, django_capture_on_commit_callbacks)
    receiver.status = 503
    with django_capture_on_commit_callbacks(execute=True):
        assert browser.post("/nl/accounts/logout/").status_code == 302  # the logout itself is not held up
    logout = BackchannelLogout.objects.get()
    assert (logout.status, logout.attempts, logout.last_error) == (LogoutStatus.PENDING, 1, "HTTP 503")
    assert logout.next_attempt_at > timezone.now()
    assert backchannel_deliver_due().sent == 0  # not due yet
    receiver.status = 200
    BackchannelLogout.objects.update(next_attempt_at=timezone.now())
    assert backchannel_deliver_due().sent == 1
    assert BackchannelLogout.objects.get().status == LogoutStatus.SENT
    assert len(receiver.verified("/a", A, jwks())) == 2  # the refused one and the delivered one


@pytest.mark.django_db
def test_rp_initiated_logout_and_the_timeout_end_the_session_too(
    world: World, clients: dict[str, Application], receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    browser = login(Client(), world.person("user"), method="password")
    with django_capture_on_commit_callbacks(execute=True):
        id_token = code_flow(browser, C)["id_token"]
        code_flow(browser, A)
    query = urlencode({"id_token_hint": id_token, "post_logout_redirect_uri": "https://rp.example.test/"})
    with django_capture_on_commit_callbacks(execute=True):
        assert browser.get(f"/oauth/logout/?{query}").status_code == 302
    assert len(receiver.verified("/a", A, jwks())) == 1

    # The absolute lifetime passed: the next request ends the session (accounts/sessions.py).
    browser = login(Client(), world.person("user"), method="password")
    with django_capture_on_commit_callbacks(execute=True):
        code_flow(browser, A)
    session = browser.session
    session[LOGIN_AT] = 0.0
    session.save()
    with django_capture_on_commit_callbacks(execute=True):
        browser.get("/nl/")
    assert len(receiver.verified("/a", A, jwks())) == 2


@pytest.mark.django_db
def test_an_operator_ends_a_persons_sessions_and_the_sweep_ends_old_ones(
    world: World, clients: dict[str, Application], receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    browser, sid = signed_into_a_and_c(world, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        assert person_sessions_end(actor=world.operator, person=world.person("user")) == 1
    assert [c["sid"] for c in receiver.verified("/a", A, jwks())] == [sid]
    assert AuditEvent.objects.get(action="oidc.session.ended").actor == world.operator
    # The browser's session was ended as well.
    assert "_auth_user_id" not in browser.session

    # A session whose browser never came back: the periodic sweep, past the absolute lifetime.
    _browser, sid2 = signed_into_a_and_c(world, django_capture_on_commit_callbacks)
    assert oidc_sessions_expire(now=timezone.now()) == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert oidc_sessions_expire(now=timezone.now() + timedelta(days=2)) == 1
    assert [c["sid"] for c in receiver.verified("/a", A, jwks())] == [sid, sid2]


@pytest.mark.django_db
def test_id_tokens_carry_the_sid_and_discovery_says_so(
    world: World, clients: dict[str, Application], django_capture_on_commit_callbacks: Capture
) -> None:
    browser, sid = signed_into_a_and_c(world, django_capture_on_commit_callbacks)
    # The same browser session: the same sid for every client and every token.
    assert id_claims(code_flow(browser, C)["id_token"], C)["sid"] == sid
    refreshed = Client().post(
        "/oauth/token/",
        {"grant_type": "refresh_token", "refresh_token": code_flow(browser, A)["refresh_token"]},
        HTTP_AUTHORIZATION=_basic(A),
    )
    assert id_claims(refreshed.json()["id_token"], A)["sid"] == sid
    meta = Client().get("/.well-known/openid-configuration").json()
    assert meta["backchannel_logout_supported"] is True and meta["backchannel_logout_session_supported"] is True


def _basic(client_id: str) -> str:
    from tests.oidc_flows import basic

    value: str = basic(client_id)["HTTP_AUTHORIZATION"]
    return value


@pytest.mark.django_db
def test_oidc_client_command_registers_the_uri(world: World) -> None:
    out = StringIO()
    call_command(
        "oidc_client",
        "--application",
        world.apps[0].code,
        "--client-id",
        "bcl-cmd",
        "--redirect-uri",
        REDIRECT,
        "--backchannel-logout-uri",
        "https://rp.example.test/backchannel",
        "--backchannel-logout-session-required",
        stdout=out,
    )
    rp = RelyingParty.objects.get(client__client_id="bcl-cmd")
    assert rp.backchannel_logout_uri == "https://rp.example.test/backchannel"
    assert rp.backchannel_logout_session_required
