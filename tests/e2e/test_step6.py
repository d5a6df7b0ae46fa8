"""Step 6 of the manual in Chromium, as the demo subdepartment manager does it.

sb logs in once (password, app code); then, per language (nl, fr, de, en): the entity choice, the
facility, Gebruikers with "Eén item gevonden.", the INSZ in the footer, Volgende, the form of "Een
gebruiker aanmaken", two applications ticked, Opslaan, the manual's message and "2 items gevonden.".
Each walk ends by deleting (Wissen) the user it added, so the next one starts from the manual's list.
The keyboard-only walk does the same with Tab, Enter and Space alone. Every page goes through axe-core
and is photographed (conftest.Walk.check); the walks take the step 6 guide's screenshots in nl, fr and de.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Walk, label, ntr, tr
from toegang.identifiers import ssin_make

FACILITY = "Residentiële zorginstelling"
NEW_USER = {"nl": ("Peeters", "An"), "fr": ("Dubois", "Claire"), "de": ("Schmidt", "Anna"), "en": ("Smith", "Jo")}


def _display(ssin: str) -> str:
    return f"{ssin[:2]}.{ssin[2:4]}.{ssin[4:6]}-{ssin[6:9]}.{ssin[9:]}"


@pytest.fixture(scope="module")
def sb(walk_factory: Any) -> Iterator[Walk]:
    walk = walk_factory("step-6", "nl")
    walk.login("nl", "sb")
    walk.check("home")
    yield walk


def _open_users_list(walk: Walk, lang: str) -> None:
    """Home in ``lang``, the facility's link, then Gebruikers."""
    page = walk.page
    walk.goto(f"/{lang}/", f"{lang}-home")
    # "KLIK OP DE SUBAFDELING DIE JE WIL BEHEREN": two facilities; the first is the manual's.
    links = page.get_by_role("link", name=FACILITY, exact=False)
    assert links.count() == 2
    links.filter(has_not_text="Campus").click()
    walk.check(f"{lang}-subdepartment-home")
    walk.guide(lang, "step-6-subdepartment-home")
    page.get_by_role("link", name=tr(lang, "Users"), exact=True).click()
    walk.check(f"{lang}-users-list")


def _delete_user(walk: Walk, lang: str, last_name: str) -> None:
    """Wissen: tick the user's row, Delete, confirm; the list holds the SB alone again."""
    page = walk.page
    page.get_by_role("checkbox", name=last_name).check()
    page.get_by_role("button", name=tr(lang, "Delete"), exact=True).click()
    walk.check(f"{lang}-confirm-delete")
    page.get_by_role("button", name=tr(lang, "Delete"), exact=True).click()
    walk.check(f"{lang}-deleted")
    page.get_by_text(ntr(lang, "One item found.", "%(counter)s items found.", 1)).wait_for()


@pytest.mark.parametrize("lang", ["nl", "fr", "de", "en"])
def test_step_6_in_the_browser(sb: Walk, lang: str) -> None:
    page = sb.page
    _open_users_list(sb, lang)
    page.get_by_text(ntr(lang, "One item found.", "%(counter)s items found.", 1), exact=True).wait_for()
    sb.guide(lang, "step-6-users-list")

    # "VOEG EEN GEBRUIKER TOE DOOR ONDERAAN DIENS INSZ IN TE VULLEN. KLIK OP VOLGENDE."
    footer = page.locator("form").filter(has=page.get_by_role("heading", name=tr(lang, "Add a user")))
    # A mistyped INSZ first: the message, and the field to type it again.
    footer.get_by_label(tr(lang, "INSZ")).fill("90.12.24-123.00")
    footer.get_by_role("button", name=tr(lang, "Next"), exact=True).click()
    sb.check(f"{lang}-wrong-insz")
    bad = tr(lang, "This INSZ is not valid: check the digits (the check digits do not match).")
    page.get_by_role("alert").filter(has_text=bad).wait_for()
    ssin = ssin_make(1991, 3, 14, 201 + ["nl", "fr", "de", "en"].index(lang))
    page.get_by_label(label(lang, "INSZ")).fill(_display(ssin))
    page.get_by_role("button", name=tr(lang, "Next"), exact=True).click()
    sb.check(f"{lang}-create-user")
    page.get_by_role("heading", name=tr(lang, "Create a user"), level=1).wait_for()
    page.get_by_text(tr(lang, "Fields marked with a * are required")).wait_for()

    # The identification data, then "VINK ONDERAAN AAN WELKE TOEPASSING(EN) DIE PERSOON MAG GEBRUIKEN".
    last, first = NEW_USER[lang]
    page.get_by_label(label(lang, "Last name")).fill(last)
    page.get_by_label(label(lang, "First name")).fill(first)
    page.get_by_label(label(lang, "E-mail address *")).fill(f"{first.lower()}@example.test")
    apps = page.get_by_role("group", name=tr(lang, "Secured applications"))
    assert apps.get_by_role("checkbox").count() == 3
    apps.get_by_role("checkbox", name="CIRRO", exact=False).check()
    apps.get_by_role("checkbox", name="RaaS", exact=False).check()
    sb.guide(lang, "step-6-create-user")
    page.get_by_role("button", name=tr(lang, "Save"), exact=True).click()

    # "DE GEBRUIKER HEEFT NU TOEGANG": the list, the manual's message and two items.
    sb.check(f"{lang}-user-saved")
    page.get_by_role("status").filter(has_text=tr(lang, "The user's data were saved")).wait_for()
    sb.guide(lang, "step-6-user-saved")
    page.get_by_text(ntr(lang, "One item found.", "%(counter)s items found.", 2), exact=True).wait_for()
    assert page.get_by_role("row").filter(has_text=last).count() == 1
    # "U KUNT METEEN EEN VOLGENDE GEBRUIKER TOEVOEGEN": the footer field is there again.
    assert footer.get_by_label(tr(lang, "INSZ")).is_visible()

    _delete_user(sb, lang, last)


def test_step_6_with_the_keyboard_alone(sb: Walk) -> None:
    """From the users list to the saved user with Tab, Enter and Space only; focus lands where expected."""
    lang = "nl"
    page = sb.page
    _open_users_list(sb, lang)
    keyboard = page.keyboard

    def focused() -> dict[str, str]:
        return dict(
            page.evaluate(
                """() => { const e = document.activeElement;
                const l = e.labels && e.labels.length ? e.labels[0].innerText : (e.innerText || '');
                return {tag: e.tagName.toLowerCase(), name: e.name || '', type: e.type || '', label: l.trim(),
                        form: e.form && e.form.classList.contains('add-user') ? 'add-user' : ''}; }"""
            )
        )

    def tab_to(predicate: Any, limit: int = 80) -> dict[str, str]:
        for _ in range(limit):
            keyboard.press("Tab")
            now = focused()
            if predicate(now):
                return now
        raise AssertionError("Tab never reached the expected element")

    # The skip link comes first and leads into the main content.
    page.locator("body").focus()
    keyboard.press("Tab")
    assert focused()["label"] == tr(lang, "Skip to content")

    # The footer's INSZ field, typed, then Volgende (the next Tab stop) with Enter.
    tab_to(lambda f: f["name"] == "ssin" and f["form"] == "add-user")
    ssin = ssin_make(1991, 3, 14, 211)
    keyboard.type(_display(ssin))
    keyboard.press("Tab")
    now = focused()
    assert (now["tag"], now["form"], now["label"]) == ("button", "add-user", tr(lang, "Next"))
    keyboard.press("Enter")
    page.wait_for_url("**/users/new/**")
    sb.check("keyboard-create-user")

    # The form in Tab order: username, last name, first name, ...
    now = tab_to(lambda f: f["name"] == "username")
    keyboard.press("Tab")
    assert focused()["name"] == "last_name"
    keyboard.type("Janssens")
    keyboard.press("Tab")
    assert focused()["name"] == "first_name"
    keyboard.type("Lien")
    tab_to(lambda f: f["name"] == "email")
    keyboard.type("lien@example.test")

    # Tick CIRRO and RaaS with Space.
    ticked = []
    for _ in range(6):
        now = tab_to(lambda f: f["type"] == "checkbox" or f["label"] == tr(lang, "Save"))
        if now["type"] != "checkbox":
            break
        if now["label"].startswith(("CIRRO", "RaaS")):
            keyboard.press("Space")
            ticked.append(now["label"].split()[0])
    assert ticked == ["CIRRO", "RaaS"]
    assert page.get_by_role("checkbox", checked=True).count() == 2

    # The next stop after the applications is Opslaan (the primary button comes first), pressed with Enter.
    assert focused()["label"] == tr(lang, "Save")
    keyboard.press("Enter")
    # The list itself (/users/), not the form's URL (/users/new/…), which would match at once.
    page.wait_for_url(re.compile(r"/users/(\?.*)?$"))
    sb.check("keyboard-user-saved")
    page.get_by_role("status").filter(has_text=tr(lang, "The user's data were saved")).wait_for()
    page.get_by_text(ntr(lang, "One item found.", "%(counter)s items found.", 2), exact=True).wait_for()
    assert page.get_by_role("row").filter(has_text="Janssens").count() == 1

    _delete_user(sb, lang, "Janssens")
