"""The identity model (docs/security.md): a manager creates a person known by INSZ, never a login.

The attack of issue 12 (F1, account pre-hijacking by INSZ) is replayed step by step: a manager of
one enterprise adds an INSZ nobody knows yet with an address of their own, and waits for another
enterprise to appoint that INSZ as its main access manager.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from cryptography.hazmat.primitives import serialization
from django.core import mail, signing
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.utils import timezone

from tests.conftest import PASSWORD, World, login
from tests.test_eid import CA, eid_get
from toegang.accounts.models import Activation, User
from toegang.accounts.passwords import temporary_password_set
from toegang.accounts.services import account_claim
from toegang.audit.models import AuditEvent
from toegang.delegation import authz
from toegang.delegation.activation import SALT, activation_read, activation_token
from toegang.delegation.models import Role, RoleAssignment
from toegang.delegation.services import membership_update, role_appoint, subdepartment_user_add
from toegang.identifiers import ssin_make
from toegang.oidc.validator import access_claim

VICTIM = ssin_make(1980, 6, 15, 77)
NEW_PASSWORD = "een-eigen-lang-wachtwoord"


@pytest.fixture(autouse=True)
def _mail(settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def eid_ca(settings: Any, tmp_path: Path) -> CA:
    ca = CA.make()
    bundle = tmp_path / "ca-bundle.pem"
    bundle.write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
    settings.EID_CA_BUNDLE = [str(bundle)]
    settings.EID_CRL = ""
    settings.EID_TRUSTED_PROXIES = ["127.0.0.1", "::1"]
    settings.EID_HEADER = "X-SSL-Client-Cert"
    return ca


def mails_to(address: str) -> list[Any]:
    return [m for m in mail.outbox if address in m.to]


def link_in(message: Any) -> str:
    found = re.search(r"http://127\.0\.0\.1:8000(/\S+/activate/\S+/)", str(message.body))
    assert found is not None, message.body
    return found.group(1)


def add_victim_as_user(world: World, email: str) -> RoleAssignment:
    return subdepartment_user_add(
        actor=world.person("sb"),
        subdepartment=world.zon.sd,
        ssin=VICTIM,
        email=email,
        first_name="Vera",
        last_name="Slachtoffer",
        username="vera.s",
    )


def activate(client: Client, url: str, password: str = NEW_PASSWORD) -> Any:
    return client.post(url, {"password1": password, "password2": password})


@pytest.mark.django_db
def test_the_pre_hijack_attack_gives_the_attacker_nothing_beyond_their_own_appointment(
    world: World, eid_ca: CA, django_capture_on_commit_callbacks: Any
) -> None:
    # 1. As SB of one enterprise, add an INSZ nobody knows yet, with an address of one's own.
    with django_capture_on_commit_callbacks(execute=True):
        add_victim_as_user(world, "aanvaller@evil.test")
    victim = User.objects.get(ssin=VICTIM)
    assert (victim.email, victim.activation, victim.has_usable_password()) == ("", Activation.NONE, False)
    assert not EmailAddress.objects.filter(user=victim).exists()

    # 2. "Wachtwoord vergeten?" with that address: the record has no login address, so no reset link.
    attacker = Client()
    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        attacker.post("/nl/accounts/password/reset/", {"email": "aanvaller@evil.test"})
    sent = mails_to("aanvaller@evil.test")
    assert len(sent) == 1 and "/password/reset/key/" not in str(sent[0].body)
    assert "Geen enkele account meldt zich aan met dit adres" in str(sent[0].body)
    victim.refresh_from_db()
    assert not victim.has_usable_password()

    # The activation link of the attacker's own appointment does give a channel, bound to it.
    with django_capture_on_commit_callbacks(execute=True):
        membership_update(
            actor=world.person("sb"),
            membership=RoleAssignment.objects.get(person=victim, subdepartment=world.zon.sd),
            applications=[world.apps[0]],
            status="active",
            email="aanvaller@evil.test",
        )
    own_link = link_in(mails_to("aanvaller@evil.test")[-1])
    assert activate(attacker, own_link).status_code == 302
    victim.refresh_from_db()
    assert victim.activation == Activation.APPOINTMENT and victim.email == "aanvaller@evil.test"

    # 3. Later the legal representative of another enterprise appoints that INSZ as its HTB.
    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        htb = role_appoint(
            actor=world.ander.people["lr"],
            role=Role.MAIN_ACCESS_MANAGER,
            scope=world.ander.enterprise,
            ssin=VICTIM,
            email="vera@echt.test",
        )
    assert not mails_to("aanvaller@evil.test")  # the HTB's mail goes to the address of its appointment

    # 4. The attacker logs in (password and an app code of their own: level 400) and is no HTB.
    login(attacker, victim)
    assert attacker.get(f"/nl/e/{world.ander.enterprise.pk}/").status_code in (403, 404)
    home = attacker.get("/nl/").content.decode()
    assert world.ander.enterprise.name not in home
    assert "nog niet kunt gebruiken" in home  # the appointment waits for its link or a proven login
    assert htb not in authz.actor_roles(User.objects.get(pk=victim.pk))
    # The zon membership that the attacker's own link confirmed is all the account reaches.
    assert [r.subdepartment_id for r in authz.actor_roles(User.objects.get(pk=victim.pk))] == [world.zon.sd.pk]

    # The real person's link needs a login to the account, which only an eID or itsme gives them.
    real = Client()
    real_link = link_in(mails_to("vera@echt.test")[0])
    assert real.get(real_link)["Location"].startswith("/nl/accounts/login/")
    assert eid_get(real, eid_ca.issue(VICTIM)).status_code == 302
    assert real.get(f"/nl/e/{world.ander.enterprise.pk}/").status_code == 200
    assert real.post(real_link).status_code == 302
    assert RoleAssignment.objects.get(pk=htb.pk).confirmed_at is not None

    # With the proven identity the person replaces every channel: the attacker's password and session go.
    claimed = real.post("/nl/me/claim/", {"password1": NEW_PASSWORD + "!", "password2": NEW_PASSWORD + "!"})
    assert claimed.status_code == 302
    victim.refresh_from_db()
    assert victim.activation == Activation.PERSON and victim.email == ""
    assert not victim.check_password(NEW_PASSWORD)
    assert attacker.get("/nl/me/").status_code == 302  # logged out: the password changed
    assert AuditEvent.objects.filter(action="account.claim", object_id=str(victim.pk)).count() == 1


@pytest.mark.django_db
def test_a_manager_typed_address_is_contact_data_not_a_login(world: World) -> None:
    a = add_victim_as_user(world, "vera@echt.test")
    person = a.person
    assert a.contact_email == "vera@echt.test" and person.email == ""
    # Nobody logs in by that address or by the username: no channel exists.
    response = Client().post("/nl/accounts/login/", {"login": "vera@echt.test", "password": "x" * 12})
    assert "_auth_user_id" not in Client().session
    assert response.status_code == 200


@pytest.mark.django_db
def test_the_activation_link_sets_a_password_and_works_once(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        a = add_victim_as_user(world, "vera@echt.test")
    message = mails_to("vera@echt.test")[0]
    assert "vera.s" in str(message.body)  # the username, to log in with later
    url = link_in(message)
    client = Client()
    page = client.get(url)
    assert page.status_code == 200 and "vera.s" in page.content.decode()
    # Two different passwords, or a weak one: a field error, nothing saved.
    assert client.post(url, {"password1": NEW_PASSWORD, "password2": "anders"}).status_code == 200
    assert client.post(url, {"password1": "kort", "password2": "kort"}).status_code == 200
    assert User.objects.get(pk=a.person_id).activation == Activation.NONE
    assert activate(client, url).status_code == 302
    person = User.objects.get(pk=a.person_id)
    assert person.check_password(NEW_PASSWORD) and person.email == "vera@echt.test"
    assert EmailAddress.objects.get(user=person).verified
    assert RoleAssignment.objects.get(pk=a.pk).confirmed_at is not None
    assert AuditEvent.objects.filter(action="account.activate", object_id=str(person.pk)).exists()
    # Used once: the same link now says so, and sets nothing.
    again = Client().post(url, {"password1": "nog-een-ander-wachtwoord", "password2": "nog-een-ander-wachtwoord"})
    assert again.status_code == 400
    assert User.objects.get(pk=person.pk).check_password(NEW_PASSWORD)
    assert Client().post("/nl/accounts/login/", {"login": "vera.s", "password": NEW_PASSWORD}).status_code == 302


@pytest.mark.django_db
def test_an_activation_link_stops_working_when_its_address_changes_or_the_assignment_ends(world: World) -> None:
    a = add_victim_as_user(world, "vera@echt.test")
    token = activation_token(a)
    RoleAssignment.objects.filter(pk=a.pk).update(contact_email="ander@echt.test")
    assert Client().get(f"/nl/activate/{token}/").status_code == 400
    RoleAssignment.objects.filter(pk=a.pk).update(contact_email="vera@echt.test", ended_at=timezone.now())
    assert Client().get(f"/nl/activate/{token}/").status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize(
    "token",
    [
        "nonsense",
        "x" * 400,
        "%00",
        signing.dumps({"a": "1", "p": 1, "e": "x"}, salt=SALT),
        signing.dumps([1, 2], salt=SALT),
        signing.dumps({"a": 1, "p": 1, "e": "x"}, salt="another.salt"),
    ],
    ids=["nonsense", "overlong", "nul", "string-pk", "not-a-dict", "other-salt"],
)
def test_a_forged_or_malformed_link_is_refused_with_a_message(world: World, token: str) -> None:
    response = Client().get(f"/nl/activate/{token}/")
    assert response.status_code in (400, 404)
    if response.status_code == 400 and token != "%00":  # a NUL is refused before any view (input_guard)
        assert "niet (meer) geldig" in response.content.decode()


@pytest.mark.django_db
def test_an_expired_link_says_so(world: World, settings: Any) -> None:
    a = add_victim_as_user(world, "vera@echt.test")
    settings.ACTIVATION_LINK_SECONDS = -1
    response = Client().get(f"/nl/activate/{activation_token(a)}/")
    assert response.status_code == 400 and "verlopen" in response.content.decode()


@pytest.mark.django_db
def test_another_persons_session_cannot_use_the_link(world: World) -> None:
    a = add_victim_as_user(world, "vera@echt.test")
    client = login(Client(), world.person("tb"))
    url = f"/nl/activate/{activation_token(a)}/"
    assert client.get(url).status_code == 403
    assert activate(client, url).status_code == 403
    assert User.objects.get(pk=a.person_id).activation == Activation.NONE


@pytest.mark.django_db
def test_an_activated_account_confirms_a_new_appointment_after_logging_in(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    first = add_victim_as_user(world, "vera@echt.test")
    activate(Client(), f"/nl/activate/{activation_token(first)}/")
    with django_capture_on_commit_callbacks(execute=True):
        second = role_appoint(
            actor=world.person("tb"),
            role=Role.SUBDEPARTMENT_MANAGER,
            scope=world.zon.sd2,
            ssin=VICTIM,
            email="vera@echt.test",
        )
    person = User.objects.get(ssin=VICTIM)
    assert second not in authz.actor_roles(person)
    url = link_in(mails_to("vera@echt.test")[-1])
    client = Client()
    assert client.get(url)["Location"].startswith("/nl/accounts/login/")
    assert client.post("/nl/accounts/login/", {"login": "vera.s", "password": NEW_PASSWORD}).status_code == 302
    assert client.get(url).status_code == 200
    assert client.post(url).status_code == 302
    assert second.pk in {r.pk for r in authz.actor_roles(User.objects.get(pk=person.pk))}
    assert AuditEvent.objects.filter(action="role.confirm", object_id=str(second.pk)).exists()


@pytest.mark.django_db
def test_a_first_eid_login_makes_an_untouched_account_the_persons_own(world: World, eid_ca: CA) -> None:
    a = add_victim_as_user(world, "vera@echt.test")
    client = Client()
    assert eid_get(client, eid_ca.issue(VICTIM)).status_code == 302
    client.get("/nl/")
    assert User.objects.get(pk=a.person_id).activation == Activation.PERSON


@pytest.mark.django_db
def test_a_temporary_password_keeps_the_roles_in_reach_and_no_later_one(world: World) -> None:
    user = world.person("user")
    temporary_password_set(actor=world.person("sb"), person=user)
    user.refresh_from_db()
    assert user.activation == Activation.APPOINTMENT
    held = {r.pk for r in authz.actor_roles(user)}
    assert held == set(RoleAssignment.objects.active().filter(person=user).values_list("pk", flat=True))
    later = role_appoint(
        actor=world.ander.people["lr"],
        role=Role.CO_MAIN_ACCESS_MANAGER,
        scope=world.ander.enterprise,
        ssin=user.ssin or "",
        email="user@example.test",
    )
    assert later.pk not in {r.pk for r in authz.actor_roles(User.objects.get(pk=user.pk))}


@pytest.mark.django_db
def test_the_access_claim_of_an_unproven_login_leaves_out_unconfirmed_memberships(world: World) -> None:
    a = add_victim_as_user(world, "vera@echt.test")
    membership_update(
        actor=world.person("sb"), membership=a, applications=[world.apps[0]], status="active", email="vera@echt.test"
    )
    RoleAssignment.objects.filter(pk=a.pk).update(confirmed_at=None)
    person = User.objects.get(pk=a.person_id)
    User.objects.filter(pk=person.pk).update(activation=Activation.APPOINTMENT)
    person.refresh_from_db()
    app = world.apps[0].pk
    assert access_claim(person.pk, app, authz.usable_subdepartment_ids(person, ssin_proven=False)) == []
    proven = access_claim(person.pk, app, authz.usable_subdepartment_ids(person, ssin_proven=True))
    assert [c["subdepartment"]["id"] for c in proven] == [world.zon.sd.pk]


@pytest.mark.django_db
def test_one_login_address_one_account(world: World) -> None:
    taken = world.person("tb").email
    client = login(Client(), world.person("user"))
    response = client.post("/nl/accounts/email/", {"action_add": "", "email": taken})
    assert not EmailAddress.objects.filter(user=world.person("user"), email__iexact=taken).exists()
    assert response.status_code == 200
    # The own-data page refuses it too.
    me = client.post(
        "/nl/me/", {"title": "mx", "language": "nl", "email": taken.upper(), "local_email": "", "phone": ""}
    )
    assert me.status_code == 200
    assert User.objects.get(pk=world.person("user").pk).email != taken.upper()
    # And an activation link sent to an address that another account logs in with.
    a = add_victim_as_user(world, taken)
    response = activate(Client(), f"/nl/activate/{activation_token(a)}/")
    assert response.status_code == 200
    assert User.objects.get(pk=a.person_id).activation == Activation.NONE


@pytest.mark.django_db
def test_the_link_payload_names_the_assignment_its_person_and_its_address(world: World) -> None:
    a = add_victim_as_user(world, "Vera@Echt.test")
    link = activation_read(activation_token(a))
    assert (link.assignment.pk, link.person.pk, link.activated) == (a.pk, a.person_id, False)
    assert PASSWORD  # the fixtures' password is not the activation's


@pytest.mark.django_db
def test_the_manager_sees_the_login_state_and_sends_the_link_again(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        a = add_victim_as_user(world, "vera@echt.test")
    sd = world.zon.sd
    page_url = f"/nl/s/{sd.pk}/users/{a.pk}/"
    sb = login(Client(), world.person("sb"))
    assert "Nog niet geactiveerd" in sb.get(page_url).content.decode()
    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        response = sb.post(f"{page_url}activation/")
    assert response.status_code == 302
    assert len(mails_to("vera@echt.test")) == 1
    assert AuditEvent.objects.filter(action="activation.send", object_id=str(a.pk)).exists()
    # The fresh link works; then there is nothing more to send.
    activate(Client(), link_in(mails_to("vera@echt.test")[0]))
    assert "Geactiveerd" in sb.get(page_url).content.decode()
    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        sb.post(f"{page_url}activation/")
    assert mails_to("vera@echt.test") == []
    # A manager of another enterprise reaches neither the page nor the sending.
    other = login(Client(), world.ander.people["sb"])
    assert other.post(f"{page_url}activation/").status_code in (403, 404)
    assert other.get(f"{page_url}activation/").status_code in (403, 404, 405)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "title", "expected"),
    [
        ("nl", "mr", "Geachte heer Peeters,"),
        ("nl", "ms", "Geachte mevrouw Peeters,"),
        ("nl", "mx", "Geachte An Peeters,"),
        ("fr", "ms", "Madame Peeters,"),
        ("fr", "mr", "Monsieur Peeters,"),
        ("de", "ms", "Sehr geehrte Frau Peeters,"),
        ("de", "mr", "Sehr geehrter Herr Peeters,"),
        ("en", "ms", "Dear Ms Peeters,"),
    ],
)
def test_the_mails_open_with_the_salutation_of_the_title_and_language(
    world: World, django_capture_on_commit_callbacks: Any, language: str, title: str, expected: str
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        subdepartment_user_add(
            actor=world.person("sb"),
            subdepartment=world.zon.sd,
            ssin=VICTIM,
            email="an@echt.test",
            first_name="An",
            last_name="Peeters",
            title=title,
            language=language,
        )
        role_appoint(
            actor=world.person("tb"),
            role=Role.SUBDEPARTMENT_MANAGER,
            scope=world.zon.sd2,
            ssin=VICTIM,
            email="an@echt.test",
        )
    bodies = [str(m.body) for m in mails_to("an@echt.test")]
    assert len(bodies) == 2
    assert all(b.splitlines()[0] == expected for b in bodies), bodies


@pytest.mark.django_db
def test_taking_an_account_over_needs_the_sessions_own_proof_of_the_insz(world: World) -> None:
    """The service reads the proof the session middleware set, so no entry point can just claim it."""
    person = User.objects.get(pk=world.person("user").pk)
    with pytest.raises(PermissionDenied):
        account_claim(actor=person, password=NEW_PASSWORD, password_again=NEW_PASSWORD)
    assert User.objects.get(pk=person.pk).check_password(PASSWORD)
    # A login with only a password and an app code is no proof either.
    client = login(Client(), person)
    assert client.post("/nl/me/claim/", {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}).status_code == 403
    assert User.objects.get(pk=person.pk).check_password(PASSWORD)
