"""Steps 1-5 of the manual through the web UI, as the demo legal representative does them, in nl and fr.

The walk logs in through allauth's real login form, picks the enterprise in the entity choice, follows
the role links by their visible text, fills the forms and reads the messages.
"""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from django.test import Client

from tests.conftest import password_login
from toegang.applications.models import SecuredApplication
from toegang.audit.models import AuditEvent
from toegang.delegation.models import Role, RoleAssignment
from toegang.identifiers import ssin_make
from toegang.organisations.models import Enterprise, Subdepartment
from toegang.seed.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET, demo_load

# What a person reads on the screens, per language (from the compiled catalogues).
TEXT = {
    "nl": {
        "title": "Toegangsbeheer voor Ondernemingen en Organisaties",
        "choose": "Kies de onderneming of de organisatie waarvoor u wenst te werken in deze toepassing.",
        "legal": "Wettelijke vertegenwoordiger",
        "htb": "Hoofdtoegangsbeheerder",
        "quality": "Hoedanigheid: Residentiële zorginstelling",
        "subdepartment": "Subafdeling: WZC Horizon Gent",
        "bad_ssin": "Dit INSZ is niet geldig",
        "duplicate_code": "bestaat al",
        "advice": "Staat je voorziening er niet tussen",
    },
    "en": {
        "title": "Access management for enterprises and organisations",
        "choose": "Choose the enterprise or organisation you want to work for in this application.",
        "legal": "Legal representative",
        "htb": "Main access manager",
        "quality": "Quality: Residential care facility",
        "subdepartment": "Subdepartment: WZC Horizon Gent",
        "bad_ssin": "This INSZ is not valid",
        "duplicate_code": "already exists",
        "advice": "If your facility is not listed",
    },
    "fr": {
        "title": "Gestion des accès pour entreprises et organisations",
        "choose": "Choisissez l'entreprise ou l'organisation",
        "legal": "Représentant légal",
        "htb": "Gestionnaire d'accès principal",
        "quality": "Qualité\u202f: Établissement de soins résidentiels",
        "subdepartment": "Sous-section\u202f: WZC Horizon Gent",
        "bad_ssin": "Ce NISS n'est pas valide",
        "duplicate_code": "existe déjà",
        "advice": "Si votre établissement",
    },
}


def _html(response: Any) -> str:
    return str(unescape(response.content.decode()))


def _link(html: str, text: str) -> str:
    """The href of the link whose visible text is ``text`` (as a person clicks it)."""
    for href, inner in re.findall(r'<a href="([^"]+)"[^>]*>(.*?)</a>', html, re.S):
        if re.sub(r"<[^>]+>", "", inner).strip() == text:
            return str(unescape(href))
    raise AssertionError(f"no link {text!r} on the page")


def _option_value(html: str, label_start: str) -> str:
    for value, label in re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', html):
        if label.startswith(label_start):
            return str(value)
    raise AssertionError(f"no option {label_start!r}")


def _assert_has(html: str, text: str) -> None:
    assert text in html, f"{text!r} not on the page"


@pytest.mark.django_db
@pytest.mark.parametrize("lang", ["nl", "fr", "en"])
def test_legal_representative_carries_a_new_enterprise_through_steps_1_to_5(lang: str) -> None:
    demo_load()
    t = TEXT[lang]
    client = Client()

    # Log in through allauth's form.
    page = client.get(f"/{lang}/accounts/login/")
    _assert_has(_html(page), t["title"])
    response = password_login(client, lang, "wv", DEMO_PASSWORD, DEMO_TOTP_SECRET)
    html = _html(response)
    _assert_has(html, t["choose"])
    _assert_has(html, t["advice"])

    # The entity choice: pick the new enterprise in the dropdown; the role link appears.
    value = _option_value(html, "Zorggroep Nieuwe Horizon vzw")
    html = _html(client.get(f"/{lang}/", {"enterprise": value}))
    enterprise = Enterprise.objects.get(pk=value)
    html = _html(client.get(_link(html, t["legal"])))

    # Step 1: appoint the main access manager (the legal representative appoints himself).
    wv = RoleAssignment.objects.get(role=Role.LEGAL_REPRESENTATIVE, enterprise=enterprise).person
    legal_url = _link(_html(client.get(f"/{lang}/", {"enterprise": value})), t["legal"])
    response = client.post(
        legal_url,
        {
            "action": "appoint",
            "appoint-role": "main_access_manager",
            "appoint-ssin": "85.07.30-033.29",
            "appoint-email": "wv@example.test",
        },
    )
    assert response.status_code == 200
    _assert_has(_html(response), t["bad_ssin"])
    assert not RoleAssignment.objects.filter(enterprise=enterprise, role=Role.MAIN_ACCESS_MANAGER).exists()
    response = client.post(
        legal_url,
        {
            "action": "appoint",
            "appoint-role": "main_access_manager",
            "appoint-ssin": wv.ssin_display,
            "appoint-email": "wv@example.test",
            "appoint-phone": "+32 9 123 45 67",
        },
        follow=True,
    )
    _assert_has(_html(response), t["htb"])
    assert (
        RoleAssignment.objects.active().filter(enterprise=enterprise, role=Role.MAIN_ACCESS_MANAGER, person=wv).exists()
    )

    # Step 2: as main access manager, activate the quality.
    html = _html(client.get(f"/{lang}/", {"enterprise": value}))
    html = _html(client.get(_link(html, t["htb"])))
    quality_value = _option_value(html, t["quality"].split(": ", 1)[1].strip())
    response = client.post(
        _link(_html(client.get(f"/{lang}/", {"enterprise": value})), t["htb"]),
        {"action": "activate", "quality-quality": quality_value},
        follow=True,
    )
    quality_url = response.redirect_chain[-1][0]
    html = _html(response)

    # Step 3: appoint the access manager of the quality (himself) and a co-TB not yet known.
    for ssin, role, names in (
        (wv.ssin or "", "access_manager", {}),
        (ssin_make(2002, 4, 5, 17), "co_access_manager", {"appoint-first_name": "Lotte", "appoint-last_name": "Co"}),
    ):
        response = client.post(
            quality_url,
            {
                "action": "appoint",
                "appoint-role": role,
                "appoint-ssin": ssin,
                "appoint-email": "x@example.test",
                **names,
            },
            follow=True,
        )
        assert response.redirect_chain, _html(response)
    assert RoleAssignment.objects.active().filter(enterprise=enterprise, role=Role.CO_ACCESS_MANAGER).count() == 1

    # Step 4: add a subdepartment with two applications; the same code again is refused.
    apps = {"cirro", "raas"}
    app_ids = [str(a.pk) for a in SecuredApplication.objects.filter(code__in=apps)]
    form = {
        "action": "subdepartment",
        "sub-name": "WZC Horizon Gent",
        "sub-identification_code": "7-10001-39",
        "sub-applications": app_ids,
    }
    response = client.post(quality_url, form, follow=True)
    sd = Subdepartment.objects.get(enterprise=enterprise)
    assert {a.application.code for a in sd.application_links.active()} == apps
    sd_url = response.redirect_chain[-1][0]
    response = client.post(quality_url, form)
    _assert_has(_html(response), t["duplicate_code"])
    _assert_has(_html(response), t["subdepartment"])
    assert Subdepartment.objects.filter(enterprise=enterprise).count() == 1

    # Step 5: appoint the subdepartment manager (a person not yet known) on the subdepartment's page.
    sb_ssin = ssin_make(1990, 12, 24, 123)
    response = client.post(
        sd_url,
        {
            "action": "appoint",
            "appoint-role": "subdepartment_manager",
            "appoint-ssin": sb_ssin,
            "appoint-email": "sb@example.test",
            "appoint-first_name": "Sam",
            "appoint-last_name": "Beheer",
        },
        follow=True,
    )
    html = _html(response)
    _assert_has(html, "Beheer")
    assert RoleAssignment.objects.active().get(subdepartment=sd, role=Role.SUBDEPARTMENT_MANAGER).person.ssin == sb_ssin

    # The role links of the entity choice now lead to every level, with the manual's breadcrumb.
    html = _html(client.get(f"/{lang}/", {"enterprise": value}))
    for text in (t["legal"], t["htb"], t["quality"]):
        assert client.get(_link(html, text)).status_code == 200
    # Every change is in the enterprise's audit trail, made by the legal representative.
    events = AuditEvent.objects.filter(enterprise=enterprise)
    assert set(events.values_list("action", flat=True)) >= {
        "role.appoint",
        "quality.activate",
        "subdepartment.create",
        "application.switch_on",
    }
    assert events.filter(actor=wv).count() == 8  # HTB, quality, TB, co-TB, subdepartment, 2 apps, SB
