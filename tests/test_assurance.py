"""Assurance levels, step-up to the level a page needs, the audience choice and session rules."""

from __future__ import annotations

import time
from typing import Any

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.test import Client
from django.urls import reverse
from django.utils import translation

from tests.conftest import PASSWORD, World, login, password_login, totp_now
from toegang.accounts import sessions
from toegang.delegation.models import Role
from toegang.delegation.services import role_appoint
from toegang.organisations.models import Audience, Quality
from toegang.organisations.services import quality_activate


def _url(name: str, *args: Any) -> str:
    with translation.override("nl"):
        return reverse(name, args=args)


@pytest.mark.django_db
def test_password_alone_does_not_reach_management_screens(world: World, client: Client) -> None:
    login(client, world.person("sb"), method="password")
    target = _url("portal:users", world.zon.sd.pk)
    response = client.get(target)
    assert response.status_code == 302 and response["Location"].startswith(_url("portal:step_up"))
    assert client.get(_url("portal:home")).status_code == 200  # the entity choice stays open
    page = client.get(response["Location"]).content.decode()
    assert reverse("mfa_activate_totp") in page  # no device yet: set one up


@pytest.mark.django_db
def test_step_up_with_the_app_code_reaches_the_page(world: World) -> None:
    sb = world.person("sb")
    secret = generate_totp_secret()
    TOTP.activate(sb, secret)
    client = Client()
    login(client, sb, method="password")
    target = _url("portal:users", world.zon.sd.pk)
    step_up = client.get(target)["Location"]
    page = client.get(step_up).content.decode()
    assert reverse("mfa_reauthenticate") in page
    response = client.post(f"{reverse('mfa_reauthenticate')}?next={target}", {"code": totp_now(secret)})
    assert response.status_code == 302 and response["Location"] == target
    assert client.get(target).status_code == 200
    # The same code again is refused (replay).
    again = Client()
    login(again, sb, method="password")
    replay = again.post(f"{reverse('mfa_reauthenticate')}?next={target}", {"code": totp_now(secret)})
    assert replay.status_code == 200 and again.get(target).status_code == 302


@pytest.mark.django_db
def test_real_login_with_password_and_app_code(world: World) -> None:
    sb = world.person("sb")
    secret = generate_totp_secret()
    TOTP.activate(sb, secret)
    client = Client()
    response = password_login(client, "nl", sb.username, PASSWORD, secret)
    assert response.redirect_chain[-1][0] == "/nl/"
    assert client.get(_url("portal:users", world.zon.sd.pk)).status_code == 200
    wrong = Client()
    first = wrong.post("/nl/accounts/login/", {"login": sb.username, "password": PASSWORD}, follow=True)
    second = wrong.post(first.redirect_chain[-1][0], {"code": "000000"})
    assert second.status_code == 200 and "_auth_user_id" not in wrong.session


@pytest.mark.django_db
def test_plain_user_needs_only_a_password(world: World, client: Client) -> None:
    login(client, world.person("user"), method="password")
    assert client.get(_url("portal:home")).status_code == 200
    assert client.get(_url("portal:me")).status_code == 200


@pytest.mark.django_db
def test_level_per_role_is_configurable(world: World, client: Client, settings: Any) -> None:
    settings.ASSURANCE_MIN_LEVEL = {**settings.ASSURANCE_MIN_LEVEL, "subdepartment_manager": 500}
    login(client, world.person("sb"))  # password + app code: 400
    assert client.get(_url("portal:users", world.zon.sd.pk)).status_code == 302
    login(client, world.person("cosb"))
    assert client.get(_url("portal:users", world.zon.sd.pk)).status_code == 200


@pytest.mark.django_db
def test_operator_admin_needs_the_level_too(world: World, client: Client) -> None:
    login(client, world.operator, method="password")
    assert client.get("/nl/admin/").status_code == 302
    login(client, world.operator)
    assert client.get("/nl/admin/").status_code == 200


@pytest.fixture
def two_audiences(world: World) -> Any:
    """zon's TB also becomes TB of an employer quality of the other enterprise."""
    employer_quality = Quality.objects.create(
        code="employer_test",
        audience=Audience.objects.get(code="employer"),
        name_nl="Werkgever",
        name_fr="Employeur",
        name_de="Arbeitgeber",
        name_en="Employer",
        identification_scheme="digits",
    )
    eq = quality_activate(actor=world.ander.people["htb"], enterprise=world.ander.enterprise, quality=employer_quality)
    tb = world.person("tb")
    role_appoint(actor=world.ander.people["htb"], role=Role.ACCESS_MANAGER, scope=eq, ssin=tb.ssin or "")
    return tb


@pytest.mark.django_db
def test_audience_choice_only_for_several_audiences_and_new_session_id(
    world: World, client: Client, two_audiences: Any
) -> None:
    login(client, world.person("sb"))
    assert client.get(_url("portal:home")).status_code == 200  # one audience: no choice
    login(client, two_audiences)
    response = client.get(_url("portal:home"))
    assert response.status_code == 302 and response["Location"] == _url("portal:audience")
    page = client.get(_url("portal:audience")).content.decode()
    assert "WERKGEVER" in page and "ACTOR IN DE GEZONDHEIDSZORG" in page
    assert "PROFESSIONAL" not in page  # only the capacities the person holds
    before = client.session.session_key
    client.post(_url("portal:audience"), {"audience": "employer"})
    assert client.session.session_key != before
    home = client.get(_url("portal:home")).content.decode()
    assert world.ander.enterprise.name in home and world.zon.enterprise.name not in home
    client.post(_url("portal:audience"), {"audience": "healthcare_actor"})
    home = client.get(_url("portal:home")).content.decode()
    assert world.zon.enterprise.name in home and world.ander.enterprise.name not in home
    # A capacity the person does not hold is not taken.
    client.post(_url("portal:audience"), {"audience": "social_security_professional"})
    assert client.session["toegang_audience"] == "healthcare_actor"


@pytest.mark.django_db
def test_choosing_another_enterprise_gives_a_new_session_id(world: World, client: Client) -> None:
    login(client, world.person("lr"))
    before = client.session.session_key
    client.get(_url("portal:home"), {"enterprise": world.zon.enterprise.pk})
    assert client.session.session_key != before


@pytest.mark.django_db
@pytest.mark.parametrize("key", [sessions.SEEN_AT, sessions.LOGIN_AT])
def test_idle_and_absolute_timeouts_end_the_session(world: World, client: Client, key: str) -> None:
    login(client, world.person("sb"))
    assert client.get(_url("portal:home")).status_code == 200
    session = client.session
    session[key] = time.time() - 40_000  # beyond both limits
    session.save()
    response = client.get(_url("portal:home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_password_change_ends_the_other_sessions(world: World) -> None:
    sb = world.person("sb")
    here, elsewhere = Client(), Client()
    login(here, sb)
    login(elsewhere, sb)
    response = here.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": "een-heel-nieuw-wachtwoord", "password2": "een-heel-nieuw-wachtwoord"},
    )
    assert response.status_code == 302
    assert here.get(_url("portal:home")).status_code == 200
    assert elsewhere.get(_url("portal:home")).status_code == 302  # logged out there


@pytest.mark.django_db
def test_log_out_elsewhere_and_own_history(world: World) -> None:
    sb = world.person("sb")
    here, elsewhere = Client(), Client()
    password_login(here, "nl", sb.username, PASSWORD)
    password_login(elsewhere, "nl", sb.username, PASSWORD)
    assert elsewhere.get(_url("portal:me")).status_code == 200
    page = here.get(reverse("usersessions_list"))
    assert page.status_code == 200
    assert here.post(reverse("usersessions_list")).status_code == 302
    assert here.get(_url("portal:me")).status_code == 200
    assert elsewhere.get(_url("portal:me")).status_code == 302  # that session was ended
    history = here.get(_url("portal:my_history")).content.decode()
    assert history.count("login.success") == 2
    other = Client()
    login(other, world.person("user"))
    assert str(sb) not in other.get(_url("portal:my_history")).content.decode()  # only one's own


@pytest.mark.django_db
def test_the_sessions_last_seen_is_written_once_a_minute_not_on_every_read(world: World) -> None:
    """The sessions page's "last seen" (allauth.usersessions) moves on the session's minute tick, not
    with every GET: allauth's own middleware wrote its row on every request, reads included."""
    import time_machine
    from allauth.usersessions.models import UserSession
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    sb = world.person("sb")
    client = Client()
    with time_machine.travel("2026-12-07T10:00:00Z", tick=False) as clock:
        password_login(client, "nl", sb.username, PASSWORD)
        client.get(_url("portal:me"))
        # The row of the key the login ended with (a login step cycles the key).
        row = UserSession.objects.get(user=sb, session_key=client.session.session_key)
        first_seen = row.last_seen_at
        clock.shift(30)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(_url("portal:me")).status_code == 200
        writes = [q["sql"] for q in queries.captured_queries if "usersessions_usersession" in q["sql"]]
        assert writes == []
        assert UserSession.objects.get(pk=row.pk).last_seen_at == first_seen
        clock.shift(61)
        assert client.get(_url("portal:me")).status_code == 200
        assert UserSession.objects.get(pk=row.pk).last_seen_at > first_seen
