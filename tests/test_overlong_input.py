"""Values longer than their column never answer 500 and save nothing (issue 12, F5), and one rule for
usernames wherever one is set.

PostgreSQL refuses a value longer than its ``varchar`` (``DataError``: a 500 on ``/me/``, adding a
user, the membership's Bekijken and every appoint form with a 260-character e-mail address); SQLite
stores it. The services check each value against its column (``toegang/lengths.py``), so the
portal's forms, the CSV import and the commands all get the same field error.
"""

from __future__ import annotations

import itertools
from html.parser import HTMLParser
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from oauth2_provider.models import Application

from tests.conftest import World, login
from tests.test_csv_import import HEADER, csv_bytes, preview, rows_of
from toegang.accounts.models import User
from toegang.audit.models import AuditEvent
from toegang.delegation.models import Role, RoleAssignment
from toegang.delegation.services import membership_update, role_appoint, subdepartment_user_add
from toegang.identifiers import ssin_format, ssin_make
from toegang.organisations.models import Enterprise, Subdepartment
from toegang.organisations.services import enterprise_register, subdepartment_create

pytestmark = pytest.mark.django_db

LONG_EMAIL = "a" * 250 + "@example.test"  # 263 characters, a valid address otherwise
LONG_TEXT = "Zz" * 200  # 400 characters
_serial = itertools.count(900)


def new_ssin() -> str:
    return ssin_make(1971, 3, 3, next(_serial))


class Forms(HTMLParser):
    """The forms of a page: method, action and each field's type and value as the browser would send it."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"method": a.get("method", "get").lower(), "action": a.get("action", ""), "fields": {}})
        if not self.forms:
            return
        fields = self.forms[-1]["fields"]
        name = a.get("name", "")
        if tag == "input" and name and "disabled" not in a:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    fields[name] = (kind, a.get("value", "on"))
            elif kind not in ("submit", "button", "file", "reset", "image"):
                fields[name] = (kind, a.get("value", ""))
        elif tag == "textarea" and name:
            fields[name] = ("textarea", "")
            self._textarea = name
        elif tag == "select" and name and "disabled" not in a:
            self._select = name
            fields[name] = ("select", None)
        elif tag == "option" and self._select:
            kind, value = fields[self._select]
            if value is None or "selected" in a:
                fields[self._select] = (kind, a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


TEXT_KINDS = ("text", "email", "search", "tel", "password", "textarea", "url", "number", "date")


def page_forms(client: Client, path: str) -> list[dict[str, Any]]:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    parser = Forms()
    parser.feed(response.content.decode())
    # The header's logout button is not the page's form.
    return [f for f in parser.forms if "logout" not in f["action"]]


def changes() -> tuple[int, ...]:
    """Every change is audited; persons and their rows are counted besides (a login attempt is no change)."""
    return (
        AuditEvent.objects.exclude(action__startswith="login").count(),
        User.objects.count(),
        RoleAssignment.objects.count(),
        Enterprise.objects.count(),
        Subdepartment.objects.count(),
        EmailAddress.objects.count(),
    )


def _long_for(kind: str, name: str) -> str:
    return LONG_EMAIL if kind == "email" or "email" in name else LONG_TEXT


def sweep(client: Client, path: str, overrides: dict[str, str], saving: bool) -> int:
    """Post (or GET) every form of the page with one overlong field at a time; return the fields tried."""
    tried = 0
    for form in page_forms(client, path):
        base = {name: value for name, (_kind, value) in form["fields"].items() if value is not None}
        base |= {k: v for k, v in overrides.items() if k in form["fields"]}
        target = form["action"] or path
        for name, (kind, _value) in form["fields"].items():
            # Hidden fields too (the list's "back" query, the import's digest): a crafted post can fill them.
            if kind not in (*TEXT_KINDS, "hidden") or name == "csrfmiddlewaretoken":
                continue
            before = changes()
            data = base | {name: _long_for(kind, name)}
            send = client.post if form["method"] == "post" else client.get
            response = send(target, data)
            assert response.status_code < 500, (path, name, response.status_code)
            assert changes() == before, (path, name)
            assert not User.objects.filter(email=LONG_EMAIL).exists()
            assert not EmailAddress.objects.filter(email=LONG_EMAIL).exists()
            assert not RoleAssignment.objects.filter(contact_email=LONG_EMAIL).exists()
            tried += 1
        if saving and form["method"] == "post" and any(k in form["fields"] for k in overrides):
            # The same form without the overlong value is accepted: it was the length that was refused.
            response = client.post(target, base)
            assert response.status_code == 302, (path, form["action"], response.content.decode()[:2000])
    return tried


def test_every_form_field_refuses_an_overlong_value(world: World) -> None:
    zon = world.zon
    sd, eq, ent = zon.sd, zon.eq, zon.enterprise
    user_membership = RoleAssignment.objects.active().get(person=zon.people["user"], subdepartment=sd, role=Role.USER)
    cotb = RoleAssignment.objects.active().get(person=zon.people["cotb"], enterprise_quality=eq)
    valid_email = "valid@example.test"
    tried = 0
    clients = {name: login(Client(), world.person(name)) for name in ("sb", "tb", "htb", "lr", "operator")}

    # The person's own data.
    tried += sweep(clients["sb"], "/en/me/", {"email": valid_email}, saving=True)
    # Step 6: add a user (a new person: the names and username are used), the membership's Bekijken.
    add = f"/en/s/{sd.pk}/users/new/?ssin={new_ssin()}"
    tried += sweep(clients["sb"], add, {"email": valid_email, "first_name": "Ann", "last_name": "Peeters"}, True)
    tried += sweep(clients["sb"], f"/en/s/{sd.pk}/users/{user_membership.pk}/", {"email": valid_email}, True)
    # The lists' filters and search boxes (GET): nothing to save, never 500.
    tried += sweep(clients["sb"], f"/en/s/{sd.pk}/users/", {}, False)
    tried += sweep(clients["sb"], f"/en/s/{sd.pk}/audit/", {}, False)
    tried += sweep(clients["sb"], f"/en/s/{sd.pk}/users/new/", {}, False)
    # Every appoint form (a new person), the subdepartment form and the end-of-role reason.
    appoint = {"appoint-email": valid_email, "appoint-first_name": "Jan", "appoint-last_name": "Claes"}
    for persona, path in (
        ("tb", f"/en/s/{sd.pk}/"),
        ("tb", f"/en/q/{eq.pk}/"),
        ("htb", f"/en/e/{ent.pk}/"),
        ("lr", f"/en/e/{ent.pk}/legal/"),
        ("operator", f"/en/operator/e/{ent.pk}/"),
    ):
        overrides = appoint | {"appoint-ssin": ssin_format(new_ssin())}
        if path.startswith("/en/q/"):
            overrides |= {"sub-name": "Campus Zuid", "sub-identification_code": "12345678"}
        tried += sweep(clients[persona], path, overrides, saving=False)
    tried += sweep(clients["tb"], f"/en/roles/{cotb.pk}/end/", {}, saving=False)
    tried += sweep(clients["sb"], f"/en/s/{sd.pk}/certificates/", {}, saving=False)
    # The operator: register an enterprise and its legal representative, the enterprise search.
    register = {
        "cbe_number": "0403.170.701",
        "name": "Nieuw vzw",
        "ssin": ssin_format(new_ssin()),
        "email": valid_email,
        "first_name": "Lea",
        "last_name": "Maes",
    }
    tried += sweep(clients["operator"], "/en/operator/", register, saving=False)
    # The account pages of allauth: e-mail addresses, password change.
    tried += sweep(clients["sb"], "/en/accounts/email/", {}, saving=False)
    tried += sweep(clients["sb"], "/en/accounts/password/change/", {}, saving=False)
    tried += sweep(Client(), "/en/accounts/login/", {}, saving=False)
    tried += sweep(Client(), "/en/accounts/password/reset/", {}, saving=False)
    print(f"overlong values posted: {tried}")
    assert tried > 40, tried


# --- The services themselves: every entry point gets the same field error -------------------------------


def test_services_refuse_values_longer_than_their_column(world: World) -> None:
    zon = world.zon
    sb, tb = zon.people["sb"], zon.people["tb"]
    membership = RoleAssignment.objects.active().get(person=zon.people["user"], subdepartment=zon.sd, role=Role.USER)
    before = changes()
    cases: list[tuple[Any, str]] = [
        (lambda: subdepartment_user_add(actor=sb, subdepartment=zon.sd, ssin=new_ssin(), email=LONG_EMAIL,
                                        first_name="A", last_name="B"), "email"),
        (lambda: subdepartment_user_add(actor=sb, subdepartment=zon.sd, ssin=new_ssin(), email="x@example.test",
                                        local_email=LONG_EMAIL, first_name="A", last_name="B"), "local_email"),
        (lambda: subdepartment_user_add(actor=sb, subdepartment=zon.sd, ssin=new_ssin(), email="x@example.test",
                                        first_name="A" * 151, last_name="B"), "first_name"),
        (lambda: membership_update(actor=sb, membership=membership, applications=[], status="active",
                                   email=LONG_EMAIL), "email"),
        (lambda: role_appoint(actor=tb, role=Role.CO_SUBDEPARTMENT_MANAGER, scope=zon.sd, ssin=new_ssin(),
                              email=LONG_EMAIL, first_name="A", last_name="B"), "email"),
        (lambda: role_appoint(actor=tb, role=Role.CO_SUBDEPARTMENT_MANAGER, scope=zon.sd, ssin=new_ssin(),
                              email="x@example.test", phone="1" * 31, first_name="A", last_name="B"), "phone"),
        (lambda: role_appoint(actor=tb, role=Role.CO_SUBDEPARTMENT_MANAGER, scope=zon.sd, ssin=new_ssin(),
                              email="x@example.test", first_name="A", last_name="B" * 151), "last_name"),
        (lambda: enterprise_register(actor=world.operator, cbe_number="0403.170.701", name="N" * 201), "name"),
        (lambda: subdepartment_create(actor=tb, enterprise_quality=zon.eq, name="N" * 201,
                                      identification_code="12345678"), "name"),
    ]  # fmt: skip
    for call, field in cases:
        with pytest.raises(ValidationError) as caught:
            call()
        assert field in caught.value.message_dict, (field, caught.value)
        assert "at most" in caught.value.message_dict[field][0]
    assert changes() == before


def test_csv_cells_over_their_column_are_row_errors(world: World) -> None:
    sb = login(Client(), world.zon.people["sb"])
    before = changes()
    rows = [
        [ssin_format(new_ssin()), "L" * 151, "First", "x@example.test", "nl", ""],
        [ssin_format(new_ssin()), "Last", "F" * 151, "x@example.test", "nl", ""],
        [ssin_format(new_ssin()), "Last", "First", LONG_EMAIL, "nl", ""],
        [ssin_format(new_ssin()), "Last", "First", "x@example.test", "nl", "", LONG_EMAIL],
        [ssin_format(new_ssin()), "Last", "First", "x@example.test", "nl", "", "", "u" * 151],
        [ssin_format(new_ssin()), "Last", "First", "x@example.test", "nl", "", "", "<script>"],
    ]
    response = preview(sb, world.zon.sd, csv_bytes(rows, header=[*HEADER, "local_email", "username"]))
    assert response.status_code == 200
    errors = {number: messages for number, _ssin, _outcome, messages in rows_of(response)}
    assert all(errors[n] for n in range(2, 8)), errors
    assert "Last name: at most 150 characters." in errors[2]
    assert "First name: at most 150 characters." in errors[3]
    assert "E-mail address: at most 254 characters." in errors[4]
    assert "Local e-mail address: at most 254 characters." in errors[5]
    assert any("2 to 150 characters" in e for e in errors[6]) and any("2 to 150" in e for e in errors[7])
    assert changes() == before


def test_oidc_client_command_refuses_an_overlong_client_id(world: World) -> None:
    with pytest.raises(CommandError, match="at most 255"):
        call_command("oidc_client", application="eloket", client_id="c" * 256, redirect_uri=["https://rp.test/cb"])
    assert not Application.objects.filter(client_id="c" * 256).exists()


# --- One rule for usernames --------------------------------------------------------------------------------

BAD_USERNAMES = ("<script>alert(1)</script>", "{{7*7}}", "a", "a b", "jan;drop", "ánna", "аnna", "x" * 151, "a/b")
GOOD_USERNAMES = ("jan.peeters", "jan-peeters_2", "jan@example.test", "jv", "x" * 150)


def test_the_username_rule(world: World) -> None:
    sb = world.zon.people["sb"]
    for bad in BAD_USERNAMES:
        with pytest.raises(ValidationError) as caught:
            subdepartment_user_add(actor=sb, subdepartment=world.zon.sd, ssin=new_ssin(), email="x@example.test",
                                   first_name="A", last_name="B", username=bad)  # fmt: skip
        assert "username" in caught.value.message_dict, bad
    assert not User.objects.filter(username__in=BAD_USERNAMES).exists()
    for good in GOOD_USERNAMES:
        m = subdepartment_user_add(actor=sb, subdepartment=world.zon.sd, ssin=new_ssin(), email="x@example.test",
                                   first_name="A", last_name="B", username=good)  # fmt: skip
        assert m.person.username == good
    # The personas' and the demo's names (sb, tb, wv, ...) follow it; so do the made-up names, even
    # from names without a Latin letter.
    for username in User.objects.values_list("username", flat=True):
        User._meta.get_field("username").run_validators(username)
    for first, last in (("Ann", "Peeters"), ("李", "王"), ("A", "B"), ("Ö", "")):
        m = subdepartment_user_add(actor=sb, subdepartment=world.zon.sd, ssin=new_ssin(), email="x@example.test",
                                   first_name=first, last_name=last or "X")  # fmt: skip
        User._meta.get_field("username").run_validators(m.person.username)


def test_the_username_rule_on_the_add_user_form_and_createsuperuser(world: World) -> None:
    sb = login(Client(), world.zon.people["sb"])
    ssin = new_ssin()
    data = {"action": "save", "ssin": ssin_format(ssin), "email": "x@example.test", "first_name": "A",
            "last_name": "B", "title": "mr", "language": "nl", "username": "{{7*7}}"}  # fmt: skip
    response = sb.post(f"/en/s/{world.zon.sd.pk}/users/new/?ssin={ssin}", data)
    assert response.status_code == 200
    assert "2 to 150 characters: letters a-z, digits and . - _ @ only." in response.content.decode()
    assert not User.objects.filter(ssin=ssin).exists()
    with pytest.raises(CommandError):
        call_command("createsuperuser", username="<b>x</b>", email="o@example.test", interactive=False)
    assert not User.objects.filter(username="<b>x</b>").exists()
