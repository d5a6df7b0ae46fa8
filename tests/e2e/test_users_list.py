"""The users list's quick search, criteria and pagers in Chromium (issue 13).

sb opens the list of Campus Noord and types "lefevre": "Lefèvre Zoë" (demo data) is found, in nl,
fr and de. The list starts on the first screen at 1280 px (the criteria in two columns); the page
is checked and photographed at 1280 and at 390 px, axe-core on each. The status "Beëindigd" is a
choice of the criteria.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Walk, label, ntr, tr

FACILITY = "Campus Noord"
WIDE = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def sb(walk_factory: Any) -> Iterator[Walk]:
    walk = walk_factory("users-list", "nl")
    walk.login("nl", "sb")
    yield walk


def _both_widths(walk: Walk, step: str) -> None:
    walk.check(step)
    walk.page.set_viewport_size(PHONE)
    walk.check(f"{step}-390")
    walk.page.set_viewport_size(WIDE)


@pytest.mark.parametrize("lang", ["nl", "fr", "de"])
def test_search_lefevre_finds_lefevre(sb: Walk, lang: str) -> None:
    page = sb.page
    sb.goto(f"/{lang}/", f"{lang}-home")
    page.get_by_role("link", name=FACILITY, exact=False).first.click()
    page.get_by_role("link", name=tr(lang, "Users"), exact=True).click()
    page.get_by_role("heading", name=tr(lang, "Users"), level=1).wait_for()
    _both_widths(sb, f"{lang}-users-list")

    # The manual's seven criteria in its two columns: Naam | Voornaam, Gebruikersnaam | Type, ...
    # so the table starts on the first screen.
    boxes = {
        name: page.get_by_label(label(lang, msgid), exact=True).bounding_box()
        for name, msgid in (("last", "Last name"), ("first", "First name"), ("user", "Username"), ("type", "Type"))
    }
    assert all(boxes.values())
    assert abs(boxes["last"]["y"] - boxes["first"]["y"]) < 5 and boxes["first"]["x"] > boxes["last"]["x"]
    assert abs(boxes["user"]["y"] - boxes["type"]["y"]) < 5 and boxes["user"]["y"] > boxes["last"]["y"]
    table = page.locator("table.users").bounding_box()
    assert table is not None and table["y"] < WIDE["height"] - 80, table

    search = page.get_by_role("searchbox", name=tr(lang, "Search by name, first name, username or INSZ"))
    search.fill("lefevre")
    search.press("Enter")
    page.wait_for_url(re.compile(r"[?&]q=lefevre"))
    page.get_by_text(ntr(lang, "One item found.", "%(counter)s items found.", 1), exact=True).wait_for()
    rows = page.get_by_role("row").filter(has_text="Lefèvre")
    assert rows.count() == 1 and "Zoë" in rows.first.inner_text()
    assert search.input_value() == "lefevre"
    _both_widths(sb, f"{lang}-search-lefevre")

    # "Beëindigd" is one of the statuses: with the search, Zoë (whose membership goes on) is no longer
    # found; every row listed (another walk may have ended someone here) is an ended one.
    page.get_by_label(label(lang, "Status"), exact=True).select_option(label=tr(lang, "Ended"))
    page.get_by_role("button", name=tr(lang, "Apply the criteria"), exact=True).click()
    page.wait_for_url(re.compile(r"status=ended"))
    page.get_by_text(tr(lang, "No user matches these criteria.")).wait_for()
    search.fill("")
    search.press("Enter")
    page.wait_for_url(lambda url: "q=lefevre" not in url and "status=ended" in url)
    listed = page.locator("table.users tbody").inner_text()
    assert "Zoë" not in listed and tr(lang, "Active") not in listed and tr(lang, "Blocked") not in listed
    sb.check(f"{lang}-status-ended")
