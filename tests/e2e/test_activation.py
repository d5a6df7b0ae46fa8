"""A new person's first steps in the browser: the appointment's activation link, the first login, Home.

The TB adds a person nobody knows yet to the facility the other browser tests leave alone (the
short-stay centre, in the server's own database, as the add-user form does);
the link of that membership's e-mail is opened, a password chosen, and the person logs in. A second
appointment, by another manager, then waits on Home for its own link (docs/security.md). Every page
is checked by axe-core and photographed, in nl, fr and de, at desktop and phone width.
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from tests.e2e.conftest import ROOT, Server, Walk, label, login_label, ntr, tr
from toegang.identifiers import ssin_make

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
PASSWORD = "een-eigen-lang-wachtwoord"

ADD_AND_PRINT_LINK = """
from toegang.accounts.models import User
from toegang.delegation.activation import activation_url
from toegang.delegation.services import subdepartment_user_add
from toegang.organisations.models import Subdepartment
tb = User.objects.get(username="tb")
sd = Subdepartment.objects.get(name="Centrum voor kortverblijf De Zonnebloem")
m = subdepartment_user_add(actor=tb, subdepartment=sd, ssin="{ssin}", email="{username}@example.test",
    first_name="Eerste", last_name="Stap", language="{lang}", title="ms", username="{username}")
print(activation_url(m, "{lang}"))
"""

APPOINT_ELSEWHERE = """
from toegang.accounts.models import User
from toegang.delegation.models import Role
from toegang.delegation.services import role_appoint
from toegang.organisations.models import Subdepartment
tb = User.objects.get(username="tb")
sd = Subdepartment.objects.get(name="Centrum voor kortverblijf De Zonnebloem")
role_appoint(actor=tb, role=Role.CO_SUBDEPARTMENT_MANAGER, scope=sd, ssin="{ssin}", email="{username}@example.test")
"""


def _shell(server: Server, code: str) -> str:
    python = server.env.get("E2E_PYTHON") or str(ROOT / ".venv" / "bin" / "python")
    done = subprocess.run(  # noqa: S603
        [python, str(ROOT / "manage.py"), "shell", "-c", code],
        cwd=ROOT,
        env=server.env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


# Each language once and each width at least once (all six were looked at when the pages were made).
@pytest.mark.parametrize(("lang", "viewport"), [("nl", "desktop"), ("fr", "phone"), ("de", "phone")])
def test_a_new_person_activates_their_account_and_logs_in(
    server: Server, walk_factory: Any, lang: str, viewport: str
) -> None:
    n = ["nl", "fr", "de"].index(lang) * 2 + (viewport == "phone")
    ssin = ssin_make(1993, 5, 9, 301 + n)
    username = f"eerste.stap.{lang}.{viewport}"
    link = _shell(server, ADD_AND_PRINT_LINK.format(ssin=ssin, username=username, lang=lang))
    assert link.startswith(server.url) and f"/{lang}/activate/" in link

    walk: Walk = walk_factory(f"activation-{lang}-{viewport}", lang)
    page = walk.page
    page.set_viewport_size(PHONE if viewport == "phone" else DESKTOP)
    page.goto(link)
    walk.check("activate")
    page.get_by_text(username, exact=True).wait_for()
    page.get_by_label(label(lang, "Password *")).fill(PASSWORD)
    page.get_by_label(label(lang, "Password (again) *")).fill(PASSWORD + "?")
    page.get_by_role("button", name=tr(lang, "Activate my account")).click()
    # The error summary names it first, and the field says it again.
    mismatch = tr(lang, "You must type the same password each time.")
    page.locator("[data-error-summary]").get_by_role("link").filter(has_text=mismatch).wait_for()
    page.locator(".field .error").filter(has_text=mismatch).wait_for()
    walk.check("activate-mismatch")
    page.get_by_label(label(lang, "Password *")).fill(PASSWORD)
    page.get_by_label(label(lang, "Password (again) *")).fill(PASSWORD)
    page.get_by_role("button", name=tr(lang, "Activate my account")).click()
    page.wait_for_url(lambda url: "/accounts/login/" in url)
    walk.check("activated-login")

    # A second appointment, by the TB, waits for its own link: Home says so.
    _shell(server, APPOINT_ELSEWHERE.format(ssin=ssin, username=username))
    form = page.locator("#login-password")
    form.get_by_label(login_label(lang)).fill(username)
    form.get_by_label(tr(lang, "Password")).fill(PASSWORD)
    form.get_by_role("button", name=tr(lang, "Log in")).click()
    page.wait_for_url(lambda url: "/accounts/" not in url)
    notice = ntr(
        lang,
        "You hold an appointment that this login cannot use yet. Confirm it with the link in the e-mail of "
        "the appointment, or log in with eID or itsme.",
        "You hold %(n)s appointments that this login cannot use yet. Confirm each with the link in its "
        "e-mail, or log in with eID or itsme.",
        1,
    )
    page.get_by_text(notice).wait_for()
    walk.check("home-waiting")

    # The same link again: used once, it says so.
    page.goto(link)
    walk.check("link-used")
    assert tr(lang, "This activation link has been used already. Log in as usual.") in page.content()
