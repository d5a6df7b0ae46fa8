"""The CSV import as a background job: progress, report, scope, a second run, a killed worker."""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.test import Client, TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from tests.conftest import World, login
from tests.test_jobs_engines import DATABASE_ENGINE, manage, process_env, stop, wait_for
from toegang.accounts.models import User
from toegang.applications.models import ApplicationGrant
from toegang.audit.models import AuditEvent
from toegang.delegation import csv_import, imports
from toegang.delegation.models import ImportStatus, Role, RoleAssignment, UserImport
from toegang.delegation.services import (
    ApplicationLink,
    ImportAlreadyApplied,
    access_changed_messages,
    subdepartment_user_add,
)
from toegang.identifiers import ssin_make
from toegang.mail.models import OutgoingMail
from toegang.organisations.models import Subdepartment

HEADER = "insz;naam;voornaam;e-mailadres;taalkeuze;beveiligde toepassingen\r\n"


def users_csv(n: int, *, start: int = 0, apps: str = "cirro") -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    for i in range(start, start + n):
        # Serial numbers from 401 on: the personas of tests/conftest.py have lower ones.
        ssin = ssin_make(1950 + i % 50, 1 + (i // 50) % 12, 1 + (i // 600) % 28, 401 + (i // 16_800) % 500)
        writer.writerow([ssin, f"Achternaam{i}", f"Voornaam{i}", f"user{i}@example.test", "nl", apps])
    return HEADER + out.getvalue()


def start(world: World, text: str, sd: Subdepartment | None = None) -> UserImport:
    sd = sd or world.zon.sd
    rows = csv_import.parse(text)
    return imports.user_import_start(actor=world.person("sb"), subdepartment=sd, text=text, rows_total=len(rows))


def page_urls(user_import: UserImport, lang: str = "en") -> list[str]:
    args = [user_import.subdepartment_id, user_import.pk]
    with translation.override(lang):
        return [
            reverse(name, args=args)
            for name in ("portal:users_import_progress", "portal:users_import_status", "portal:users_import_report")
        ]


# --- The job and its pages -------------------------------------------------------------------------


def test_status_page_and_json_follow_the_job(world: World, client: Client) -> None:
    login(client, world.person("sb"))
    with TestCase.captureOnCommitCallbacks(execute=False) as enqueued:
        user_import = start(world, users_csv(3))
    progress, status, report = page_urls(user_import)
    page = client.get(progress).content.decode()
    assert '<progress id="import-bar" max="3" value="0"' in page
    assert '<label for="import-bar">Rows imported</label>' in page
    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in page
    assert "/static/toegang/import_progress.js" in page and "<script>" not in page
    data = client.get(status).json()
    assert (data["status"], data["processed"], data["total"], data["finished"]) == ("queued", 0, 3, False)
    assert data["progress_text"] == "Queued: 0 of 3 rows"
    assert client.get(report).status_code == 404  # no report before the end

    with TestCase.captureOnCommitCallbacks(execute=True):
        enqueued[0]()
    data = client.get(status).json()
    assert (data["status"], data["processed"], data["percent"], data["finished"]) == ("done", 3, 100, True)
    with translation.override("nl"):
        assert client.get(page_urls(user_import, "nl")[1]).json()["status_label"] == "Klaar"
    page = client.get(progress).content.decode()
    assert "3 users were imported." in page and "refresh" not in page and "import_progress.js" not in page
    lines = client.get(report).content.decode("utf-8-sig").splitlines()
    assert len(lines) == 4 and lines[1].endswith(";Achternaam0 Voornaam0;New person")


def test_other_tenants_and_plain_users_do_not_see_an_import(world: World, client: Client) -> None:
    with TestCase.captureOnCommitCallbacks(execute=True):
        user_import = start(world, users_csv(2))
    for who in ("ander_sb", "ander_htb", "user", "sb2"):
        login(client, world.person(who))
        for url in page_urls(user_import):
            assert client.get(url).status_code == 404, (who, url)
    # The id of an import under another subdepartment's URL, even one the reader manages, is a 404 too.
    login(client, world.person("tb"))
    assert client.get(page_urls(user_import)[0]).status_code == 200
    other = reverse("portal:users_import_status", args=[world.zon.sd2.pk, user_import.pk])
    assert client.get(other).status_code == 404


def test_a_second_run_of_an_applied_import_changes_nothing(world: World) -> None:
    with TestCase.captureOnCommitCallbacks(execute=True):
        user_import = start(world, users_csv(5))
    user_import.refresh_from_db()
    assert user_import.status == ImportStatus.DONE
    counts = (User.objects.count(), RoleAssignment.objects.count(), AuditEvent.objects.count())
    mails = OutgoingMail.objects.count()
    # As if the queue delivered the job again (a worker killed after the commit, before it said so).
    assert imports.user_import_run(user_import.pk) == ImportStatus.DONE
    # A second run that read the import before the first committed waits for the enterprise's lock,
    # then finds the import applied.
    with pytest.raises(ImportAlreadyApplied):
        csv_import.rows_import(
            actor=world.person("sb"),
            subdepartment=world.zon.sd,
            rows=csv_import.parse(user_import.text),
            dry_run=False,
            user_import=user_import,
        )
    assert (User.objects.count(), RoleAssignment.objects.count(), AuditEvent.objects.count()) == counts
    assert OutgoingMail.objects.count() == mails


def test_a_stale_import_is_enqueued_again_then_failed_after_three_runs(world: World) -> None:
    with TestCase.captureOnCommitCallbacks(execute=False):
        user_import = start(world, users_csv(4))
    long_ago = timezone.now() - timedelta(minutes=5)
    # A worker claimed it and died: RUNNING, one attempt, the heartbeat stopped five minutes ago.
    UserImport.objects.filter(pk=user_import.pk).update(status=ImportStatus.RUNNING, attempts=1, heartbeat=long_ago)
    fresh = start(world, users_csv(1, start=100))  # running fine elsewhere: not touched
    UserImport.objects.filter(pk=fresh.pk).update(status=ImportStatus.RUNNING, heartbeat=timezone.now())
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert imports.imports_recover() == [user_import.pk]
    user_import.refresh_from_db()
    assert (user_import.status, user_import.attempts, user_import.rows_processed) == ("done", 2, 4)
    assert RoleAssignment.objects.active().filter(subdepartment=world.zon.sd, person_last_name="Achternaam3").exists()
    fresh.refresh_from_db()
    assert fresh.status == ImportStatus.RUNNING

    UserImport.objects.filter(pk=fresh.pk).update(attempts=imports.MAX_ATTEMPTS, heartbeat=long_ago)
    assert imports.imports_recover() == []
    fresh.refresh_from_db()
    assert fresh.status == ImportStatus.FAILED
    assert fresh.error == imports.ERROR_INTERRUPTED % {"count": 3}
    assert not User.objects.filter(last_name="Achternaam100").exists()


def test_rows_that_became_members_meanwhile_fail_the_job_with_its_report(world: World) -> None:
    text = users_csv(3)
    with TestCase.captureOnCommitCallbacks(execute=False) as enqueued:
        user_import = start(world, text)
    row = csv_import.parse(text)[1]
    subdepartment_user_add(
        actor=world.person("sb"),
        subdepartment=world.zon.sd,
        ssin=row.ssin,
        email="x@example.test",
        first_name=row.first_name,
        last_name=row.last_name,
    )
    users = User.objects.count()
    with TestCase.captureOnCommitCallbacks(execute=True):
        enqueued[0]()
    user_import.refresh_from_db()
    assert user_import.status == ImportStatus.FAILED and user_import.error == imports.ERROR_CHANGED
    assert user_import.report is not None
    assert [r["outcome"] for r in user_import.report] == ["new", "error", "new"]
    assert User.objects.count() == users


def test_the_import_reads_each_lookup_once_per_file(world: World) -> None:
    """Queries do not grow with the rows: 20 and 200 users take the same reads; writes are bulk batches."""
    counts = []
    inserts = []
    for n, first in ((20, 0), (200, 1000)):
        rows = csv_import.parse(users_csv(n, start=first, apps="cirro|eloket"))
        with CaptureQueriesContext(connection) as queries:
            report = csv_import.rows_import(
                actor=world.person("sb"), subdepartment=world.zon.sd, rows=rows, dry_run=False
            )
        assert report.committed and report.new_count == n
        statements = [q["sql"] for q in queries.captured_queries]
        # A write is an INSERT, or on PostgreSQL a COPY and the SELECT taking its ids from the sequence.
        counts.append(sum(not sql.startswith(("INSERT", "COPY", "SELECT nextval(")) for sql in statements))
        inserts.append(sum(sql.startswith(("INSERT", "COPY")) for sql in statements))
    assert counts[0] == counts[1] <= 15
    # Five tables (persons, memberships, grants, audit events, outbox): one COPY each on PostgreSQL;
    # SQLite's 999 parameters a statement split 200 rows into a few INSERTs.
    assert inserts[0] == 5 and inserts[1] <= (5 if connection.vendor == "postgresql" else 40)
    assert ApplicationGrant.objects.filter(subdepartment=world.zon.sd, person__last_name="Achternaam1100").count() == 2


def test_bulk_mails_read_as_the_single_forms(world: World, settings: Any) -> None:
    """The greeting slots of the shared rendering give the same text as rendering for the person."""
    from django.template.loader import render_to_string

    sd = world.zon.sd
    person = User.objects.create(
        username="ee", ssin=ssin_make(1980, 2, 2, 77), first_name="Émile", last_name="Dupré", title="ms", language="fr"
    )
    membership = RoleAssignment.objects.create(
        person=person, role=Role.USER, enterprise=sd.enterprise, enterprise_quality=sd.enterprise_quality,
        subdepartment=sd, contact_email="e@example.test",
    )  # fmt: skip
    apps = world.apps[:2]
    [(to, subject, body)] = access_changed_messages([(membership, apps, [], False)], new=True)
    with translation.override("fr"):
        context = {
            "greeting": person.salutation(), "subdepartment": sd, "enterprise": sd.enterprise, "new": True,
            "added": [ApplicationLink(a.name, a.link) for a in apps],
            "removed": [], "ended": False, "blocked": False,
            "login_url": f"{settings.BASE_URL}/fr/accounts/login/",
            "username": "ee", "link_days": 14, "link_confirms": False,
            # The link is the membership's own (signed with the time): the one the message carries.
            "activation_link": re.search(r"http://\S+/activate/\S+/", body).group(0),  # type: ignore[union-attr]
        }  # fmt: skip
        assert body == render_to_string("mail/access_changed.txt", context)
        assert subject == render_to_string("mail/access_changed_subject.txt", context).strip()
    assert to == "e@example.test" and body.startswith("Madame Dupré,\n") and "\x00" not in body


# --- A worker killed with SIGKILL in the middle of an import (PostgreSQL) ----------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_kill_9_of_the_worker_leaves_nothing_and_the_import_converges(world: World, settings: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: the progress of a running import is written through a second connection, "
            "which SQLite's single writer lock holds off until the import's transaction ends"
        )
    settings.TASKS = {"default": DATABASE_ENGINE}
    n = 5000
    user_import = start(world, users_csv(n))  # autocommit: the job is in the queue now
    emails = [f"user{i}@example.test" for i in range(n)]
    env = process_env(EMAIL_URL="locmem:", TASK_ENGINE="database")
    args = ("db_worker", "--queue-name", "default", "--interval", "0.1", "--no-startup-delay")
    worker = manage(*args, env=env)
    try:
        # Killed once the run has visibly written progress (its second connection), mid-transaction.
        wait_for(
            lambda: UserImport.objects.filter(pk=user_import.pk, status="running", rows_processed__gt=0).exists(),
            "the import to report progress",
            timeout=120,
        )
        processed = UserImport.objects.get(pk=user_import.pk).rows_processed
        assert 0 < processed < n
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        stop(worker)
    # PostgreSQL rolls the dead connection's transaction back; wait until its backend has gone.
    wait_for(lambda: not _import_transaction_alive(), "the killed worker's transaction to end")
    assert not User.objects.filter(last_name__startswith="Achternaam").exists()
    assert not RoleAssignment.objects.filter(person_last_name__startswith="Achternaam").exists()
    assert not OutgoingMail.objects.filter(to__in=emails).exists()
    assert not AuditEvent.objects.filter(object_repr__contains="Achternaam").exists()
    stuck = UserImport.objects.get(pk=user_import.pk)
    assert (stuck.status, stuck.attempts) == ("running", 1)

    time.sleep(1.2)
    assert imports.imports_recover(stale=timedelta(seconds=1)) == [user_import.pk]
    worker = manage(*args, env=env)
    try:
        wait_for(
            lambda: UserImport.objects.filter(pk=user_import.pk, status__in=["done", "failed"]).exists(),
            "the import to run again",
            timeout=180,
        )
    finally:
        output = stop(worker)
    done = UserImport.objects.get(pk=user_import.pk)
    assert (done.status, done.attempts, done.rows_processed, done.error) == ("done", 2, n, ""), output
    members = RoleAssignment.objects.active().filter(
        subdepartment=world.zon.sd, person_last_name__startswith="Achternaam"
    )
    assert members.count() == n
    per_address = Counter(OutgoingMail.objects.filter(to__in=emails).values_list("to", flat=True))
    assert len(per_address) == n and set(per_address.values()) == {1}


def _import_transaction_alive() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
        )
        row = cursor.fetchone()
    return bool(row and row[0])


@pytest.mark.parametrize(
    ("lang", "summary", "new"),
    [
        ("nl", "10.000 gebruikers werden geïmporteerd.", "Nieuwe personen: 10.000."),
        ("de", "10.000 Benutzer wurden importiert.", "10.000"),
        ("en", "10,000 users were imported.", "New persons: 10,000."),
    ],
)
def test_the_summary_writes_large_counts_as_the_reader_reads_numbers(
    world: World, lang: str, summary: str, new: str
) -> None:
    context = {
        "sd": world.zon.sd,
        "finished": True,
        "status": "done",
        "total": 10000,
        "processed": 10000,
        "report": {"new_count": 10000, "known_count": 0},
        "percent": 100,
        "progress_text": "",
    }
    with translation.override(lang):
        html = render_to_string("portal/users/import_progress.html", context)
    assert summary in html and new in html
