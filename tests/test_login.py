"""Login through django-allauth: username or e-mail and password, Argon2id, no sign-up, first password
by the reset e-mail for a person appointed by INSZ."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from tests.conftest import World
from toegang import settings as toegang_settings
from toegang.accounts.models import User
from toegang.delegation.models import Role
from toegang.delegation.services import role_appoint
from toegang.identifiers import ssin_make


@pytest.mark.django_db
def test_password_login_by_username_and_by_email_with_argon2(world: World, settings: Any) -> None:
    settings.PASSWORD_HASHERS = toegang_settings.PASSWORD_HASHERS  # the production list
    htb = world.person("htb")
    htb.set_password("a-long-test-password-1")
    htb.save()
    assert htb.password.startswith("argon2$argon2id$")
    for login in (htb.username, htb.email):
        client = Client()
        response = client.post("/nl/accounts/login/", {"login": login, "password": "a-long-test-password-1"})
        assert response.status_code == 302 and response["Location"] == "/nl/"
        assert client.get("/nl/").context["user"] == htb


@pytest.mark.django_db
def test_wrong_password_is_refused_without_a_session(world: World) -> None:
    client = Client()
    response = client.post("/nl/accounts/login/", {"login": "htb", "password": "wrong-password-123"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_nobody_signs_up(world: World) -> None:
    response = Client().post(
        "/nl/accounts/signup/",
        {"username": "intruder", "email": "i@example.test", "password1": "x" * 20, "password2": "x" * 20},
    )
    assert not User.objects.filter(username="intruder").exists()
    assert response.status_code in (200, 302)


@pytest.mark.django_db
def test_appointed_person_sets_first_password_through_the_appointment_mail(
    world: World, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    ssin = ssin_make(1991, 7, 7, 77)
    with django_capture_on_commit_callbacks(execute=True):
        a = role_appoint(
            actor=world.person("tb"),
            role=Role.SUBDEPARTMENT_MANAGER,
            scope=world.zon.sd2,
            ssin=ssin,
            email="nieuw@example.test",
            first_name="Nieuwe",
            last_name="Beheerder",
        )
    person = a.person
    assert not person.has_usable_password()
    client = Client()
    # The reset form knows no account by the appointment's address (a contact address, not a login).
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/nl/accounts/password/reset/", {"email": "nieuw@example.test"})
    assert len(mail.outbox) == 2 and "/password/reset/key/" not in str(mail.outbox[1].body)
    # The appointment's own mail has the activation link (tests/test_identity.py has the rest).
    link = re.search(re.escape(settings.BASE_URL) + r"(/\S+/activate/\S+/)", str(mail.outbox[0].body))
    assert link is not None
    password = "een-nieuw-lang-wachtwoord"
    response = client.post(link.group(1), {"password1": password, "password2": password})
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.check_password(password)
    assert Client().post("/nl/accounts/login/", {"login": person.username, "password": password}).status_code == 302
