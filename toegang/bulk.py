"""Inserting thousands of rows at once: ``COPY ... FROM STDIN`` on PostgreSQL, ``bulk_create`` elsewhere.

Django's PostgreSQL ``bulk_create`` sends each column as an array (``UNNEST``) that psycopg's
client-side binding quotes in Python, value by value; ``COPY`` through psycopg 3's
``cursor.copy()`` adapts each row in C and is several times faster for the CSV import's tables
(users, role assignments, grants, audit events, outbox mails). Like ``bulk_create`` it sends no
signals and calls no ``save()``: what ``save()`` would fill must be on the instances already.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.db import connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.fields import AutoFieldMixin
from django.utils import timezone
from django.utils.functional import Promise

_M = TypeVar("_M", bound=models.Model)

# Fields whose value goes to the database as the instance holds it (``get_db_prep_save`` only
# checks or casts what psycopg adapts the same way): read from the instance's ``__dict__``, which
# saves the field method calls that were most of ``copy_insert``'s time. Exact classes only: a
# subclass may prepare its value. DateTimeField too, but not with auto_now(_add) (see _plain).
_AS_IS = frozenset(
    {
        models.AutoField,
        models.BigAutoField,
        models.CharField,
        models.TextField,
        models.EmailField,
        models.SlugField,
        models.IntegerField,
        models.BigIntegerField,
        models.SmallIntegerField,
        models.PositiveIntegerField,
        models.PositiveSmallIntegerField,
        models.BooleanField,
        models.ForeignKey,
        models.OneToOneField,
    }
)

# Rows per INSERT when falling back to bulk_create (SQLite's variable limit is per statement).
BULK_BATCH = 1000


def copy_insert(model: type[_M], objs: Iterable[_M]) -> list[_M]:
    """Insert the unsaved ``objs`` of ``model``; their pks are set afterwards, as ``bulk_create`` does.

    Defaults come from the instances (``Model.__init__`` filled them) and ``pre_save`` (``auto_now_add``).
    """
    objs = list(objs)
    if not objs:
        return objs
    alias = router.db_for_write(model)
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return model._default_manager.using(alias).bulk_create(objs, batch_size=BULK_BATCH)
    fields = _fields(model)
    missing = [o for o in objs if o.pk is None]
    for obj, new_id in zip(missing, _ids(connection, model, len(missing)), strict=True):
        obj.pk = new_id
    plain = [_plain(f) for f in fields]

    def values(obj: _M) -> list[Any]:
        attrs = obj.__dict__
        row = []
        for f, as_is in zip(fields, plain, strict=True):
            value = attrs[f.attname] if as_is else None
            if not (as_is and _ready(value)):
                value = f.get_db_prep_save(f.pre_save(obj, True), connection)
            row.append(value)
        return row

    _copy(connection, model, fields, map(values, objs))
    for obj in objs:
        obj._state.adding = False
        obj._state.db = alias
    return objs


def copy_insert_rows(model: type[models.Model], rows: Iterable[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` of ``model`` given as columns (``attname`` → value), no instance built; returns their pks.

    A column left out gets the field's default (``auto_now``/``auto_now_add``: now), as a new instance would.
    On other databases than PostgreSQL the rows become instances for ``bulk_create``.
    """
    rows = list(rows)
    if not rows:
        return []
    alias = router.db_for_write(model)
    connection = connections[alias]
    pk = model._meta.pk
    assert pk is not None
    if connection.vendor != "postgresql":
        objs = model._default_manager.using(alias).bulk_create([model(**row) for row in rows], batch_size=BULK_BATCH)
        return [o.pk for o in objs]
    fields = _fields(model)
    ids = iter(_ids(connection, model, sum(1 for r in rows if r.get(pk.attname) is None)))
    plain = [_plain(f) for f in fields]
    now = timezone.now()
    pks: list[int] = []

    def values(row: dict[str, Any]) -> list[Any]:
        if row.get(pk.attname) is None:
            row = {**row, pk.attname: next(ids)}
        pks.append(row[pk.attname])
        out = []
        for f, as_is in zip(fields, plain, strict=True):
            if f.attname in row:
                value = row[f.attname]
            elif getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                value = now
            else:
                value = f.get_default()
            if not (as_is and _ready(value)):
                value = f.get_db_prep_save(value, connection)
            out.append(value)
        return out

    _copy(connection, model, fields, map(values, rows))
    return pks


def _plain(f: models.Field[Any, Any]) -> bool:
    if type(f) is models.DateTimeField:
        return not (f.auto_now or f.auto_now_add)  # those are filled by pre_save
    return type(f) in _AS_IS


def _ready(value: Any) -> bool:
    # A plain field's value goes as it is unless the field would change it: a lazy string is cast,
    # a naive datetime made aware (with the field's warning).
    if isinstance(value, datetime):
        return value.tzinfo is not None
    return not isinstance(value, Promise)


def _fields(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    meta = model._meta
    if meta.parents:
        raise ValueError(f"copy_insert does not handle multi-table inheritance ({meta.label})")
    return list(meta.concrete_fields)


def _ids(connection: BaseDatabaseWrapper, model: type[models.Model], n: int) -> list[int]:
    if not n:
        return []
    pk = model._meta.pk
    if not isinstance(pk, AutoFieldMixin):
        raise ValueError(f"{model._meta.label}: rows without a pk and a pk that is not generated")
    # COPY has no RETURNING: take the ids from the column's own sequence first, so the sequence
    # stays ahead of every id written, as with an INSERT that lets it choose.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [connection.ops.quote_name(model._meta.db_table), pk.column, n],
        )
        return [new_id for (new_id,) in cursor.fetchall()]


def _copy(
    connection: BaseDatabaseWrapper,
    model: type[models.Model],
    fields: list[models.Field[Any, Any]],
    rows: Iterable[list[Any]],
) -> None:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    sql = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"
    start = time.monotonic()
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper, which has no copy()
        with raw.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
    if connection.queries_logged:  # as Django logs its statements (DEBUG, CaptureQueriesContext)
        connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - start:.3f}"})


def outbox_claim(
    model: type[_M], *, count: int, lease: timedelta, pending: str, sending: str
) -> models.QuerySet[_M] | None:
    """Claim up to ``count`` due rows of an outbox (a model with ``status`` and ``next_attempt_at``:
    the mail outbox, the back-channel logouts) for one worker: they become ``sending`` with a lease
    until now + ``lease``. The claimed rows, or None when nothing is due.

    PostgreSQL: workers on several hosts skip each other's rows instead of queueing behind them.
    SQLite has no row locks (select_for_update is ignored there), but toegang opens its SQLite
    transactions IMMEDIATE, so claims are serialised by the database lock. Either way the claim is a
    conditional UPDATE on the status read, and the rows kept are those carrying this claim's lease,
    so a row is never claimed twice. Call it inside ``transaction.atomic()``.
    """
    now = timezone.now()
    lease_until = now + lease
    due = model._default_manager.filter(status=pending, next_attempt_at__lte=now).order_by("next_attempt_at", "id")
    ids = list(due.select_for_update(skip_locked=True).values_list("pk", flat=True)[:count])
    if not ids:
        return None
    model._default_manager.filter(pk__in=ids, status=pending).update(status=sending, next_attempt_at=lease_until)
    return model._default_manager.filter(pk__in=ids, status=sending, next_attempt_at=lease_until)
