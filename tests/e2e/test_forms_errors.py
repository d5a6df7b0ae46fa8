"""Errors, layout and tone in Chromium (issue 13), in nl, fr and de, at 1280 and at 390 px.

A form sent with two errors comes back with the error summary focused (document.activeElement), its
links move the focus into their fields; allauth's login pages, an error page and a form with errors
are photographed at both widths and pass axe-core; at 390 px nothing of the page is wider than the
screen (the header wraps, the users table scrolls inside its own box).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Walk, label, tr
from toegang.identifiers import ssin_make
from toegang.seed.demo import DEMO_PASSWORD

FACILITY = "Residentiële zorginstelling"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
LANGS = ["nl", "fr", "de"]


@pytest.fixture(scope="module")
def sb(walk_factory: Any) -> Iterator[Walk]:
    walk = walk_factory("forms", "nl")
    walk.login("nl", "sb")
    yield walk


def _fits_the_screen(walk: Walk) -> None:
    """Nothing sticks out to the right: the page is no wider than the viewport."""
    width = walk.page.evaluate("document.documentElement.scrollWidth")
    viewport = walk.page.evaluate("window.innerWidth")
    wide = walk.page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest('.table-scroll'))
            .slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' + e.getBoundingClientRect().right)"""
    )
    assert width <= viewport, f"{walk.page.url}: {width} px wide on a {viewport} px screen: {wide}"


def _both_widths(walk: Walk, step: str) -> None:
    """axe-core and a screenshot at 1280 px, then at 390 px (where nothing may stick out)."""
    page = walk.page
    page.set_viewport_size(DESKTOP)
    walk.check(f"{step}-1280")
    page.set_viewport_size(PHONE)
    walk.check(f"{step}-390")
    _fits_the_screen(walk)
    page.set_viewport_size(DESKTOP)


def _summary_has_focus(walk: Walk) -> bool:
    return bool(walk.page.evaluate("document.activeElement.hasAttribute('data-error-summary')"))


@pytest.mark.parametrize("lang", LANGS)
def test_two_errors_the_summary_takes_focus_and_links_to_the_fields(sb: Walk, lang: str) -> None:
    page = sb.page
    sb.goto(f"/{lang}/", f"{lang}-home")
    page.get_by_role("link", name=FACILITY, exact=False).filter(has_not_text="Campus").click()
    page.get_by_role("link", name=tr(lang, "Users"), exact=True).click()
    # The users list at both widths: at 390 px its table scrolls inside its own box.
    _both_widths(sb, f"{lang}-users-list")
    page.set_viewport_size(PHONE)
    box = page.locator(".table-scroll").first
    assert box.evaluate("e => getComputedStyle(e).overflowX") == "auto"
    page.set_viewport_size(DESKTOP)

    footer = page.locator("form").filter(has=page.get_by_role("heading", name=tr(lang, "Add a user")))
    ssin = ssin_make(1992, 5, 17, 301 + LANGS.index(lang))
    footer.get_by_label(tr(lang, "INSZ")).fill(ssin)
    footer.get_by_role("button", name=tr(lang, "Next"), exact=True).click()
    page.get_by_role("heading", name=tr(lang, "Create a user"), level=1).wait_for()
    # The formats show before any error does.
    page.get_by_text(tr(lang, "For example name@facility.be")).wait_for()
    assert not _summary_has_focus(sb)

    # Two errors: no e-mail address, and a local address that is not one (the names, required for a
    # new INSZ, are given).
    page.get_by_label(label(lang, "Last name")).fill("Fout")
    page.get_by_label(label(lang, "First name")).fill("Formulier")
    page.get_by_label(label(lang, "Local e-mail address")).fill("geen-adres")
    page.get_by_role("button", name=tr(lang, "Save"), exact=True).click()
    page.locator("[data-error-summary]").wait_for()
    assert _summary_has_focus(sb), page.evaluate("document.activeElement.outerHTML.slice(0, 120)")
    assert page.title().startswith(tr(lang, "Error:"))
    summary = page.locator("[data-error-summary]")
    assert summary.get_by_role("heading", name=tr(lang, "There is a problem")).is_visible()
    links = summary.get_by_role("link")
    assert links.count() == 2
    assert page.locator("[aria-invalid=true]").count() == 2
    _both_widths(sb, f"{lang}-form-with-errors")

    # Each link of the summary puts the focus in its field.
    for i, field in enumerate(["id_email", "id_local_email"]):
        links.nth(i).click()
        assert page.evaluate("document.activeElement.id") == field
        described = page.evaluate("document.activeElement.getAttribute('aria-describedby')")
        assert f"{field}_error" in described.split()
    # Nothing was saved: the person is not in the list.
    page.get_by_role("link", name=tr(lang, "Cancel"), exact=True).click()
    page.wait_for_url(lambda url: "/users/new/" not in url)
    assert page.get_by_role("row").filter(has_text=ssin[-3:]).count() == 0


@pytest.mark.parametrize("lang", LANGS)
def test_the_login_pages_and_an_error_page_at_both_widths(walk_factory: Any, lang: str) -> None:
    walk = walk_factory(f"forms-login-{lang}", lang)
    page = walk.page
    page.goto(f"{walk.base}/{lang}/accounts/login/")
    _both_widths(walk, f"{lang}-login")
    # A wrong password: the login form's own error summary, focused.
    form = page.locator("#login-password")
    form.get_by_label(label(lang, "Password")).fill("not-the-password")
    form.get_by_role("textbox").first.fill("sb")
    form.get_by_role("button", name=tr(lang, "Log in")).click()
    page.locator("[data-error-summary]").wait_for()
    assert _summary_has_focus(walk)
    _both_widths(walk, f"{lang}-login-error")
    # The right password: the second factor's page.
    form.get_by_label(label(lang, "Password")).fill(DEMO_PASSWORD)
    form.get_by_role("button", name=tr(lang, "Log in")).click()
    page.wait_for_url(re.compile(r"/2fa/"))
    _both_widths(walk, f"{lang}-second-factor")
    walk.page.context.clear_cookies()
    for path, step in (
        ("/accounts/password/reset/", "password-reset"),
        ("/accounts/password/reset/done/", "password-reset-done"),
        ("/accounts/password/reset/key/done/", "password-reset-key-done"),
        ("/no-such-page/", "not-found"),
        ("/about/accessibility/", "accessibility-statement"),
    ):
        walk.page.goto(f"{walk.base}/{lang}{path}")
        _both_widths(walk, f"{lang}-{step}")
    page.get_by_role("heading", name=tr(lang, "Accessibility statement"), level=1).wait_for()
    walk.page.goto(f"{walk.base}/{lang}/no-such-page/")
    page.get_by_role("heading", name=tr(lang, "Page not found"), level=1).wait_for()
    # The footer is there, with its three links.
    footer = page.get_by_role("contentinfo")
    for name in ("Contact", "Privacy", "Accessibility statement"):
        assert footer.get_by_role("link", name=tr(lang, name), exact=True).is_visible()


@pytest.mark.parametrize("lang", LANGS)
def test_the_account_pages_at_both_widths(sb: Walk, lang: str) -> None:
    """allauth's pages of one's own account: in the portal's layout, formal, 0 axe violations."""
    page = sb.page
    for path, step in (
        ("/accounts/password/change/", "password-change"),
        ("/accounts/email/", "email"),
        ("/accounts/sessions/", "sessions"),
        ("/accounts/2fa/", "second-factors"),
    ):
        page.goto(f"{sb.base}/{lang}{path}")
        assert page.locator("header.top").is_visible() and page.locator("footer.foot").is_visible()
        _both_widths(sb, f"{lang}-{step}")
