"""The audit trail in Chromium, as the demo subdepartment manager reads it, in nl, fr and de.

The facility is "Residentiële zorginstelling Campus Noord", whose demo user holds two applications:
its trail has appointments, users added and access given.

Each event is a sentence in the page's language (never a code such as ``grant.add``), the filter on
the action narrows the list and stays in the page links, and the page is photographed at desktop
(1280 px) and phone (390 px) width into var/e2e-screenshots/ (axe-core checks each, conftest.Walk).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Walk, tr

FACILITY = "Residentiële zorginstelling"
CODE = re.compile(r"^[a-z_]+\.[a-z_.]+$")


@pytest.fixture(scope="module")
def sb(walk_factory: Any) -> Iterator[Walk]:
    walk = walk_factory("audit-trail", "nl")
    walk.login("nl", "sb")
    yield walk


def _trail_path(walk: Walk) -> str:
    page = walk.page
    page.goto(walk.base + "/nl/")
    page.get_by_role("link", name=FACILITY, exact=False).filter(has_text="Campus").click()
    match = re.search(r"/s/(\d+)/", page.url)
    assert match is not None, page.url
    return f"/s/{match.group(1)}/audit/"


@pytest.mark.parametrize("lang", ["nl", "fr", "de"])
def test_the_trail_reads_as_sentences(sb: Walk, lang: str) -> None:
    page = sb.page
    page.set_viewport_size({"width": 1280, "height": 900})
    path = f"/{lang}{_trail_path(sb)}"
    sb.goto(path, f"{lang}-trail-desktop")
    page.get_by_role("heading", name=tr(lang, "Audit trail"), level=1).wait_for()
    sentences = page.locator("table.trail td.what").all_inner_texts()
    assert sentences, "the demo subdepartment has events"
    assert not [s for s in sentences if CODE.match(s.strip())]
    # Filter on one action: only its events, the choice kept in the page links.
    page.get_by_label(tr(lang, "Action")).select_option(label=tr(lang, "Access given"))
    page.get_by_role("button", name=tr(lang, "Search"), exact=True).click()
    page.wait_for_url(re.compile(r"action=grant\.add"))
    sb.check(f"{lang}-trail-filtered")
    assert set(page.locator("table.trail tbody tr").evaluate_all("rows => rows.map(r => r.dataset.action)")) == {
        "grant.add"
    }
    page.set_viewport_size({"width": 390, "height": 844})
    sb.goto(path, f"{lang}-trail-phone")
    # On a phone no event is wider than the screen.
    widths = page.locator("table.trail tbody tr").evaluate_all("rows => rows.map(r => r.scrollWidth)")
    assert max(widths) <= 390
    page.set_viewport_size({"width": 1280, "height": 900})


def test_the_user_page_shows_the_persons_history(sb: Walk) -> None:
    page = sb.page
    page.set_viewport_size({"width": 1280, "height": 900})
    lang = "nl"
    path = _trail_path(sb).removesuffix("audit/") + "users/"
    sb.goto(f"/{lang}{path}", "users-campus")
    page.get_by_role("link", name=re.compile(rf"^{re.escape(tr(lang, 'View'))} .*Greet")).click()
    page.get_by_role("heading", name=tr(lang, "History in this subdepartment")).wait_for()
    sb.check("user-history")
    history = page.locator("table.trail tbody tr").evaluate_all("rows => rows.map(r => r.dataset.action)")
    assert history[:3] == ["grant.add", "grant.add", "user.add"]
    page.get_by_role("link", name=tr(lang, "All events concerning this person in the audit trail")).click()
    page.wait_for_url(re.compile(r"whom="))
    sb.check("trail-of-the-person")
