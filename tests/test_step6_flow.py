"""The manual's step 6, screen by screen, with the test client, in nl, fr and de.

From "KLIK OP GEBRUIKERS" to "U KUNT METEEN EEN VOLGENDE GEBRUIKER TOEVOEGEN": the demo SB logs
in, picks the facility, opens Gebruikers (one item: the SB), adds a user by INSZ, ticks two
applications, saves, and is back on the list with the manual's message and two items.
"""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from tests.conftest import password_login
from toegang.applications.selectors import person_applications
from toegang.delegation.models import Role, RoleAssignment
from toegang.identifiers import ssin_make
from toegang.organisations.models import Subdepartment
from toegang.seed.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET, demo_load

TEXT = {
    "nl": {
        "sd_link": "Subafdeling: Residentiële zorginstelling",
        "users": "Gebruikers",
        "one": "Eén item gevonden.",
        "two": "2 items gevonden.",
        "create": "Een gebruiker aanmaken",
        "required": "De velden met een * moeten verplicht worden ingevuld",
        "saved": "De gegevens van de gebruiker werden opgeslagen",
        "bad_ssin": "Dit INSZ is niet geldig",
        "view": "Bekijken",
    },
    "fr": {
        "sd_link": "Sous-section\u202f: Residentiële zorginstelling",
        "users": "Utilisateurs",
        "one": "1 élément trouvé.",
        "two": "2 éléments trouvés.",
        "create": "Créer un utilisateur",
        "required": "Les champs marqués d'un * sont obligatoires",
        "saved": "Les données de l'utilisateur ont été enregistrées",
        "bad_ssin": "Ce NISS n'est pas valide",
        "view": "Consulter",
    },
    "de": {
        "sd_link": "Unterabteilung: Residentiële zorginstelling",
        "users": "Benutzer",
        "one": "Ein Eintrag gefunden.",
        "two": "2 Einträge gefunden.",
        "create": "Einen Benutzer anlegen",
        "required": "Die mit * gekennzeichneten Felder sind Pflichtfelder",
        "saved": "Die Daten des Benutzers wurden gespeichert",
        "bad_ssin": "Diese ENSS ist ungültig",
        "view": "Anzeigen",
    },
}


def _html(response: Any) -> str:
    return str(unescape(response.content.decode()))


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _rows(html: str) -> str:
    """The text of the users table's body."""
    match = re.search(r"<tbody>(.*?)</tbody>", html, re.S)
    assert match is not None
    return _text(match.group(1))


def _link(html: str, text: str) -> str:
    for href, inner in re.findall(r'<a href="([^"]+)"[^>]*>(.*?)</a>', html, re.S):
        if re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", inner)).strip() == text:
            return str(unescape(href))
    raise AssertionError(f"no link {text!r} on the page")


@pytest.fixture(autouse=True)
def _mail(settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.mark.django_db
@pytest.mark.parametrize("lang", ["nl", "fr", "de"])
def test_manual_step_6_screen_by_screen(lang: str, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        demo_load()
    mail.outbox.clear()
    t = TEXT[lang]
    client = Client()
    response = password_login(client, lang, "sb", DEMO_PASSWORD, DEMO_TOTP_SECRET)
    html = _html(response)  # the entity choice: one enterprise, so its role links show at once

    # "KLIK OP DE SUBAFDELING DIE JE WIL BEHEREN": two facilities, the first is the manual's.
    sd = Subdepartment.objects.get(name="Residentiële zorginstelling")
    assert html.count(t["sd_link"]) == 2
    home = _html(client.get(f"/{lang}/s/{sd.pk}/"))
    # "KLIK OP GEBRUIKERS": the list holds the SB alone.
    users_url = _link(home, t["users"])
    page = _html(client.get(users_url))
    assert t["one"] in _text(page)
    assert " SB " in _rows(page) and " USE " not in _rows(page)

    # "VOEG EEN GEBRUIKER TOE DOOR ONDERAAN DIENS INSZ IN TE VULLEN. KLIK OP VOLGENDE."
    add_url = f"/{lang}/s/{sd.pk}/users/new/"
    wrong = _html(client.get(add_url, {"ssin": "90.12.24-123.00"}))
    assert t["bad_ssin"] in wrong
    ssin = ssin_make(1990, 12, 24, 123)
    form = _html(client.get(add_url, {"ssin": f"{ssin[:2]}.{ssin[2:4]}.{ssin[4:6]}-{ssin[6:9]}.{ssin[9:]}"}))
    assert t["create"] in form and t["required"] in form
    # "VINK ONDERAAN AAN WELKE TOEPASSING(EN) DIE PERSOON MAG GEBRUIKEN": the three switched-on ones.
    # Each as the manual shows it: the name, its description below (in italics), once if the same.
    pattern = r'<input type="checkbox" name="applications" value="(\d+)"[^>]*>\s*<span class="app-name">([^<]+)'
    boxes = dict(re.findall(pattern, form))
    assert sorted(boxes.values()) == ["CIRRO", "E-loket Zorg en Gezondheid", "RaaS"]
    assert form.count("E-loket Zorg en Gezondheid</span>") == 1
    chosen = [pk for pk, name in boxes.items() if name.startswith(("CIRRO", "RaaS"))]

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            add_url,
            {
                "action": "save",
                "ssin": ssin,
                "username": "",
                "last_name": "Peeters",
                "first_name": "An",
                "title": "ms",
                "language": lang,
                "email": "an.peeters@example.test",
                "local_email": "",
                "applications": chosen,
            },
            follow=True,
        )
    # "DE GEBRUIKER HEEFT NU TOEGANG": back on the list, the manual's message, two items.
    assert response.redirect_chain[-1][0].startswith(users_url)
    page = _html(response)
    assert t["saved"] in _text(page) and t["two"] in _text(page)
    assert " Peeters An " in _rows(page) and " USE " in _rows(page) and " SB " in _rows(page)
    member = RoleAssignment.objects.active().get(subdepartment=sd, role=Role.USER)
    assert {a.code for a in person_applications(member.person, sd)} == {"cirro", "raas"}
    # The user is told, in their own language, after the commit.
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["an.peeters@example.test"]

    # "U KUNT METEEN EEN VOLGENDE GEBRUIKER TOEVOEGEN": the footer form is there again.
    assert 'name="ssin"' in _html(response)

    # Bekijken: the new user's page, untick RaaS.
    detail = _html(client.get(f"/{lang}/s/{sd.pk}/users/{member.pk}/"))
    assert "Peeters" in detail
    cirro = [pk for pk, name in boxes.items() if name.startswith("CIRRO")]
    response = client.post(
        f"/{lang}/s/{sd.pk}/users/{member.pk}/",
        {"email": "an.peeters@example.test", "local_email": "", "status": "active", "applications": cirro},
        follow=True,
    )
    assert t["saved"] in _html(response)
    assert [a.code for a in person_applications(member.person, sd)] == ["cirro"]
