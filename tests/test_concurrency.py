"""Concurrent changes (issue 12, F3 and F4): one lock order, lost races answer "try again", never 500.

The first half runs everywhere: how a lost race is answered (a message on the page, a 409 in the
API), the username that another manager took meanwhile, an import that lost a race running again.
The second half needs PostgreSQL, whose row locks let writers run side by side (SQLite serialises
them): an import in one subdepartment beside saves in another, the preview beside held locks, and
fifty concurrent writers mixing the races the attack found, counting 0 × 5xx.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg.errors
import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, connection, connections, transaction
from django.test import Client
from django.urls import reverse
from django.utils import translation

from tests.conftest import World, login
from tests.test_api import RP, Api, application_of
from tests.test_csv_import_job import users_csv
from toegang.accounts.models import User
from toegang.applications.models import ApplicationGrant, SecuredApplication, SubdepartmentApplication
from toegang.applications.services import subdepartment_applications_set
from toegang.delegation import authz, csv_import, imports
from toegang.delegation import services as delegation_services
from toegang.delegation.models import ImportStatus, Role, RoleAssignment, UserImport
from toegang.delegation.services import (
    membership_end,
    membership_update,
    person_get_or_create,
    role_appoint,
    subdepartment_user_add,
)
from toegang.identifiers import ssin_make
from toegang.locks import ConcurrentChange, is_lost_race, lock_enterprise, lock_shared, lock_subdepartment
from toegang.portal.views import subdepartment as subdepartment_views
from toegang.portal.views import user as user_views
from toegang.portal.views import users as users_views

MESSAGE = "This was changed by someone else meanwhile; try again."


def en(name: str, *args: int) -> str:
    with translation.override("en"):
        return reverse(name, args=args)


def _caused(error: Exception, cause: Exception) -> Exception:
    error.__cause__ = cause
    return error


LOST_RACES: dict[str, Callable[[], Exception]] = {
    "service": ConcurrentChange,
    "deadlock": lambda: _caused(OperationalError("deadlock detected"), psycopg.errors.DeadlockDetected()),
    "serialization": lambda: _caused(OperationalError("could not serialize"), psycopg.errors.SerializationFailure()),
    "lock timeout": lambda: _caused(OperationalError("lock timeout"), psycopg.errors.LockNotAvailable()),
    "unique index": lambda: _caused(IntegrityError("duplicate key"), psycopg.errors.UniqueViolation()),
    "sqlite unique": lambda: IntegrityError("UNIQUE constraint failed: accounts_user.username"),
    "sqlite busy": lambda: OperationalError("database is locked"),
}


def test_what_a_lost_race_is() -> None:
    assert all(is_lost_race(make()) for make in LOST_RACES.values())
    # A bug or bad data is not a race: it stays an error (and a 500), to be seen and fixed.
    assert not is_lost_race(IntegrityError("NOT NULL constraint failed: accounts_user.ssin"))
    assert not is_lost_race(_caused(IntegrityError("null value"), psycopg.errors.NotNullViolation()))
    assert not is_lost_race(ValueError("deadlock detected"))


def _membership(world: World) -> RoleAssignment:
    return RoleAssignment.objects.active().get(person=world.zon.people["user"], subdepartment=world.zon.sd)


@pytest.mark.parametrize("race", sorted(LOST_RACES))
def test_a_lost_race_in_a_portal_form_is_a_message_on_the_page_and_saves_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch, race: str
) -> None:
    """F4: the SB's save lost to a concurrent change: no 500, nothing partial, the page says try again."""
    membership = _membership(world)
    sd = world.zon.sd

    def save_then_lose(**kwargs: Any) -> RoleAssignment:
        with transaction.atomic():
            membership_update(**kwargs)  # written, then the race is lost in the same transaction
            raise LOST_RACES[race]()

    monkeypatch.setattr(user_views, "membership_update", save_then_lose)
    grants_before = list(ApplicationGrant.objects.values_list("pk", "ended_at"))
    client = login(Client(), world.zon.people["sb"])
    page = en("portal:user_detail", sd.pk, membership.pk)
    response = client.post(
        page,
        {"email": "new@example.test", "local_email": "", "status": "blocked", "applications": []},
        headers={"Referer": f"http://testserver{page}"},
    )
    assert (response.status_code, response["Location"]) == (303, f"http://testserver{page}")
    shown = client.get(page)
    assert shown.status_code == 200 and MESSAGE in shown.content.decode()
    membership.refresh_from_db()
    assert (membership.status, membership.contact_email) == ("active", "user@example.test")
    assert list(ApplicationGrant.objects.values_list("pk", "ended_at")) == grants_before


def test_the_message_is_translated(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def lose(**kwargs: Any) -> None:
        raise ConcurrentChange

    monkeypatch.setattr(subdepartment_views, "subdepartment_applications_set", lose)
    client = login(Client(), world.zon.people["tb"])
    with translation.override("nl"):
        here = reverse("portal:subdepartment_affairs", args=[world.zon.sd.pk])
    response = client.post(here, {"action": "applications", "apps-applications": []}, follow=True)
    assert response.status_code == 200 and response.redirect_chain[-1][0] == here
    with translation.override("nl"):
        assert translation.gettext(MESSAGE) != MESSAGE
        assert translation.gettext(MESSAGE) in response.content.decode()


def test_a_post_only_form_goes_back_to_the_page_it_came_from(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def lose(**kwargs: Any) -> None:
        raise ConcurrentChange

    monkeypatch.setattr(users_views, "membership_end", lose)
    membership = _membership(world)
    client = login(Client(), world.zon.people["sb"])
    users = en("portal:users", world.zon.sd.pk)
    bulk = en("portal:users_bulk", world.zon.sd.pk)
    response = client.post(
        bulk, {"action": "delete_confirm", "ids": [membership.pk]}, headers={"Referer": f"http://testserver{users}"}
    )
    assert (response.status_code, response["Location"]) == (303, f"http://testserver{users}")
    assert MESSAGE in client.get(users).content.decode()
    assert RoleAssignment.objects.active().filter(pk=membership.pk).exists()
    # Another site's address is never followed: back to the address posted to.
    response = client.post(
        bulk, {"action": "delete_confirm", "ids": [membership.pk]}, headers={"Referer": "https://evil.example/"}
    )
    assert (response.status_code, response["Location"]) == (303, bulk)


def test_a_bug_is_not_turned_into_try_again(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(**kwargs: Any) -> None:
        raise IntegrityError("NOT NULL constraint failed: delegation_roleassignment.person_id")

    monkeypatch.setattr(user_views, "membership_update", broken)
    membership = _membership(world)
    client = login(Client(raise_request_exception=False), world.zon.people["sb"])
    response = client.post(
        en("portal:user_detail", world.zon.sd.pk, membership.pk),
        {"email": "x@example.test", "local_email": "", "status": "active", "applications": []},
    )
    assert response.status_code == 500


@pytest.mark.parametrize("race", ["service", "deadlock", "lock timeout"])
def test_a_lost_race_in_the_api_is_a_409_with_a_json_body(
    world: World, monkeypatch: pytest.MonkeyPatch, race: str
) -> None:
    client = Client()
    api = Api(client, RP(application_of("eloket")).token(client))

    def lose(*args: Any) -> None:
        raise LOST_RACES[race]()

    monkeypatch.setattr(authz, "facilities_for_ssin", lose)
    response = client.get(
        f"/api/v1/persons/{world.zon.people['user'].ssin}/facilities",
        headers={**api.headers, "Accept-Language": "en"},
    )
    assert response.status_code == 409
    assert response.json() == {"error": "conflict", "error_description": MESSAGE}
    # The OpenAPI document says so.
    schema = client.get("/api/openapi.json").json()
    assert "409" in schema["paths"]["/api/v1/persons/{ssin}/facilities"]["get"]["responses"]


def test_a_bug_in_the_api_stays_a_500(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    client = Client(raise_request_exception=False)
    api = Api(client, RP(application_of("eloket")).token(client))

    def broken(*args: Any) -> None:
        raise _caused(IntegrityError("null value"), psycopg.errors.NotNullViolation())

    monkeypatch.setattr(authz, "facilities_for_ssin", broken)
    assert api.facilities(world.zon.people["user"].ssin or "").status_code == 500


def test_saving_the_checkboxes_of_a_membership_ended_meanwhile_is_refused(world: World) -> None:
    """SB 1 deletes the user while SB 2 has their page open and saves: nothing is granted to an ended membership."""
    sd, sb = world.zon.sd, world.zon.people["sb"]
    stale = _membership(world)  # SB 2's page
    membership_end(actor=world.zon.people["cosb"], membership=_membership(world))
    with translation.override("en"), pytest.raises(ValidationError, match="already ended"):
        membership_update(
            actor=sb, membership=stale, applications=[application_of("cirro")], status="active", email="x@example.test"
        )
    assert not ApplicationGrant.objects.active().filter(person=stale.person, subdepartment=sd).exists()


# --- Usernames another manager took meanwhile ---------------------------------------------------


@pytest.mark.django_db
def test_a_username_taken_meanwhile_goes_on_to_the_next_free_number(monkeypatch: pytest.MonkeyPatch) -> None:
    """F4: two enterprises add a Jan Peeters at once; both read "jan.peeters" as free.

    The other manager's insert committed after this one read the taken names: simulated by a read
    that misses it. Before: IntegrityError accounts_user_username_key (a 500).
    """
    person_get_or_create(ssin=ssin_make(1980, 1, 1, 1), first_name="Jan", last_name="Peeters")
    real = delegation_services._taken_usernames
    reads: list[str] = []

    def missing_the_other_insert(base: str) -> set[str]:
        reads.append(base)
        return set() if len(reads) == 1 else real(base)

    monkeypatch.setattr(delegation_services, "_taken_usernames", missing_the_other_insert)
    with transaction.atomic():
        person, created = person_get_or_create(ssin=ssin_make(1980, 1, 1, 2), first_name="Jan", last_name="Peeters")
    assert created and person.username == "jan.peeters2"
    assert sorted(User.objects.filter(last_name="Peeters").values_list("username", flat=True)) == [
        "jan.peeters",
        "jan.peeters2",
    ]


@pytest.mark.django_db
def test_the_same_new_person_created_meanwhile_is_found_not_duplicated(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two managers add the same unknown INSZ at once: the second finds the first one's person."""
    ssin = ssin_make(1980, 1, 1, 3)
    first, _created = person_get_or_create(ssin=ssin, first_name="An", last_name="Claes")
    real_filter = User.objects.filter
    misses = {"left": 1}

    def filter_missing_once(*args: Any, **kwargs: Any) -> Any:
        if kwargs == {"ssin": ssin} and misses["left"]:
            misses["left"] -= 1
            return real_filter(pk=-1)  # read before the other manager's insert committed
        return real_filter(*args, **kwargs)

    monkeypatch.setattr(User.objects, "filter", filter_missing_once)
    with transaction.atomic():
        person, created = person_get_or_create(ssin=ssin, first_name="An", last_name="Claes")
    assert (person.pk, created) == (first.pk, False)


@pytest.mark.django_db
def test_an_import_that_lost_a_race_runs_again(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run rolled back whole (a username taken meanwhile); the job runs it again, no failure."""
    text = users_csv(3)
    user_import = imports.user_import_start(
        actor=world.zon.people["sb"], subdepartment=world.zon.sd, text=text, rows_total=3
    )
    real = csv_import.rows_import
    calls = {"n": 0}

    def lose_once(**kwargs: Any) -> csv_import.ImportReport:
        calls["n"] += 1
        if calls["n"] == 1:
            with transaction.atomic():
                real(**kwargs)
                raise IntegrityError("UNIQUE constraint failed: accounts_user.username")
        return real(**kwargs)

    monkeypatch.setattr(imports, "rows_import", lose_once)
    assert imports.user_import_run(user_import.pk) == ImportStatus.DONE
    assert calls["n"] == 2
    assert (
        RoleAssignment.objects.active()
        .filter(subdepartment=world.zon.sd, person_last_name__startswith="Achternaam")
        .count()
        == 3
    )


@pytest.mark.django_db
def test_an_import_that_keeps_losing_fails_with_a_message(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    user_import = imports.user_import_start(
        actor=world.zon.people["sb"], subdepartment=world.zon.sd, text=users_csv(2), rows_total=2
    )

    def always_lose(**kwargs: Any) -> None:
        raise ConcurrentChange

    monkeypatch.setattr(imports, "rows_import", always_lose)
    assert imports.user_import_run(user_import.pk) == ImportStatus.FAILED
    assert UserImport.objects.get(pk=user_import.pk).error == imports.ERROR_RACE


# --- PostgreSQL: real concurrency ---------------------------------------------------------------

live_db = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _needs_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so there is no concurrent writer to race")


@contextmanager
def lock_timeout(settings: Any, value: str = "2s") -> Iterator[None]:
    """This connection waits at most ``value`` for any lock: a wait shows as LockNotAvailable, not as time."""
    settings.LOCK_TIMEOUT_MS = 0  # the services' own limit would replace the session's
    with connection.cursor() as cursor:
        cursor.execute(f"SET lock_timeout = '{value}'")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")


class Paused:
    """Runs ``work`` in a thread (its own connection) and holds it at ``pause()`` until released."""

    def __init__(self, work: Callable[[Paused], object]) -> None:
        self.work = work
        self.reached = threading.Event()
        self.release = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run)

    def pause(self) -> None:
        if not self.reached.is_set():
            self.reached.set()
            assert self.release.wait(60), "never released"

    def _run(self) -> None:
        try:
            self.work(self)
        except BaseException as exc:  # reported by the test's thread
            self.error = exc
            self.reached.set()
        finally:
            connections.close_all()

    def __enter__(self) -> Paused:
        self.thread.start()
        assert self.reached.wait(60), "the work never reached its pause"
        assert self.error is None, self.error
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.thread.join(60)
        if self.error is not None and exc[0] is None:
            raise self.error


def _saves_in_the_other_subdepartment(world: World) -> None:
    """Every kind of save in Facility B (and at the quality above it) that a manager may do."""
    zon = world.zon
    cirro, eloket = application_of("cirro"), application_of("eloket")
    subdepartment_applications_set(actor=zon.people["tb"], subdepartment=zon.sd2, applications=[cirro, eloket])
    member = subdepartment_user_add(
        actor=zon.people["sb2"],
        subdepartment=zon.sd2,
        ssin=ssin_make(1975, 5, 5, 5),
        email="b@example.test",
        first_name="Bea",
        last_name="Bos",
        applications=[cirro],
    )
    membership_update(
        actor=zon.people["sb2"],
        membership=member,
        applications=[cirro, eloket],
        status="active",
        email="b2@example.test",
    )
    role_appoint(
        actor=zon.people["sb2"],
        role=Role.CO_SUBDEPARTMENT_MANAGER,
        scope=zon.sd2,
        ssin=zon.people["nobody"].ssin or "",
        email="n@example.test",
    )
    role_appoint(
        actor=zon.people["tb"],
        role=Role.CO_ACCESS_MANAGER,
        scope=zon.eq,
        ssin=zon.people["sb2"].ssin or "",
        email="s@example.test",
    )


@live_db
def test_an_import_in_one_subdepartment_does_not_block_saves_in_another(
    world: World, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """F3: while an import of 300 rows into Facility A runs, Facility B's managers save without waiting.

    Before: the import held the enterprise row for its whole run, and each save here waited for it
    (48.8 s during a 1,000-row preview); with a 2 s lock timeout they fail with LockNotAvailable.
    """
    _needs_postgresql()
    zon = world.zon
    rows = csv_import.parse(users_csv(300))
    settings.LOCK_TIMEOUT_MS = 0

    monkeypatch.setattr(delegation_services, "IMPORT_CHUNK", 100)

    def run_import(paused: Paused) -> None:
        report = csv_import.rows_import(
            actor=zon.people["sb"], subdepartment=zon.sd, rows=rows, dry_run=False, progress=lambda n: paused.pause()
        )
        assert report.committed, report.errors

    with Paused(run_import), lock_timeout(settings):  # the import is mid-run, its transaction open
        _saves_in_the_other_subdepartment(world)
        # In Facility A itself, a member the file does not name is saved too (their checkboxes).
        membership_update(
            actor=zon.people["sb"],
            membership=_membership(world),
            applications=[application_of("cirro")],
            status="active",
            email="u@example.test",
        )
    assert (
        RoleAssignment.objects.active().filter(subdepartment=zon.sd, person_last_name__startswith="Achternaam").count()
        == 300
    )
    assert RoleAssignment.objects.active().filter(subdepartment=zon.sd2, person_last_name="Bos").count() == 1


@live_db
def test_the_preview_takes_no_lock(world: World, settings: Any) -> None:
    """F3: the preview of a file runs while other managers hold every lock the import would take."""
    _needs_postgresql()
    zon = world.zon
    text = users_csv(200)
    rows = csv_import.parse(text)

    def hold_everything(paused: Paused) -> None:
        with transaction.atomic():
            lock_enterprise(zon.enterprise.pk)
            lock_subdepartment(zon.sd.pk)
            list(SubdepartmentApplication.objects.select_for_update().filter(subdepartment=zon.sd))
            list(User.objects.select_for_update().filter(pk__in=[p.pk for p in zon.people.values()]))
            paused.pause()

    with Paused(hold_everything), lock_timeout(settings):
        report = csv_import.rows_import(actor=zon.people["sb"], subdepartment=zon.sd, rows=rows, dry_run=True)
    assert report.ok and not report.committed


@live_db
def test_a_save_that_waits_too_long_for_a_lock_is_told_to_try_again(world: World, settings: Any) -> None:
    """A lock held longer than TOEGANG_LOCK_TIMEOUT_MS: the page says try again instead of hanging (or a 500)."""
    _needs_postgresql()
    settings.LOCK_TIMEOUT_MS = 300
    sd, membership = world.zon.sd, _membership(world)

    def hold_the_subdepartment(paused: Paused) -> None:
        with transaction.atomic():
            lock_subdepartment(sd.pk)
            paused.pause()

    client = login(Client(), world.zon.people["sb"])
    page = en("portal:user_detail", sd.pk, membership.pk)
    with Paused(hold_the_subdepartment):
        response = client.post(
            page, {"email": "late@example.test", "local_email": "", "status": "blocked", "applications": []}
        )
    assert (response.status_code, response["Location"]) == (303, page)
    assert MESSAGE in client.get(page).content.decode()
    membership.refresh_from_db()
    assert membership.status == "active"


@pytest.mark.django_db
def test_an_import_without_applications_locks_nothing_it_does_not_need(world: World) -> None:
    """A file that gives no application: no link to hold (an empty IN on PostgreSQL), the rows added."""
    with transaction.atomic():
        lock_shared(User.objects.filter(pk__in=[]))
    user_import = imports.user_import_start(
        actor=world.zon.people["sb"], subdepartment=world.zon.sd, text=users_csv(2, apps=""), rows_total=2
    )
    assert imports.user_import_run(user_import.pk) == ImportStatus.DONE


# --- Fifty concurrent writers through the portal ------------------------------------------------

WRITERS = 50


def _apps_post(apps: list[SecuredApplication]) -> dict[str, Any]:
    return {"action": "applications", "apps-applications": [str(a.pk) for a in apps]}


@live_db
def test_fifty_concurrent_writers_get_no_5xx_and_the_data_stay_consistent(world: World, settings: Any) -> None:
    """F4: the three races of the attack at once, through the whole portal (middleware, views, services).

    - TB switches applications off and on in Facility A while its SB saves users' checkboxes there
      (before: `deadlock detected` on the shared catalogue rows, 36 of 100);
    - double clicks on the switch form of Facility B (before: IntegrityError
      one_active_subdepartment_application, 16 of 50);
    - both enterprises add people named Jan Peeters at once (before: IntegrityError
      accounts_user_username_key).
    """
    _needs_postgresql()
    zon, ander = world.zon, world.ander
    cirro, eloket, raas = (application_of(c) for c in ("cirro", "eloket", "raas"))
    subdepartment_applications_set(actor=zon.people["tb"], subdepartment=zon.sd, applications=[cirro, eloket, raas])
    members = [_membership(world)] + [
        subdepartment_user_add(
            actor=zon.people["sb"],
            subdepartment=zon.sd,
            ssin=ssin_make(1960, 2, 2, 100 + i),
            email=f"m{i}@example.test",
            first_name=f"Member{i}",
            last_name="Test",
            applications=[cirro],
        )
        for i in range(9)
    ]
    lang = "en"
    with translation.override(lang):
        affairs = {sd.pk: reverse("portal:subdepartment_affairs", args=[sd.pk]) for sd in (zon.sd, zon.sd2)}
        details = {m.pk: reverse("portal:user_detail", args=[zon.sd.pk, m.pk]) for m in members}
        adds = {t.sd.pk: reverse("portal:user_add", args=[t.sd.pk]) for t in (zon, ander)}

    requests: list[tuple[Any, str, dict[str, Any]]] = []
    for i in range(WRITERS):
        kind = i % 5
        if kind == 0:  # TB: switch RaaS and E-loket off and on again in Facility A
            requests.append(
                (zon.people["tb"], affairs[zon.sd.pk], _apps_post([cirro] if i % 10 else [cirro, eloket, raas]))
            )
        elif kind == 1:  # SB: the checkboxes of one user in Facility A
            m = members[i % len(members)]
            requests.append(
                (
                    zon.people["sb"],
                    details[m.pk],
                    {
                        "email": f"c{i}@example.test",
                        "local_email": "",
                        "status": "active",
                        "applications": [str(eloket.pk), str(raas.pk)],
                    },
                )
            )
        elif kind == 2:  # a double click on Facility B's switch form: the same POST
            requests.append((zon.people["tb"], affairs[zon.sd2.pk], _apps_post([cirro, eloket])))
        else:  # a new Jan Peeters in either enterprise
            tenant = zon if i % 2 else ander
            requests.append(
                (
                    tenant.people["sb"],
                    adds[tenant.sd.pk],
                    {
                        "action": "save",
                        "ssin": ssin_make(1985, 3, 3, 200 + i),
                        "username": "",
                        "last_name": "Peeters",
                        "first_name": "Jan",
                        "title": "mr",
                        "language": "nl",
                        "email": f"jan{i}@example.test",
                        "local_email": "",
                        "applications": [],
                    },
                )
            )
    clients = [login(Client(raise_request_exception=False), actor) for actor, _url, _data in requests]
    start = threading.Barrier(WRITERS)
    answers: dict[int, int] = {}

    def write(k: int) -> None:
        _actor, url, data = requests[k]
        try:
            start.wait(30)
            answers[k] = clients[k].post(url, data).status_code
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(k,)) for k in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    statuses = [answers.get(k, 0) for k in range(WRITERS)]
    counts = Counter(statuses)
    assert len(answers) == WRITERS
    assert not [s for s in statuses if s >= 500], counts
    assert set(counts) <= {200, 302, 303}, counts
    # The double clicks wait for each other and all succeed (the second finds the first's links).
    assert {s for (_a, url, _d), s in zip(requests, statuses, strict=True) if url == affairs[zon.sd2.pk]} == {302}

    # Consistent: no grant of an application that is not switched on, one link per application,
    # unique usernames, every Jan Peeters a person with a membership.
    active_links = set(SubdepartmentApplication.objects.active().values_list("subdepartment_id", "application_id"))
    grants = set(ApplicationGrant.objects.active().values_list("subdepartment_id", "application_id"))
    assert grants <= active_links
    per_link = Counter(SubdepartmentApplication.objects.active().values_list("subdepartment_id", "application_id"))
    assert set(per_link.values()) == {1}
    assert {a for sd, a in active_links if sd == zon.sd2.pk} == {cirro.pk, eloket.pk}
    jans = User.objects.filter(first_name="Jan", last_name="Peeters")
    usernames = list(jans.values_list("username", flat=True))
    assert len(usernames) == len(set(usernames))
    for jan in jans:
        assert RoleAssignment.objects.active().filter(person=jan, role=Role.USER).count() == 1
    added = sum(1 for (_a, url, _d), s in zip(requests, statuses, strict=True) if url in adds.values() and s == 302)
    assert jans.count() == added > 0
