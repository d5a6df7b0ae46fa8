"""Named personas (as Zulip's ``self.login("iago")``), built through the real services.

Two enterprises: ``zonnebloem`` with one person in every role down to a user, and ``ander`` with its
own HTB, TB and SB, so every test can try to cross from one tenant into the other.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import time_machine
from allauth.account.authentication import AUTHENTICATION_METHODS_SESSION_KEY
from allauth.account.internal.flows.login import _AUTHENTICATION_METHODS_USER_SESSION_KEY
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.core import mail
from django.core.cache import cache, caches
from django.core.cache.backends.db import DatabaseCache
from django.test import Client, TestCase

from toegang.accounts.models import Activation, User
from toegang.applications.models import SecuredApplication
from toegang.delegation.models import Role
from toegang.delegation.services import role_appoint
from toegang.identifiers import cbe_make, ssin_make
from toegang.organisations.models import Enterprise, EnterpriseQuality, Quality, Subdepartment
from toegang.organisations.services import enterprise_register, quality_activate, subdepartment_create
from toegang.seed.demo import catalogue_load

PASSWORD = "a-long-test-password-1"

# TOEGANG_TEST_CLOCK=2026-12-01T23:30:00Z runs the whole session as if it had started at that
# instant (time-machine, the clock ticking on from there): to find the tests that depend on the hour
# they run at (23:00-24:00 UTC is another day in Brussels) or on a daylight saving change. README,
# "Tests that depend on the clock". Only for the unit tests (-m "not e2e"): the browser tests' server
# runs in another process, on the real clock.
TEST_CLOCK = os.environ.get("TOEGANG_TEST_CLOCK", "")
_CLOCK_KEY = pytest.StashKey[time_machine.travel]()


def pytest_configure(config: pytest.Config) -> None:
    if TEST_CLOCK:
        start = dt.datetime.fromisoformat(TEST_CLOCK.replace("Z", "+00:00"))
        if start.tzinfo is None:
            raise pytest.UsageError("TOEGANG_TEST_CLOCK needs a time zone, e.g. 2026-12-01T23:30:00Z")
        traveller = time_machine.travel(start, tick=True)
        traveller.start()
        config.stash[_CLOCK_KEY] = traveller


def pytest_unconfigure(config: pytest.Config) -> None:
    traveller = config.stash.get(_CLOCK_KEY, None)
    if traveller is not None:
        traveller.stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The shifted clock is this process's only: a peer in another process (the npm relying party)
    # checks our tokens' times against the real clock and refuses them, whatever the hour.
    if TEST_CLOCK:
        skip = pytest.mark.skip(reason="TOEGANG_TEST_CLOCK: the peer process runs on the real clock")
        for item in items:
            if item.get_closest_marker("real_clock"):
                item.add_marker(skip)


def pytest_report_header(config: pytest.Config) -> str | None:
    return f"TOEGANG_TEST_CLOCK: the session starts at {TEST_CLOCK}" if TEST_CLOCK else None


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    # Argon2id costs ~0.1 s a hash by design; the personas would spend seconds on it per test.
    # tests/test_login.py checks the production hasher explicitly. The client secrets' own hasher
    # (OAUTH2_PROVIDER's CLIENT_SECRET_HASHER, tests/test_client_secret_hasher.py) stays registered.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "toegang.oidc.hashers.ClientSecretHasher",
    ]


@pytest.fixture(autouse=True)
def _jobs_run_on_commit(settings: Any) -> None:
    # Unit tests run each job in-process when it is enqueued (on commit): a mail queued by a change is
    # in mail.outbox once the change's on-commit callbacks ran. The engines themselves, with real
    # worker processes, are tested in tests/test_jobs_engines.py.
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture(autouse=True)
def _plain_static_files(settings: Any) -> None:
    # The manifest storage of production needs collectstatic first; tests render templates without it.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@dataclass
class Tenant:
    enterprise: Enterprise
    eq: EnterpriseQuality
    sd: Subdepartment
    sd2: Subdepartment
    people: dict[str, User]


@dataclass
class World:
    operator: User
    quality: Quality
    apps: list[SecuredApplication]
    zon: Tenant
    ander: Tenant

    def person(self, name: str) -> User:
        if name == "operator":
            return self.operator
        if name.startswith("ander_"):
            return self.ander.people[name.removeprefix("ander_")]
        return self.zon.people[name]


_serial = itertools.count()


def make_person(username: str) -> User:
    n = next(_serial)
    user = User.objects.create_user(
        username=username,
        password=PASSWORD,
        ssin=ssin_make(1950 + (n // 998) % 70, 1 + n % 12, 1 + n % 28, 1 + n % 998),
        first_name=username.capitalize(),
        last_name="Test",
        email=f"{username}@example.test",
        # The persons of the tests activated their accounts themselves (docs/security.md); the
        # activation links and the identity model are tested in test_identity.py.
        activation=Activation.PERSON,
    )
    return user


def _tenant(operator: User, quality: Quality, apps: list[SecuredApplication], prefix: str, seed: int) -> Tenant:
    people = {
        r: make_person(f"{prefix}{r}")
        for r in ("lr", "htb", "cohtb", "tb", "cotb", "sb", "cosb", "user", "sb2", "nobody")
    }
    ent = enterprise_register(actor=operator, cbe_number=cbe_make(seed), name=f"{prefix or 'zon'} vzw")

    def add(by: User, role: Role, scope: Enterprise | EnterpriseQuality | Subdepartment, who: str) -> None:
        role_appoint(actor=by, role=role, scope=scope, ssin=people[who].ssin or "", email=f"{who}@example.test")

    add(operator, Role.LEGAL_REPRESENTATIVE, ent, "lr")
    add(people["lr"], Role.MAIN_ACCESS_MANAGER, ent, "htb")
    add(people["htb"], Role.CO_MAIN_ACCESS_MANAGER, ent, "cohtb")
    eq = quality_activate(actor=people["htb"], enterprise=ent, quality=quality)
    add(people["htb"], Role.ACCESS_MANAGER, eq, "tb")
    add(people["tb"], Role.CO_ACCESS_MANAGER, eq, "cotb")
    sd = subdepartment_create(
        actor=people["tb"],
        enterprise_quality=eq,
        name=f"{prefix}Facility A",
        identification_code=_nihii(seed, 1),
        applications=apps[:2],
    )
    sd2 = subdepartment_create(
        actor=people["tb"],
        enterprise_quality=eq,
        name=f"{prefix}Facility B",
        identification_code=_nihii(seed, 2),
        applications=apps[:1],
    )
    add(people["tb"], Role.SUBDEPARTMENT_MANAGER, sd, "sb")
    add(people["sb"], Role.CO_SUBDEPARTMENT_MANAGER, sd, "cosb")
    add(people["sb"], Role.USER, sd, "user")
    add(people["tb"], Role.SUBDEPARTMENT_MANAGER, sd2, "sb2")
    return Tenant(ent, eq, sd, sd2, people)


def _nihii(seed: int, k: int) -> str:
    base = (seed * 10 + k) % 1_000_000
    return f"{base:06d}{97 - base % 97:02d}"


@pytest.fixture
def world(db: None) -> World:
    operator = User.objects.create_user(username="operator", password=PASSWORD, is_staff=True, is_superuser=True)
    quality = catalogue_load()
    apps = list(quality.applications.order_by("code"))
    # The appointments' e-mails of the set-up are delivered here and are not the test's.
    with TestCase.captureOnCommitCallbacks(execute=True):
        world = World(
            operator=operator,
            quality=quality,
            apps=apps,
            zon=_tenant(operator, quality, apps, "", 4031707),
            ander=_tenant(operator, quality, apps, "ander_", 8765432),
        )
    mail.outbox = []
    return world


def login(client: Client, user: User, method: str = "mfa") -> Client:
    """Log ``user`` in as if they had passed a password and a second factor (level 400).

    The login flows themselves are tested in test_login.py and the method-specific tests; the
    other tests start from a session with what allauth records after a second factor.
    """
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    session = client.session
    records: list[dict[str, Any]] = [{"method": "password", "at": time.time(), "username": user.username}]
    if method == "mfa":
        records.append({"method": "mfa", "at": time.time(), "type": "totp", "id": 0})
    session[AUTHENTICATION_METHODS_SESSION_KEY] = records
    session[_AUTHENTICATION_METHODS_USER_SESSION_KEY] = str(user.pk)
    session.save()
    return client


def totp_now(secret: str) -> str:
    return str(format_hotp_value(hotp_value(secret, int(time.time()) // 30)))


def password_login(client: Client, lang: str, username: str, password: str, totp_secret: str | None = None) -> Any:
    """The real login: allauth's form, then (for a person with a TOTP device) the code page."""
    response = client.post(f"/{lang}/accounts/login/", {"login": username, "password": password}, follow=True)
    if totp_secret and response.redirect_chain and "/2fa/" in response.redirect_chain[-1][0]:
        response = client.post(response.redirect_chain[-1][0], {"code": totp_now(totp_secret)}, follow=True)
    return response


_DB_FIXTURES = {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback", "live_server"}


@pytest.fixture(autouse=True)
def _fresh_cache(request: pytest.FixtureRequest) -> None:
    # Rate limits and used TOTP codes live in the cache; each test starts without them. Without Redis
    # the cache is a table of the test database (settings.CACHES): a test without database access
    # cannot reach it, nor leave anything in it.
    if isinstance(caches["default"], DatabaseCache):
        if not (request.node.get_closest_marker("django_db") or _DB_FIXTURES & set(request.fixturenames)):
            return
        request.getfixturevalue("_django_db_helper")
    cache.clear()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    # The test database in a file rather than in memory, so that the worker and scheduler processes of
    # tests/test_jobs_engines.py open the same database as the test (PostgreSQL's test database is
    # shared already). pytest-django removes it at the end; the pid keeps parallel runs apart.
    from django.conf import settings as django_settings

    db = django_settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        db.setdefault("TEST", {})["NAME"] = str(Path(django_settings.VAR_DIR) / f"test-{os.getpid()}.sqlite3")
