"""From "added" to "working": a new person's whole start in Chromium (the manual's "Het vervolg").

Per language (nl, fr, de): sb adds a person nobody knows yet to Campus Noord with the form, in that
language, CIRRO and RaaS ticked; the e-mail the person receives is read from the test mailbox (the
task worker delivers the outbox to it over SMTP: conftest.mailbox); its activation link is opened
in the person's own browser, a password chosen, the person logs in with the username the mail gave
and sees, on their own Home, the facility, the two applications with their links and the facility's
managers. Every page is checked by axe-core and photographed at 1280 px, the person's pages at 390 px too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import translation

from tests.e2e.conftest import Server, Walk, label, login_label, mail_to, tr
from tests.smtp_sink import SmtpSink
from toegang.identifiers import ssin_make

FACILITY = "Residentiële zorginstelling Campus Noord"
PASSWORD = "mijn-eigen-lang-wachtwoord"
LANGS = ["nl", "fr", "de"]
PERSON = {"nl": ("Wouters", "Lotte", "mr"), "fr": ("Dubois", "Camille", "ms"), "de": ("Schäfer", "Jürgen", "mr")}
# The demo catalogue's addresses (toegang/seed/demo.py).
APPLICATIONS = {"CIRRO": "https://www.zorg-en-gezondheid.be/cirro", "RaaS": "https://www.zorg-en-gezondheid.be/raas"}


def _display(ssin: str) -> str:
    return f"{ssin[:2]}.{ssin[2:4]}.{ssin[4:6]}-{ssin[6:9]}.{ssin[9:]}"


@pytest.fixture(scope="module")
def sb(walk_factory: Any) -> Iterator[Walk]:
    walk = walk_factory("new-user-start-sb", "nl")
    walk.login("nl", "sb")
    yield walk


def _narrow(walk: Walk, step: str) -> None:
    """The same page at a phone's width (390 px), checked and photographed, then wide again."""
    walk.page.set_viewport_size({"width": 390, "height": 844})
    walk.check(f"{step}-390")
    walk.page.set_viewport_size({"width": 1280, "height": 900})


def _add_person(sb: Walk, lang: str, ssin: str, email: str) -> None:
    page = sb.page
    sb.goto(f"/{lang}/", f"{lang}-home")
    page.get_by_role("link", name=FACILITY, exact=False).first.click()
    page.get_by_role("link", name=tr(lang, "Users"), exact=True).click()
    sb.check(f"{lang}-users")
    footer = page.locator("form").filter(has=page.get_by_role("heading", name=tr(lang, "Add a user")))
    footer.get_by_label(tr(lang, "INSZ")).fill(_display(ssin))
    footer.get_by_role("button", name=tr(lang, "Next"), exact=True).click()
    page.get_by_role("heading", name=tr(lang, "Create a user"), level=1).wait_for()
    last, first, title = PERSON[lang]
    page.get_by_label(label(lang, "Last name")).fill(last)
    page.get_by_label(label(lang, "First name")).fill(first)
    page.get_by_label(label(lang, "Title")).select_option(title)
    page.get_by_label(label(lang, "Language")).select_option(lang)
    page.get_by_label(label(lang, "E-mail address *")).fill(email)
    apps = page.get_by_role("group", name=tr(lang, "Secured applications"))
    for name in APPLICATIONS:
        apps.get_by_role("checkbox", name=name, exact=False).check()
    sb.check(f"{lang}-create-user")
    page.get_by_role("button", name=tr(lang, "Save"), exact=True).click()
    page.get_by_role("status").filter(has_text=tr(lang, "The user's data were saved")).wait_for()
    sb.check(f"{lang}-user-saved")


@pytest.mark.parametrize("lang", LANGS)
def test_a_new_person_gets_the_mail_activates_logs_in_and_sees_their_home(
    sb: Walk, walk_factory: Any, server: Server, mailbox: SmtpSink, lang: str
) -> None:
    ssin = ssin_make(1990, 7, 21, 401 + LANGS.index(lang))
    address = f"start.{lang}@example.test"
    _add_person(sb, lang, ssin, address)

    # The e-mail, as the person receives it: in their language, with their username, the link, the applications.
    message = mail_to(mailbox, address)
    body_part = message.get_body(("plain",))
    assert body_part is not None
    body = body_part.get_content()
    # Unfolded; not str.split(), which would also turn French's narrow no-break space into a space.
    subject = re.sub(r"[ \t]*\r?\n[ \t]*", " ", str(message["Subject"])).strip(" \t")
    with translation.override(lang):
        assert subject == tr(lang, "Your access for %(name)s: how to start") % {"name": FACILITY}
    assert (
        body.splitlines()[0]
        == {
            "nl": "Geachte heer Wouters,",
            "fr": "Madame Dubois,",
            "de": "Sehr geehrter Herr Schäfer,",
        }[lang]
    )
    username = re.search(re.escape(tr(lang, "Your username: %(username)s")).replace(r"%\(username\)s", r"(\S+)"), body)
    assert username is not None, body
    for name, url in APPLICATIONS.items():
        assert f"- {name}: {url}" in body
    assert f"{server.url}/{lang}/accounts/login/" in body  # eID / itsme first
    link = re.search(rf"{re.escape(server.url)}/{lang}/activate/\S+/", body)
    assert link is not None, body
    assert body.index(f"/{lang}/accounts/login/") < body.index(link.group(0))

    # The person, in their own browser: the link, a password of their own, the login with the mail's username.
    person: Walk = walk_factory(f"new-user-start-{lang}", lang)
    page = person.page
    page.goto(link.group(0))
    person.check("activate")
    _narrow(person, "activate")
    page.get_by_label(label(lang, "Password *")).fill(PASSWORD)
    page.get_by_label(label(lang, "Password (again) *")).fill(PASSWORD)
    page.get_by_role("button", name=tr(lang, "Activate my account")).click()
    page.wait_for_url(lambda url: "/accounts/login/" in url)
    person.check("login")
    form = page.locator("#login-password")
    form.get_by_label(login_label(lang)).fill(username.group(1))
    form.get_by_label(tr(lang, "Password")).fill(PASSWORD)
    form.get_by_role("button", name=tr(lang, "Log in")).click()
    page.wait_for_url(lambda url: "/accounts/" not in url)

    # Their own Home: the facility, the applications with their links, the managers; no manager's Home.
    page.get_by_role("heading", name=tr(lang, "Your facilities and applications")).wait_for()
    person.check("home")
    _narrow(person, "home")
    facility = page.locator("section.facility").filter(has=page.get_by_role("heading", name=FACILITY))
    for name, url in APPLICATIONS.items():
        assert facility.get_by_role("link", name=name).get_attribute("href") == url
    assert facility.get_by_role("link", name="E-loket Zorg en Gezondheid").count() == 0  # not given
    # The facility's SB and co-SB, then its quality's TB and co-TB, each with their appointment's address.
    managers = facility.locator("ul.managers li").all_inner_texts()
    assert [m.split(" (")[0] for m in managers] == ["Sofie Subbeheer", "Koen Cosub", "Tom Toegang", "Chantal Cotoegang"]
    assert facility.get_by_role("link", name="sb@demo.toegang.invalid", exact=True).get_attribute("href") == (
        "mailto:sb@demo.toegang.invalid"
    )
    assert tr(lang, "You hold no management role for this enterprise.") not in page.content()
    page.get_by_role("link", name=tr(lang, "Change my personal data")).click()
    person.check("me")
