"""The nl, fr, de and en catalogues are complete and compiled, and pages speak the language of their URL.

A catalogue entry with an empty or fuzzy msgstr falls back to the English msgid on screen, and a lost
placeholder raises KeyError (or silently drops a name) when the string is formatted, so both are
failures here, not warnings. After `make messages`, fill the new entries and run `make compilemessages`.
"""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from tests.conftest import World, login

LANGUAGES = ["nl", "fr", "de", "en"]
LOCALE = Path(settings.BASE_DIR) / "locale"
# python-format conversions (%(name)s, %s, %d, ...); "%%" is a literal percent sign, not a placeholder.
PLACEHOLDER = re.compile(r"%(?:\([^)]+\))?[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")
TITLES = {
    "nl": "Toegangsbeheer voor Ondernemingen en Organisaties",
    "fr": "Gestion des accès pour entreprises et organisations",
    "de": "Zugangsverwaltung für Unternehmen und Organisationen",
    "en": "Access management for enterprises and organisations",
}


def _po(lang: str) -> polib.POFile:
    path = LOCALE / lang / "LC_MESSAGES" / "django.po"
    assert path.is_file(), f"{path} is missing: run `make messages`"
    return polib.pofile(str(path))


def _entries(lang: str) -> list[polib.POEntry]:
    return [e for e in _po(lang) if not e.obsolete]


def _placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text.replace("%%", "")))


def _nplurals(po: polib.POFile) -> int:
    match = re.search(r"nplurals\s*=\s*(\d+)", po.metadata.get("Plural-Forms", ""))
    assert match, "the header has no Plural-Forms"
    return int(match.group(1))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_header_names_the_language_and_utf8(lang: str) -> None:
    po = _po(lang)
    assert po.metadata.get("Language") == lang
    assert "charset=UTF-8" in po.metadata.get("Content-Type", "")
    assert not po.metadata_is_fuzzy, "the header is still marked fuzzy"
    expected = "(n > 1)" if lang == "fr" else "(n != 1)"
    assert po.metadata.get("Plural-Forms", "").replace(" ", "").endswith(f"plural={expected};".replace(" ", ""))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalogue_is_not_empty(lang: str) -> None:
    msgids = {e.msgid for e in _entries(lang)}
    assert len(msgids) > 100
    assert "Access management for enterprises and organisations" in msgids


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_entry_is_translated_and_not_fuzzy(lang: str) -> None:
    po = _po(lang)
    n = _nplurals(po)
    problems = []
    for e in _entries(lang):
        if "fuzzy" in e.flags:
            problems.append(f"fuzzy: {e.msgid!r}")
        if e.msgid_plural:
            forms = [e.msgstr_plural.get(i, "") for i in range(n)]
            if len(e.msgstr_plural) != n or not all(f.strip() for f in forms):
                problems.append(f"plural forms incomplete: {e.msgid!r} -> {e.msgstr_plural!r}")
        elif not e.msgstr.strip():
            problems.append(f"untranslated: {e.msgid!r}")
    assert not problems, f"{lang}: {len(problems)} problems\n" + "\n".join(problems)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_placeholders_are_kept(lang: str) -> None:
    problems = []
    for e in _entries(lang):
        if e.msgid_plural:
            singular, plural = _placeholders(e.msgid), _placeholders(e.msgid_plural)
            forms = [e.msgstr_plural[i] for i in sorted(e.msgstr_plural)]
            # The singular form may leave out the count ("Eén item gevonden."), never another name.
            ok = all(singular <= _placeholders(f) <= singular | plural for f in forms[:-1])
            ok = ok and bool(forms) and _placeholders(forms[-1]) == plural
        else:
            ok = _placeholders(e.msgstr) == _placeholders(e.msgid)
        if not ok:
            problems.append(f"{e.msgid!r} -> {e.msgstr_plural or e.msgstr!r}")
    assert not problems, f"{lang}: placeholders differ\n" + "\n".join(problems)


def test_every_language_has_the_same_msgids() -> None:
    reference = {(e.msgid, e.msgid_plural) for e in _entries("nl")}
    for lang in LANGUAGES[1:]:
        assert {(e.msgid, e.msgid_plural) for e in _entries(lang)} == reference, f"{lang}: run `make messages`"


def test_english_is_the_msgid() -> None:
    for e in _entries("en"):
        if e.msgid_plural:
            assert e.msgstr_plural == {0: e.msgid, 1: e.msgid_plural}
        else:
            assert e.msgstr == e.msgid


@pytest.mark.parametrize("lang", LANGUAGES)
def test_compiled_catalogue_matches_the_po(lang: str) -> None:
    mo = LOCALE / lang / "LC_MESSAGES" / "django.mo"
    assert mo.is_file(), f"{mo} is missing: run `make compilemessages`"
    with mo.open("rb") as fh:
        compiled = gettext.GNUTranslations(fh)
    stale = []
    for e in _entries(lang):
        if e.msgid_plural:
            forms = set(e.msgstr_plural.values())
            if e.msgctxt:
                got = [compiled.npgettext(e.msgctxt, e.msgid, e.msgid_plural, n) for n in (1, 5)]
            else:
                got = [compiled.ngettext(e.msgid, e.msgid_plural, n) for n in (1, 5)]
            if not all(g in forms for g in got):
                stale.append(e.msgid)
        elif (compiled.pgettext(e.msgctxt, e.msgid) if e.msgctxt else compiled.gettext(e.msgid)) != e.msgstr:
            stale.append(e.msgid)
    assert not stale, f"{lang}: the .mo is older than the .po, run `make compilemessages`: {stale[:5]}"


@pytest.mark.django_db
@pytest.mark.parametrize("lang", LANGUAGES)
def test_login_page_speaks_the_language_of_the_url(client: Client, lang: str) -> None:
    response = client.get(f"/{lang}/accounts/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<html lang="{lang}">' in html
    assert TITLES[lang] in html
    for other, title in TITLES.items():
        if other != lang:
            assert title not in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("lang", "logout", "role"),
    [
        ("nl", "Uit", "u hebt toegang als Subafdelingsbeheerder tot het portaal van de sociale zekerheid"),
        ("fr", "Sortir", "vous avez accès en tant que Gestionnaire de la sous-section au portail"),
        ("de", "Abmelden", "Sie haben als Verwalter der Unterabteilung Zugang zum Portal der sozialen Sicherheit"),
    ],
)
def test_subdepartment_home_uses_the_manual_wording(
    client: Client, world: World, lang: str, logout: str, role: str
) -> None:
    login(client, world.person("sb"))
    response = client.get(f"/{lang}/s/{world.zon.sd.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert role in html
    assert f">{logout}</button>" in html
    if lang == "nl":
        for label in ("Benaming", "Ondernemingsnummer", "Creatiedatum", "Hoedanigheid", "Identificatiecode"):
            assert f"<dt>{label}</dt>" in html
        assert "Wij raden u aan de gegevens van de subafdeling die u beheert regelmatig te verifiëren." in html


# --- Wording: the rules of docs/glossary.md ("Rules of wording") ----------------------------------

# Per language, words that belong to another language's wording of the same thing: the national
# number (INSZ / NISS / ENSS) and the RIZIV number (RIZIV / INAMI / LIKIV).
FOREIGN_TERMS = {
    "nl": re.compile(r"\b(NISS|ENSS|INAMI|LIKIV)\b"),
    "fr": re.compile(r"\b(INSZ|ENSS|RIZIV|LIKIV)\b"),
    "de": re.compile(r"\b(INSZ|NISS|RIZIV|INAMI)\b"),
}
GUIDES = Path(settings.BASE_DIR) / "docs" / "guide"


def _texts(e: polib.POEntry) -> list[str]:
    return [e.msgstr, *e.msgstr_plural.values()]


@pytest.mark.parametrize("lang", ["nl", "fr", "de"])
def test_each_language_names_the_national_and_riziv_numbers_its_own_way(lang: str) -> None:
    wrong = [t for e in _entries(lang) for t in _texts(e) if FOREIGN_TERMS[lang].search(t)]
    assert not wrong, f"{lang}: {wrong}"


@pytest.mark.parametrize("lang", ["fr", "de"])
def test_the_guides_name_the_national_number_their_own_way(lang: str) -> None:
    for guide in sorted((GUIDES / lang).glob("*.md")):
        found = FOREIGN_TERMS[lang].findall(guide.read_text(encoding="utf-8"))
        assert not found, f"{guide}: {found}"


def test_french_punctuation_has_one_rule() -> None:
    """A narrow no-break space (U+202F) before : ; ? ! » and after «; never a breaking one, never none."""
    sign_after_space = re.compile(r"[ \u00a0][:;?»]|[ \u00a0]!(?!\[)|«[ \u00a0]")  # "![": a markdown image
    glued = re.compile(r"(?<=[^\s\u202f(])[;!?»](?=\s|$)|(?<=[^\s\u202f(%])[:](?=\s|$)|«(?=\S)(?!\u202f)")
    texts = [t for e in _entries("fr") for t in _texts(e)]
    texts += [p.read_text(encoding="utf-8") for p in sorted((GUIDES / "fr").glob("*.md"))]
    wrong = [t for t in texts if sign_after_space.search(t) or glued.search(t)]
    assert not wrong, "\n".join(wrong)
    assert any("\u202f:" in t for t in texts)


def test_french_security_key_is_never_a_secret_key() -> None:
    """A security key (FIDO2) is a "clé de sécurité"; "clé secrète" is an authenticator app's secret."""
    for e in _entries("fr"):
        if "security key" in e.msgid.lower():
            assert all("clé secrète" not in t for t in _texts(e)), e.msgid
    with translation.override("fr"):
        assert translation.gettext("Use a security key") == "Utiliser une clé de sécurité"


@pytest.mark.parametrize(
    ("lang", "label"),
    [("nl", "Gebruikersnaam"), ("fr", "Nom d'utilisateur"), ("de", "Benutzername"), ("en", "Login")],
)
def test_the_login_field_is_named_after_the_username(lang: str, label: str) -> None:
    """allauth's login field (pgettext "field label" "Login"): not "Anmeldung", the act of logging in."""
    with translation.override(lang):
        assert translation.pgettext("field label", "Login") == label


@pytest.mark.parametrize(("lang", "view", "delete"), [("nl", "Bekijken", "Wissen"), ("fr", "Consulter", "Supprimer"),
                                                       ("de", "Anzeigen", "Löschen")])  # fmt: skip
def test_every_guide_explains_view_and_delete(lang: str, view: str, delete: str) -> None:
    with translation.override(lang):
        assert (translation.gettext("View"), translation.gettext("Delete")) == (view, delete)
    text = (GUIDES / lang / "subdepartment-manager.md").read_text(encoding="utf-8")
    assert f"**{view}**" in text and f"**{delete}**" in text


@pytest.mark.parametrize("lang", ["nl", "fr", "de"])
def test_the_guide_names_the_csv_buttons_as_the_pages_do(lang: str) -> None:
    text = (GUIDES / lang / "subdepartment-manager.md").read_text(encoding="utf-8")
    with translation.override(lang):
        labels = [
            translation.gettext("Export this list (CSV)"),
            translation.gettext("Import users (CSV)"),
            translation.gettext("Download the template (CSV)"),
            translation.pgettext("the CSV file, before importing", "Check"),
            translation.gettext("Import"),
        ]
    for label in labels:
        assert f"**{label}**" in text, label
