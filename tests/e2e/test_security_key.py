"""The security-key method in Chromium, with the browser's virtual authenticator (WebAuthn over CDP).

cosb (co-subdepartment manager of Campus Noord) logs in with password and app code, opens allauth's
"Two-factor authentication" page and adds a security key (allauth asks for the password again first,
"Toegang bevestigen", when the login is not recent enough). Then cosb logs out, logs in with username
and password, chooses "Use a security key" on the second-factor page instead of the code, and reaches
the subdepartment's Gebruikers page, a management page (level 400). Last, the passkey login from the
login page ("With your security key or passkey"), without username or password, to the same page.

The tab opens http://localhost:<port>, not 127.0.0.1: WebAuthn takes no IP address as relying party
(allauth takes the request's host as its id). Every page goes through axe-core and is photographed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import translation

from tests.e2e.conftest import ROOT, Server, Walk, label, login_label, tr
from toegang.seed.demo import DEMO_PASSWORD

LANG = "nl"
USERNAME = "cosb"
FACILITY = "Campus Noord"
KEY_NAME = "Sleutel van Koen"
CLEAR_CACHE = "from django.core.cache import cache; cache.clear()"


@pytest.fixture(scope="module")
def cosb(server: Server, browser: Any) -> Iterator[tuple[Walk, Any]]:
    """cosb's tab on http://localhost (WebAuthn takes no IP address as its relying party), with a
    virtual CTAP2 authenticator attached (resident keys, user verification)."""
    base = server.url.replace("://127.0.0.1:", "://localhost:")
    context = browser.new_context(base_url=base, locale=LANG, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    options = {
        "protocol": "ctap2",
        "transport": "usb",
        "hasResidentKey": True,
        "hasUserVerification": True,
        "isUserVerified": True,
    }
    authenticator = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})["authenticatorId"]
    try:
        yield (
            Walk(page=page, base=base, name="security-key"),
            lambda: cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"],
        )
    finally:
        context.close()


def _log_out(walk: Walk) -> None:
    page = walk.page
    page.get_by_role("button", name=tr(LANG, "Out"), exact=True).click()
    page.wait_for_url(re.compile(r"/accounts/login/"))


def _users_page(walk: Walk, step: str) -> None:
    """Home, the facility's link (Campus Noord), then Gebruikers: a page of level 400."""
    page = walk.page
    walk.goto(f"/{LANG}/", f"{step}-home")
    page.get_by_role("link", name=FACILITY, exact=False).click()
    walk.check(f"{step}-subdepartment-home")
    page.get_by_role("link", name=tr(LANG, "Users"), exact=True).click()
    walk.check(f"{step}-users-list")
    page.get_by_role("heading", name=tr(LANG, "Users"), exact=True, level=1).wait_for()
    subdepartment = tr(LANG, "Subdepartment: %(name)s") % {"name": f"Residentiële zorginstelling {FACILITY}"}
    page.get_by_text(subdepartment).wait_for()
    assert page.get_by_role("row").filter(has_text=USERNAME).count() == 1


def test_add_a_security_key_and_log_in_with_it(cosb: tuple[Walk, Any]) -> None:
    walk, credentials = cosb
    page = walk.page
    walk.login(LANG, USERNAME)
    walk.check("home")

    # allauth's "Two-factor authentication" page: no security key yet, Add.
    walk.goto(f"/{LANG}/accounts/2fa/", "mfa-index")
    page.get_by_role("heading", name=tr(LANG, "Two-Factor Authentication"), level=1).wait_for()
    page.get_by_text(tr(LANG, "No security keys have been added.")).wait_for()
    page.get_by_role("link", name=tr(LANG, "Add"), exact=True).click()
    page.wait_for_load_state("load")
    if "/reauthenticate/" in page.url:
        walk.check("reauthenticate")
        page.get_by_label(label(LANG, "Password")).fill(DEMO_PASSWORD)
        page.get_by_role("button", name=tr(LANG, "Confirm"), exact=True).click()
    page.wait_for_url(re.compile(r"/2fa/webauthn/add/"))
    walk.check("add-security-key")
    page.get_by_role("heading", name=tr(LANG, "Add Security Key"), level=1).wait_for()
    # allauth leaves the name field unlabelled ("Name" in every language); toegang's form names it.
    page.get_by_label(label(LANG, "Name of the security key")).fill(KEY_NAME)
    page.get_by_label(label(LANG, "Passwordless")).check()
    page.get_by_role("button", name=tr(LANG, "Add"), exact=True).click()
    page.wait_for_url(lambda url: "/webauthn/add/" not in url)
    walk.check("security-key-added")
    page.get_by_text(tr(LANG, "Security key added."), exact=True).wait_for()
    assert len(credentials()) == 1  # on the virtual authenticator, resident (passwordless)
    assert credentials()[0]["isResidentCredential"]

    # The two-factor page counts the new key.
    walk.goto(f"/{LANG}/accounts/2fa/", "mfa-index-with-key")
    with translation.override(LANG):
        added = translation.ngettext(
            "You have added %(count)s security key.", "You have added %(count)s security keys.", 1
        )
    page.get_by_text(added % {"count": 1}, exact=True).wait_for()

    # Out, in again with username and password, then the security key instead of the code.
    _log_out(walk)
    walk.goto(f"/{LANG}/accounts/login/", "login-again")
    form = page.locator("#login-password")
    form.get_by_label(login_label(LANG)).fill(USERNAME)
    form.get_by_label(tr(LANG, "Password")).fill(DEMO_PASSWORD)
    form.get_by_role("button", name=tr(LANG, "Log in")).click()
    page.wait_for_url(re.compile(r"/2fa/"))
    walk.check("second-factor")
    signed = credentials()[0]["signCount"]
    page.get_by_role("button", name=tr(LANG, "Use a security key"), exact=True).click()
    page.wait_for_url(lambda url: "/accounts/" not in url)
    walk.check("home-after-security-key")
    assert credentials()[0]["signCount"] > signed  # the key signed the login, not the app
    _users_page(walk, "security-key")


def test_passkey_login_from_the_login_page(cosb: tuple[Walk, Any]) -> None:
    """The key added above is a passkey: the login page's button logs in without username or password."""
    walk, credentials = cosb
    page = walk.page
    assert len(credentials()) == 1, "runs after test_add_a_security_key_and_log_in_with_it, which adds the key"
    _log_out(walk)
    walk.goto(f"/{LANG}/accounts/login/", "passkey-login")
    signed = credentials()[0]["signCount"]
    page.get_by_role("button", name=tr(LANG, "With your security key or passkey"), exact=True).click()
    page.wait_for_url(lambda url: "/accounts/" not in url)
    walk.check("home-after-passkey")
    assert credentials()[0]["signCount"] > signed
    _users_page(walk, "passkey")


def test_passkey_login_after_five_wrong_passwords(cosb: tuple[Walk, Any], server: Server) -> None:
    """Someone else's wrong passwords lock the password login (from this address), never the passkey."""
    walk, credentials = cosb
    page = walk.page
    assert len(credentials()) == 1, "runs after test_add_a_security_key_and_log_in_with_it, which adds the key"
    _log_out(walk)
    try:
        for attempt in range(6):
            walk.goto(f"/{LANG}/accounts/login/", f"wrong-password-{attempt}")
            form = page.locator("#login-password")
            form.get_by_label(login_label(LANG)).fill(USERNAME)
            # The sixth is the right password: refused all the same, the password login is locked.
            form.get_by_label(tr(LANG, "Password")).fill(DEMO_PASSWORD if attempt == 5 else "not-the-password-123")
            form.get_by_role("button", name=tr(LANG, "Log in")).click()
            page.wait_for_load_state("load")
            assert "/accounts/login/" in page.url
        with translation.override(LANG):
            locked = translation.gettext("Too many failed login attempts. Try again later.")
        page.get_by_text(locked).first.wait_for()
        signed = credentials()[0]["signCount"]
        page.get_by_role("button", name=tr(LANG, "With your security key or passkey"), exact=True).click()
        page.wait_for_url(lambda url: "/accounts/" not in url)
        walk.check("home-after-passkey-despite-lock")
        assert credentials()[0]["signCount"] > signed
    finally:
        # The failed-login counts are in the server's database cache, shared by its workers: empty
        # it, so that later browser tests log cosb in with the password again.
        subprocess.run(  # noqa: S603
            [sys.executable, str(ROOT / "manage.py"), "shell", "-c", CLEAR_CACHE],
            cwd=ROOT,
            env={**os.environ, **server.env},
            check=True,
        )
