"""Add-user, Bekijken and end-of-membership pages: bad input and every cross-scope attempt."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.conftest import World, login
from toegang.applications.models import ApplicationGrant
from toegang.delegation.models import Role, RoleAssignment
from toegang.identifiers import ssin_make

NEW = ssin_make(1988, 8, 8, 808)


def _member(world: World, who: str = "user") -> RoleAssignment:
    return RoleAssignment.objects.active().get(person=world.person(who), subdepartment=world.zon.sd, role=Role.USER)


def _save(client: Client, sd_pk: int, **data: Any) -> Any:
    form = {
        "action": "save",
        "ssin": NEW,
        "last_name": "Nieuw",
        "first_name": "Nele",
        "title": "ms",
        "language": "nl",
        "email": "nele@example.test",
    } | data
    return client.post(f"/nl/s/{sd_pk}/users/new/", form)


@pytest.mark.django_db
def test_add_form_offers_only_switched_on_applications_and_refuses_others(world: World, client: Client) -> None:
    login(client, world.person("sb"))
    page = client.get(f"/nl/s/{world.zon.sd.pk}/users/new/", {"ssin": NEW}).content.decode()
    offered = {a.pk for a in world.apps[:2]}
    for app in world.apps:
        assert (f'value="{app.pk}"' in page) == (app.pk in offered)
    response = _save(client, world.zon.sd.pk, applications=[str(world.apps[2].pk)])
    assert response.status_code == 200 and "applications" in response.context["form"].errors
    assert not RoleAssignment.objects.filter(person__ssin=NEW).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "field"),
    [({"email": ""}, "email"), ({"email": "geen-adres"}, "email"), ({"last_name": ""}, "last_name")],
)
def test_add_form_bad_input_message_next_to_the_field(
    world: World, client: Client, data: dict[str, str], field: str
) -> None:
    login(client, world.person("sb"))
    response = _save(client, world.zon.sd.pk, **data)
    assert response.status_code == 200 and field in response.context["form"].errors
    assert not RoleAssignment.objects.filter(person__ssin=NEW).exists()


@pytest.mark.django_db
def test_double_posted_add_form_makes_one_membership(world: World, client: Client) -> None:
    login(client, world.person("sb"))
    first = _save(client, world.zon.sd.pk, applications=[str(world.apps[0].pk)])
    second = _save(client, world.zon.sd.pk, applications=[str(world.apps[0].pk)])
    assert first.status_code == 302 and second.status_code == 302
    member = RoleAssignment.objects.get(person__ssin=NEW)
    assert second["Location"] == f"/nl/s/{world.zon.sd.pk}/users/{member.pk}/"  # "already a user": open it
    assert ApplicationGrant.objects.filter(person=member.person).count() == 1


@pytest.mark.django_db
def test_known_member_opens_their_page(world: World, client: Client) -> None:
    login(client, world.person("sb"))
    user = world.person("user")
    response = client.get(f"/nl/s/{world.zon.sd.pk}/users/new/", {"ssin": user.ssin_display})
    assert response.status_code == 302 and response["Location"].endswith(f"/users/{_member(world).pk}/")


@pytest.mark.django_db
def test_person_known_elsewhere_is_prefilled_without_their_other_employers(world: World, client: Client) -> None:
    login(client, world.person("sb"))
    other = world.ander.people["user"]
    page = client.get(f"/nl/s/{world.zon.sd.pk}/users/new/", {"ssin": other.ssin or ""}).content.decode()
    assert other.last_name in page and other.username in page
    assert world.ander.enterprise.name not in page and world.ander.sd.name not in page
    assert other.email not in page  # their address at the other employer is not ours to see


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["ander_sb", "ander_htb", "sb2", "user", "nobody"])
def test_outsiders_reach_none_of_the_user_pages(world: World, client: Client, who: str) -> None:
    login(client, world.person(who))
    sd, m = world.zon.sd, _member(world)
    urls = [f"/nl/s/{sd.pk}/users/new/?ssin={NEW}", f"/nl/s/{sd.pk}/users/{m.pk}/", f"/nl/s/{sd.pk}/users/{m.pk}/end/"]
    for url in urls:
        assert client.get(url).status_code in (403, 404)
        response = client.post(url, {"action": "save", "email": "x@example.test", "status": "blocked", "reason": "x"})
        assert response.status_code in (403, 404)
        assert world.zon.enterprise.name not in response.content.decode()
    m.refresh_from_db()
    assert m.is_active() and m.status == "active"
    assert not RoleAssignment.objects.filter(person__ssin=NEW).exists()


@pytest.mark.django_db
def test_membership_of_another_subdepartment_in_the_url_is_not_found(world: World, client: Client) -> None:
    login(client, world.person("tb"))  # may see both sd and sd2
    sb2_row = RoleAssignment.objects.active().get(subdepartment=world.zon.sd2, role=Role.SUBDEPARTMENT_MANAGER)
    assert client.get(f"/nl/s/{world.zon.sd.pk}/users/{sb2_row.pk}/").status_code == 404
    assert client.post(f"/nl/s/{world.zon.sd.pk}/users/{sb2_row.pk}/end/", {"reason": "x"}).status_code == 404
    sb2_row.refresh_from_db()
    assert sb2_row.is_active()


@pytest.mark.django_db
def test_bekijken_is_read_only_for_a_row_at_the_actors_own_level(world: World, client: Client) -> None:
    login(client, world.person("cosb"))
    cosb_row = RoleAssignment.objects.active().get(person=world.person("cosb"), subdepartment=world.zon.sd)
    page = client.get(f"/nl/s/{world.zon.sd.pk}/users/{cosb_row.pk}/")
    assert page.status_code == 200 and page.context["form"] is None
    response = client.post(
        f"/nl/s/{world.zon.sd.pk}/users/{cosb_row.pk}/", {"email": "x@example.test", "status": "blocked"}
    )
    assert response.status_code == 403
    cosb_row.refresh_from_db()
    assert cosb_row.status == "active"


@pytest.mark.django_db
def test_end_membership_page_ends_it_and_returns_to_the_list(world: World, client: Client) -> None:
    login(client, world.person("sb"))
    m = _member(world)
    response = client.post(f"/nl/s/{world.zon.sd.pk}/users/{m.pk}/end/", {"reason": "uit dienst"})
    assert response.status_code == 302 and response["Location"] == f"/nl/s/{world.zon.sd.pk}/users/"
    m.refresh_from_db()
    assert m.valid_until is not None and m.end_reason == "uit dienst"
    # The ended row keeps its page: the end, by whom and why (tests/test_users_acting.py for the rest).
    page = client.get(f"/nl/s/{world.zon.sd.pk}/users/{m.pk}/")
    assert page.status_code == 200 and "uit dienst" in page.content.decode()
    assert client.post(f"/nl/s/{world.zon.sd.pk}/users/{m.pk}/end/", {"reason": "x"}).status_code == 404
