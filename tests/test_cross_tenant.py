"""Through the web: no persona of one tenant reaches the other, and refused input saves nothing."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape
from django.utils.translation import gettext

from tests.conftest import Tenant, World, login
from toegang.accounts.models import User
from toegang.applications.models import SecuredApplication, SubdepartmentApplication
from toegang.applications.selectors import subdepartment_applications
from toegang.audit.models import AuditEvent
from toegang.delegation.models import Role, RoleAssignment
from toegang.identifiers import ssin_make
from toegang.organisations.models import Enterprise, EnterpriseQuality, Quality, Subdepartment


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


_serial = itertools.count(1)


def new_ssin() -> str:
    return ssin_make(1993, 8, 25, next(_serial) % 998 + 1)


def url(name: str, *args: object) -> str:
    with translation.override("nl"):
        return reverse(name, args=args)


def snapshot() -> dict[str, Any]:
    return {
        "users": User.objects.count(),
        "roles": list(RoleAssignment.objects.order_by("pk").values_list("pk", "valid_until", "end_reason")),
        "enterprises": Enterprise.objects.count(),
        "qualities": EnterpriseQuality.objects.count(),
        "subdepartments": Subdepartment.objects.count(),
        "links": list(SubdepartmentApplication.objects.order_by("pk").values_list("pk", "valid_until")),
        "audit": AuditEvent.objects.count(),
    }


def foreign_markers(t: Tenant) -> list[str]:
    """Strings that only the other tenant's pages would show."""
    return [
        t.enterprise.name,
        t.enterprise.cbe_display,
        t.enterprise.cbe_number,
        t.sd.name,
        t.sd2.name,
        t.sd.identification_code,
        "ander_",
    ]


def _other_tenant_urls(world: World) -> list[tuple[str, str]]:
    a = world.ander
    role_ids = RoleAssignment.objects.filter(enterprise=a.enterprise).order_by("pk").values_list("pk", "role")
    return [
        ("home", f"{url('portal:home')}?enterprise={a.enterprise.pk}"),
        ("legal", url("portal:legal", a.enterprise.pk)),
        ("enterprise", url("portal:enterprise", a.enterprise.pk)),
        ("quality", url("portal:quality", a.eq.pk)),
        ("subdepartment", url("portal:subdepartment", a.sd.pk)),
        ("subdepartment2", url("portal:subdepartment", a.sd2.pk)),
        ("audit-e", url("portal:audit", "e", a.enterprise.pk)),
        ("audit-q", url("portal:audit", "q", a.eq.pk)),
        ("audit-s", url("portal:audit", "s", a.sd.pk)),
        ("audit-s2", url("portal:audit", "s", a.sd2.pk)),
        *((f"role_end-{role}", url("portal:role_end", pk)) for pk, role in role_ids),
        ("operator", url("portal:operator")),
        ("operator_enterprise", url("portal:operator_enterprise", a.enterprise.pk)),
    ]


def _posts(world: World) -> list[dict[str, Any]]:
    """Every form of the portal, filled in as valid as it can be, aimed at the other tenant."""
    code = "50000233"  # a valid NIHII number, free in the quality
    apps = [str(a.pk) for a in world.apps]
    return [
        {
            "action": "appoint",
            "appoint-role": role,
            "appoint-ssin": new_ssin(),
            "appoint-email": "intruder@example.test",
            "appoint-first_name": "In",
            "appoint-last_name": "Dringer",
        }
        for role in Role.values
    ] + [
        {"action": "activate", "quality-quality": str(Quality.objects.get(code="employer").pk)},
        {
            "action": "subdepartment",
            "sub-name": "Binnengedrongen",
            "sub-identification_code": code,
            "sub-applications": apps,
        },
        {"action": "applications", "apps-applications": []},
        {"action": "applications", "apps-applications": apps},
        {"reason": "cross-tenant"},
        {
            "cbe_number": "0403.170.701",
            "name": "Nieuw",
            "ssin": new_ssin(),
            "first_name": "A",
            "last_name": "B",
            "email": "a@example.test",
        },
    ]


def assert_refused(response: Any, markers: list[str], what: str) -> None:
    assert response.status_code in (403, 404), (what, response.status_code)
    body = response.content.decode()
    for marker in markers:
        assert marker.lower() not in body.lower(), (what, marker)


@pytest.mark.parametrize("who", ["lr", "htb", "cohtb", "tb", "sb", "cosb", "user"])
def test_other_tenant_urls_are_refused(world: World, client: Client, who: str) -> None:
    login(client, world.zon.people[who])
    markers = foreign_markers(world.ander)
    before = snapshot()
    urls = _other_tenant_urls(world)
    assert len(urls) == 21  # the entity choice, 9 scope pages and audit trails, 9 role assignments, 2 operator pages
    for name, u in urls:
        assert_refused(client.get(u), markers, f"GET {name}")
        for data in _posts(world):
            assert_refused(client.post(u, data), markers, f"POST {name} {data.get('action')}")
    assert snapshot() == before


def test_own_tenant_urls_work_for_the_same_personas(world: World, client: Client) -> None:
    """The control for the test above: the same URLs with the actor's own ids answer 200."""
    z = world.zon
    cases = {
        "lr": [url("portal:legal", z.enterprise.pk)],
        "htb": [url("portal:enterprise", z.enterprise.pk), url("portal:audit", "e", z.enterprise.pk)],
        "tb": [
            url("portal:quality", z.eq.pk),
            url("portal:subdepartment", z.sd2.pk),
            url("portal:audit", "q", z.eq.pk),
        ],
        "sb": [url("portal:subdepartment", z.sd.pk), url("portal:audit", "s", z.sd.pk)],
    }
    for who, urls in cases.items():
        login(client, z.people[who])
        for u in urls:
            response = client.get(u)
            assert response.status_code == 200, (who, u)
            assert "ander_" not in response.content.decode()


def test_subdepartment_manager_cannot_reach_the_sibling_subdepartment(world: World, client: Client) -> None:
    login(client, world.zon.people["sb"])
    before = snapshot()
    sd2 = world.zon.sd2
    for u in (
        url("portal:subdepartment", sd2.pk),
        url("portal:audit", "s", sd2.pk),
        url("portal:quality", world.zon.eq.pk),
    ):
        assert client.get(u).status_code in (403, 404), u
        for data in _posts(world):
            assert client.post(u, data).status_code in (403, 404), u
    sb2 = RoleAssignment.objects.get(subdepartment=sd2, role=Role.SUBDEPARTMENT_MANAGER)
    assert client.post(url("portal:role_end", sb2.pk), {"reason": "x"}).status_code in (403, 404)
    assert snapshot() == before


def test_operator_pages_refused_to_managers(world: World, client: Client) -> None:
    for who in ("lr", "htb"):
        login(client, world.zon.people[who])
        for u in (url("portal:operator"), url("portal:operator_enterprise", world.zon.enterprise.pk)):
            assert client.get(u).status_code == 403, (who, u)


def test_anonymous_is_sent_to_login(world: World) -> None:
    client = Client()
    response = client.get(url("portal:enterprise", world.zon.enterprise.pk))
    assert response.status_code == 302
    assert "zon vzw" not in response.content.decode()


# --- Refused input in one's own scope: a message, nothing saved -----------------------------------


def _form_errors(response: Any, context_name: str) -> dict[str, list[str]]:
    form = response.context[context_name]
    assert form is not None
    return dict(form.errors)


def _foreign_app() -> SecuredApplication:
    return SecuredApplication.objects.create(
        code="dimona", name_nl="Dimona", name_fr="Dimona", name_de="Dimona", name_en="Dimona"
    )


def test_switching_on_an_application_not_offered_is_refused_with_a_message(world: World, client: Client) -> None:
    foreign = _foreign_app()
    sd = world.zon.sd
    login(client, world.zon.people["tb"])
    before = snapshot()
    response = client.post(
        url("portal:subdepartment", sd.pk),
        {"action": "applications", "apps-applications": [str(world.apps[0].pk), str(foreign.pk)]},
    )
    assert response.status_code == 200
    errors = _form_errors(response, "apps_form")
    assert "applications" in errors and "Dimona" in errors["applications"][0]
    assert escape(errors["applications"][0]) in response.content.decode()
    assert snapshot() == before
    assert subdepartment_applications(sd) == world.apps[:2]


def test_subdepartment_manager_cannot_switch_applications(world: World, client: Client) -> None:
    sd = world.zon.sd
    login(client, world.zon.people["sb"])
    before = snapshot()
    response = client.post(url("portal:subdepartment", sd.pk), {"action": "applications", "apps-applications": []})
    assert response.status_code in (200, 403)
    assert snapshot() == before
    assert subdepartment_applications(sd) == world.apps[:2]


def test_creating_a_subdepartment_with_an_application_not_offered_is_refused(world: World, client: Client) -> None:
    foreign = _foreign_app()
    login(client, world.zon.people["tb"])
    before = snapshot()
    response = client.post(
        url("portal:quality", world.zon.eq.pk),
        {
            "action": "subdepartment",
            "sub-name": "Afdeling C",
            "sub-identification_code": "50000233",
            "sub-applications": [str(foreign.pk)],
        },
    )
    assert response.status_code == 200
    errors = _form_errors(response, "sub_form")
    assert "applications" in errors
    assert escape(errors["applications"][0]) in response.content.decode()
    assert snapshot() == before


def _appoint(client: Client, page_url: str, role: str, ssin: str) -> Any:
    return client.post(
        page_url,
        {
            "action": "appoint",
            "appoint-role": role,
            "appoint-ssin": ssin,
            "appoint-email": "x@example.test",
            "appoint-first_name": "Niet",
            "appoint-last_name": "Toegestaan",
        },
    )


def _page_url(world: World, page: str) -> str:
    z = world.zon
    pk = {"subdepartment": z.sd.pk, "quality": z.eq.pk, "enterprise": z.enterprise.pk, "legal": z.enterprise.pk}[page]
    return url(f"portal:{page}", pk)


@pytest.mark.parametrize(
    ("who", "page", "role"),
    [
        ("sb", "subdepartment", Role.SUBDEPARTMENT_MANAGER),  # its own level
        ("sb", "subdepartment", Role.USER),  # a role the subdepartment page does not appoint
        ("tb", "quality", Role.ACCESS_MANAGER),  # its own level
        ("tb", "quality", Role.MAIN_ACCESS_MANAGER),
        ("htb", "enterprise", Role.MAIN_ACCESS_MANAGER),  # only the legal representative
        ("htb", "enterprise", Role.LEGAL_REPRESENTATIVE),
        ("lr", "legal", Role.LEGAL_REPRESENTATIVE),  # only operators
    ],
)
def test_posting_a_role_the_actor_may_not_appoint_is_refused(
    world: World, client: Client, who: str, page: str, role: Role
) -> None:
    """The actor has an appoint form on the page, but not for this role: the form says so."""
    login(client, world.zon.people[who])
    before = snapshot()
    ssin = new_ssin()
    response = _appoint(client, _page_url(world, page), role.value, ssin)
    assert response.status_code == 200
    form = response.context["form"]
    assert form is not None and "role" in form.errors
    assert escape(form.errors["role"][0]) in response.content.decode()
    assert snapshot() == before
    assert not User.objects.filter(ssin=ssin).exists()


NO_APPOINT_FORM = [
    ("cosb", "subdepartment", Role.CO_SUBDEPARTMENT_MANAGER),  # its own level
    ("cosb", "subdepartment", Role.SUBDEPARTMENT_MANAGER),  # its principal
    ("cotb", "quality", Role.ACCESS_MANAGER),  # its principal
    ("cohtb", "enterprise", Role.CO_MAIN_ACCESS_MANAGER),  # its own level
]


@pytest.mark.parametrize(("who", "page", "role"), NO_APPOINT_FORM)
def test_posting_an_appointment_without_any_appoint_right_saves_nothing(
    world: World, client: Client, who: str, page: str, role: Role
) -> None:
    login(client, world.zon.people[who])
    before = snapshot()
    ssin = new_ssin()
    response = _appoint(client, _page_url(world, page), role.value, ssin)
    assert response.status_code in (200, 403)
    assert snapshot() == before
    assert not User.objects.filter(ssin=ssin).exists()


@pytest.mark.parametrize(("who", "page", "role"), NO_APPOINT_FORM)
def test_posting_an_appointment_without_any_appoint_right_is_denied_explicitly(
    world: World, client: Client, who: str, page: str, role: Role
) -> None:
    """Denials are explicit, also for a crafted POST to a page without an appoint form.

    docs/architecture.md, Permission rules 8.
    """
    login(client, world.zon.people[who])
    response = _appoint(client, _page_url(world, page), role.value, new_ssin())
    assert response.status_code == 403 or list(get_messages(response.wsgi_request))


@pytest.mark.parametrize(
    ("who", "page", "role"),
    [
        ("tb", "quality", Role.CO_ACCESS_MANAGER),
        ("sb", "subdepartment", Role.CO_SUBDEPARTMENT_MANAGER),
        ("htb", "enterprise", Role.CO_MAIN_ACCESS_MANAGER),
        ("lr", "legal", Role.CO_MAIN_ACCESS_MANAGER),
    ],
)
def test_the_same_appoint_form_posted_twice_creates_one_row(
    world: World, client: Client, who: str, page: str, role: Role
) -> None:
    z = world.zon
    pk = {"subdepartment": z.sd.pk, "quality": z.eq.pk, "enterprise": z.enterprise.pk, "legal": z.enterprise.pk}[page]
    login(client, z.people[who])
    ssin = new_ssin()
    data = {
        "action": "appoint",
        "appoint-role": role.value,
        "appoint-ssin": ssin,
        "appoint-email": "twice@example.test",
        "appoint-first_name": "Twee",
        "appoint-last_name": "Keer",
    }
    page_url = url(f"portal:{page}", pk)
    first = client.post(page_url, data)
    assert first.status_code == 302
    assert [str(m) for m in get_messages(first.wsgi_request)]
    rows = RoleAssignment.objects.filter(person__ssin=ssin, role=role)
    assert rows.count() == 1
    audit = AuditEvent.objects.count()

    second = client.post(page_url, data)
    assert second.status_code == 200
    assert rows.count() == 1
    assert User.objects.filter(ssin=ssin).count() == 1
    assert AuditEvent.objects.count() == audit
    with translation.override("nl"):
        message = gettext("This person already holds this role here.")
    assert second.context["form"].errors["ssin"] == [message]
    assert escape(message) in second.content.decode()


def test_role_end_posted_twice_ends_once(world: World, client: Client) -> None:
    cosb = RoleAssignment.objects.active().get(role=Role.CO_SUBDEPARTMENT_MANAGER, subdepartment=world.zon.sd)
    login(client, world.zon.people["sb"])
    end_url = url("portal:role_end", cosb.pk)
    assert client.post(end_url, {"reason": "eerste"}).status_code == 302
    cosb.refresh_from_db()
    ended = (cosb.valid_until, cosb.ended_by_id, cosb.end_reason)
    assert cosb.valid_until is not None and ended[2] == "eerste"
    audit = AuditEvent.objects.count()
    second = client.post(end_url, {"reason": "tweede"})
    assert second.status_code in (200, 404)
    cosb.refresh_from_db()
    assert (cosb.valid_until, cosb.ended_by_id, cosb.end_reason) == ended
    assert AuditEvent.objects.count() == audit
