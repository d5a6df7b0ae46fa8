"""Steps 1-5 of the manual in Chromium, as the demo legal representative does them, in nl, fr and de.

wv logs in (password, then the app code), chooses a fresh enterprise in the drop-down, follows the
role links by their text, fills the forms by their labels and reads the messages. Every page is
checked by axe-core and photographed (conftest.Walk.check); the walk takes the screenshots of the
guides of steps 1-5 in its language (conftest.Walk.guide).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.conftest import Walk, label, tr
from toegang.identifiers import ssin_make

ENTERPRISE = {
    "nl": "Zorggroep Nieuwe Horizon vzw",
    "fr": "Groupe de soins Nouvel Horizon asbl",
    "de": "Pflegegruppe Neuer Horizont VoG",
}
QUALITY = {
    "nl": "Residentiële zorginstelling",
    "fr": "Établissement de soins résidentiels",
    "de": "Stationäre Pflegeeinrichtung",
}
# Step 4: the subdepartment's name and RIZIV number (mod 97), one per language.
SUBDEPARTMENT = {
    "nl": ("WZC Horizon Gent", "7-10001-39"),
    "fr": ("MRS Horizon Liège", "7-10004-36"),
    "de": ("Pflegeheim Horizont Eupen", "7-10007-33"),
}
LANGS = ["nl", "fr", "de"]


def _choose_enterprise(walk: Walk, lang: str, name: str) -> None:
    page = walk.page
    page.get_by_role("link", name=tr(lang, "Home"), exact=True).click()
    page.get_by_label(
        tr(lang, "Choose the enterprise or organisation you want to work for in this application.")
    ).select_option(label=_option_label(page, name))
    page.get_by_role("button", name=tr(lang, "Choose")).click()
    walk.check("enterprise-chosen")


def _option_label(page: Any, start: str) -> str:
    for text in page.locator("select option").all_inner_texts():
        if text.startswith(start):
            return str(text)
    raise AssertionError(f"no option {start!r}")


def _appoint(walk: Walk, lang: str, form: Any, role: str, ssin: str, email: str, **names: str) -> None:
    form.get_by_label(tr(lang, "Role")).select_option(label=tr(lang, role))
    form.get_by_label(re.compile(tr(lang, "INSZ"))).fill(ssin)
    form.get_by_label(tr(lang, "E-mail address")).fill(email)
    if "first_name" in names:
        form.get_by_label(label(lang, "First name")).fill(names["first_name"])
        form.get_by_label(label(lang, "Last name")).fill(names["last_name"])
    form.get_by_role("button", name=tr(lang, "Appoint")).click()


@pytest.mark.parametrize("lang", LANGS)
def test_steps_1_to_5_in_the_browser(walk_factory: Any, lang: str) -> None:
    walk = walk_factory(f"steps-1-5-{lang}", lang)
    page = walk.page
    walk.login(lang, "wv", guide=True)
    walk.check("home")
    page.get_by_text(tr(lang, "If your facility is not listed, you are not yet a manager for it."), exact=False)
    _choose_enterprise(walk, lang, ENTERPRISE[lang])

    # Step 1: the legal representative appoints the main access manager: first a wrong INSZ, then his own.
    page.get_by_role("link", name=tr(lang, "Legal representative"), exact=True).click()
    walk.check("step-1-legal-representative")
    walk.guide(lang, "step-1-legal-representative")
    form = page.locator("form", has=page.get_by_role("button", name=tr(lang, "Appoint")))
    _appoint(walk, lang, form, "Main access manager", "85.07.30-033.29", "wv@example.test")
    walk.check("step-1-wrong-insz")
    bad = tr(lang, "This INSZ is not valid: check the digits (the check digits do not match).")
    assert page.get_by_role("alert").filter(has_text=bad).count() >= 1
    wv_ssin = _own_ssin(walk, lang)
    form = page.locator("form", has=page.get_by_role("button", name=tr(lang, "Appoint")))
    _appoint(walk, lang, form, "Main access manager", wv_ssin, "wv@example.test")
    walk.check("step-1-appointed")
    assert page.get_by_role("status").count() >= 1
    walk.guide(lang, "step-1-appointed")

    # Step 2: as main access manager, activate the quality.
    _choose_enterprise(walk, lang, ENTERPRISE[lang])
    page.get_by_role("link", name=tr(lang, "Main access manager"), exact=True).click()
    walk.check("step-2-main-access-manager")
    walk.guide(lang, "step-2-main-access-manager")
    page.get_by_label(tr(lang, "Quality")).select_option(label=QUALITY[lang])
    page.get_by_role("button", name=tr(lang, "Activate")).click()
    walk.check("step-2-quality-activated")
    page.get_by_role("heading", level=1).filter(has_text=QUALITY[lang]).wait_for()

    # Step 3: appoint the access manager of the quality: himself.
    form = page.locator("form", has=page.get_by_role("button", name=tr(lang, "Appoint")))
    _appoint(walk, lang, form, "Access manager of the quality", wv_ssin, "wv@example.test")
    walk.check("step-3-access-manager")
    walk.guide(lang, "step-3-quality")

    # Step 4: a subdepartment with two applications.
    form = page.locator("form", has=page.get_by_role("button", name=tr(lang, "Add")))
    name, code = SUBDEPARTMENT[lang]
    form.get_by_label(tr(lang, "Name")).fill(name)
    form.get_by_label(re.compile(tr(lang, "Identification code"))).fill(code)
    form.get_by_role("checkbox", name=re.compile("^CIRRO")).check()
    form.get_by_role("checkbox", name=re.compile("^RaaS")).check()
    form.get_by_role("button", name=tr(lang, "Add")).click()
    walk.check("step-4-subdepartment")
    walk.guide(lang, "step-4-subdepartment")
    page.get_by_role("heading", level=1).filter(has_text="Horizon").wait_for()

    # Step 5: appoint the subdepartment manager, a person not yet known (under "Subafdelingszaken").
    page.get_by_role("link", name=tr(lang, "Subdepartment affairs"), exact=True).click()
    walk.check("step-5-subdepartment-affairs")
    walk.guide(lang, "step-5-subdepartment-affairs")
    form = page.locator("form", has=page.get_by_role("button", name=tr(lang, "Appoint")))
    sb_ssin = ssin_make(1990, 12, 24, {"nl": 123, "fr": 125, "de": 127}[lang])
    _appoint(
        walk, lang, form, "Subdepartment manager", sb_ssin, "sb@example.test", first_name="Sam", last_name="Beheer"
    )
    walk.check("step-5-subdepartment-manager")
    assert page.get_by_role("cell", name="Beheer").count() >= 1

    # The entity choice now has the role links of every level.
    _choose_enterprise(walk, lang, ENTERPRISE[lang])
    for role in ("Legal representative", "Main access manager"):
        assert page.get_by_role("link", name=tr(lang, role), exact=True).count() == 1
    walk.guide(lang, "home-role-links")


def _own_ssin(walk: Walk, lang: str) -> str:
    """wv's own INSZ, as he reads it on his personal data page (from a subdepartment's menu)."""
    page = walk.page
    here = page.url
    walk.goto(f"/{lang}/me/", "personal-data")
    text = page.locator("main").inner_text()
    page.goto(here)
    found = re.findall(r"\d{2}\.\d{2}\.\d{2}-\d{3}\.\d{2}", text)
    assert found, text
    return str(found[0])
