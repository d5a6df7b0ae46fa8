"""The users list's CSV for Belgian Excel and the import that reads it back, in nl, fr, de and en (issue 13).

Export: ';', UTF-8 with a BOM, CRLF, headers and status in the manager's language, the applications'
names next to their codes. Import: headers in any of the four languages, the template to download,
the application codes on its page, a "Check" button, a translated message for every malformed file.
"""

from __future__ import annotations

import codecs
import csv
import io
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from tests.conftest import World, login
from tests.test_csv_import import NEW1, NEW2, confirm, preview, rows_of, snapshot
from toegang.accounts.models import User
from toegang.applications.selectors import person_applications
from toegang.delegation import csv_import
from toegang.delegation.models import Role, RoleAssignment, Status
from toegang.delegation.services import membership_update
from toegang.identifiers import ssin_format
from toegang.organisations.models import Subdepartment

LANGS = ["nl", "fr", "de", "en"]
# The export's header row as a manager reads it in Excel, per language.
EXPORT_HEADERS = {
    "nl": "INSZ;Naam;Voornaam;Gebruikersnaam;Type;Status;E-mailadres;Taalkeuze;Codes van de toepassingen;"
    "Namen van de toepassingen",
    "fr": "NISS;Nom;Prénom;Nom d'utilisateur;Type;Statut;Adresse e-mail;Langue;Codes des applications;"
    "Noms des applications",
    "de": "ENSS;Nachname;Vorname;Benutzername;Typ;Status;E-Mail-Adresse;Sprache;Codes der Anwendungen;"
    "Namen der Anwendungen",
    "en": "INSZ;Last name;First name;Username;Type;Status;E-mail address;Language;Application codes;Application names",
}
ACTIVE = {"nl": "Actief", "fr": "Actif", "de": "Aktiv", "en": "Active"}


@pytest.fixture(autouse=True)
def _fast_hasher(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _get(client: Client, name: str, sd: Subdepartment, lang: str) -> Any:
    with translation.override(lang):
        return client.get(reverse(name, args=[sd.pk]))


def _export(client: Client, sd: Subdepartment, lang: str) -> bytes:
    response = _get(client, "portal:users_export", sd, lang)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return b"".join(response.streaming_content)


def _give_user_two_applications(world: World) -> None:
    membership = RoleAssignment.objects.active().get(person=world.zon.people["user"], subdepartment=world.zon.sd)
    membership_update(
        actor=world.zon.people["sb"],
        membership=membership,
        applications=world.apps[:2],
        status=Status.ACTIVE,
        email="user@werk.example",
    )


@pytest.mark.parametrize("lang", LANGS)
def test_export_is_belgian_excel_csv_in_the_managers_language(world: World, client: Client, lang: str) -> None:
    _give_user_two_applications(world)
    sb = login(client, world.zon.people["sb"])
    body = _export(sb, world.zon.sd, lang)
    assert body.startswith(codecs.BOM_UTF8)
    lines = body.decode("utf-8-sig").split("\r\n")
    assert lines[0] == EXPORT_HEADERS[lang]
    assert lines[-1] == ""  # every row ends with CRLF, the last one too
    rows = list(csv.reader(lines[1:-1], delimiter=";"))
    user = next(r for r in rows if r[3] == "user")
    assert user[5] == ACTIVE[lang]
    # Codes for the import, names for the reader, in the same order.
    codes = user[8].split("|")
    assert codes == sorted(a.code for a in world.apps[:2])
    names = {a.code: a for a in world.apps}
    with translation.override(lang):
        assert user[9] == ", ".join(names[c].name for c in codes)


def test_export_names_each_application_in_the_managers_language(world: World, client: Client) -> None:
    _give_user_two_applications(world)
    app = world.apps[0]
    app.name_fr, app.name_de = "Application française", "Deutsche Anwendung"
    app.save()
    sb = login(client, world.zon.people["sb"])
    for lang, name in (("fr", "Application française"), ("de", "Deutsche Anwendung")):
        body = _export(sb, world.zon.sd, lang).decode("utf-8-sig")
        user = next(r for r in csv.reader(io.StringIO(body), delimiter=";") if r[3] == "user")
        assert user[8].split("|")[0] == app.code
        assert user[9].startswith(name)


@pytest.mark.parametrize("lang", LANGS)
def test_template_is_the_header_row_in_the_managers_language(world: World, client: Client, lang: str) -> None:
    sb = login(client, world.zon.people["sb"])
    response = _get(sb, "portal:users_import_template", world.zon.sd, lang)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="users-import-template-')
    body = response.content
    assert body.startswith(codecs.BOM_UTF8) and body.endswith(b"\r\n") and body.count(b"\r\n") == 1
    with translation.override(lang):
        expected = [csv_import.column_label(c) for c in csv_import.REQUIRED]
    header = body.decode("utf-8-sig").strip().split(";")
    assert header[: len(expected)] == expected
    assert len(header) == len(csv_import.COLUMNS)


@pytest.mark.parametrize("lang", LANGS)
def test_template_filled_in_each_language_imports(world: World, client: Client, lang: str) -> None:
    """A manager downloads the template in their language, adds two rows in Excel, uploads it."""
    sb = login(client, world.zon.people["sb"])
    template = _get(sb, "portal:users_import_template", world.zon.sd, lang).content
    header = template.decode("utf-8-sig").strip().split(";")
    cells = {
        "ssin": [ssin_format(NEW1), NEW2],
        "last_name": ["Lefèvre", "Schmitz"],
        "first_name": ["Zoë", "Jürgen"],
        "email": ["zoe@example.test", "juergen@example.test"],
        "language": ["fr", "de"],
        "applications": ["cirro|eloket", "cirro"],
    }
    with translation.override(lang):
        by_label = {csv_import.column_label(c): c for c in csv_import.COLUMNS}
    rows = [[cells.get(by_label[h], ["", ""])[i] for h in header] for i in range(2)]
    body = template + "".join(csv_import.csv_line(r) for r in rows).encode("utf-8")
    response = preview(sb, world.zon.sd, body, lang=lang)
    assert response.status_code == 200
    report = response.context["report"]
    assert report is not None and report.ok, rows_of(response)
    assert confirm(sb, world.zon.sd, response.context["digest"], lang=lang).status_code == 302
    zoe = User.objects.get(last_name="Lefèvre")
    assert (zoe.first_name, zoe.language) == ("Zoë", "fr")
    assert [a.code for a in person_applications(zoe, world.zon.sd)] == ["cirro", "eloket"]


@pytest.mark.parametrize("lang", LANGS)
def test_export_round_trips_through_the_import_in_each_language(world: World, client: Client, lang: str) -> None:
    """What tb exports from one facility, in any language, imports unchanged into the other."""
    tb = login(client, world.zon.people["tb"])
    sd, sd2 = world.zon.sd, world.zon.sd2
    seed = csv_import.csv_line(["INSZ", "Naam", "Voornaam", "E-mailadres", "Taalkeuze", "Beveiligde toepassingen"])
    seed += csv_import.csv_line([NEW1, "Lefèvre", "Zoë", "zoe@example.test", "fr", "cirro"])
    seed += csv_import.csv_line([NEW2, "=Dubois", "Luc", "luc@example.test", "de", "cirro"])
    confirm(tb, sd, preview(tb, sd, seed.encode()).context["digest"])
    export = _export(tb, sd, lang)
    response = preview(tb, sd2, export, lang=lang)
    assert response.status_code == 200
    result = {r[1]: r[2] for r in rows_of(response)}
    assert result and set(result.values()) == {"known"}, rows_of(response)
    assert confirm(tb, sd2, response.context["digest"], lang=lang).status_code == 302
    exported = RoleAssignment.objects.active().filter(subdepartment=sd2, role=Role.USER)
    assert exported.count() == len(result)
    luc = User.objects.get(ssin=NEW2)
    assert luc.last_name == "=Dubois"  # the export's guard against formulas is undone
    assert [a.code for a in person_applications(luc, sd2)] == ["cirro"]


@pytest.mark.parametrize(
    ("lang", "check", "codes"),
    [("nl", "Controleren", "Codes van de toepassingen"), ("fr", "Vérifier", "Codes des applications"),
     ("de", "Prüfen", "Codes der Anwendungen"), ("en", "Check", "Application codes")],
)  # fmt: skip
def test_import_page_offers_the_template_and_lists_the_codes(
    world: World, client: Client, lang: str, check: str, codes: str
) -> None:
    sb = login(client, world.zon.people["sb"])
    response = _get(sb, "portal:users_import", world.zon.sd, lang)
    body = response.content.decode()
    assert f'<button type="submit">{check}</button>' in body
    with translation.override(lang):
        template_url = reverse("portal:users_import_template", args=[world.zon.sd.pk])
    assert f'href="{template_url}"' in body
    assert f"<td>{codes} *</td>" in body
    for app in response.context["applications"]:
        assert f"<td><code>{app.code}</code></td>" in body
    assert {a.code for a in response.context["applications"]} == {a.code for a in world.apps[:2]}


def test_template_of_another_tenant_is_404(world: World, client: Client) -> None:
    for who in ("ander_sb", "user"):
        login(client, world.person(who))
        assert _get(client, "portal:users_import_template", world.zon.sd, "nl").status_code == 404


HEADER_NL = csv_import.csv_line(["INSZ", "Naam", "Voornaam", "E-mailadres", "Taalkeuze", "Beveiligde toepassingen"])
ROW = csv_import.csv_line([NEW1, "Peeters", "An", "an@example.test", "nl", "cirro"])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # UTF-16 without its BOM: NUL bytes between the letters.
        ((HEADER_NL + ROW).encode("utf-16-le"), "Ce fichier n'est pas un fichier texte CSV"),
        # Neither UTF-8 nor Windows-1252 (0x81 is unassigned there).
        (HEADER_NL.encode() + b"\x81\x8d\x8f;x\r\n", "Ce fichier n'est pas un fichier texte CSV"),
        (HEADER_NL.encode() + b"85073003328;Pee\x00ters;An;a@example.test;nl;cirro\r\n", "pas un fichier texte"),
        # No header: the first row is a user.
        ((ROW + ROW).encode(), "Colonnes manquantes"),
        (HEADER_NL.encode() + f'{NEW1};"Peeters;An\r\n'.encode(), "un guillemet (\") n'est pas fermé"),
        ((HEADER_NL + f"{NEW1};{'x' * 2000};An;a@example.test;nl;cirro\r\n").encode(), "La ligne 2 a une cellule"),
        ((HEADER_NL + f'{NEW1};"{"x" * 200_000}";An\r\n').encode(), "La ligne 2 a une cellule"),
    ],
)
def test_malformed_files_get_a_translated_message(world: World, client: Client, data: bytes, message: str) -> None:
    sb = login(client, world.zon.people["sb"])
    before = snapshot()
    response = preview(sb, world.zon.sd, data, lang="fr")
    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors["file"])
    assert message in errors, errors
    assert "field larger" not in errors and "expected" not in errors  # no English from the csv module
    assert snapshot() == before
