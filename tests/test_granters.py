"""Who may give a person an application in a subdepartment (authz.granters), and the OIDC
"no access" page's list built on it (delegation.selectors.managers_to_ask)."""

from __future__ import annotations

from django.test import Client

from tests.conftest import World, login
from toegang.applications.services import subdepartment_applications_set
from toegang.delegation import authz, selectors
from toegang.delegation.models import Role
from toegang.delegation.services import role_appoint


def _names(granters: list[authz.Granter]) -> list[str]:
    return [g.assignment.person.username for g in granters]


def test_a_switched_on_application_is_given_by_every_manager_above_nearest_first(world: World) -> None:
    z = world.zon
    granters = authz.granters(world.apps[0], [z.sd])
    assert _names(granters) == ["sb", "cosb", "tb", "cotb", "htb", "cohtb"]
    assert {g.subdepartment for g in granters} == {z.sd}
    # Nobody of the other subdepartment, the other enterprise, the legal representative or a user.
    for who in ("sb2", "lr", "user", "nobody"):
        assert not authz.may_grant(z.people[who], world.apps[0], z.sd), who
    for who in ("sb", "cosb", "tb", "cotb", "htb", "cohtb"):
        assert authz.may_grant(z.people[who], world.apps[0], z.sd), who
    assert not authz.may_grant(world.ander.people["htb"], world.apps[0], z.sd)
    assert authz.may_grant(world.operator, world.apps[0], z.sd)


def test_an_application_not_switched_on_is_given_only_by_those_who_may_switch_it_on(world: World) -> None:
    z = world.zon
    off = world.apps[2]  # the quality offers it; Facility A has only the first two
    assert _names(authz.granters(off, [z.sd])) == ["tb", "cotb", "htb", "cohtb"]
    assert not authz.may_grant(z.people["sb"], off, z.sd)
    assert authz.may_grant(z.people["cotb"], off, z.sd)
    # Once the TB switches it on, the subdepartment's managers may give it too, and come first.
    subdepartment_applications_set(actor=z.people["tb"], subdepartment=z.sd, applications=world.apps)
    assert _names(authz.granters(off, [z.sd]))[:2] == ["sb", "cosb"]


def test_a_manager_over_several_subdepartments_is_named_once_at_the_nearest(world: World) -> None:
    z = world.zon
    role_appoint(actor=z.people["tb"], role=Role.USER, scope=z.sd2, ssin=z.people["user"].ssin or "", email="u@x.test")
    granters = authz.granters(world.apps[0], [z.sd2, z.sd])
    names = _names(granters)
    assert names == ["sb", "sb2", "cosb", "tb", "cotb", "htb", "cohtb"]
    assert len(names) == len(set(names))


def test_managers_to_ask_leaves_out_the_person_and_their_other_enterprises(world: World) -> None:
    z = world.zon
    asked = selectors.managers_to_ask(z.people["cosb"], world.apps[0])
    assert "cosb" not in _names(asked)
    assert _names(asked) == ["sb", "tb", "cotb", "htb", "cohtb"]
    # Not a member anywhere: nobody to name (the page then says to ask the access manager).
    assert selectors.managers_to_ask(z.people["nobody"], world.apps[0]) == []


def test_the_operator_link_follows_authz(world: World, client: Client) -> None:
    login(client, world.operator)
    assert 'href="/nl/operator/"' in client.get("/nl/").content.decode()
    client.logout()
    login(client, world.zon.people["htb"])
    assert 'href="/nl/operator/"' not in client.get("/nl/").content.decode()
