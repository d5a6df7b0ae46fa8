"""Acting on users in Chromium, as the demo subdepartment manager does it, in nl, fr and de.

Per language: sb adds a person with a misspelt name (the title pre-selected from the INSZ), corrects
the name on the person's page, ends the person, finds them under the list's status "Beëindigd",
opens the ended person's page (when, by whom, why) and gives access again; then selects all the
rows of the list with the header's checkbox and takes an application away from all of them at
once, after the confirmation page. Each walk ends by
deleting the person, so the next one (and test_step6) starts from the manual's list. Every page goes
through axe-core and is photographed at 1280 px and at 390 px.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Walk, label, ntr, tr
from toegang.identifiers import ssin_make

FACILITY = "Residentiële zorginstelling"
PERSON = {"nl": ("Claes", "Bart"), "fr": ("Lambert", "Luc"), "de": ("Becker", "Jonas")}
NARROW = {"width": 390, "height": 844}
WIDE = {"width": 1280, "height": 900}


def _display(ssin: str) -> str:
    return f"{ssin[:2]}.{ssin[2:4]}.{ssin[4:6]}-{ssin[6:9]}.{ssin[9:]}"


@pytest.fixture(scope="module")
def sb(walk_factory: Any) -> Iterator[Walk]:
    walk = walk_factory("users-acting", "nl")
    walk.login("nl", "sb")
    yield walk


def _check(walk: Walk, step: str) -> None:
    """axe-core and a screenshot at 1280 px, then again at 390 px (a phone), back to 1280 px."""
    walk.check(f"{step}-1280")
    walk.page.set_viewport_size(NARROW)
    walk.check(f"{step}-390")
    walk.page.set_viewport_size(WIDE)


def _users_list(walk: Walk, lang: str) -> None:
    page = walk.page
    walk.goto(f"/{lang}/", f"{lang}-home")
    page.get_by_role("link", name=FACILITY, exact=False).filter(has_not_text="Campus").click()
    page.get_by_role("link", name=tr(lang, "Users"), exact=True).click()
    page.wait_for_url(re.compile(r"/users/(\?.*)?$"))


@pytest.mark.parametrize("lang", ["nl", "fr", "de"])
def test_correct_end_give_again_and_take_away_in_bulk(sb: Walk, lang: str) -> None:
    page = sb.page
    last, first = PERSON[lang]
    misspelt = last[:-1] + "x"
    _users_list(sb, lang)

    # A new person; the INSZ's odd sequence number pre-selects "Mr", which stays a choice.
    ssin = ssin_make(1993, 5, 6, 301 + 2 * ["nl", "fr", "de"].index(lang))
    footer = page.locator("form").filter(has=page.get_by_role("heading", name=tr(lang, "Add a user")))
    footer.get_by_label(tr(lang, "INSZ")).fill(_display(ssin))
    footer.get_by_role("button", name=tr(lang, "Next"), exact=True).click()
    page.get_by_role("heading", name=tr(lang, "Create a user"), level=1).wait_for()
    assert page.get_by_label(label(lang, "Title")).input_value() == "mr"
    assert re.search(r"\*\s*:?\s*$", page.locator("label[for=id_last_name]").inner_text())  # marked required
    _check(sb, f"{lang}-create")
    page.get_by_label(label(lang, "Last name")).fill(misspelt)
    page.get_by_label(label(lang, "First name")).fill(first)
    page.get_by_label(label(lang, "E-mail address *")).fill(f"{first.lower()}@example.test")
    page.get_by_role("group", name=tr(lang, "Secured applications")).get_by_role(
        "checkbox", name="RaaS", exact=False
    ).check()
    page.get_by_role("button", name=tr(lang, "Save"), exact=True).click()
    page.get_by_role("status").filter(has_text=tr(lang, "The user's data were saved")).wait_for()

    # The SB corrects the name on the person's page.
    page.get_by_role("row").filter(has_text=misspelt).get_by_role("link").click()
    person_url = page.url
    page.get_by_role("link", name=tr(lang, "Correct the last name, first name, title or language")).click()
    _check(sb, f"{lang}-correct")
    page.get_by_label(label(lang, "Last name")).fill(last)
    page.get_by_role("button", name=tr(lang, "Save"), exact=True).click()
    page.get_by_role("status").filter(has_text=tr(lang, "The personal data were corrected.")).wait_for()
    page.get_by_role("heading", level=1).filter(has_text=last).wait_for()
    page.get_by_text(re.compile(rf"{re.escape(misspelt)}\s*→\s*{re.escape(last)}")).first.wait_for()
    _check(sb, f"{lang}-corrected")

    # Ends the person, with a reason.
    page.get_by_role("link", name=tr(lang, "End the membership of this subdepartment")).click()
    page.get_by_label(label(lang, "Reason")).fill("contract")
    page.get_by_role("button", name=tr(lang, "End"), exact=True).click()
    page.wait_for_url(re.compile(r"/users/(\?.*)?$"))

    # The ended person is found under the list's status "Beëindigd", and their page says when, by
    # whom and why; then access again.
    page.get_by_label(label(lang, "Status")).select_option(label=tr(lang, "Ended"))
    page.get_by_role("button", name=tr(lang, "Apply the criteria"), exact=True).click()
    page.wait_for_url(re.compile(r"status=ended"))
    _check(sb, f"{lang}-list-ended")
    page.get_by_role("row").filter(has_text=last).get_by_role("link").first.click()
    page.wait_for_load_state()
    assert page.url.split("?")[0] == person_url.split("?")[0]
    page.get_by_role("heading", name=re.compile(re.escape(tr(lang, "Ended user"))), level=1).wait_for()
    page.get_by_role("definition").filter(has_text="contract").wait_for()
    _check(sb, f"{lang}-ended")
    again = page.locator("form").filter(has=page.get_by_role("heading", name=tr(lang, "Give access again")))
    again.get_by_role("checkbox", name="RaaS", exact=False).check()
    again.get_by_role("button", name=tr(lang, "Give access again")).click()
    page.get_by_role("status").filter(has_text=last).wait_for()
    assert page.url != person_url

    # Select all on the list, take RaaS away from every selected user, after the confirmation page.
    _users_list(sb, lang)
    select_all = page.get_by_role("checkbox", name=tr(lang, "Select all users on this page"))
    select_all.check()
    rows = page.locator("tbody input[type=checkbox][name=ids]")
    assert rows.count() >= 1 and all(rows.nth(i).is_checked() for i in range(rows.count()))
    _check(sb, f"{lang}-selected-all")
    bar = page.get_by_label(tr(lang, "Action on the selected users"))
    # "RaaS" under "Take an application away" (the second group; the first gives it).
    raas = page.locator("#bulk-action optgroup").nth(1).locator("option", has_text="RaaS")
    bar.select_option(value=raas.get_attribute("value") or "")
    page.get_by_role("button", name=tr(lang, "Review the change"), exact=True).click()
    page.get_by_role("heading", level=1).filter(has_text="RaaS").wait_for()
    page.get_by_role("row").filter(has_text=last).wait_for()
    _check(sb, f"{lang}-confirm-bulk")
    page.get_by_role("button", name=tr(lang, "Confirm"), exact=True).click()
    page.get_by_role("status").filter(has_text=last).wait_for()
    _check(sb, f"{lang}-bulk-done")

    # Back to the manual's list: the person is deleted again.
    page.get_by_role("checkbox", name=re.compile(re.escape(last))).check()
    page.get_by_role("button", name=tr(lang, "Delete"), exact=True).click()
    page.get_by_role("button", name=tr(lang, "Delete"), exact=True).click()
    page.get_by_text(ntr(lang, "One item found.", "%(counter)s items found.", 1)).wait_for()
