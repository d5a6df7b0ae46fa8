"""Inserting thousands of rows at once: ``COPY ... FROM STDIN`` on PostgreSQL, ``bulk_create`` elsewhere.

Django's PostgreSQL ``bulk_create`` sends each column as an array (``UNNEST``) that psycopg's
client-side binding quotes in Python, value by value; ``COPY`` through psycopg 3's
``cursor.copy()`` adapts each row in C and is several times faster for the CSV import's tables
(users, role assignments, grants, audit events, outbox mails). Like ``bulk_create`` it sends no
signals and calls no ``save()``: what ``save()`` would fill must be on the instances already.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from django.db import connections, models, router
from django.db.models.fields import AutoFieldMixin
from django.utils.functional import Promise

_M = TypeVar("_M", bound=models.Model)

# Fields whose value goes to the database as the instance holds it (``get_db_prep_save`` only
# checks or casts what psycopg adapts the same way): read from the instance's ``__dict__``, which
# saves the field method calls that were most of ``copy_insert``'s time. Exact classes only: a
# subclass may prepare its value.
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
    meta = model._meta
    if meta.parents:
        raise ValueError(f"copy_insert does not handle multi-table inheritance ({meta.label})")
    pk = meta.pk
    assert pk is not None
    fields = list(meta.concrete_fields)
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        missing = [o for o in objs if o.pk is None]
        if missing:
            if not isinstance(pk, AutoFieldMixin):
                raise ValueError(f"{meta.label}: objects without a pk and a pk that is not generated")
            # COPY has no RETURNING: take the ids from the column's own sequence first, so the
            # sequence stays ahead of every id written, as with an INSERT that lets it choose.
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [quote(meta.db_table), pk.column, len(missing)],
            )
            for obj, (new_id,) in zip(missing, cursor.fetchall(), strict=True):
                obj.pk = new_id
        columns = ", ".join(quote(f.column) for f in fields)
        plain = [type(f) in _AS_IS for f in fields]
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        with raw.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy:
            for obj in objs:
                values = obj.__dict__
                row = []
                for f, as_is in zip(fields, plain, strict=True):
                    value = values[f.attname] if as_is else None
                    if not as_is or isinstance(value, Promise):  # a lazy string is cast by the field
                        value = f.get_db_prep_save(f.pre_save(obj, True), connection)
                    row.append(value)
                copy.write_row(row)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = alias
    return objs
