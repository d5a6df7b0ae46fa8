"""The one lock order of the domain, and what a lost race is (docs/architecture.md, "Locks").

Every service that changes the delegation chain takes its row locks through these functions, top
down, and never goes back up:

1. the enterprise row: changes at the level of the enterprise or of one of its qualities (roles
   there, activating a quality, adding a subdepartment);
2. the subdepartment row: every change inside one subdepartment (its managers and users, their
   applications, the applications switched on, its certificates);
3. person rows: ``FOR SHARE`` when a change only copies their data (adding a membership), ``FOR
   UPDATE`` when their own data change (accounts);
4. role assignments, 5. switched-on application links, 6. application grants: ``FOR UPDATE OF``
   the row itself.

``of=("self",)`` everywhere: a ``select_related`` join never locks the rows it joins, so the shared
catalogue (applications, qualities), which every enterprise reads, is never locked. The CSV import
takes no lock on the enterprise or the subdepartment (``subdepartment_users_import``), and its
preview none at all.

A lost race (a unique index that caught a double post, a deadlock, a serialization failure, a lock
wait longer than ``TOEGANG_LOCK_TIMEOUT_MS``) is ``ConcurrentChange`` or the database error itself;
``is_lost_race`` recognises both, and the portal's middleware and the API's handler answer it with
``lost_race_message`` (a message on the page, a 409) instead of a 500.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import DatabaseError, IntegrityError, OperationalError, connection
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from toegang.organisations.models import Enterprise, Subdepartment

# SQLSTATEs of a lost race: deadlock_detected, serialization_failure, lock_not_available, unique_violation.
_LOST_RACE_SQLSTATES = frozenset({"40P01", "40001", "55P03", "23505"})


class ConcurrentChange(Exception):
    """Someone else changed the same data meanwhile; nothing of this change was saved."""


def lost_race_message() -> str:
    return _("This was changed by someone else meanwhile; try again.")


def is_lost_race(exc: BaseException) -> bool:
    """Did ``exc`` end a change because a concurrent change won (not because of a bug or bad input)?"""
    if isinstance(exc, ConcurrentChange):
        return True
    if not isinstance(exc, DatabaseError):
        return False
    cause = exc.__cause__
    if getattr(cause, "sqlstate", None) in _LOST_RACE_SQLSTATES:  # psycopg
        return True
    # SQLite serialises writers: a unique index that caught a double post, or a writer that waited
    # longer than its busy timeout.
    text = str(exc)
    return (isinstance(exc, IntegrityError) and text.startswith("UNIQUE constraint failed")) or (
        isinstance(exc, OperationalError) and "database is locked" in text
    )


def _postgresql() -> bool:
    return connection.vendor == "postgresql"


def _wait_at_most() -> None:
    """A web request waits this long for a lock, then answers "try again" (rather than a proxy's timeout)."""
    timeout = settings.LOCK_TIMEOUT_MS
    if timeout and _postgresql() and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{int(timeout)}ms"])


def lock_enterprise(enterprise_id: int) -> None:
    """Level 1: a change at the level of the enterprise or of one of its qualities."""
    _wait_at_most()
    Enterprise.objects.select_for_update(of=("self",)).filter(pk=enterprise_id).values_list("pk").first()


def lock_subdepartment(subdepartment_id: int) -> None:
    """Level 2: a change inside one subdepartment (not its enterprise: other subdepartments go on)."""
    _wait_at_most()
    Subdepartment.objects.select_for_update(of=("self",)).filter(pk=subdepartment_id).values_list("pk").first()


def lock_scope(*, enterprise_id: int, subdepartment_id: int | None) -> None:
    """The row a role or membership change locks: its subdepartment's, or else its enterprise's."""
    if subdepartment_id is not None:
        lock_subdepartment(subdepartment_id)
    else:
        lock_enterprise(enterprise_id)


# The first number of the advisory locks toegang takes (the second is the row's id).
_ADVISORY_USER_IMPORT = 0x7467_0001
_ADVISORY_JOB = 0x7467_0002


def lock_job(name: str) -> None:
    """One run of a periodic job at a time, until its transaction ends (PostgreSQL; SQLite serialises writers).

    For jobs that read what was done before deciding what to do (the expiry reminders): a second run
    waits, then reads what the first one recorded.
    """
    if _postgresql():
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big") % 2**31
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s::int4, %s::int4)", [_ADVISORY_JOB, key])


def lock_import_run(import_id: int) -> None:
    """Before all others in an import's run: two runs of the same import (a redelivered job) one after the other.

    An advisory lock (PostgreSQL), not the import's row: the run's progress thread writes that row
    from its own connection meanwhile.
    """
    if _postgresql():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s::int4, %s::int4)", [_ADVISORY_USER_IMPORT, import_id % 2**31]
            )


def lock_shared(queryset: QuerySet[Any]) -> None:
    """Levels 3 and 5: ``FOR SHARE OF`` the queryset's rows (PostgreSQL; SQLite serialises writers), in id order.

    The rows cannot change or end until this transaction ends, yet other changes that only read them
    (another import of the same person) go on beside it. Django's ``select_for_update`` has no share mode.
    """
    if not _postgresql():
        return
    try:
        sql, params = queryset.order_by("pk").values_list("pk").query.sql_with_params()
    except EmptyResultSet:  # filter(x__in=[]): no row to lock
        return
    table = connection.ops.quote_name(queryset.model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} FOR SHARE OF {table}", params)
