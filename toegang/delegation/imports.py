"""The CSV import of users as a background job: start it, run it, recover it when its worker died.

The preview stays synchronous (``csv_import.rows_import`` with ``dry_run``); "Importeren" stores the
previewed file in a ``UserImport`` and enqueues ``tasks.user_import_run``. The run is one
transaction (``services.subdepartment_users_import``): all or nothing, and the import's status
becomes DONE inside it, so a job run twice applies the file once.

Progress while that transaction is open: the page cannot see the transaction's own writes, so the
job reports through a *second* connection to the same database (``_Progress``), in autocommit, from
a small thread: ``rows_processed`` after each round of ``IMPORT_CHUNK`` rows and a ``heartbeat``
every ``HEARTBEAT_SECONDS``. Only those two columns are written that way; they say how far the run
got and that its worker lives, and nothing of the import itself leaves the transaction. The
alternative, importing in committed chunks, would have left half an import behind a killed worker.
On SQLite the import's transaction holds the database's one write lock, so the second connection
cannot write until it ends: the page sees "queued → running → done" without the steps between (the
development database; production runs PostgreSQL).

A worker killed with SIGKILL takes its open transaction with it (PostgreSQL rolls it back when the
connection drops) and leaves the import RUNNING with a heartbeat that stops moving. ``imports_recover``
(the task ``tasks.imports_recover``, run periodically by the scheduler) re-enqueues such an import,
up to ``MAX_ATTEMPTS`` runs, then marks it failed with a message saying nothing was saved.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from toegang.accounts.models import User
from toegang.delegation import authz, tasks
from toegang.delegation.csv_import import parse, rows_import
from toegang.delegation.models import ImportStatus, Role, UserImport
from toegang.delegation.services import ImportAlreadyApplied
from toegang.locks import is_lost_race
from toegang.organisations.models import Subdepartment

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2.0
MAX_ATTEMPTS = 3
# Runs of one job when a concurrent change collides with the import (a lost race): each sees the last.
RACE_ATTEMPTS = 3

# Stored untranslated (the reader's language is not the worker's), shown translated by the page.
ERROR_CHANGED = gettext_noop("Nothing was imported: the data changed since the preview. See the report.")
ERROR_DENIED = gettext_noop("Nothing was imported: you may no longer add users to this subdepartment.")
ERROR_INTERRUPTED = gettext_noop(
    "Nothing was imported: the import was interrupted %(count)s times (the server stopped). Start it again."
)
ERROR_RACE = gettext_noop(
    "Nothing was imported: other changes in this subdepartment kept colliding with the import. Start it again."
)
ERROR_FILE = gettext_noop("Nothing was imported: the file could not be read again.")
ERROR_UNEXPECTED = gettext_noop("Nothing was imported: an unexpected error occurred.")


def stale_after() -> timedelta:
    """A heartbeat older than this means the import's worker is gone (a run writes one every 2 s)."""
    return timedelta(seconds=settings.IMPORT_STALE_SECONDS)


def user_import_start(
    *, actor: User, subdepartment: Subdepartment, text: str, rows_total: int, file_name: str = ""
) -> UserImport:
    """Store the previewed file and enqueue its import once this transaction commits."""
    authz.require(authz.may_appoint(actor, Role.USER, subdepartment))
    with transaction.atomic():
        user_import = UserImport.objects.create(
            subdepartment=subdepartment,
            actor=actor,
            file_name=file_name[:255],
            digest=hashlib.sha256(text.encode()).hexdigest(),
            text=text,
            rows_total=rows_total,
        )
        _enqueue_on_commit(user_import.pk)
    return user_import


def _enqueue_on_commit(import_id: int) -> None:
    transaction.on_commit(lambda: tasks.user_import_run.enqueue(import_id))


class _Progress:
    """Writes ``rows_processed`` and ``heartbeat`` through its own connection, from its own thread."""

    def __init__(self, import_id: int) -> None:
        self.import_id = import_id
        self.done = 0
        self._stop = threading.Event()
        self._changed = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"import-{import_id}-progress", daemon=True)

    def __call__(self, done: int) -> None:
        self.done = done
        self._changed.set()

    def __enter__(self) -> _Progress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._changed.set()
        self._thread.join()

    def _run(self) -> None:
        # A fresh connection, not the thread's alias: it must not share the import's transaction.
        conn = connections.create_connection(DEFAULT_DB_ALIAS)
        table = UserImport._meta.db_table
        try:
            while not self._stop.is_set():
                self._changed.wait(HEARTBEAT_SECONDS)
                self._changed.clear()
                if self._stop.is_set():
                    break
                if conn.vendor != "postgresql":
                    continue  # SQLite: the import holds the write lock (module docstring)
                try:
                    with conn.cursor() as cursor:
                        cursor.execute(
                            f"UPDATE {table} SET rows_processed = %s, heartbeat = %s WHERE id = %s",  # noqa: S608
                            [self.done, timezone.now(), self.import_id],
                        )
                except DatabaseError:
                    logger.warning("import %s: progress not written", self.import_id, exc_info=True)
        finally:
            conn.close()


def _finish(import_id: int, status: ImportStatus, error: str, report: object = None) -> None:
    """Record the end of a run that applied nothing, unless another run finished the import first."""
    now = timezone.now()
    UserImport.objects.filter(pk=import_id).exclude(status=ImportStatus.DONE).update(
        status=status, error=error, report=report, finished_at=now, heartbeat=now
    )


def user_import_run(import_id: int) -> str:
    """Run one import (the job's body); returns its final status."""
    user_import = UserImport.objects.select_related("actor", "subdepartment").filter(pk=import_id).first()
    if user_import is None or user_import.is_finished:
        return user_import.status if user_import else "missing"
    now = timezone.now()
    UserImport.objects.filter(pk=import_id).update(
        status=ImportStatus.RUNNING, attempts=F("attempts") + 1, started_at=now, heartbeat=now, rows_processed=0
    )
    try:
        rows = parse(user_import.text)
    except ValidationError:
        _finish(import_id, ImportStatus.FAILED, ERROR_FILE)
        return ImportStatus.FAILED
    for attempt in range(1, RACE_ATTEMPTS + 1):
        try:
            with _Progress(import_id) as progress:
                report = rows_import(
                    actor=user_import.actor,
                    subdepartment=user_import.subdepartment,
                    rows=rows,
                    dry_run=False,
                    user_import=user_import,
                    progress=progress,
                )
        except ImportAlreadyApplied:
            return ImportStatus.DONE
        except PermissionDenied:
            _finish(import_id, ImportStatus.FAILED, ERROR_DENIED)
            return ImportStatus.FAILED
        except Exception as exc:
            if not is_lost_race(exc):
                logger.exception("import %s failed", import_id)
                _finish(import_id, ImportStatus.FAILED, ERROR_UNEXPECTED)
                raise
            # A concurrent change collided with a row (the same person added, a username taken) and
            # the whole run rolled back: run it again, which sees that change.
            logger.info("import %s: lost a race on attempt %s (%s)", import_id, attempt, exc)
            continue
        break
    else:
        _finish(import_id, ImportStatus.FAILED, ERROR_RACE)
        return ImportStatus.FAILED
    if not report.committed:
        _finish(import_id, ImportStatus.FAILED, ERROR_CHANGED, report.as_json())
        return ImportStatus.FAILED
    return ImportStatus.DONE


def imports_recover(*, stale: timedelta | None = None) -> list[int]:
    """Re-enqueue the imports whose worker died (heartbeat older than ``stale``); returns their ids.

    Queued imports count too: their job may have been lost with the worker that had claimed it.
    A second run of an import that is in fact still alive is harmless: it waits for the run's advisory
    lock (``locks.lock_import_run``) and then stops at ``ImportAlreadyApplied``.
    """
    cutoff = timezone.now() - (stale or stale_after())
    recovered: list[int] = []
    unfinished = UserImport.objects.filter(status__in=[ImportStatus.QUEUED, ImportStatus.RUNNING]).filter(
        Q(heartbeat__lt=cutoff) | Q(heartbeat__isnull=True, created_at__lt=cutoff)
    )
    for user_import in unfinished.only("pk", "attempts"):
        with transaction.atomic():
            if user_import.attempts >= MAX_ATTEMPTS:
                _finish(user_import.pk, ImportStatus.FAILED, ERROR_INTERRUPTED % {"count": user_import.attempts})
                continue
            # The heartbeat moves so that the next sweep does not enqueue it again while it waits.
            claimed = (
                UserImport.objects.filter(pk=user_import.pk, status__in=[ImportStatus.QUEUED, ImportStatus.RUNNING])
                .filter(Q(heartbeat__lt=cutoff) | Q(heartbeat__isnull=True))
                .update(status=ImportStatus.QUEUED, heartbeat=timezone.now())
            )
            if claimed:
                _enqueue_on_commit(user_import.pk)
                recovered.append(user_import.pk)
    if recovered:
        logger.warning("imports re-enqueued after their worker stopped: %s", recovered)
    return recovered
