"""The demo application's login (demo/, `make demo-rp`), in Chromium, as the user `gebruiker` does it.

"Aanmelden via toegang", toegang's login form (password alone: a plain user needs level 200), back to
the demo's "Selecteer in de keuzelijst uw voorziening" with the two facilities of the access claim,
one chosen, and the demo shows it once toegang's authorization API confirmed it. Every page (the
demo's too) goes through axe-core and is photographed.
"""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Walk, login_label, tr
from toegang.seed.demo import DEMO_PASSWORD


def test_demo_application_login_and_facility_choice(walk_factory: Any, demo_rp: str) -> None:
    walk: Walk = walk_factory("demo-application", "nl")
    page = walk.page
    page.goto(demo_rp + "/?lang=nl")
    walk.check("demo-start")
    page.get_by_role("button", name="Aanmelden via toegang").click()

    # toegang's login page, as the application sent the person there.
    page.wait_for_url(lambda url: url.startswith(walk.base) and "/accounts/login/" in url)
    walk.check("toegang-login")
    form = page.locator("#login-password")
    form.get_by_label(login_label("nl")).fill("gebruiker")
    form.get_by_label(tr("nl", "Password")).fill(DEMO_PASSWORD)
    form.get_by_role("button", name=tr("nl", "Log in")).click()
    if page.url.startswith(walk.base):  # a consent page, if toegang asks
        walk.check("toegang-consent")
        page.get_by_role("button").filter(has_text=tr("nl", "Allow")).first.click()

    # Back in the demo: "Selecteer in de keuzelijst uw voorziening", two facilities.
    page.wait_for_url(lambda url: url.startswith(demo_rp))
    walk.check("demo-picker")
    picker = page.get_by_label("Selecteer in de keuzelijst uw voorziening")
    options = picker.locator("option").all_inner_texts()
    assert len(options) == 2, options
    assert any(o.startswith("Residentiële zorginstelling Campus Noord") for o in options)
    assert any(o.startswith("Centrum voor kortverblijf De Zonnebloem") for o in options)
    chosen = next(o for o in options if o.startswith("Residentiële zorginstelling Campus Noord"))
    picker.select_option(label=chosen)
    page.get_by_role("button", name="Kiezen").click()
    walk.check("demo-facility")
    page.get_by_text("Residentiële zorginstelling Campus Noord").first.wait_for()
    page.get_by_text("Greet").first.wait_for()
