"""The demo application's login (demo/, `make demo-rp`), in Chromium, as the user `gebruiker` does it.

"Aanmelden via toegang", toegang's login form (password alone: a plain user needs level 200), back to
the demo's "Selecteer in de keuzelijst uw voorziening" with the two facilities of the access claim,
one chosen, and the demo shows it once toegang's authorization API confirmed it; in nl, fr and de,
each also the user guide's screenshot of the picker. Every page (the demo's too) goes through
axe-core and is photographed.
"""

from __future__ import annotations

from typing import Any

import pytest

from demo.app import TEXTS
from tests.e2e.conftest import Walk, tr
from toegang.seed.demo import DEMO_PASSWORD


@pytest.mark.parametrize("lang", ["nl", "fr", "de"])
def test_demo_application_login_and_facility_choice(walk_factory: Any, demo_rp: str, lang: str) -> None:
    walk: Walk = walk_factory(f"demo-application-{lang}", lang)
    page = walk.page
    t = TEXTS[lang]
    page.goto(f"{demo_rp}/?lang={lang}")
    walk.check("demo-start")
    page.get_by_role("button", name=t["login"]).click()

    # toegang's login page, as the application sent the person there.
    page.wait_for_url(lambda url: url.startswith(walk.base) and "/accounts/login/" in url)
    walk.check("toegang-login")
    form = page.locator("#login-password")
    form.locator("input[name=login]").fill("gebruiker")
    form.locator("input[name=password]").fill(DEMO_PASSWORD)
    form.locator("button[type=submit]").click()
    if page.url.startswith(walk.base):  # a consent page, if toegang asks
        walk.check("toegang-consent")
        page.get_by_role("button").filter(has_text=tr(lang, "Allow")).first.click()

    # Back in the demo: "Selecteer in de keuzelijst uw voorziening", two facilities.
    page.wait_for_url(lambda url: url.startswith(demo_rp))
    walk.check("demo-picker")
    walk.guide(lang, "user-facility-picker")
    picker = page.get_by_label(t["select"])
    options = picker.locator("option").all_inner_texts()
    assert len(options) == 2, options
    assert any(o.startswith("Residentiële zorginstelling Campus Noord") for o in options)
    assert any(o.startswith("Centrum voor kortverblijf De Zonnebloem") for o in options)
    chosen = next(o for o in options if o.startswith("Residentiële zorginstelling Campus Noord"))
    picker.select_option(label=chosen)
    page.get_by_role("button", name=t["choose"]).click()
    walk.check("demo-facility")
    page.get_by_text("Residentiële zorginstelling Campus Noord").first.wait_for()
    page.get_by_text("Greet").first.wait_for()
