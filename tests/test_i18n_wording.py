"""Four languages for real (issue 13): what a French or German manager reads is French or German.

The catalogues' own rules are in test_translations.py; here the pages: the kind of identification
code in the page's language (no "RIZIV-nummer" on a French page), a new user's Taalkeuze and a newly
appointed person's language starting as the manager's, and the punctuation of each language.
"""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.core import mail
from django.test import Client, TestCase
from django.urls import reverse
from django.utils import translation

from tests.conftest import World, login
from toegang.accounts.models import User
from toegang.identifiers import ssin_format, ssin_make

LABELS = {"nl": "RIZIV-nummer", "fr": "Numéro INAMI", "de": "LIKIV-Nummer", "en": "NIHII number"}


def _get(client: Client, lang: str, name: str, *args: object, query: str = "") -> str:
    with translation.override(lang):
        response = client.get(reverse(name, args=args) + query)
    assert response.status_code == 200
    return unescape(response.content.decode())


@pytest.mark.parametrize("lang", ["nl", "fr", "de", "en"])
def test_kind_of_identification_code_is_in_the_pages_language(world: World, client: Client, lang: str) -> None:
    login(client, world.zon.people["sb"])
    html = _get(client, lang, "portal:subdepartment_details", world.zon.sd.pk)
    facts = dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", html))
    with translation.override(lang):
        kind = translation.gettext("Kind of identification code")
    assert facts[kind] == LABELS[lang]
    for other, label in LABELS.items():
        if other != lang:
            assert label not in html


def test_a_label_not_translated_reads_the_dutch(world: World, client: Client) -> None:
    world.quality.identification_label_fr = ""
    world.quality.save()
    login(client, world.zon.people["sb"])
    assert "RIZIV-nummer" in _get(client, "fr", "portal:subdepartment_details", world.zon.sd.pk)


def _language_choice(html: str) -> str:
    select = re.search(r'<select name="language"[^>]*>(.*?)</select>', html, re.S)
    assert select, html
    chosen = re.findall(r'<option value="(\w+)"[^>]*selected', select.group(1))
    assert len(chosen) == 1, select.group(1)
    return str(chosen[0])


@pytest.mark.parametrize("lang", ["nl", "fr", "de", "en"])
def test_a_new_users_language_starts_as_the_managers(world: World, client: Client, lang: str) -> None:
    login(client, world.zon.people["sb"])
    new = ssin_format(ssin_make(1992, 4, 1, 777))
    html = _get(client, lang, "portal:user_add", world.zon.sd.pk, query=f"?ssin={new}")
    assert _language_choice(html) == lang


def test_a_known_persons_language_stays_theirs(world: World, client: Client) -> None:
    nobody = world.zon.people["nobody"]
    nobody.language = "de"
    nobody.save()
    login(client, world.zon.people["sb"])
    html = _get(client, "fr", "portal:user_add", world.zon.sd.pk, query=f"?ssin={nobody.ssin}")
    assert _language_choice(html) == "de"


def test_french_headings_keep_the_space_before_the_colon(world: World, client: Client) -> None:
    login(client, world.zon.people["sb"])
    html = _get(client, "fr", "portal:subdepartment", world.zon.sd.pk)
    assert f"<h1>Sous-section\u202f: {world.zon.sd.name}</h1>" in html


def test_french_form_labels_take_the_narrow_space_too(world: World, client: Client) -> None:
    """Django's own label suffix (" :" with a wide no-break space in its French) follows the portal's rule."""
    login(client, world.zon.people["sb"])
    html = _get(client, "fr", "portal:users_import", world.zon.sd.pk)
    assert '<label for="id_file">Fichier CSV\u202f:</label>' in html
    assert "\u00a0:" not in html


@pytest.mark.parametrize("lang", ["nl", "fr", "de"])
def test_a_person_appointed_from_a_page_starts_in_its_language(world: World, client: Client, lang: str) -> None:
    """tb appoints a co-access manager nobody knows yet: the person (and their e-mail) takes tb's language."""
    z = world.zon
    login(client, z.people["tb"])
    ssin = ssin_make(1984, 2, 2, {"nl": 701, "fr": 703, "de": 705}[lang])
    data = {
        "action": "appoint",
        "appoint-role": "co_access_manager",
        "appoint-ssin": ssin,
        "appoint-email": "nieuw@example.test",
        "appoint-first_name": "Noa",
        "appoint-last_name": "Nieuw",
    }
    with translation.override(lang):
        page = reverse("portal:quality", args=[z.eq.pk])
    mail.outbox.clear()
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(page, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert User.objects.get(ssin=ssin).language == lang
    sent = [m for m in mail.outbox if "nieuw@example.test" in m.to]
    assert len(sent) == 1
    with translation.override(lang):
        assert translation.gettext("Co-access manager") in sent[0].body


def test_a_known_person_appointed_keeps_their_language(world: World, client: Client) -> None:
    z = world.zon
    nobody = z.people["nobody"]
    nobody.language = "de"
    nobody.save()
    login(client, z.people["tb"])
    data = {
        "action": "appoint",
        "appoint-role": "co_access_manager",
        "appoint-ssin": nobody.ssin,
        "appoint-email": "nobody@example.test",
    }
    with translation.override("fr"):
        assert client.post(reverse("portal:quality", args=[z.eq.pk]), data).status_code == 302
    assert User.objects.get(pk=nobody.pk).language == "de"
