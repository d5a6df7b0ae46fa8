"""Username-and-password login (level 200) after NIST SP 800-63B: length rules without composition
rules, common and breached passwords refused, throttling per account and per address with an audit
event for every failure and refusal, and a temporary password that must be changed at first login."""

from __future__ import annotations

import io
import re
import secrets
import shutil
import socket
import string
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.contrib.auth.password_validation import validate_password
from django.core import mail
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.test import Client, override_settings

from tests.conftest import PASSWORD, World, login
from toegang.accounts.models import User
from toegang.accounts.passwords import SAME_AS_TEMPORARY, temporary_password_set
from toegang.audit.models import AuditEvent

LOGIN_URL = "/nl/accounts/login/"
CHANGE_URL = "/nl/accounts/password/change/"


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    # The throttle counts live in the cache, which outlives a test's database transaction.
    cache.clear()
    yield
    cache.clear()


def _codes(password: str, user: User | None = None) -> set[str]:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        return {str(e.code) for e in exc.error_list}
    return set()


def _random_password(length: int) -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits + " -_.!") for _ in range(length))


def _post_login(client: Client, login_name: str, password: str) -> Any:
    return client.post(LOGIN_URL, {"login": login_name, "password": password})


def _form_errors(response: Any) -> list[str]:
    assert response.status_code == 200, response.status_code
    return [str(e) for e in response.context["form"].non_field_errors()]


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


# --- the rules ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_length_counts_and_composition_does_not(world: World) -> None:
    user = world.person("user")
    assert "password_too_short" in _codes("elf-tekens1", user)  # 11 characters
    assert _codes("vlinder kast", user) == set()  # 12, lower case and a space: no composition rules
    assert _codes("zwijgende olifanten dansen traag", user) == set()
    assert _codes(_random_password(64), user) == set()
    assert _codes(_random_password(128), user) == set()
    assert _codes("ßéçàüö-ελληνικά-кириллица", user) == set()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("qwertyuiop123", "password_too_common"),  # Django's 20,000
        ("iloveyou123456", "password_breached"),  # only in the breached list
        ("wachtwoord1234", "password_breached"),
        ("Wachtwoord1234", "password_breached"),  # looked up in lower case too
        ("passwordpassword", "password_breached"),
    ],
)
def test_common_and_breached_passwords_are_refused(world: World, password: str, code: str) -> None:
    assert code in _codes(password, world.person("user"))


@pytest.mark.django_db
def test_password_with_the_persons_insz_or_username_is_refused(world: World) -> None:
    person = world.person("user")
    ssin = person.ssin or ""
    printed = f"{ssin[:2]}.{ssin[2:4]}.{ssin[4:6]}-{ssin[6:9]}.{ssin[9:]}"
    assert "password_contains_ssin" in _codes(f"mijn nummer {ssin}", person)
    assert "password_contains_ssin" in _codes(f"mijn nummer {printed}", person)
    assert _codes(f"mijn nummer {ssin}", None) == set()  # no person, nothing personal to compare
    person.username = "pieterjansen"
    assert "password_contains_username" in _codes("zomer-PieterJansen-2026", person)
    person.username = "tb"  # too short to refuse on containment; the similarity validator still applies
    assert _codes("een tbc-vrije zomer", person) == set()


@pytest.mark.django_db
def test_change_page_refuses_a_breached_password_with_a_translated_message(world: World) -> None:
    client = login(Client(), world.person("user"))
    response = client.post(
        CHANGE_URL, {"oldpassword": PASSWORD, "password1": "iloveyou123456", "password2": "iloveyou123456"}
    )
    assert response.status_code == 200
    assert response.context["form"].has_error("password1", "password_breached")


@pytest.mark.django_db
@pytest.mark.parametrize("length", [64, 128])
def test_long_passwords_are_set_and_log_in(world: World, length: int) -> None:
    person = world.person("user")
    client = login(Client(), person)
    new = _random_password(length)
    response = client.post(CHANGE_URL, {"oldpassword": PASSWORD, "password1": new, "password2": new})
    assert response.status_code == 302, response.context["form"].errors
    person.refresh_from_db()
    assert person.check_password(new)
    fresh = Client()
    assert _post_login(fresh, person.username, new).status_code == 302
    assert _logged_in(fresh)
    assert _post_login(Client(), person.username, new[:-1]).status_code == 200  # every character counts


# --- throttling and lockout ----------------------------------------------------------------------------


def _fail(client: Client, login_name: str, times: int) -> list[list[str]]:
    return [_form_errors(_post_login(client, login_name, "not-the-password-123")) for _ in range(times)]


@pytest.mark.django_db
def test_sixth_attempt_on_an_account_is_refused_even_with_the_right_password(world: World) -> None:
    person = world.person("user")
    client = Client(REMOTE_ADDR="10.1.0.1")
    failures = _fail(client, person.username, 5)
    locked = _form_errors(_post_login(client, person.username, PASSWORD))
    assert not _logged_in(client)
    assert locked != failures[0]  # says "too many attempts", not "wrong password"
    # The limit is the account's from this address, however it is named.
    assert _form_errors(_post_login(client, person.email, PASSWORD)) == locked
    # Another account is not locked by it.
    other = Client(REMOTE_ADDR="10.1.0.3")
    assert _post_login(other, world.person("sb").username, PASSWORD).status_code == 302

    failed = AuditEvent.objects.filter(action="login.password.failed", object_id=str(person.pk))
    assert failed.count() == 5
    assert {e.client_address for e in failed} == {"10.1.0.1"}
    assert all(e.actor is None and e.enterprise is None for e in failed)
    locks = AuditEvent.objects.filter(action="login.password.locked", object_id=str(person.pk))
    assert locks.count() == 2
    assert all("5/15m/account@ip full" in e.reason for e in locks)


@pytest.mark.django_db
def test_lock_opens_when_the_failures_leave_the_window(world: World, settings: Any) -> None:
    settings.ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip,2/2s/key"}
    person = world.person("user")
    client = Client(REMOTE_ADDR="10.2.0.1")
    _fail(client, person.username, 2)
    assert _post_login(client, person.username, PASSWORD).status_code == 200
    time.sleep(2.1)
    assert _post_login(client, person.username, PASSWORD).status_code == 302


@pytest.mark.django_db
def test_per_address_limit_throttles_other_accounts_from_that_address(world: World) -> None:
    client = Client(REMOTE_ADDR="10.3.0.1")
    _fail(client, world.person("user").username, 5)
    _fail(client, world.person("cosb").username, 5)
    third = world.person("sb")
    refused = _form_errors(_post_login(client, third.username, PASSWORD))
    assert not _logged_in(client)
    lock = AuditEvent.objects.get(action="login.password.locked", object_id=str(third.pk))
    assert "/ip full" in lock.reason and "/key full" not in lock.reason
    # The account itself is fine: from another address it logs in.
    other = Client(REMOTE_ADDR="10.3.0.2")
    assert _post_login(other, third.username, PASSWORD).status_code == 302
    assert refused


@pytest.mark.django_db
def test_unknown_names_get_the_same_answers_and_are_audited_without_a_person(world: World) -> None:
    known, unknown = Client(REMOTE_ADDR="10.4.0.1"), Client(REMOTE_ADDR="10.4.0.2")
    known_answers = _fail(known, world.person("user").username, 6)
    unknown_answers = _fail(unknown, "niemand", 6)
    assert known_answers == unknown_answers
    assert known_answers[0] == known_answers[4] != known_answers[5]
    # By e-mail address the same.
    assert (
        _fail(Client(REMOTE_ADDR="10.4.0.3"), "niemand@example.test", 1)[0]
        == _fail(Client(REMOTE_ADDR="10.4.0.4"), world.person("sb").email, 1)[0]
    )
    events = AuditEvent.objects.filter(object_type="login", object_repr="niemand")
    assert events.filter(action="login.password.failed").count() == 5
    assert events.filter(action="login.password.locked").count() == 1
    assert all(e.actor is None and e.object_id == "" for e in events)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis server of this test's own, on a free loopback port, stopped afterwards."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(  # noqa: S603
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.django_db
def test_throttling_counts_in_redis_when_configured(world: World, redis_url: str) -> None:
    redis_cache = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}}
    person = world.person("user")
    client = Client(REMOTE_ADDR="10.5.0.1")
    with override_settings(CACHES=redis_cache):
        _fail(client, person.username, 5)
        assert _post_login(client, person.username, PASSWORD).status_code == 200
        assert not _logged_in(client)
        keys = redis.Redis.from_url(redis_url).keys("*allauth:rl:allauth.account:login_failed*")
        assert len(keys) >= 2  # one count per address, one per account
        cache.clear()  # the counts are all in Redis: emptying it opens the account again
        assert _post_login(client, person.username, PASSWORD).status_code == 302


@pytest.mark.django_db
def test_admin_login_goes_through_allauth(world: World) -> None:
    response = Client().get("/nl/admin/login/")
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN_URL)


# --- temporary first password ----------------------------------------------------------------------------


def _temporary(username: str) -> str:
    out = io.StringIO()
    call_command("set_temporary_password", username, stdout=out)
    match = re.search(r"shown only now\): (\S+)", out.getvalue())
    assert match, out.getvalue()
    return match.group(1)


@pytest.mark.django_db
def test_command_sets_a_temporary_password_once_and_audits_it(world: World) -> None:
    person = world.person("user")
    temporary = _temporary(person.username)
    person.refresh_from_db()
    assert person.must_change_password and person.check_password(temporary)
    assert not person.check_password(PASSWORD)
    assert len(temporary) >= 20 and _codes(temporary, person) == set()
    assert _temporary(person.username) != temporary  # random every time
    event = AuditEvent.objects.filter(action="person.temporary_password", object_id=str(person.pk)).first()
    assert event is not None and event.actor is None
    assert temporary not in str(event.after) and temporary not in event.reason
    with pytest.raises(Exception, match="No account"):
        call_command("set_temporary_password", "niemand", stdout=io.StringIO())


@pytest.mark.django_db
def test_temporary_password_must_be_changed_before_anything_else(world: World) -> None:
    person = world.person("user")
    temporary = _temporary(person.username)
    client = Client()
    response = _post_login(client, person.username, temporary)
    assert response.status_code == 302 and _logged_in(client)
    # Every page leads to the change page, remembering where the person was going.
    for path in ("/nl/", response["Location"], "/nl/accounts/email/", "/en/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].split("?")[0].endswith("/accounts/password/change/"), path
    assert "next=%2Fnl%2F" in client.get("/nl/")["Location"]
    assert client.post("/nl/").status_code == 302
    assert client.get(CHANGE_URL).status_code == 200
    assert client.get("/static/toegang/site.css").status_code != 302
    # The temporary password itself is not a new password.
    response = client.post(CHANGE_URL, {"oldpassword": temporary, "password1": temporary, "password2": temporary})
    assert response.status_code == 200
    assert str(SAME_AS_TEMPORARY) in response.context["form"].errors["password1"]
    person.refresh_from_db()
    assert person.must_change_password
    # A password of their own clears the flag and opens the portal.
    own = "mijn eigen lange zin"
    response = client.post(CHANGE_URL + "?next=/nl/", {"oldpassword": temporary, "password1": own, "password2": own})
    assert response.status_code == 302 and response["Location"] == "/nl/"
    person.refresh_from_db()
    assert not person.must_change_password and person.check_password(own)
    assert client.get("/nl/").status_code == 200
    event = AuditEvent.objects.get(action="person.password_change", object_id=str(person.pk))
    assert event.actor == person and event.before == {"must_change_password": True}


@pytest.mark.django_db
def test_a_person_with_a_temporary_password_can_log_out(world: World) -> None:
    person = world.person("user")
    temporary = _temporary(person.username)
    client = Client()
    _post_login(client, person.username, temporary)
    assert client.post("/nl/accounts/logout/").status_code == 302
    assert not _logged_in(client)


@pytest.mark.django_db
def test_reset_mail_also_clears_the_temporary_password(
    world: World, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    person = world.person("user")
    _temporary(person.username)
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/nl/accounts/password/reset/", {"email": person.email})
    link = re.search(re.escape(settings.BASE_URL) + r"(/\S+)", str(mail.outbox[-1].body))
    assert link is not None
    response = client.get(link.group(1), follow=True)
    form_url = response.redirect_chain[-1][0]
    own = "een nieuwe zin van mij"
    assert client.post(form_url, {"password1": own, "password2": own}).status_code == 302
    person.refresh_from_db()
    assert not person.must_change_password


@pytest.mark.django_db
def test_who_may_set_a_temporary_password(world: World) -> None:
    user = world.person("user")
    for actor in ("operator", "cosb", "sb", "tb", "htb"):
        temporary_password_set(actor=world.person(actor), person=user)
    for actor in ("user", "sb2", "ander_htb", "ander_sb", "nobody"):
        with pytest.raises(PermissionDenied):
            temporary_password_set(actor=world.person(actor), person=user)
    # Nobody but an operator for a manager at their own level or above, nor for an operator.
    with pytest.raises(PermissionDenied):
        temporary_password_set(actor=world.person("cohtb"), person=world.person("htb"))
    with pytest.raises(PermissionDenied):
        temporary_password_set(actor=world.person("htb"), person=world.person("operator"))
    temporary_password_set(actor=world.person("operator"), person=world.person("htb"))
    assert AuditEvent.objects.filter(action="person.temporary_password").count() == 6
