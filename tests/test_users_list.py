"""The manual's "Gebruikers" screen: filters, count line, paging, sorting, bulk Bekijken/Wissen, CSV export.

Rows are read from the rendered table, the database is checked after every write, and the query
count of the list and the export must not grow with the number of rows.
"""

from __future__ import annotations

import csv
import io
from html.parser import HTMLParser
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import StreamingHttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from tests.conftest import World, login
from toegang.accounts.models import User
from toegang.applications.models import ApplicationGrant
from toegang.audit.models import AuditEvent
from toegang.delegation import authz, csv_import
from toegang.delegation.models import Role, RoleAssignment, Status
from toegang.delegation.services import membership_end, membership_update, role_appoint, subdepartment_user_add
from toegang.identifiers import ssin_make
from toegang.organisations.models import Subdepartment
from toegang.portal.views import users as users_views

pytestmark = pytest.mark.django_db

USE_SSIN = ssin_make(1985, 7, 30, 33)  # the manual's example, 85.07.30-033.28


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _mail(settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


# --- helpers ------------------------------------------------------------------------------------


def _url(name: str, sd: Subdepartment, lang: str = "en", query: str = "") -> str:
    with translation.override(lang):
        return reverse(name, args=[sd.pk]) + query


class _Table(HTMLParser):
    """The rows of the users table: each a dict of its cells' text and whether it has a checkbox."""

    def __init__(self) -> None:
        super().__init__()
        self.in_table = self.in_body = False
        self.rows: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.cell: list[str] | None = None
        self.in_header = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and "users" in (a.get("class") or ""):
            self.in_table = True
        elif self.in_table and tag == "tbody":
            self.in_body = True
        elif self.in_table and tag == "th":
            self.in_header = True
            self.headers.append({"aria-sort": a.get("aria-sort") or "", "href": ""})
        elif self.in_header and tag == "a":
            self.headers[-1]["href"] = a.get("href") or ""
        elif self.in_body and tag == "tr":
            self.rows.append({"cells": [], "checkbox": None, "links": []})
        elif self.in_body and tag == "td":
            self.cell = []
        elif self.in_body and tag == "input" and a.get("type") == "checkbox":
            self.rows[-1]["checkbox"] = a.get("value")
        elif self.in_body and tag == "a":
            self.rows[-1]["links"].append(a.get("href"))
        elif tag == "span" and "sr-only" in (a.get("class") or "") and self.cell is not None:
            self.cell.append("\0")  # screen-reader text starts here; dropped from the cell's visible text

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.in_table = self.in_body = False
        elif tag == "th":
            self.in_header = False
        elif tag == "td" and self.cell is not None:
            text = "".join(self.cell).split("\0")[0]
            self.rows[-1]["cells"].append(" ".join(text.split()))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def _table(html: str) -> _Table:
    parser = _Table()
    parser.feed(html)
    return parser


def table_rows(html: str) -> list[list[str]]:
    """Naam, Voornaam, Gebruikersnaam, Type, INSZ, Status of each row (checkbox and Actie left out)."""
    return [r["cells"][1:7] for r in _table(html).rows if len(r["cells"]) == 8]


def _get(client: Client, sd: Subdepartment, query: str = "", lang: str = "en") -> str:
    response = client.get(_url("portal:users", sd, lang, query))
    assert response.status_code == 200
    return response.content.decode()


def _member(sd: Subdepartment, username: str) -> RoleAssignment:
    return RoleAssignment.objects.active().get(subdepartment=sd, person__username=username)


def _add_use(world: World, sd: Subdepartment, actor: str = "sb", **kw: Any) -> RoleAssignment:
    data: dict[str, Any] = {
        "ssin": USE_SSIN,
        "email": "jan.janssens@example.test",
        "first_name": "Jan",
        "last_name": "Janssens",
        "username": "jan.janssens",
        "applications": world.apps[:1],
    }
    return subdepartment_user_add(actor=world.person(actor), subdepartment=sd, **(data | kw))


def _bulk_members(world: World, sd: Subdepartment, n: int, *, start: int = 0, grants: bool = True) -> None:
    """``n`` users (type USE) in ``sd`` written in bulk: volume for paging and query counts."""
    people = User.objects.bulk_create(
        [
            User(
                username=f"bulk{start + i:05d}",
                ssin=ssin_make(1991, 1 + (start + i) // 900, 1 + (start + i) % 28, 1 + (start + i) % 900),
                first_name=f"F{start + i:05d}",
                last_name="Bulk",
                email=f"bulk{start + i}@example.test",
                password="!",
            )
            for i in range(n)
        ]
    )
    people = list(User.objects.filter(username__in=[p.username for p in people]))
    RoleAssignment.objects.bulk_create(
        [
            RoleAssignment(
                person=p,
                role=Role.USER,
                enterprise=sd.enterprise,
                enterprise_quality=sd.enterprise_quality,
                subdepartment=sd,
                granted_by=world.operator,
            )
            for p in people
        ]
    )
    if grants:
        ApplicationGrant.objects.bulk_create(
            [
                ApplicationGrant(person=p, subdepartment=sd, application=app, granted_by=world.operator)
                for p in people
                for app in world.apps[:2]
            ]
        )


# --- the list as the manual shows it ------------------------------------------------------------


def test_list_as_the_manual_ends_sb_and_use_rows_in_nl_fr_en(world: World, client: Client) -> None:
    sd = world.zon.sd2  # holds only its SB; the manual adds one user and ends with two rows
    _add_use(world, sd, actor="sb2")
    login(client, world.person("sb2"))

    html = _get(client, sd, lang="nl")
    assert "2 items gevonden." in html
    assert "Pagina 1 van 1" in html
    rows = table_rows(html)
    assert rows == [
        ["Janssens", "Jan", "jan.janssens", "USE", "85.07.30-033.28", "Actief"],
        ["Test", "Sb2", "sb2", "SB", world.person("sb2").ssin_display, "Actief"],
    ]
    assert "2 éléments trouvés." in _get(client, sd, lang="fr")
    assert "2 items found." in _get(client, sd, lang="en")
    assert "Eén item gevonden." in _get(client, sd, "?type=SB", lang="nl")
    assert "1 élément trouvé." in _get(client, sd, "?type=SB", lang="fr")
    assert "One item found." in _get(client, sd, "?type=SB", lang="en")

    # The footer "Een gebruiker toevoegen — INSZ: [ ] — Volgende" is a GET form to the add screen.
    assert f'action="{_url("portal:user_add", sd, "nl")}"' in html
    assert 'name="ssin" id="id_add_ssin"' in html and "Volgende" in html
    # Actie: "Bekijken" links to each row's page.
    use = _member(sd, "jan.janssens")
    table = _table(html)
    assert _url("portal:users", sd, "nl") + f"{use.pk}/" in table.rows[0]["links"]


def test_screen_speaks_the_manuals_dutch(world: World, client: Client) -> None:
    sd = world.zon.sd2
    _add_use(world, sd, actor="sb2")
    login(client, world.person("sb2"))
    html = _get(client, sd, lang="nl")
    for text in (
        "<h1>Gebruikers</h1>",
        "De lijst van de gebruikers tonen op basis van de volgende criteria",
        '<label for="id_last_name">Naam:</label>',
        '<label for="id_first_name">Voornaam:</label>',
        '<label for="id_username">Gebruikersnaam:</label>',
        '<label for="id_ssin">INSZ:</label>',
        '<label for="id_application">Beveiligde toepassingen:</label>',
        'value="view">Bekijken</button>',
        'value="delete">Wissen</button>',
        "Een gebruiker toevoegen",
    ):
        assert text in html, text
    use = _member(sd, "jan.janssens")
    with translation.override("nl"):
        response = client.post(
            reverse("portal:users_bulk", args=[sd.pk]), {"action": "delete_confirm", "ids": [use.pk]}, follow=True
        )
    assert "1 gebruiker gewist: Janssens Jan." in response.content.decode()


def test_nothing_about_other_employers_is_shown(world: World, client: Client) -> None:
    """A person who also works for another enterprise shows only this membership."""
    _add_use(world, world.zon.sd)
    _add_use(world, world.ander.sd, actor="ander_sb")
    login(client, world.person("sb"))
    html = _get(client, world.zon.sd)
    assert "Janssens" in html
    for foreign in (world.ander.enterprise.name, world.ander.sd.name, world.ander.enterprise.cbe_number):
        assert foreign not in html


def test_checkbox_only_where_authz_may_end(world: World, client: Client) -> None:
    sd = world.zon.sd
    for who in ("sb", "cosb", "tb"):
        client = Client()
        actor = world.person(who)
        login(client, actor)
        table = _table(_get(client, sd))
        by_username = {r["cells"][3]: r for r in table.rows}
        for m in RoleAssignment.objects.active().filter(subdepartment=sd).select_related("person"):
            has_box = by_username[m.person.username]["checkbox"] == str(m.pk)
            assert has_box == authz.may_end(actor, m), (who, m.person.username)
    # Spelled out: an SB may not delete an SB (their own row included), a TB may.
    login(client, world.person("sb"))
    rows = {r["cells"][3]: r["checkbox"] for r in _table(_get(client, sd)).rows}
    assert rows["sb"] is None and rows["user"] is not None and rows["cosb"] is not None


def test_access_is_scoped(world: World, client: Client) -> None:
    login(client, world.person("user"))  # a plain user (USE) manages nothing
    assert client.get(_url("portal:users", world.zon.sd)).status_code in (403, 404)
    login(client, world.person("ander_sb"))  # another tenant
    assert client.get(_url("portal:users", world.zon.sd)).status_code == 404
    assert client.get(_url("portal:users_export", world.zon.sd)).status_code == 404
    login(client, world.person("sb"))  # the SB of A is not the SB of B
    assert client.get(_url("portal:users", world.zon.sd2)).status_code == 404
    login(client, world.person("tb"))  # the TB above both sees both
    assert "sb2" in _get(client, world.zon.sd2)
    client.logout()
    response = client.get(_url("portal:users", world.zon.sd))
    assert response.status_code == 302 and "login" in response["Location"]


# --- filters ------------------------------------------------------------------------------------


@pytest.fixture
def listed(world: World, client: Client) -> Client:
    """sd of zonnebloem: sb (SB), cosb (CSB), user (USE, blocked), Jan Janssens (USE, CIRRO)."""
    _add_use(world, world.zon.sd, applications=[world.apps[0]])
    user = _member(world.zon.sd, "user")
    membership_update(
        actor=world.person("sb"), membership=user, applications=[], status=Status.BLOCKED, email="u@example.test"
    )
    return login(client, world.person("sb"))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["cosb", "jan.janssens", "sb", "user"]),
        ("?last_name=janss", ["jan.janssens"]),
        ("?last_name=TEST", ["cosb", "sb", "user"]),
        ("?first_name=jan", ["jan.janssens"]),
        ("?first_name=sb", ["cosb", "sb"]),
        ("?username=jan.j", ["jan.janssens"]),
        ("?type=SB", ["sb"]),
        ("?type=CSB", ["cosb"]),
        ("?type=USE", ["jan.janssens", "user"]),
        ("?status=blocked", ["user"]),
        ("?status=active", ["cosb", "jan.janssens", "sb"]),
        ("?type=USE&status=active", ["jan.janssens"]),
        ("?last_name=nobody-has-this", []),
    ],
)
def test_filters(world: World, listed: Client, query: str, expected: list[str]) -> None:
    html = _get(listed, world.zon.sd, query)
    assert sorted(r[2] for r in table_rows(html)) == expected
    if not expected:
        assert "No user matches these criteria." in html


def test_filter_on_application_switched_on_here(world: World, listed: Client) -> None:
    sd = world.zon.sd
    cirro, eloket, raas = world.apps
    html = _get(listed, sd, f"?application={cirro.pk}")
    assert [r[2] for r in table_rows(html)] == ["jan.janssens"]
    assert table_rows(_get(listed, sd, f"?application={eloket.pk}")) == []
    # Only the applications switched on here are offered; another one is an invalid choice, ignored.
    assert f'<option value="{raas.pk}"' not in html
    html = _get(listed, sd, f"?application={raas.pk}")
    assert "Some criteria are not valid and were not applied." in html
    assert len(table_rows(html)) == 4
    # A grant of the same person in another subdepartment does not count here.
    ApplicationGrant.objects.create(
        person=world.person("cosb"), subdepartment=world.zon.sd2, application=cirro, granted_by=world.operator
    )
    assert [r[2] for r in table_rows(_get(listed, sd, f"?application={cirro.pk}"))] == ["jan.janssens"]
    # An ended grant does not count either.
    ApplicationGrant.objects.filter(person__username="jan.janssens").update(valid_until="2020-01-01T00:00:00Z")
    assert table_rows(_get(listed, sd, f"?application={cirro.pk}")) == []


@pytest.mark.parametrize(
    "ssin",
    [
        "85.07.30-033.28",
        "85073003328",
        "850730 033 28",
        "85-07-30-033-28",
        " 85.07.30 ",
        "850730",
        "85.07",
        "85",
    ],
)
def test_ssin_filter_accepts_any_formatting_and_prefixes(world: World, listed: Client, ssin: str) -> None:
    html = _get(listed, world.zon.sd, "?ssin=" + ssin.replace(" ", "+"))
    assert [r[2] for r in table_rows(html)] == ["jan.janssens"]


def test_ssin_filter_rejects_letters_with_a_message(world: World, listed: Client) -> None:
    html = _get(listed, world.zon.sd, "?ssin=85.07.3x")
    assert "Enter an INSZ or its first digits" in html
    assert len(table_rows(html)) == 4  # the invalid criterion is not applied
    html = _get(listed, world.zon.sd, "?ssin=850730033281")  # 12 digits
    assert "Enter an INSZ or its first digits" in html


def test_filter_values_are_kept_in_the_form(world: World, listed: Client) -> None:
    html = _get(listed, world.zon.sd, "?last_name=Test&type=CSB&sort=-username")
    assert 'name="last_name" value="Test"' in html
    assert '<option value="CSB" selected>' in html
    assert '<input type="hidden" name="sort" value="-username">' in html


# --- sorting and paging -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("", ["jan.janssens", "cosb", "sb", "user"]),  # Naam, then Voornaam
        ("username", ["cosb", "jan.janssens", "sb", "user"]),
        ("-username", ["user", "sb", "jan.janssens", "cosb"]),
        ("first_name", ["cosb", "jan.janssens", "sb", "user"]),
        ("-last_name", ["cosb", "sb", "user", "jan.janssens"]),
        ("type", ["cosb", "sb", "jan.janssens", "user"]),  # CSB, SB, USE (then by name)
        ("-status", ["user", "jan.janssens", "cosb", "sb"]),  # Geblokkeerd first
        ("ssin", None),
        ("person__password", ["jan.janssens", "cosb", "sb", "user"]),  # not whitelisted: default order
        ("-pk", ["jan.janssens", "cosb", "sb", "user"]),
    ],
)
def test_sorting(world: World, listed: Client, sort: str, expected: list[str] | None) -> None:
    html = _get(listed, world.zon.sd, f"?sort={sort}")
    usernames = [r[2] for r in table_rows(html)]
    if expected is None:  # by INSZ: compare with the database's own order of the digits
        expected = [
            m.person.username
            for m in sorted(
                RoleAssignment.objects.active().filter(subdepartment=world.zon.sd).select_related("person"),
                key=lambda m: m.person.ssin or "",
            )
        ]
    assert usernames == expected


def test_sort_links_keep_filters_and_toggle_direction(world: World, listed: Client) -> None:
    html = _get(listed, world.zon.sd, "?type=USE&sort=last_name&page=1")
    headers = _table(html).headers
    naam = headers[1]
    assert naam["aria-sort"] == "ascending"
    assert "type=USE" in naam["href"] and "sort=-last_name" in naam["href"] and "page" not in naam["href"]
    assert "type=USE" in headers[2]["href"] and "sort=first_name" in headers[2]["href"]
    html = _get(listed, world.zon.sd, "?type=USE&sort=-last_name")
    assert _table(html).headers[1]["aria-sort"] == "descending"
    assert "sort=last_name" in _table(html).headers[1]["href"]


def test_paging_50_a_page_without_gaps_or_doubles(world: World, client: Client) -> None:
    sd = world.zon.sd2
    _bulk_members(world, sd, 120, grants=False)
    login(client, world.person("sb2"))
    seen: list[str] = []
    for page, count in ((1, 50), (2, 50), (3, 21)):
        html = _get(client, sd, f"?page={page}", lang="nl")
        rows = table_rows(html)
        assert len(rows) == count
        assert f"Pagina {page} van 3" in html
        assert "121 items gevonden." in html
        seen += [r[2] for r in rows]
    assert len(seen) == len(set(seen)) == 121
    # Same last name for all bulk rows: the tie-breakers make the order total.
    assert seen[:3] == ["bulk00000", "bulk00001", "bulk00002"]
    # Out of range pages show the last page; garbage shows the first.
    assert "Pagina 3 van 3" in _get(client, sd, "?page=99", lang="nl")
    assert "Pagina 1 van 3" in _get(client, sd, "?page=abc", lang="nl")
    # Next/previous keep filters and sort.
    html = _get(client, sd, "?last_name=bulk&sort=-first_name&page=2")
    assert 'href="?last_name=bulk&amp;sort=-first_name&amp;page=3"' in html
    assert 'href="?last_name=bulk&amp;sort=-first_name&amp;page=1"' in html
    assert table_rows(html)[0][1] == "F00069"


# --- query counts -------------------------------------------------------------------------------


def _count_queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
        assert response.status_code == 200
        if isinstance(response, StreamingHttpResponse):
            b"".join(response.streaming_content)
    return len(ctx.captured_queries)


@pytest.mark.parametrize("query", ["", "?sort=-ssin", "?ssin=91&type=USE&status=active&last_name=bulk"])
def test_list_query_count_does_not_depend_on_rows(world: World, client: Client, query: str) -> None:
    sd = world.zon.sd2
    login(client, world.person("sb2"))
    _bulk_members(world, sd, 5)
    url = _url("portal:users", sd, query=query)
    client.get(url)  # the session's own bookkeeping (activity tracking) happens on the first request
    few = _count_queries(client, url)
    _bulk_members(world, sd, 55, start=5)
    many = _count_queries(client, url)
    assert few == many
    assert len(table_rows(client.get(url).content.decode())) == 50


def test_export_query_count_does_not_depend_on_rows(world: World, client: Client) -> None:
    sd = world.zon.sd2
    login(client, world.person("sb2"))
    _bulk_members(world, sd, 5)
    url = _url("portal:users_export", sd)
    _count_queries(client, url)  # the session's own bookkeeping happens on the first request
    few = _count_queries(client, url)
    _bulk_members(world, sd, 55, start=5)
    assert _count_queries(client, url) == few


def test_export_reads_in_chunks(world: World, client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """With chunks of 20, 60 rows are one streamed query and 3 prefetches (one per chunk, never per row)."""
    sd = world.zon.sd2
    login(client, world.person("sb2"))
    _bulk_members(world, sd, 59)  # + the SB = 60 rows
    url = _url("portal:users_export", sd)
    _count_queries(client, url)  # the session's own bookkeeping happens on the first request
    one_chunk = _count_queries(client, url)
    monkeypatch.setattr(users_views, "EXPORT_CHUNK", 20)
    assert _count_queries(client, url) == one_chunk + 2


# --- bulk actions -------------------------------------------------------------------------------


def _bulk(client: Client, sd: Subdepartment, action: str, ids: list[Any], back: str = "", **kw: Any) -> Any:
    return client.post(
        _url("portal:users_bulk", sd), {"action": action, "ids": [str(i) for i in ids], "back": back}, **kw
    )


def test_bulk_view_opens_the_checked_row_or_lists_all_checked(world: World, listed: Client) -> None:
    sd = world.zon.sd
    user, cosb = _member(sd, "user"), _member(sd, "cosb")
    response = _bulk(listed, sd, "view", [user.pk])
    assert response.status_code == 302
    assert response["Location"] == _url("portal:users", sd) + f"{user.pk}/"
    # Several ticked: every one of them, each with a link to its page (not only the first).
    html = _bulk(listed, sd, "view", [user.pk, cosb.pk]).content.decode()
    assert f'href="{_url("portal:users", sd)}{user.pk}/"' in html
    assert f'href="{_url("portal:users", sd)}{cosb.pk}/"' in html


def test_bulk_without_a_checked_row_says_so(world: World, listed: Client) -> None:
    for action in ("view", "delete"):
        response = _bulk(listed, world.zon.sd, action, [], back="?type=USE", follow=True)
        assert response.redirect_chain[-1][0] == _url("portal:users", world.zon.sd) + "?type=USE"
        assert "Select at least one user in the list first." in response.content.decode()


def test_bulk_delete_asks_confirmation_then_ends_memberships_and_grants(
    world: World, listed: Client, django_capture_on_commit_callbacks: Any
) -> None:
    sd = world.zon.sd
    jan, cosb = _member(sd, "jan.janssens"), _member(sd, "cosb")
    grants_before = ApplicationGrant.objects.active().filter(person=jan.person, subdepartment=sd)
    assert grants_before.count() == 1

    response = _bulk(listed, sd, "delete", [jan.pk, cosb.pk], back="?type=USE&sort=-username")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Do you want to delete these 2 users from the subdepartment?" in html
    assert "Janssens" in html and "Cosb" in html and "85.07.30-033.28" in html
    assert f'<input type="hidden" name="ids" value="{jan.pk}">' in html
    assert 'value="delete_confirm"' in html
    assert RoleAssignment.objects.active().filter(pk__in=[jan.pk, cosb.pk]).count() == 2  # nothing yet

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = _bulk(listed, sd, "delete_confirm", [jan.pk, cosb.pk], back="?type=USE&sort=-username", follow=True)
    assert response.redirect_chain[-1][0] == _url("portal:users", sd) + "?type=USE&sort=-username"
    html = response.content.decode()
    assert "2 users deleted: Janssens Jan, Test Cosb." in html
    assert "jan.janssens" not in [r[2] for r in table_rows(html)]

    for m in (jan, cosb):
        m.refresh_from_db()
        assert m.valid_until is not None and m.ended_by == world.person("sb")
    assert RoleAssignment.objects.filter(pk__in=[jan.pk, cosb.pk]).count() == 2  # history, not deletion
    grant = ApplicationGrant.objects.get(person=jan.person, subdepartment=sd)
    assert grant.valid_until is not None and grant.ended_by == world.person("sb")
    events = AuditEvent.objects.filter(subdepartment=sd, actor=world.person("sb"))
    assert sorted(events.filter(action="user.end").values_list("object_id", flat=True)) == sorted(
        [str(jan.pk), str(cosb.pk)]
    )
    assert events.filter(action="grant.end", object_id=str(grant.pk)).count() == 1
    assert len(callbacks) >= 2  # the access e-mails go out after the commit


def test_bulk_delete_one_row_message_is_singular(world: World, listed: Client) -> None:
    jan = _member(world.zon.sd, "jan.janssens")
    response = _bulk(listed, world.zon.sd, "delete", [jan.pk])
    assert "Do you want to delete this user from the subdepartment?" in response.content.decode()
    response = _bulk(listed, world.zon.sd, "delete_confirm", [jan.pk], follow=True)
    assert "1 user deleted: Janssens Jan." in response.content.decode()


def test_bulk_delete_is_all_or_nothing(world: World, listed: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second row fails inside the service: the first, already ended in the transaction, rolls back."""
    sd = world.zon.sd
    jan, cosb = _member(sd, "jan.janssens"), _member(sd, "cosb")
    calls: list[int] = []

    def failing_end(*, actor: User, membership: RoleAssignment, reason: str = "") -> RoleAssignment:
        calls.append(membership.pk)
        if len(calls) == 2:
            raise ValidationError("This assignment has already ended.")
        return membership_end(actor=actor, membership=membership, reason=reason)

    monkeypatch.setattr(users_views, "membership_end", failing_end)
    response = _bulk(listed, sd, "delete_confirm", [jan.pk, cosb.pk], follow=True)
    assert calls == [jan.pk, cosb.pk]
    assert "Nothing was deleted: This assignment has already ended." in response.content.decode()
    assert RoleAssignment.objects.active().filter(pk__in=[jan.pk, cosb.pk]).count() == 2
    assert ApplicationGrant.objects.active().filter(person=jan.person, subdepartment=sd).count() == 1
    assert not AuditEvent.objects.filter(action="user.end").exists()


def test_bulk_delete_of_a_row_ended_meanwhile_changes_nothing(world: World, listed: Client) -> None:
    sd = world.zon.sd
    jan, cosb = _member(sd, "jan.janssens"), _member(sd, "cosb")
    membership_end(actor=world.person("tb"), membership=cosb)  # someone else, a moment earlier
    response = _bulk(listed, sd, "delete_confirm", [jan.pk, cosb.pk], follow=True)
    assert "Nothing was deleted: Test Cosb had already been deleted." in response.content.decode()
    assert _member(sd, "jan.janssens").valid_until is None


def test_bulk_delete_refuses_rows_the_actor_may_not_end(world: World, listed: Client) -> None:
    """An SB may not delete an SB (not even with a crafted POST): refused, nothing ended."""
    sd = world.zon.sd
    other_sb = role_appoint(
        actor=world.person("tb"), role=Role.SUBDEPARTMENT_MANAGER, scope=sd, ssin=world.person("nobody").ssin or ""
    )
    jan = _member(sd, "jan.janssens")
    for action in ("delete", "delete_confirm"):
        response = _bulk(listed, sd, action, [jan.pk, other_sb.pk], follow=True)
        html = response.content.decode()
        assert "Nothing was deleted: you may not delete Test Nobody" in html
    assert RoleAssignment.objects.active().filter(pk__in=[jan.pk, other_sb.pk]).count() == 2
    # The co-SB may delete users but not the co-SB level or above.
    cosb_client = login(Client(), world.person("cosb"))
    response = _bulk(cosb_client, sd, "delete_confirm", [_member(sd, "cosb").pk], follow=True)
    assert "you may not delete Test Cosb" in response.content.decode()
    assert _member(sd, "cosb").valid_until is None


@pytest.mark.parametrize("where", ["sd2", "ander_sd", "ander_membership_of_same_person", "enterprise_role"])
def test_bulk_ids_of_another_scope_are_refused_and_nothing_ends(world: World, listed: Client, where: str) -> None:
    sd = world.zon.sd
    foreign = {
        "sd2": lambda: _member(world.zon.sd2, "sb2"),
        "ander_sd": lambda: _member(world.ander.sd, "ander_user"),
        "ander_membership_of_same_person": lambda: _add_use(world, world.ander.sd, actor="ander_sb"),
        "enterprise_role": lambda: RoleAssignment.objects.get(
            role=Role.CO_MAIN_ACCESS_MANAGER, enterprise=sd.enterprise
        ),
    }[where]()
    jan = _member(sd, "jan.janssens")
    refused = "Nothing was changed: the selection holds rows that are not users of this subdepartment."
    for action in ("view", "delete", "delete_confirm"):
        for ids in ([jan.pk, foreign.pk], [foreign.pk]):
            response = _bulk(listed, sd, action, ids, follow=True)
            assert response.redirect_chain[-1][0] == _url("portal:users", sd)
            assert refused in response.content.decode()
    assert RoleAssignment.objects.active().filter(pk__in=[jan.pk, foreign.pk]).count() == 2


def test_bulk_post_to_a_subdepartment_outside_scope_is_404(world: World, client: Client) -> None:
    login(client, world.person("ander_sb"))
    user = _member(world.zon.sd, "user")
    assert _bulk(client, world.zon.sd, "delete_confirm", [user.pk]).status_code == 404
    assert _member(world.zon.sd, "user").valid_until is None


@pytest.mark.parametrize("ids", [["abc"], ["1; DROP TABLE"], ["-1"], [str(i) for i in range(600)]])
def test_bulk_garbage_ids_are_404(world: World, listed: Client, ids: list[str]) -> None:
    assert _bulk(listed, world.zon.sd, "delete_confirm", ids).status_code == 404
    assert RoleAssignment.objects.active().filter(subdepartment=world.zon.sd).count() == 4


def test_bulk_unknown_action_and_get_are_refused(world: World, listed: Client) -> None:
    user = _member(world.zon.sd, "user")
    assert _bulk(listed, world.zon.sd, "explode", [user.pk]).status_code == 400
    assert listed.get(_url("portal:users_bulk", world.zon.sd)).status_code == 405
    assert _member(world.zon.sd, "user").valid_until is None


def test_bulk_back_cannot_redirect_elsewhere(world: World, listed: Client) -> None:
    response = _bulk(listed, world.zon.sd, "view", [], back="https://evil.example/?type=USE&next=//evil")
    assert response["Location"].startswith(_url("portal:users", world.zon.sd))
    assert "evil" not in response["Location"]


# --- CSV export ---------------------------------------------------------------------------------


def _export(client: Client, sd: Subdepartment, query: str = "") -> tuple[Any, list[dict[str, str]], bytes]:
    response = client.get(_url("portal:users_export", sd, query=query))
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    body = b"".join(response.streaming_content)
    # The rows keyed by the columns' keys (the headers are in the language of the URL, English here).
    with translation.override("en"):
        keys = {csv_import.column_label(c): c for c in users_views.EXPORT_COLUMNS}
    rows = [
        {keys[k]: v for k, v in r.items()} for r in csv.DictReader(io.StringIO(body.decode("utf-8-sig")), delimiter=";")
    ]
    return response, rows, body


def test_export_columns_content_and_bom(world: World, listed: Client) -> None:
    sd = world.zon.sd
    membership_update(
        actor=world.person("sb"),
        membership=_member(sd, "jan.janssens"),
        applications=world.apps[:2],
        status=Status.ACTIVE,
        email="jan@werk.example",
    )
    response, rows, body = _export(listed, sd)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="users-')
    assert body.startswith(
        "\ufeffINSZ;Last name;First name;Username;Type;Status;E-mail address;Language;Application codes;"
        "Application names\r\n".encode()
    )
    jan = next(r for r in rows if r["username"] == "jan.janssens")
    assert jan == {
        "ssin": "85.07.30-033.28",
        "last_name": "Janssens",
        "first_name": "Jan",
        "username": "jan.janssens",
        "type": "USE",
        "status": "Active",
        "email": "jan@werk.example",
        "language": "nl",
        "applications": f"{world.apps[0].code}|{world.apps[1].code}",
        "application_names": f"{world.apps[0].name_en}, {world.apps[1].name_en}",
    }
    by_user = {r["username"]: r for r in rows}
    assert by_user["user"]["status"] == "Blocked" and by_user["user"]["applications"] == ""
    assert by_user["sb"]["type"] == "SB" and by_user["cosb"]["type"] == "CSB"
    assert [r["username"] for r in rows] == ["jan.janssens", "cosb", "sb", "user"]  # the list's order


def test_export_applies_filters_and_sort_and_stays_in_scope(world: World, listed: Client) -> None:
    sd = world.zon.sd
    _add_use(world, world.ander.sd, actor="ander_sb", applications=world.apps[:2])
    _, rows, _ = _export(listed, sd, "?type=USE&sort=-username")
    assert [r["username"] for r in rows] == ["user", "jan.janssens"]
    _, rows, _ = _export(listed, sd, "?ssin=85.07.30")
    assert [r["username"] for r in rows] == ["jan.janssens"]
    # Jan also works for the other tenant with two applications there: only this subdepartment's one.
    assert rows[0]["applications"] == world.apps[0].code
    _, rows, _ = _export(listed, sd)
    usernames = {r["username"] for r in rows}
    assert usernames == {"jan.janssens", "cosb", "sb", "user"}
    assert not any(u.startswith("ander_") for u in usernames)


def test_export_neutralises_spreadsheet_formulas(world: World, listed: Client) -> None:
    User.objects.filter(username="jan.janssens").update(last_name='=HYPERLINK("http://x")', first_name="+1")
    _, rows, _ = _export(listed, world.zon.sd, "?username=jan.janssens")
    assert rows[0]["last_name"] == '\'=HYPERLINK("http://x")' and rows[0]["first_name"] == "'+1"


def test_export_for_non_managers_is_refused(world: World, client: Client) -> None:
    login(client, world.person("user"))
    assert client.get(_url("portal:users_export", world.zon.sd)).status_code in (403, 404)


# --- the quick search, accent- and case-insensitive ----------------------------------------------

ZOE_SSIN = ssin_make(1992, 4, 17, 58)


@pytest.fixture
def zoe(world: World, listed: Client) -> RoleAssignment:
    """Zoë Lefèvre (username zl.92, nothing of her name) beside the four rows of ``listed``; the SB is logged in."""
    return _add_use(
        world,
        world.zon.sd,
        ssin=ZOE_SSIN,
        first_name="Zoë",
        last_name="Lefèvre",
        username="zl.92",
        email="zoe@example.test",
    )


def _found(client: Client, sd: Subdepartment, query: str) -> list[str]:
    return sorted(r[2] for r in table_rows(_get(client, sd, query)))


@pytest.mark.parametrize(
    "q",
    [
        "lefevre",  # typed without the accent
        "Lefèvre",  # with it
        "LEFÈVRE",
        "LEFEVRE",
        "zoe",
        "Zoë",
        "ZOË",
        "fev",  # a part of a name
        "ÈVR",
        "zoe lefevre",  # two words, each must match
        "Lefèvre   Zoë",
        "ZL.9",  # the username (not her name)
        "92.04.17",  # the INSZ's first digits, formatted
        "920417",
    ],
)
def test_search_finds_the_person_however_typed(world: World, listed: Client, zoe: RoleAssignment, q: str) -> None:
    assert _found(listed, world.zon.sd, "?q=" + q.replace(" ", "+")) == ["zl.92"]


def test_search_with_accents_finds_a_name_stored_without(world: World, listed: Client) -> None:
    """The other way round: "Zoë Lefèvre" typed, "Zoe Lefevre" stored."""
    _add_use(world, world.zon.sd, ssin=ZOE_SSIN, first_name="Zoe", last_name="Lefevre", username="zl")
    assert _found(listed, world.zon.sd, "?q=Zo%C3%AB+Lef%C3%A8vre") == ["zl"]
    assert _found(listed, world.zon.sd, "?last_name=Lef%C3%A8vre") == ["zl"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?q=zoe+janssens", []),  # both words must match the same row
        ("?q=janss", ["jan.janssens"]),
        ("?q=test", ["cosb", "sb", "user"]),
        ("?q=nobody-has-this", []),
        ("?last_name=lefevre", ["zl.92"]),  # Naam and Voornaam compare folded too
        ("?first_name=ZOE", ["zl.92"]),
        ("?first_name=lefevre", []),  # Voornaam is the first name only
        ("?q=lefevre&type=SB", []),  # the search narrows the criteria, not replaces them
        ("?q=lefevre&status=active", ["zl.92"]),
    ],
)
def test_search_with_the_criteria(
    world: World, listed: Client, zoe: RoleAssignment, query: str, expected: list[str]
) -> None:
    assert _found(listed, world.zon.sd, query) == expected


def test_search_never_finds_another_subdepartments_people(world: World, listed: Client, zoe: RoleAssignment) -> None:
    """Zoë works elsewhere too (another enterprise, and this enterprise's other facility): found here once."""
    _add_use(world, world.ander.sd, actor="ander_sb", ssin=ZOE_SSIN, email="zoe@ander.example")
    namesake = _add_use(
        world,
        world.zon.sd2,
        actor="sb2",
        ssin=ssin_make(1970, 1, 1, 11),
        first_name="Zoé",
        last_name="Lefebvre",
        username="zoe.lefebvre",
    )
    assert _found(listed, world.zon.sd, "?q=zoe") == ["zl.92"]
    html = _get(listed, world.zon.sd, "?q=lefe")
    assert [r[2] for r in table_rows(html)] == ["zl.92"]
    assert namesake.person.username not in html and world.ander.sd.name not in html
    # The other tenant's manager finds their own row of Zoë only, and nothing of this tenant.
    ander = login(Client(), world.person("ander_sb"))
    rows = _table(_get(ander, world.ander.sd, "?q=zoe")).rows
    assert len(rows) == 1 and _url("portal:users", world.ander.sd) in rows[0]["links"][0]
    assert ander.get(_url("portal:users", world.zon.sd, query="?q=zoe")).status_code == 404


def test_search_is_kept_in_the_form_and_an_overlong_one_is_refused(world: World, listed: Client) -> None:
    html = _get(listed, world.zon.sd, "?q=Lef%C3%A8vre")
    assert 'name="q" value="Lefèvre"' in html
    html = _get(listed, world.zon.sd, "?q=" + "a" * 300)
    assert "Some criteria are not valid and were not applied." in html
    assert len(table_rows(html)) == 4


def test_folded_copies_follow_a_rename(world: World, listed: Client, zoe: RoleAssignment) -> None:
    person = zoe.person
    person.last_name, person.first_name = "Ørsted", "Ægidius"
    person.save()
    assert _found(listed, world.zon.sd, "?q=orsted") == ["zl.92"]
    assert _found(listed, world.zon.sd, "?q=aegid") == ["zl.92"]
    assert _found(listed, world.zon.sd, "?q=lefevre") == []


# --- status "Beëindigd" ---------------------------------------------------------------------------


def test_status_ended_lists_the_ended_memberships_without_actions(world: World, listed: Client) -> None:
    sd = world.zon.sd
    jan = _member(sd, "jan.janssens")
    membership_end(actor=world.person("sb"), membership=jan)
    assert "jan.janssens" not in [r[2] for r in table_rows(_get(listed, sd))]
    assert "jan.janssens" not in [r[2] for r in table_rows(_get(listed, sd, "?status=active"))]

    html = _get(listed, sd, "?status=ended", lang="nl")
    table = _table(html)
    assert table_rows(html) == [["Janssens", "Jan", "jan.janssens", "USE", "85.07.30-033.28", "Beëindigd"]]
    assert '<option value="ended" selected>Beëindigd</option>' in html
    # Its row leads to the person's page in this subdepartment (that membership); no checkbox and
    # no bulk buttons: nothing of them applies to an ended membership.
    assert table.rows[0]["checkbox"] is None
    assert table.rows[0]["links"] == [_url("portal:users", sd, "nl") + f"{jan.pk}/"]
    assert 'value="delete"' not in html and 'value="view"' not in html
    # The search works among them too.
    assert _found(listed, sd, "?status=ended&q=JANSS") == ["jan.janssens"]
    assert _found(listed, sd, "?status=ended&q=cosb") == []


def test_status_ended_lists_a_person_once_and_not_once_back(world: World, listed: Client) -> None:
    sd = world.zon.sd
    jan = _member(sd, "jan.janssens")
    membership_end(actor=world.person("sb"), membership=jan)
    again = _add_use(world, sd)  # given access again: among the current rows, not the ended ones
    assert _found(listed, sd, "?status=ended") == []
    assert "jan.janssens" in _found(listed, sd, "")
    membership_end(actor=world.person("sb"), membership=again)  # ended a second time: one row, the last
    table = _table(_get(listed, sd, "?status=ended"))
    assert [r["cells"][3] for r in table.rows] == ["jan.janssens"]
    assert table.rows[0]["links"] == [_url("portal:users", sd) + f"{again.pk}/"]


def test_status_ended_stays_in_the_subdepartment(world: World, listed: Client) -> None:
    """Ended memberships of another facility or tenant never show here, and the count is this list's."""
    other = _add_use(world, world.zon.sd2, actor="sb2")
    membership_end(actor=world.person("sb2"), membership=other)
    ander = _member(world.ander.sd, "ander_user")
    membership_end(actor=world.person("ander_sb"), membership=ander)
    html = _get(listed, world.zon.sd, "?status=ended")
    assert table_rows(html) == [] and "No user matches these criteria." in html
    assert _found(login(Client(), world.person("sb2")), world.zon.sd2, "?status=ended") == ["jan.janssens"]


def test_status_ended_export(world: World, listed: Client) -> None:
    """Ended rows export with the status in the reader's language, as the other statuses do."""
    membership_end(actor=world.person("sb"), membership=_member(world.zon.sd, "jan.janssens"))
    _, rows, _ = _export(listed, world.zon.sd, "?status=ended")
    assert [(r["username"], r["status"]) for r in rows] == [("jan.janssens", "Ended")]


# --- paging: numbers, first and last, page size ---------------------------------------------------


class _Pagers(HTMLParser):
    """Each pager (nav.pager): its label and its links (text without the screen-reader spans, href)."""

    def __init__(self) -> None:
        super().__init__()
        self.navs: list[dict[str, Any]] = []
        self.in_nav = False
        self.link: dict[str, str] | None = None
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "nav" and "pager" in (a.get("class") or ""):
            self.in_nav = True
            self.navs.append({"label": a.get("aria-label"), "links": []})
        elif self.in_nav and tag == "a":
            self.link = {"text": "", "href": a.get("href") or "", "current": a.get("aria-current") or ""}
        elif self.link is not None and tag == "span":
            self.hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "nav":
            self.in_nav = False
        elif tag == "a" and self.link is not None:
            self.link["text"] = " ".join(self.link["text"].split())
            self.navs[-1]["links"].append(self.link)
            self.link = None
            self.hidden = 0
        elif tag == "span" and self.hidden:
            self.hidden -= 1

    def handle_data(self, data: str) -> None:
        if self.link is not None and not self.hidden:
            self.link["text"] += data


def _pagers(html: str) -> list[dict[str, Any]]:
    parser = _Pagers()
    parser.feed(html)
    return parser.navs


def test_pager_above_and_below_with_numbers_first_and_last(world: World, client: Client) -> None:
    sd = world.zon.sd2
    _bulk_members(world, sd, 299, grants=False)  # + the SB: 300 rows, 12 pages of 25
    login(client, world.person("sb2"))
    html = _get(client, sd, "?q=bulk&sort=-first_name&size=25&page=6", lang="nl")
    above, below = _pagers(html)
    assert (above["label"], below["label"]) == ("Pagina's boven de lijst", "Pagina's onder de lijst")
    assert above["links"] == below["links"]
    texts = [link["text"] for link in above["links"]]
    assert texts == ["Eerste pagina", "Vorige pagina", "1", "4", "5", "6", "7", "8", "12", "Volgende pagina",
                     "Laatste pagina"]  # fmt: skip
    assert [link["text"] for link in above["links"] if link["current"] == "page"] == ["6"]
    by_text = {link["text"]: link["href"] for link in above["links"]}
    for text, page in (("Eerste pagina", 1), ("Vorige pagina", 5), ("4", 4), ("Volgende pagina", 7),
                       ("Laatste pagina", 12)):  # fmt: skip
        assert by_text[text] == f"?q=bulk&sort=-first_name&size=25&page={page}", text
    assert len(table_rows(html)) == 25
    # The pager's "next" is not the add-user form's "Volgende": a screen reader tells them apart.
    assert "Volgende pagina" in html and '<button type="submit">Volgende</button>' in html
    # On the first page no "first" or "previous", on the last no "next" or "last".
    first = [link["text"] for link in _pagers(_get(client, sd, "?size=25", lang="nl"))[0]["links"]]
    assert first[:2] == ["1", "2"] and first[-2:] == ["Volgende pagina", "Laatste pagina"]
    last = [link["text"] for link in _pagers(_get(client, sd, "?size=25&page=12", lang="nl"))[0]["links"]]
    assert last[:2] == ["Eerste pagina", "Vorige pagina"] and last[-1] == "12"
    # One page: no pager at all.
    assert _pagers(_get(client, sd, "?size=200&q=bulk0000", lang="nl")) == []


@pytest.mark.parametrize(
    ("size", "chosen"),
    [
        ("25", 25),
        ("50", 50),
        ("100", 100),
        ("200", 200),
        ("", 50),
        ("7", 50),  # not one of the choices: the default
        ("0", 50),
        ("-25", 50),
        ("1000000", 50),
        ("abc", 50),
        ("2e2", 50),
        ("%D9%A2%D9%A5", 50),  # 25 in Arabic-Indic digits
        ("25&size=100", 100),  # repeated: the last counts, as for every filter
    ],
)
def test_page_size_choice_and_its_bounds(world: World, client: Client, size: str, chosen: int) -> None:
    sd = world.zon.sd2
    _bulk_members(world, sd, 120, grants=False)  # + the SB: 121 rows
    login(client, world.person("sb2"))
    html = _get(client, sd, f"?size={size}")
    assert len(table_rows(html)) == min(chosen, 121)
    assert f'<strong aria-current="true">{chosen}</strong>' in html


def test_page_size_links_keep_the_filters_and_start_at_page_one(world: World, client: Client) -> None:
    sd = world.zon.sd2
    _bulk_members(world, sd, 60, grants=False)
    login(client, world.person("sb2"))
    html = _get(client, sd, "?q=bulk&type=USE&sort=username&page=2&size=25")
    assert 'href="?q=bulk&amp;type=USE&amp;sort=username&amp;size=100"' in html
    # The criteria form carries the size and the sort along; "clear" keeps them and drops the rest.
    assert '<input type="hidden" name="size" value="25">' in html
    assert 'href="?sort=username&amp;size=25">' in html
    # The sort links keep the search and the size.
    assert "q=bulk" in _table(html).headers[1]["href"] and "size=25" in _table(html).headers[1]["href"]


@pytest.mark.parametrize("query", ["?q=bulk", "?q=F000&size=25", "?q=91.0&sort=-last_name", "?status=ended&q=b"])
def test_search_query_count_does_not_depend_on_rows(world: World, client: Client, query: str) -> None:
    sd = world.zon.sd2
    login(client, world.person("sb2"))
    _bulk_members(world, sd, 5)
    url = _url("portal:users", sd, query=query)
    if "ended" in query:
        _end_all(world, sd)
    client.get(url)  # the session's own bookkeeping (activity tracking) happens on the first request
    few = _count_queries(client, url)
    _bulk_members(world, sd, 55, start=5)
    if "ended" in query:
        _end_all(world, sd)
    assert _count_queries(client, url) == few
    assert len(table_rows(client.get(url).content.decode())) >= 25


def _end_all(world: World, sd: Subdepartment) -> None:
    for m in RoleAssignment.objects.active().filter(subdepartment=sd, role=Role.USER).select_related("person"):
        membership_end(actor=world.person("sb2"), membership=m)
