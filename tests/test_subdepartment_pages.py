"""The subdepartment home of the manual and every link of its two menus, for the SB and for others.

"Welkom …, u hebt toegang als Subafdelingsbeheerder …", menus "Beheer subafdeling" (Beginpagina,
Gebruikers, De details van de subafdeling raadplegen, Subafdelingszaken) and "Persoonlijke gegevens"
(Mijn persoonlijke gegevens wijzigen, Mijn wachtwoord wijzigen, Beheer van het certificaat).
"""

from __future__ import annotations

import datetime as dt
import re
from html import unescape
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from tests.conftest import World, login
from toegang.accounts.models import User
from toegang.applications.selectors import subdepartment_applications
from toegang.audit.models import AuditEvent
from toegang.delegation.models import Role, RoleAssignment
from toegang.delegation.services import membership_update, role_appoint
from toegang.organisations.models import Subdepartment


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def url(name: str, *args: object, lang: str = "nl") -> str:
    with translation.override(lang):
        return reverse(name, args=args)


def tr(msgid: str, lang: str = "nl") -> str:
    """The text a page in ``lang`` shows for ``msgid`` (its translation once the catalogue has it)."""
    with translation.override(lang):
        return gettext(msgid)


def html_of(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    return unescape(str(response.content.decode()))


def menu_links(html: str) -> list[tuple[str, str]]:
    """(text, href) of every link inside the home's <nav class="menus">."""
    nav = re.search(r'<nav class="menus".*?</nav>', html, re.S)
    assert nav, "the home has no menus"
    return [
        (re.sub(r"<[^>]+>", "", text).strip(), href)
        for href, text in re.findall(r'<a href="([^"]+)"[^>]*>(.*?)</a>', nav.group(0), re.S)
    ]


def users_url_exists() -> bool:
    try:
        reverse("portal:users", args=[1])
    except NoReverseMatch:
        return False
    return True


# --- The home ---------------------------------------------------------------------------------------


# 23:30 UTC on 1 December is already 2 December in Brussels: a page that showed the UTC date fails.
LATE_EVENING_UTC = dt.datetime(2026, 12, 1, 23, 30, tzinfo=dt.UTC)


def _created_late_in_the_evening(sd: Subdepartment) -> None:
    Subdepartment.objects.filter(pk=sd.pk).update(valid_from=LATE_EVENING_UTC)
    sd.refresh_from_db()
    assert timezone.localtime(sd.valid_from).strftime("%d/%m/%Y") == "02/12/2026"


def test_home_has_the_manuals_layout_in_dutch(world: World, client: Client) -> None:
    z = world.zon
    _created_late_in_the_evening(z.sd)
    sb = z.people["sb"]
    login(client, sb)
    html = html_of(client.get(url("portal:subdepartment", z.sd.pk)))
    assert f"Welkom Mx {sb}, u hebt toegang als Subafdelingsbeheerder tot het portaal van de sociale zekerheid" in html
    facts = re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", html)
    assert facts == [
        ("Benaming", z.enterprise.name),
        ("Ondernemingsnummer", z.enterprise.cbe_display),
        ("Creatiedatum", "02/12/2026"),
        ("Hoedanigheid", "Residentiële zorginstelling"),
        ("Ondernemingsnummer", z.enterprise.cbe_display),
        ("Subafdeling", z.sd.name),
        ("Identificatiecode", z.sd.identification_code),
    ]
    advice = "Wij raden u aan de gegevens van de subafdeling die u beheert regelmatig te verifiëren."
    assert f'<a href="{url("portal:subdepartment_details", z.sd.pk)}">{advice}</a>' in html
    for heading in ("Functionalities", "Subdepartment management", "Personal data"):
        assert tr(heading) in html
    # The management forms moved to Subafdelingszaken: the home is the manual's page only.
    assert 'name="action"' not in html
    assert "ander_" not in html and z.sd2.name not in html


def test_every_menu_link_answers_200_for_the_sb(world: World, client: Client) -> None:
    z = world.zon
    login(client, z.people["sb"])
    links = menu_links(html_of(client.get(url("portal:subdepartment", z.sd.pk))))
    expected = [
        (tr("Home page"), url("portal:subdepartment", z.sd.pk)),
        *([(tr("Users"), url("portal:users", z.sd.pk))] if users_url_exists() else []),
        (tr("Consult the details of the subdepartment"), url("portal:subdepartment_details", z.sd.pk)),
        (tr("Subdepartment affairs"), url("portal:subdepartment_affairs", z.sd.pk)),
        (tr("Change my personal data"), url("portal:me")),
        (tr("Change my password"), url("account_change_password")),
        (
            tr("Management of the certificate to be used on the social security portal"),
            url("portal:certificates", z.sd.pk),
        ),
    ]
    assert links == expected
    brand = "Toegangsbeheer voor Ondernemingen en Organisaties"
    for text, href in links:
        response = client.get(href)
        page = html_of(response)
        assert '<html lang="nl">' in page, text
        assert brand in page and ">Uit</button>" in page, text  # our layout and header on every page
        assert "ander_" not in page, text


@pytest.mark.parametrize("lang", ["nl", "fr", "de"])
def test_menu_links_keep_the_language(world: World, client: Client, lang: str) -> None:
    z = world.zon
    login(client, z.people["sb"])
    links = menu_links(html_of(client.get(url("portal:subdepartment", z.sd.pk, lang=lang))))
    assert len(links) >= 6
    for _text, href in links:
        assert href.startswith(f"/{lang}/"), href
        assert f'<html lang="{lang}">' in html_of(client.get(href))


@pytest.mark.parametrize("who", ["cosb", "tb", "cotb", "htb", "cohtb"])
def test_managers_above_and_beside_the_sb_reach_every_page(world: World, client: Client, who: str) -> None:
    z = world.zon
    login(client, z.people[who])
    for name in (
        "portal:subdepartment",
        "portal:subdepartment_details",
        "portal:subdepartment_affairs",
        "portal:certificates",
    ):
        assert client.get(url(name, z.sd.pk)).status_code == 200, (who, name)


SD_PAGES = [
    "portal:subdepartment",
    "portal:subdepartment_details",
    "portal:subdepartment_affairs",
    "portal:certificates",
]


@pytest.mark.parametrize(
    ("who", "target"),
    [
        ("ander_sb", "sd"),  # another enterprise
        ("ander_htb", "sd"),
        ("sb", "sd2"),  # the sibling subdepartment
        ("sb2", "sd"),
        ("user", "sd"),  # a plain user of the subdepartment manages nothing
        ("nobody", "sd"),
        ("lr", "sd"),  # the legal representative appoints the HTB, no more
    ],
)
def test_subdepartment_pages_are_404_outside_the_scope(world: World, client: Client, who: str, target: str) -> None:
    sd = getattr(world.zon, target)
    login(client, world.person(who))
    before = AuditEvent.objects.count()
    for name in SD_PAGES:
        response = client.get(url(name, sd.pk))
        assert response.status_code == 404, (who, name)
        assert sd.name not in response.content.decode()
        post = client.post(url(name, sd.pk), {"action": "applications", "apps-applications": []})
        assert post.status_code == 404, (who, name)
    assert AuditEvent.objects.count() == before
    assert subdepartment_applications(sd) == world.apps[: 2 if target == "sd" else 1]


def test_anonymous_is_sent_to_login(world: World) -> None:
    client = Client()
    for name in SD_PAGES:
        response = client.get(url(name, world.zon.sd.pk))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert "/accounts/login/" in Client().get(url("portal:me"))["Location"]


# --- De details van de subafdeling raadplegen ------------------------------------------------------


def test_details_show_the_subdepartments_data(world: World, client: Client) -> None:
    z = world.zon
    _created_late_in_the_evening(z.sd)
    login(client, z.people["sb"])
    html = html_of(client.get(url("portal:subdepartment_details", z.sd.pk)))
    facts = dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", html))
    assert facts["Subafdeling"] == z.sd.name
    assert facts["Identificatiecode"] == z.sd.identification_code
    assert facts[tr("Kind of identification code")].startswith("RIZIV-nummer")
    assert facts["Hoedanigheid"] == "Residentiële zorginstelling"
    assert facts["Benaming"] == z.enterprise.name
    assert facts["Ondernemingsnummer"] == z.enterprise.cbe_display
    assert facts["Creatiedatum"].startswith("02/12/2026")
    assert facts[tr("Created by")] == str(z.people["tb"])
    rows = re.findall(r'<th scope="row">(.*?)</th><td>(.*?)</td>', html)
    assert rows == [(a.name_nl, a.description_nl) for a in world.apps[:2]]
    assert world.apps[2].name_nl not in html


# --- Subafdelingszaken ------------------------------------------------------------------------------


def test_affairs_show_applications_with_user_counts_managers_and_recent_events(world: World, client: Client) -> None:
    z = world.zon
    membership = RoleAssignment.objects.active().get(person=z.people["user"], subdepartment=z.sd, role=Role.USER)
    membership_update(
        actor=z.people["sb"],
        membership=membership,
        applications=world.apps[:1],
        status="active",
        email="user@example.test",
    )
    login(client, z.people["sb"])
    html = html_of(client.get(url("portal:subdepartment_affairs", z.sd.pk)))
    rows = re.findall(r'<tr><th scope="row">(.*?)</th><td>.*?</td><td>.*?</td><td>(\d+)</td></tr>', html)
    assert rows == [(world.apps[0].name_nl, "1"), (world.apps[1].name_nl, "0")]
    # The SB may not switch applications: no switch form, only the list.
    assert 'value="applications"' not in html
    # Its managers, with the appoint form for a co-SB and an end link for the co-SB only.
    for who in ("sb", "cosb"):
        assert z.people[who].first_name in html
    cosb = RoleAssignment.objects.active().get(subdepartment=z.sd, role=Role.CO_SUBDEPARTMENT_MANAGER)
    sb = RoleAssignment.objects.active().get(subdepartment=z.sd, role=Role.SUBDEPARTMENT_MANAGER)
    assert url("portal:role_end", cosb.pk) in html and url("portal:role_end", sb.pk) not in html
    assert 'value="co_subdepartment_manager"' in html and 'value="subdepartment_manager"' not in html
    # Members per type.
    facts = dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", html))
    assert facts["Subafdelingsbeheerders"] == "1" and facts[tr("Users")] == "1"
    # The 20 most recent events of this subdepartment, newest first, and the link to the full trail.
    events = re.findall(r'<tr data-action="([a-z_.]+)">', html)
    expected = list(AuditEvent.objects.filter(subdepartment=z.sd).values_list("action", flat=True)[:20])
    assert events == expected and "grant.add" in events
    # Each as a sentence in the page's language, not as its code.
    grant_row = re.search(r'<tr data-action="grant.add">(.*?)</tr>', html, re.S)
    assert grant_row is not None and "grant.add" not in grant_row.group(1)
    assert world.apps[0].name_nl in grant_row.group(1) and z.people["sb"].first_name in grant_row.group(1)
    assert url("portal:audit", "s", z.sd.pk) in html


def test_affairs_list_at_most_20_events(world: World, client: Client) -> None:
    z = world.zon
    login(client, z.people["tb"])
    for i in range(20):  # switching RaaS on and off: more than 20 events
        client.post(
            url("portal:subdepartment_affairs", z.sd.pk),
            {"action": "applications", "apps-applications": [] if i % 2 else [str(world.apps[2].pk)]},
        )
    assert AuditEvent.objects.filter(subdepartment=z.sd).count() > 20
    html = html_of(client.get(url("portal:subdepartment_affairs", z.sd.pk)))
    assert len(re.findall(r'<tr data-action="[a-z_.]+">', html)) == 20


def test_tb_switches_applications_on_the_affairs_page(world: World, client: Client) -> None:
    z = world.zon
    login(client, z.people["tb"])
    page = url("portal:subdepartment_affairs", z.sd.pk)
    assert 'value="applications"' in html_of(client.get(page))
    switched_on = AuditEvent.objects.filter(subdepartment=z.sd, action="application.switch_on", actor=z.people["tb"])
    before = switched_on.count()
    response = client.post(page, {"action": "applications", "apps-applications": [str(a.pk) for a in world.apps]})
    assert response.status_code == 302 and response["Location"] == page
    assert subdepartment_applications(z.sd) == world.apps
    assert switched_on.count() == before + 1


def test_the_home_still_takes_the_management_posts(world: World, client: Client) -> None:
    """Older forms and bookmarks post to the home: handled as on Subafdelingszaken, then sent there."""
    z = world.zon
    login(client, z.people["tb"])
    response = client.post(
        url("portal:subdepartment", z.sd.pk), {"action": "applications", "apps-applications": [str(world.apps[0].pk)]}
    )
    assert response.status_code == 302 and response["Location"] == url("portal:subdepartment_affairs", z.sd.pk)
    assert subdepartment_applications(z.sd) == world.apps[:1]


def test_sb_posting_the_application_switch_is_denied(world: World, client: Client) -> None:
    z = world.zon
    login(client, z.people["sb"])
    before = AuditEvent.objects.count()
    response = client.post(
        url("portal:subdepartment_affairs", z.sd.pk), {"action": "applications", "apps-applications": []}
    )
    assert response.status_code == 403
    assert subdepartment_applications(z.sd) == world.apps[:2]
    assert AuditEvent.objects.count() == before


def test_sb_appoints_and_ends_a_co_sb_from_the_affairs_page(world: World, client: Client) -> None:
    z = world.zon
    login(client, z.people["sb"])
    page = url("portal:subdepartment_affairs", z.sd.pk)
    nobody = z.people["nobody"]
    response = client.post(
        page,
        {
            "action": "appoint",
            "appoint-role": "co_subdepartment_manager",
            "appoint-ssin": nobody.ssin,
            "appoint-email": "n@example.test",
        },
    )
    assert response.status_code == 302 and response["Location"] == page
    new = RoleAssignment.objects.active().get(person=nobody, subdepartment=z.sd)
    assert new.role == Role.CO_SUBDEPARTMENT_MANAGER and new.granted_by == z.people["sb"]
    assert nobody.first_name in html_of(client.get(page))
    # Ending it from the holders' table comes back to Subafdelingszaken.
    response = client.post(url("portal:role_end", new.pk), {"reason": "test"})
    assert response.status_code == 302 and response["Location"] == page
    new.refresh_from_db()
    assert new.valid_until is not None and new.end_reason == "test"


# --- Mijn persoonlijke gegevens wijzigen ------------------------------------------------------------


def _me_form(person: User, **changes: str) -> dict[str, str]:
    data = {
        "title": person.title,
        "language": person.language,
        "email": person.email,
        "local_email": person.local_email,
        "phone": person.phone,
    }
    data.update(changes)
    return data


def test_me_shows_identity_read_only_and_saves_what_the_person_may_change(world: World, client: Client) -> None:
    sb = world.zon.people["sb"]
    login(client, sb)
    page = url("portal:me")
    html = html_of(client.get(page))
    facts = dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", html))
    assert facts["INSZ"] == sb.ssin_display and facts["Naam"] == sb.last_name and facts["Voornaam"] == sb.first_name
    for field in ("title", "language", "email", "local_email", "phone"):
        assert f'name="{field}"' in html
    for field in ("ssin", "first_name", "last_name", "username"):
        assert f'name="{field}"' not in html
    data = _me_form(
        sb,
        title="ms",
        language="fr",
        email="Nieuw@Example.test",
        local_email="lokaal@example.test",
        phone="+32 9 123 45 67",
    )
    # Fields the form does not have are ignored, never saved.
    response = client.post(page, {**data, "ssin": "85073003328", "first_name": "Hacker", "username": "root"})
    assert response.status_code == 302 and response["Location"] == page
    sb.refresh_from_db()
    assert (sb.title, sb.language, sb.email, sb.local_email, sb.phone) == (
        "ms",
        "fr",
        "Nieuw@Example.test",
        "lokaal@example.test",
        "+32 9 123 45 67",
    )
    assert sb.first_name == "Sb" and sb.username == "sb" and sb.ssin != "85073003328"
    event = AuditEvent.objects.get(action="person.update_self")
    assert event.actor == sb and event.enterprise is None and event.subdepartment is None
    assert event.before is not None and event.after is not None
    assert event.before["email"] == "sb@example.test" and event.after["email"] == "Nieuw@Example.test"
    # Saving unchanged data writes no second event.
    client.post(page, _me_form(sb))
    assert AuditEvent.objects.filter(action="person.update_self").count() == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"email": ""}, "email"),
        ({"email": "geen-adres"}, "email"),
        ({"local_email": "ook geen"}, "local_email"),
        ({"language": "xx"}, "language"),
        ({"title": "dr"}, "title"),
        ({"phone": "1" * 31}, "phone"),
        ({"email": "COSB@example.test"}, "email"),  # another account's login address
    ],
)
def test_me_refuses_bad_input_and_saves_nothing(
    world: World, client: Client, changes: dict[str, str], field: str
) -> None:
    sb = world.zon.people["sb"]
    login(client, sb)
    response = client.post(url("portal:me"), _me_form(sb, **changes))
    assert response.status_code == 200
    assert field in response.context["form"].errors
    for error in response.context["form"].errors[field]:
        assert error in html_of(response)
    fresh = User.objects.get(pk=sb.pk)
    assert (fresh.email, fresh.local_email, fresh.language, fresh.title, fresh.phone) == (
        sb.email,
        sb.local_email,
        sb.language,
        sb.title,
        sb.phone,
    )
    assert not AuditEvent.objects.filter(action="person.update_self").exists()


def test_me_shows_nothing_about_other_employers(world: World, client: Client) -> None:
    sb = world.zon.people["sb"]
    a = world.ander
    role_appoint(actor=a.people["sb"], role=Role.USER, scope=a.sd, ssin=sb.ssin or "", email="sb@ander.test")
    login(client, sb)
    html = html_of(client.get(url("portal:me")))
    for secret in (a.enterprise.name, a.enterprise.cbe_display, a.sd.name, "sb@ander.test", world.zon.enterprise.name):
        assert secret not in html


def test_changing_the_email_retires_the_old_login_address(world: World, client: Client) -> None:
    sb = world.zon.people["sb"]
    EmailAddress.objects.create(user=sb, email=sb.email, primary=True, verified=True)
    login(client, sb)
    client.post(url("portal:me"), _me_form(sb, email="ander@example.test"))
    assert not EmailAddress.objects.filter(email__iexact="sb@example.test").exists()
    login_response = Client().post(
        url("account_login"), {"login": "sb@example.test", "password": "a-long-test-password-1"}
    )
    assert login_response.status_code == 200  # the form again: the old address no longer logs in
    ok = Client().post(url("account_login"), {"login": "ander@example.test", "password": "a-long-test-password-1"})
    assert ok.status_code == 302


# --- Mijn wachtwoord wijzigen (allauth) -------------------------------------------------------------


def test_password_change_renders_in_our_layout_and_works(world: World, client: Client) -> None:
    sb = world.zon.people["sb"]
    login(client, sb)
    page = url("account_change_password")
    html = html_of(client.get(page))
    assert "Toegangsbeheer voor Ondernemingen en Organisaties" in html and ">Uit</button>" in html
    assert 'hreflang="fr"' in html and 'name="oldpassword"' in html
    response = client.post(
        page,
        {
            "oldpassword": "a-long-test-password-1",
            "password1": "een-nieuw-wachtwoord-42",
            "password2": "een-nieuw-wachtwoord-42",
        },
    )
    assert response.status_code == 302
    sb.refresh_from_db()
    assert sb.check_password("een-nieuw-wachtwoord-42")
