"""A password lockout is no denial of service (issue 12): others' wrong passwords lock the password
login for the address they came from, not the owner, and never the stronger login methods.

- five wrong passwords from one address lock that address out of the account, not the owner at
  another address;
- the account's limit over every address together (``LOGIN_FAILED_ACCOUNT_LIMITS``) still holds
  against an attack spread over many addresses;
- behind the same address as the attacker (one office, one NAT), the owner still logs in with eID
  and with the external provider, and a password reset by mail opens the password login again.
The passkey login after five wrong passwords is in tests/e2e/test_security_key.py (a browser's
virtual authenticator).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import requests
from django.core import mail
from django.test import Client

from tests.conftest import PASSWORD, World
from tests.test_eid import CA, ca, eid, eid_get  # noqa: F401  (fixtures)
from tests.test_external_oidc import (  # noqa: F401  (fixtures)
    PeerFactory,
    external_login,
    live_db,
    peer_modules,
    peers,
    requires_node,
    session_of,
    toegang_url,
    use_peer,
)
from toegang.audit.models import AuditEvent

WRONG = "not-the-password-123"


def _post_login(client: Client, name: str, password: str) -> Any:
    return client.post("/nl/accounts/login/", {"login": name, "password": password})


def _fail(client: Client, name: str, times: int) -> None:
    for _ in range(times):
        assert _post_login(client, name, WRONG).status_code == 200


def _locked(client: Client, name: str) -> bool:
    """The right password is refused (a lock), and the session stays anonymous."""
    response = _post_login(client, name, PASSWORD)
    return response.status_code == 200 and "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_five_wrong_passwords_from_one_address_do_not_lock_the_owner_out_elsewhere(world: World) -> None:
    person = world.person("sb")
    attacker = Client(REMOTE_ADDR="10.20.0.1")
    _fail(attacker, person.username, 5)
    assert _locked(attacker, person.username)
    owner = Client(REMOTE_ADDR="10.20.0.2")
    assert _post_login(owner, person.username, PASSWORD).status_code == 302
    assert owner.session["_auth_user_id"] == str(person.pk)


@pytest.mark.django_db
def test_the_accounts_limit_over_every_address_still_holds(world: World, settings: Any) -> None:
    settings.LOGIN_FAILED_ACCOUNT_LIMITS = "3/15m/key"
    person = world.person("sb")
    for n in range(3):
        _fail(Client(REMOTE_ADDR=f"10.21.0.{n + 1}"), person.username, 1)
    assert _locked(Client(REMOTE_ADDR="10.21.0.9"), person.email)
    lock = AuditEvent.objects.get(action="login.password.locked", object_id=str(person.pk))
    assert lock.reason == "3/15m/account full"
    # Another account is not affected.
    assert _post_login(Client(REMOTE_ADDR="10.21.0.9"), world.person("cosb").username, PASSWORD).status_code == 302


@pytest.mark.django_db
def test_after_five_wrong_passwords_the_owner_logs_in_with_eid(world: World, eid: Path, ca: CA) -> None:  # noqa: F811
    person = world.person("sb")
    # The attacker's failures come from the owner's own address (eID arrives from the trusted proxy).
    client = Client()
    _fail(client, person.username, 5)
    assert _locked(client, person.username)
    response = eid_get(client, ca.issue(person.ssin))
    assert response.status_code == 302 and response["Location"] == "/nl/"
    assert client.session["_auth_user_id"] == str(person.pk)


@pytest.mark.django_db
def test_a_password_reset_by_mail_opens_the_locked_password_login(
    world: World, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    person = world.person("sb")
    client = Client(REMOTE_ADDR="10.22.0.1")  # owner and attacker behind one address
    _fail(client, person.username, 5)
    assert _locked(client, person.username)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/nl/accounts/password/reset/", {"email": person.email})
    link = re.search(r"https?://[^/\s]+(/\S+/password/reset/key/\S+)", str(mail.outbox[-1].body))
    assert link is not None
    form_url = client.get(link.group(1), follow=True).redirect_chain[-1][0]
    new = "een nieuwe zin van mij"
    assert client.post(form_url, {"password1": new, "password2": new}).status_code == 302
    assert _post_login(client, person.username, new).status_code == 302
    assert client.session["_auth_user_id"] == str(person.pk)
    # The attacker's other addresses gain nothing: their count was not theirs to clear.
    assert AuditEvent.objects.filter(action="login.password.locked", object_id=str(person.pk)).count() == 1


@pytest.mark.django_db
def test_a_password_reset_by_mail_also_opens_the_accounts_limit_over_every_address(
    world: World, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.LOGIN_FAILED_ACCOUNT_LIMITS = "3/15m/key"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    person = world.person("sb")
    for n in range(3):
        _fail(Client(REMOTE_ADDR=f"10.23.0.{n + 1}"), person.username, 1)
    owner = Client(REMOTE_ADDR="10.23.0.9")
    assert _locked(owner, person.username)
    with django_capture_on_commit_callbacks(execute=True):
        owner.post("/nl/accounts/password/reset/", {"email": person.email})
    link = re.search(r"https?://[^/\s]+(/\S+/password/reset/key/\S+)", str(mail.outbox[-1].body))
    assert link is not None
    form_url = owner.get(link.group(1), follow=True).redirect_chain[-1][0]
    new = "een nieuwe zin van mij"
    assert owner.post(form_url, {"password1": new, "password2": new}).status_code == 302
    assert _post_login(owner, person.username, new).status_code == 302


@requires_node
@live_db
def test_after_five_wrong_passwords_the_owner_logs_in_with_the_external_provider(
    world: World,
    peers: PeerFactory,  # noqa: F811
    use_peer: Any,  # noqa: F811
    toegang_url: str,  # noqa: F811
) -> None:
    person = world.person("sb")
    with requests.Session() as s:  # the attacker, from the loopback address the owner uses too
        for _ in range(5):
            page = s.get(f"{toegang_url}/nl/accounts/login/", timeout=10)
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
            assert token is not None
            data = {"login": person.username, "password": WRONG, "csrfmiddlewaretoken": token.group(1)}
            assert s.post(page.url, data=data, timeout=10).status_code == 200
    assert AuditEvent.objects.filter(action="login.password.failed", object_id=str(person.pk)).count() == 5
    peer = peers.start({"ext-sb": {"ssin": person.ssin}})
    use_peer(peer)
    walk = external_login(toegang_url, peer.issuer, "ext-sb")
    assert urlparse(walk.final.url).path == "/nl/"
    assert session_of(walk)["_auth_user_id"] == str(person.pk)
