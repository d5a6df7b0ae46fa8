"""The person's fields copied onto role assignments for the users list (delegation's PERSON_COPIES).

The list sorts and filters on the copies, so a copy that drifted from its person would put a
renamed person in the wrong place or hide them from a filter. Every way a row or a name is written
is checked against the one invariant: each role assignment's copies equal its person's fields.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.db.models import F, Q
from django.test import Client
from django.urls import reverse
from django.utils import translation

from tests.conftest import World, login
from toegang.accounts.models import User
from toegang.accounts.services import person_update_self
from toegang.delegation import csv_import
from toegang.delegation.models import FOLDED_COPIES, PERSON_COPIES, Role, RoleAssignment
from toegang.delegation.services import (
    membership_end,
    membership_update,
    role_appoint,
    role_end,
    subdepartment_user_add,
)
from toegang.folding import fold
from toegang.identifiers import ssin_make
from toegang.organisations.models import Subdepartment
from toegang.seed.generator import generate

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def _drifted() -> list[tuple[Any, ...]]:
    """Role assignments whose copies differ from their person (NULL-safe), with both values."""
    differs = Q()
    for copy, field in PERSON_COPIES.items():
        person_field = f"person__{field}"
        differs |= ~Q(**{copy: F(person_field)}) & ~Q(**{f"{copy}__isnull": True, f"{person_field}__isnull": True})
        differs |= Q(**{f"{copy}__isnull": True}) & Q(**{f"{person_field}__isnull": False})
        differs |= Q(**{f"{copy}__isnull": False}) & Q(**{f"{person_field}__isnull": True})
    fields = [f for pair in PERSON_COPIES.items() for f in (pair[0], f"person__{pair[1]}")]
    drifted = list(RoleAssignment.objects.filter(differs).values_list("pk", *fields))
    # The folded copies are made in Python (toegang.folding): compared with the fold of the person's.
    columns = [*FOLDED_COPIES, *(f"person__{field}" for field in FOLDED_COPIES.values())]
    for row in RoleAssignment.objects.values_list("pk", *columns):
        pk, copies, names = row[0], row[1 : 1 + len(FOLDED_COPIES)], row[1 + len(FOLDED_COPIES) :]
        if tuple(copies) != tuple(fold(n or "") for n in names):
            drifted.append((pk, *copies, *names))
    return drifted


def _names(client: Client, sd: Subdepartment, query: str = "") -> list[str]:
    with translation.override("en"):
        url = reverse("portal:users", args=[sd.pk]) + query
    response = client.get(url)
    assert response.status_code == 200
    return [str(m.person) for m in response.context["page"].object_list]


def test_the_world_built_through_the_services_has_no_drift(world: World) -> None:
    assert RoleAssignment.objects.count() > 10
    assert _drifted() == []


def test_a_rename_through_user_save_shows_in_the_list_and_its_order(world: World, client: Client) -> None:
    sd = world.zon.sd
    login(client, world.person("sb"))
    before = _names(client, sd)
    person = world.person("user")
    assert before[0] != str(person)

    person.last_name = "Aaaberg"
    person.save()
    assert _drifted() == []
    names = _names(client, sd)
    assert names[0] == f"Aaaberg {person.first_name}"
    assert _names(client, sd, "?last_name=aaab") == [f"Aaaberg {person.first_name}"]
    assert _names(client, sd, "?sort=-last_name")[-1] == f"Aaaberg {person.first_name}"

    # update_fields naming only the name, then the username and the INSZ: all follow.
    person.first_name = "Zoë"
    person.save(update_fields=["first_name"])
    person.username = "zoe.aaaberg"
    person.ssin = ssin_make(1999, 12, 31, 997)
    person.save()
    assert _drifted() == []
    assert _names(client, sd, "?username=zoe.aaa") == ["Aaaberg Zoë"]
    assert _names(client, sd, "?ssin=99.12.31") == ["Aaaberg Zoë"]


def test_a_rename_of_a_person_loaded_elsewhere_follows_too(world: World) -> None:
    """A fresh instance (as the admin or a shell would load it), and one with deferred fields."""
    pk = world.person("cosb").pk
    fresh = User.objects.get(pk=pk)
    fresh.last_name = "Vandenbroucke"
    fresh.save()
    partial = User.objects.only("pk", "last_name").get(pk=pk)
    partial.last_name = "Vanderstraeten"
    partial.save(update_fields=["last_name"])
    assert set(RoleAssignment.objects.filter(person_id=pk).values_list("person_last_name", flat=True)) == {
        "Vanderstraeten"
    }
    assert _drifted() == []


def test_a_rename_left_out_of_a_partial_save_is_copied_by_the_next_save(world: World) -> None:
    """``save(update_fields=["last_login"])`` does not write the new name, so it is still to copy."""
    person = User.objects.get(pk=world.person("user").pk)
    person.last_name = "Zegers"
    person.save(update_fields=["last_login"])
    person.save()
    assert User.objects.get(pk=person.pk).last_name == "Zegers"
    assert _drifted() == []


def test_saving_other_fields_writes_no_copy(world: World, django_assert_num_queries: Any) -> None:
    person = User.objects.get(pk=world.person("user").pk)
    person.phone = "+32 2 123 45 67"
    with django_assert_num_queries(1):  # the UPDATE of the person alone
        person.save()
    with django_assert_num_queries(1):
        person.save(update_fields=["last_login"])


def test_the_personal_data_page_keeps_the_copies(world: World, client: Client) -> None:
    person = world.person("user")
    person_update_self(actor=person, email="new@example.test", language="fr", title=person.title, phone="")
    assert _drifted() == []


def test_every_service_that_writes_memberships_keeps_the_copies(world: World) -> None:
    sd, sb = world.zon.sd, world.person("sb")
    m = subdepartment_user_add(
        actor=sb,
        subdepartment=sd,
        ssin=ssin_make(1985, 7, 30, 33),
        email="jan@example.test",
        first_name="Jan",
        last_name="Janssens",
        applications=world.apps[:1],
    )
    assert (m.person_last_name, m.person_first_name, m.person_ssin) == ("Janssens", "Jan", m.person.ssin)
    # Someone known elsewhere keeps their own name; the membership copies it, not the form's.
    elsewhere = world.person("ander_user")
    m2 = subdepartment_user_add(
        actor=sb,
        subdepartment=sd,
        ssin=elsewhere.ssin or "",
        email="x@example.test",
        first_name="Other",
        last_name="Name",
        applications=[],
    )
    assert m2.person_last_name == elsewhere.last_name
    membership_update(actor=sb, membership=m, status="blocked", email="j2@example.test", applications=[])
    membership_end(actor=sb, membership=m2)
    cosb = role_appoint(
        actor=sb, role=Role.CO_SUBDEPARTMENT_MANAGER, scope=sd, ssin=m.person.ssin or "", email="j@example.test"
    )
    role_end(actor=sb, assignment=cosb)
    rows = csv_import.parse(
        "insz;naam;voornaam;e-mailadres;taalkeuze;beveiligde toepassingen\n"
        f"{ssin_make(1990, 2, 3, 45)};Claes;Ines;ines@example.test;nl;{world.apps[0].code}\n"
    )
    report = csv_import.rows_import(actor=sb, subdepartment=sd, rows=rows, dry_run=False)
    assert report.committed
    assert RoleAssignment.objects.filter(person_last_name="Claes", subdepartment=sd).count() == 1
    assert _drifted() == []


def test_bulk_create_fills_the_copies_with_or_without_the_person_loaded(world: World) -> None:
    sd = world.zon.sd2
    a, b = world.person("nobody"), world.person("ander_nobody")
    common = {"role": Role.USER, "enterprise": sd.enterprise, "enterprise_quality": sd.enterprise_quality}
    RoleAssignment.objects.bulk_create(
        [
            RoleAssignment(person=a, subdepartment=sd, **common),
            RoleAssignment(person_id=b.pk, subdepartment=sd, **common),
        ]
    )
    copied = RoleAssignment.objects.filter(subdepartment=sd, role=Role.USER).values_list("person_username", flat=True)
    assert sorted(copied) == sorted([a.username, b.username])
    assert _drifted() == []


def test_the_generator_writes_the_copies(db: None) -> None:
    generate(scale=0.0002, seed=3)
    assert RoleAssignment.objects.count() > 100
    assert _drifted() == []


def test_the_migration_fills_existing_rows(world: World) -> None:
    fill = importlib.import_module("toegang.delegation.migrations.0003_role_assignment_person_copies")
    RoleAssignment.objects.update(person_last_name="", person_first_name="", person_username="", person_ssin=None)
    assert _drifted()

    class Editor:  # the part of a schema editor the step uses (SQLite's cannot open inside a test)
        quote_name = staticmethod(connection.ops.quote_name)

        def execute(self, sql: str) -> None:
            with connection.cursor() as cursor:
                cursor.execute(sql)

    fill.fill_person_copies(django_apps, Editor())
    assert _drifted() == []


def test_the_search_migration_folds_existing_rows(world: World) -> None:
    User.objects.filter(username="user").update(last_name="Lefèvre", first_name="Zoë")
    RoleAssignment.objects.update(person_last_name="", person_first_name="")
    fill = importlib.import_module("toegang.delegation.migrations.0003_role_assignment_person_copies")

    class Editor:
        quote_name = staticmethod(connection.ops.quote_name)
        connection = connection

        def execute(self, sql: str) -> None:
            with connection.cursor() as cursor:
                cursor.execute(sql)

    fill.fill_person_copies(django_apps, Editor())
    RoleAssignment.objects.update(person_last_name_folded="", person_first_name_folded="")
    assert _drifted()
    search = importlib.import_module("toegang.delegation.migrations.0008_users_list_search")
    search.fill_folded_copies(django_apps, Editor())
    assert _drifted() == []
    row = RoleAssignment.objects.filter(person__username="user").first()
    assert row is not None and (row.person_last_name_folded, row.person_first_name_folded) == ("lefevre", "zoe")


def test_a_rename_refolds_the_copies(world: World) -> None:
    person = User.objects.get(pk=world.person("user").pk)
    person.last_name, person.first_name = "Ødegård", "Zoë"
    person.save(update_fields=["last_name", "first_name"])
    assert set(
        RoleAssignment.objects.filter(person=person).values_list("person_last_name_folded", "person_first_name_folded")
    ) == {("odegard", "zoe")}
    assert _drifted() == []
