"""A new user can actually start (the manual's "Het vervolg", issue 13).

The e-mail a person gets when an SB adds them (form or CSV import) and when they are appointed a
manager: in their language, with their username, how to log in (eID / itsme first, else the
activation link) and a link to each application they may now use. The application catalogue's web
address (validated, audited). A user's own Home: their facilities, applications and managers, and
nobody else's. Home remembers the chosen enterprise.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import translation

from tests.conftest import World, login
from toegang.accounts.models import Activation, User
from toegang.applications.models import APPLICATION_URL_MAX_LENGTH, SecuredApplication
from toegang.applications.services import person_grants_set
from toegang.audit.actions import Action
from toegang.audit.models import AuditEvent
from toegang.delegation.models import Role, RoleAssignment, Status
from toegang.delegation.services import (
    ROLE_DUTIES,
    UserToAdd,
    membership_update,
    role_appoint,
    subdepartment_user_add,
    subdepartment_users_import,
)
from toegang.identifiers import cbe_make, ssin_make
from toegang.organisations.services import enterprise_register

NEW = ssin_make(1991, 3, 14, 123)
LANGUAGES = ["nl", "fr", "de", "en"]


@pytest.fixture(autouse=True)
def _mail(settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def tr(language: str, msgid: str, **values: str) -> str:
    with translation.override(language):
        text = str(translation.gettext(msgid))
    return text % values if values else text


def only_mail_to(address: str) -> Any:
    (message,) = [m for m in mail.outbox if address in m.to]
    return message


def activation_path(body: str, language: str) -> str:
    found = re.search(rf"http://127\.0\.0\.1:8000(/{language}/activate/\S+/)", body)
    assert found is not None, body
    return found.group(1)


# --- The new user's e-mail --------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_new_users_mail_has_username_login_activation_link_and_application_links(
    world: World, django_capture_on_commit_callbacks: Any, language: str
) -> None:
    apps = world.apps[:2]  # switched on in Facility A
    with django_capture_on_commit_callbacks(execute=True):
        subdepartment_user_add(
            actor=world.person("sb"),
            subdepartment=world.zon.sd,
            ssin=NEW,
            email="nieuw@example.test",
            first_name="Nele",
            last_name="Nieuwkomer",
            title="ms",
            language=language,
            applications=apps,
        )
    message = only_mail_to("nieuw@example.test")
    body = str(message.body)
    with translation.override(language):
        greeting = User.objects.get(ssin=NEW).salutation()
        names = [a.name for a in apps]
    assert body.startswith(greeting + "\n")
    assert message.subject == tr(language, "Your access for %(name)s: how to start", name=world.zon.sd.name)
    assert tr(language, "Your username: %(username)s", username="nele.nieuwkomer") in body
    assert tr(language, "How to log in:") in body
    # eID / itsme first, then the personal link.
    login_url = f"http://127.0.0.1:8000/{language}/accounts/login/"
    eid = tr(language, "- with your eID or itsme at %(login_url)s;", login_url=login_url)
    assert eid in body and body.index(eid) < body.index(f"/{language}/activate/")
    for app, name in zip(apps, names, strict=True):
        assert app.url.startswith("https://")
        assert f"- {name}: {app.url}\n" in body
    assert world.apps[2].url not in body  # not given
    # The link works: the person chooses a password with it and logs in with the username the mail gave.
    path = activation_path(body, language)
    client = Client()
    assert (
        client.post(
            path, {"password1": "een-eigen-lang-wachtwoord", "password2": "een-eigen-lang-wachtwoord"}
        ).status_code
        == 302
    )
    assert Client().login(username="nele.nieuwkomer", password="een-eigen-lang-wachtwoord")
    if language != "en":  # really in the person's language, not the English source
        assert tr("en", "How to log in:") not in body


@pytest.mark.django_db
def test_a_person_whose_account_is_their_own_gets_no_link_but_the_forgotten_password_hint(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    person = world.person("user")  # activated by the person
    assert person.activation == Activation.PERSON
    with django_capture_on_commit_callbacks(execute=True):
        subdepartment_user_add(
            actor=world.person("sb2"),
            subdepartment=world.zon.sd2,
            ssin=person.ssin or "",
            email="user.b@example.test",
            applications=world.apps[:1],
        )
    body = str(only_mail_to("user.b@example.test").body)
    assert "/activate/" not in body
    assert tr("nl", "Your username: %(username)s", username=person.username) in body
    assert "Wachtwoord vergeten?" in body
    assert f"- {world.apps[0].name}: {world.apps[0].url}" in body


@pytest.mark.django_db
def test_an_application_without_a_web_address_is_named_without_a_link(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    SecuredApplication.objects.filter(pk=world.apps[0].pk).update(url="")
    app = SecuredApplication.objects.get(pk=world.apps[0].pk)
    with django_capture_on_commit_callbacks(execute=True):
        subdepartment_user_add(
            actor=world.person("sb"),
            subdepartment=world.zon.sd,
            ssin=NEW,
            email="nieuw@example.test",
            first_name="Nele",
            last_name="Nieuwkomer",
            language="en",
            applications=[app],
        )
    assert f"\n- {app.name}\n" in str(only_mail_to("nieuw@example.test").body)


@pytest.mark.django_db
def test_an_address_written_around_the_catalogues_form_is_never_linked(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    SecuredApplication.objects.filter(pk=world.apps[0].pk).update(url="javascript:alert(1)")
    app = SecuredApplication.objects.get(pk=world.apps[0].pk)
    with django_capture_on_commit_callbacks(execute=True):
        subdepartment_user_add(
            actor=world.person("sb"),
            subdepartment=world.zon.sd,
            ssin=NEW,
            email="nieuw@example.test",
            first_name="Nele",
            last_name="Nieuwkomer",
            applications=[app],
        )
    assert "javascript:" not in str(only_mail_to("nieuw@example.test").body)
    person_grants_set(
        actor=world.person("sb"), person=world.person("user"), subdepartment=world.zon.sd, applications=[app]
    )
    page = _home(login(Client(), world.person("user"), method="password"))
    assert app.name in page and "javascript:" not in page


@pytest.mark.django_db
def test_the_csv_imports_mail_is_the_forms(world: World, django_capture_on_commit_callbacks: Any) -> None:
    rows = [
        UserToAdd(
            ssin=NEW,
            email="csv@example.test",
            applications=tuple(world.apps[:2]),
            first_name="Chloé",
            last_name="Lefèvre",
            title="ms",
            language="fr",
        )
    ]
    with django_capture_on_commit_callbacks(execute=True):
        result = subdepartment_users_import(actor=world.person("sb"), subdepartment=world.zon.sd, rows=rows)
    assert result.written
    message = only_mail_to("csv@example.test")
    body = str(message.body)
    assert body.startswith("Madame Lefèvre,\n")
    assert message.subject == tr("fr", "Your access for %(name)s: how to start", name=world.zon.sd.name)
    assert tr("fr", "Your username: %(username)s", username="chloe.lefevre") in body
    assert all(f"- {a.name}: {a.url}\n" in body for a in world.apps[:2])
    activation_path(body, "fr")


@pytest.mark.django_db
def test_a_change_later_says_changed_and_links_only_what_was_added(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    membership = RoleAssignment.objects.get(person=world.person("user"), subdepartment=world.zon.sd, role=Role.USER)
    with django_capture_on_commit_callbacks(execute=True):
        membership_update(
            actor=world.person("sb"),
            membership=membership,
            applications=world.apps[1:2],
            status=Status.ACTIVE,
            email=membership.contact_email,
        )
    message = only_mail_to(membership.contact_email)
    assert message.subject == tr("nl", "Your access for %(name)s has changed", name=world.zon.sd.name)
    body = str(message.body)
    assert f"- {world.apps[1].name}: {world.apps[1].url}" in body and world.apps[0].url not in body


# --- The appointed managers' e-mails ------------------------------------------------------------

MANAGER_APPOINTMENTS = [
    # (role, who appoints, scope attribute of the tenant)
    (Role.LEGAL_REPRESENTATIVE, "operator", "enterprise"),
    (Role.MAIN_ACCESS_MANAGER, "lr", "enterprise"),
    (Role.CO_MAIN_ACCESS_MANAGER, "htb", "enterprise"),
    (Role.ACCESS_MANAGER, "htb", "eq"),
    (Role.CO_ACCESS_MANAGER, "tb", "eq"),
    (Role.SUBDEPARTMENT_MANAGER, "tb", "sd2"),
    (Role.CO_SUBDEPARTMENT_MANAGER, "sb2", "sd2"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "by", "scope"), MANAGER_APPOINTMENTS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_appointed_manager_gets_a_mail_in_their_language(
    world: World, django_capture_on_commit_callbacks: Any, role: Role, by: str, scope: str, language: str
) -> None:
    # A person known already (from a CSV import, say) who never logged in: the mail carries the link.
    person = User.objects.create(
        username="mia.manager", ssin=NEW, first_name="Mia", last_name="Manager", title="mr", language=language
    )
    target = getattr(world.zon, scope)
    with django_capture_on_commit_callbacks(execute=True):
        assignment = role_appoint(actor=world.person(by), role=role, scope=target, ssin=NEW, email="mia@example.test")
    message = only_mail_to("mia@example.test")
    body = str(message.body)
    with translation.override(language):
        scope_name = str(target)
        role_label = assignment.get_role_display()
        duties = str(ROLE_DUTIES[role])
        greeting = person.salutation()
        assert message.subject == translation.gettext("You were appointed as %(role)s") % {"role": role_label}
    assert body.startswith(greeting + "\n")
    assert role_label in body and duties in body and scope_name in body
    assert tr(language, "Your username: %(username)s", username="mia.manager") in body
    activation_path(body, language)
    if language != "en":
        assert str(ROLE_DUTIES[role]) != duties  # translated, not the English source


@pytest.mark.django_db
def test_an_appointment_without_an_address_goes_to_the_login_address_without_a_link(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    person = world.person("nobody")
    with django_capture_on_commit_callbacks(execute=True):
        role_appoint(actor=world.person("tb"), role=Role.CO_ACCESS_MANAGER, scope=world.zon.eq, ssin=person.ssin or "")
    body = str(only_mail_to(person.email).body)
    assert "Co-toegangsbeheerder" in body and "/activate/" not in body


@pytest.mark.django_db
def test_a_person_activated_through_another_appointment_is_told_to_log_in_and_confirm(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    person = world.person("nobody")
    User.objects.filter(pk=person.pk).update(activation=Activation.APPOINTMENT)
    with django_capture_on_commit_callbacks(execute=True):
        role_appoint(
            actor=world.person("tb"),
            role=Role.SUBDEPARTMENT_MANAGER,
            scope=world.zon.sd2,
            ssin=person.ssin or "",
            email="nobody.sb@example.test",
        )
    body = str(only_mail_to("nobody.sb@example.test").body)
    assert "bevestig daarna deze aanstelling met deze persoonlijke link" in body
    activation_path(body, "nl")


@pytest.mark.django_db
def test_the_appointment_mail_is_written_in_the_change_transaction(world: World) -> None:
    from toegang.mail.models import OutgoingMail

    before = OutgoingMail.objects.count()
    with pytest.raises(ValidationError):
        role_appoint(
            actor=world.person("tb"),
            role=Role.SUBDEPARTMENT_MANAGER,
            scope=world.zon.sd,
            ssin=world.person("sb").ssin or "",  # holds it already: refused, nothing queued
            email="sb.again@example.test",
        )
    assert OutgoingMail.objects.count() == before
    role_appoint(
        actor=world.person("tb"),
        role=Role.SUBDEPARTMENT_MANAGER,
        scope=world.zon.sd,
        ssin=world.person("nobody").ssin or "",
        email="nobody.sb@example.test",
    )
    assert OutgoingMail.objects.filter(to="nobody.sb@example.test").count() == 1


# --- The application's web address ---------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "ftp://example.test/app",
        "data:text/html,hi",
        "eloket.example.test",  # no scheme: in the admin it becomes https://, in the model it is refused
        "https://" + "a" * APPLICATION_URL_MAX_LENGTH + ".test/",
    ],
)
def test_the_web_address_must_be_http_or_https_and_fit(world: World, url: str) -> None:
    app = SecuredApplication.objects.get(code="eloket")
    app.url = url
    with pytest.raises(ValidationError) as info:
        app.full_clean()
    assert "url" in info.value.message_dict


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["https://eloket.example.test/start", "http://intranet.example.test/raas", ""])
def test_an_http_or_https_address_or_none_is_accepted(world: World, url: str) -> None:
    app = SecuredApplication.objects.get(code="eloket")
    app.url = url
    app.full_clean()


def _admin_form(app: SecuredApplication, **changes: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "code": app.code,
        "is_active": "on" if app.is_active else "",
        "url": app.url,
        **{f"{f}_{lang}": getattr(app, f"{f}_{lang}") for f in ("name", "description") for lang in LANGUAGES},
    }
    data.update(changes)
    return data


@pytest.mark.django_db
def test_an_operator_changes_the_web_address_in_the_catalogue_and_it_is_audited(world: World) -> None:
    client = login(Client(), world.operator)
    app = SecuredApplication.objects.get(code="eloket")
    page = f"/nl/admin/applications/securedapplication/{app.pk}/change/"
    assert app.url in client.get("/nl/admin/applications/securedapplication/").content.decode()  # listed
    old = app.url
    response = client.post(page, _admin_form(app, url="https://eloket.example.test/start"))
    assert response.status_code == 302, response.content.decode()[:2000]
    app.refresh_from_db()
    assert app.url == "https://eloket.example.test/start"
    event = AuditEvent.objects.filter(action=Action.CATALOGUE_CHANGE, object_id=str(app.pk)).latest("pk")
    assert event.actor_id == world.operator.pk
    assert (
        event.before is not None
        and event.before["url"] == old
        and event.after == {"url": "https://eloket.example.test/start"}
    )
    # Typed without a scheme: https://, never http://.
    client.post(page, _admin_form(app, url="raas.example.test"))
    app.refresh_from_db()
    assert app.url == "https://raas.example.test"


@pytest.mark.django_db
def test_a_bad_web_address_in_the_catalogue_is_refused_with_a_message_and_saves_nothing(world: World) -> None:
    client = login(Client(), world.operator)
    app = SecuredApplication.objects.get(code="eloket")
    events = AuditEvent.objects.count()
    page = f"/nl/admin/applications/securedapplication/{app.pk}/change/"
    for url in ("javascript:alert(1)", "ftp://example.test/", "https://" + "a" * 600 + ".test"):
        response = client.post(page, _admin_form(app, url=url, name_nl="Ander"))
        assert response.status_code == 200
        content = response.content.decode()
        assert "errorlist" in content, url
    app.refresh_from_db()
    assert app.name_nl == "E-loket Zorg en Gezondheid" and AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_only_operators_reach_the_catalogue(world: World) -> None:
    client = login(Client(), world.person("htb"))
    app = SecuredApplication.objects.get(code="eloket")
    response = client.post(
        f"/nl/admin/applications/securedapplication/{app.pk}/change/", _admin_form(app, url="https://evil.test/")
    )
    assert response.status_code in (302, 403)
    app.refresh_from_db()
    assert app.url != "https://evil.test/"


# --- The user's own Home -------------------------------------------------------------------------


def _home(client: Client, language: str = "en", **params: Any) -> str:
    response = client.get(f"/{language}/", params)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_a_user_without_a_management_role_sees_their_facilities_applications_and_managers(world: World) -> None:
    user = world.person("user")
    person_grants_set(actor=world.person("sb"), person=user, subdepartment=world.zon.sd, applications=world.apps[:2])
    RoleAssignment.objects.filter(person=world.person("cosb"), subdepartment=world.zon.sd).update(contact_email="")
    page = _home(login(Client(), user, method="password"))
    assert "You hold no management role" not in page
    assert "The drop-down list below holds every entity" not in page
    assert "Your facilities and applications" in page
    assert world.zon.sd.name in page and world.zon.enterprise.name in page
    for app in world.apps[:2]:
        assert f'<a href="{app.url}">{app.name}</a>' in page
    assert world.apps[2].name not in page
    # The facility's SB and co-SB and its quality's TB and co-TB, with their appointment's address.
    sb, cosb, tb, cotb = (world.person(n) for n in ("sb", "cosb", "tb", "cotb"))
    assert f"{sb.first_name} {sb.last_name} (Subdepartment manager): " in page
    assert '<a href="mailto:sb@example.test">sb@example.test</a>' in page
    assert f"{cosb.first_name} {cosb.last_name} (Co-subdepartment manager)</li>" in page  # no address: none shown
    assert f"{tb.first_name} {tb.last_name} (Access manager of the quality)" in page
    assert f"{cotb.first_name} {cotb.last_name} (Co-access manager)" in page
    assert page.index(f"{sb.first_name} {sb.last_name}") < page.index(f"{tb.first_name} {tb.last_name}")
    # Not the managers of the enterprise above, nor of another facility.
    assert world.person("htb").first_name not in page and world.person("sb2").first_name not in page
    # Their personal data and security.
    assert 'href="/en/me/"' in page
    assert 'href="/en/accounts/2fa/"' in page


@pytest.mark.django_db
def test_the_users_home_never_shows_another_persons_or_tenants_facilities(world: World) -> None:
    other = world.ander.sd2  # another enterprise's facility, with a user of its own
    subdepartment_user_add(
        actor=world.person("ander_sb2"),
        subdepartment=other,
        ssin=world.person("ander_nobody").ssin or "",
        email="ander.nobody@example.test",
        applications=world.apps[:1],
    )
    subdepartment_user_add(
        actor=world.person("sb2"),
        subdepartment=world.zon.sd2,
        ssin=world.person("nobody").ssin or "",
        email="nobody@example.test",
        applications=world.apps[:1],
    )
    page = _home(login(Client(), world.person("user"), method="password"))
    assert world.zon.sd.name in page
    for name in (other.name, world.ander.sd.name, world.ander.enterprise.name, world.zon.sd2.name):
        assert name not in page
    # An ended membership, an ended grant and a blocked membership are not offered.
    membership = RoleAssignment.objects.get(person=world.person("nobody"), subdepartment=world.zon.sd2)
    membership_update(
        actor=world.person("sb2"),
        membership=membership,
        applications=world.apps[:1],
        status=Status.BLOCKED,
        email="nobody@example.test",
    )
    page = _home(login(Client(), world.person("nobody"), method="password"))
    assert world.zon.sd2.name in page and "Your access for this facility is blocked." in page
    assert f'href="{world.apps[0].url}"' not in page


@pytest.mark.django_db
def test_a_membership_this_login_cannot_use_yet_is_not_shown(world: World) -> None:
    """Home shows what the login may use (authz.actor_roles); the waiting appointment is only counted."""
    person = world.person("nobody")
    User.objects.filter(pk=person.pk).update(activation=Activation.APPOINTMENT)
    subdepartment_user_add(
        actor=world.person("sb2"),
        subdepartment=world.zon.sd2,
        ssin=person.ssin or "",
        email="nobody@example.test",
        applications=world.apps[:1],
    )
    page = _home(login(Client(), User.objects.get(pk=person.pk), method="password"))
    assert world.zon.sd2.name not in page and "You hold an appointment that this login cannot use yet." in page


@pytest.mark.django_db
def test_a_person_with_both_roles_sees_both(world: World) -> None:
    sb = world.person("sb")
    subdepartment_user_add(
        actor=world.person("sb2"),
        subdepartment=world.zon.sd2,
        ssin=sb.ssin or "",
        email="sb.user@example.test",
        applications=world.apps[:1],
    )
    page = _home(login(Client(), sb), enterprise=world.zon.enterprise.pk)
    assert "Subdepartment: " in page and world.zon.sd.name in page  # the manager's link
    assert "Your facilities and applications" in page and world.zon.sd2.name in page
    assert f'<a href="{world.apps[0].url}">' in page
    assert world.person("sb2").first_name in page  # the manager of the facility they use


# --- Home remembers the chosen enterprise ------------------------------------------------------


@pytest.mark.django_db
def test_home_remembers_the_chosen_enterprise(world: World) -> None:
    person = world.person("htb")
    # A second enterprise, so that Home does not choose the only one by itself.
    role_appoint(
        actor=world.operator,
        role=Role.LEGAL_REPRESENTATIVE,
        scope=world.ander.enterprise,
        ssin=person.ssin or "",
        email="htb@example.test",
    )
    client = login(Client(), person)
    page = _home(client)
    assert "Click the link you want" not in page
    _home(client, enterprise=world.zon.enterprise.pk)
    page = _home(client)
    assert "Click the link you want" in page and f'value="{world.zon.enterprise.pk}" selected' in page
    # "---------" chosen: forgotten.
    _home(client, enterprise="")
    assert "Click the link you want" not in _home(client)


@pytest.mark.django_db
@pytest.mark.parametrize("stale", ["foreign", "ended", "text", "huge"])
def test_a_stale_or_foreign_enterprise_in_the_session_is_ignored(world: World, stale: str) -> None:
    person = world.person("htb")
    role_appoint(
        actor=world.operator,
        role=Role.LEGAL_REPRESENTATIVE,
        scope=world.ander.enterprise,
        ssin=person.ssin or "",
        email="htb@example.test",
    )
    client = login(Client(), person)
    session = client.session
    session["toegang_enterprise"] = {
        "foreign": enterprise_register(actor=world.operator, cbe_number=cbe_make(5550001), name="Derde vzw").pk,
        "ended": world.ander.enterprise.pk,
        "text": "abc",
        "huge": 10**30,
    }[stale]
    session.save()
    if stale == "ended":
        RoleAssignment.objects.get(person=person, enterprise=world.ander.enterprise).end(
            actor=world.operator, reason="test"
        )
        # Only one enterprise left: Home chooses it, not the ended one.
        page = _home(client)
        assert world.ander.enterprise.name not in page and "Click the link you want" in page
        return
    page = _home(client)
    assert "Click the link you want" not in page
