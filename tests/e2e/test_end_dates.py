"""Planned end dates in Chromium (issue 15): an SB adds an interim nurse whose access ends in 3 days.

Per language (nl, fr): sb adds a person nobody knows yet to Campus Noord with the form, the last day
3 days ahead; back on the users list, the nurse's status reads "ends in 3 days" in that language, and
the list's status criterion "ends within 30 days" finds her. Every page is checked by axe-core and
photographed at 1280 px, the list at 390 px too.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone, translation

from tests.e2e.conftest import Walk, label, tr
from toegang.identifiers import ssin_make

FACILITY = "Residentiële zorginstelling Campus Noord"
LANGS = ["nl", "fr"]
NURSE = {"nl": ("Interimmers", "Ilse"), "fr": ("Intérimaire", "Inès")}


def _display(ssin: str) -> str:
    return f"{ssin[:2]}.{ssin[2:4]}.{ssin[4:6]}-{ssin[6:9]}.{ssin[9:]}"


def _ends_in(lang: str, days: int) -> str:
    with translation.override(lang):
        return translation.ngettext("ends in %(count)s day", "ends in %(count)s days", days) % {"count": days}


@pytest.fixture(scope="module")
def sb(walk_factory: Any) -> Iterator[Walk]:
    walk = walk_factory("end-dates-sb", "nl")
    walk.login("nl", "sb")
    yield walk


@pytest.mark.parametrize("lang", LANGS)
def test_sb_adds_an_interim_nurse_whose_access_ends_in_3_days(sb: Walk, lang: str) -> None:
    page = sb.page
    ssin = ssin_make(1994, 2, 17, 611 + LANGS.index(lang))
    last, first = NURSE[lang]
    # The server's day is Brussels's, as this process's (the same clock, TIME_ZONE Europe/Brussels).
    last_day = timezone.localdate() + timedelta(days=3)

    sb.goto(f"/{lang}/", f"{lang}-home")
    page.get_by_role("link", name=FACILITY, exact=False).first.click()
    page.get_by_role("link", name=tr(lang, "Users"), exact=True).click()
    footer = page.locator("form").filter(has=page.get_by_role("heading", name=tr(lang, "Add a user")))
    footer.get_by_label(tr(lang, "INSZ")).fill(_display(ssin))
    footer.get_by_role("button", name=tr(lang, "Next"), exact=True).click()
    page.get_by_role("heading", name=tr(lang, "Create a user"), level=1).wait_for()
    page.get_by_label(label(lang, "Last name")).fill(last)
    page.get_by_label(label(lang, "First name")).fill(first)
    page.get_by_label(label(lang, "E-mail address *")).fill(f"interim.{lang}@example.test")
    page.get_by_label(label(lang, "Last day")).fill(last_day.isoformat())
    sb.check(f"{lang}-create-user-with-last-day")
    page.get_by_role("button", name=tr(lang, "Save"), exact=True).click()
    page.get_by_role("status").filter(has_text=tr(lang, "The user's data were saved")).wait_for()

    # The list, searched for her: her status cell says when her access ends.
    page.get_by_role("searchbox", name=tr(lang, "Search by name, first name, username or INSZ")).fill(last)
    page.get_by_role("button", name=tr(lang, "Search"), exact=True).click()
    row = page.locator("table.users tbody tr").filter(has_text=first)
    row.wait_for()
    assert _ends_in(lang, 3) in row.inner_text()
    sb.check(f"{lang}-list-ends-in-3-days")
    page.set_viewport_size({"width": 390, "height": 844})
    sb.check(f"{lang}-list-ends-in-3-days-390")
    page.set_viewport_size({"width": 1280, "height": 900})

    # The status criterion "ends within 30 days" lists her (and only accesses with a planned end).
    sb.goto(f"/{lang}/s/{_sd_id(page.url)}/users/?status=ending", f"{lang}-list-ending")
    ending = page.locator("table.users tbody tr").filter(has_text=first)
    assert ending.count() == 1
    for text in page.locator("table.users tbody tr td:nth-child(7)").all_inner_texts():
        assert tr(lang, "ends today") in text or any(_ends_in(lang, n) in text for n in range(1, 31)), text


def _sd_id(url: str) -> str:
    return url.split("/s/", 1)[1].split("/", 1)[0]
