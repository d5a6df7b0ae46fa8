"""toegang.bulk.copy_insert: COPY on PostgreSQL, bulk_create elsewhere, the same rows either way."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import translation
from django.utils.translation import gettext_lazy

from tests.conftest import World
from toegang.audit.actions import Action
from toegang.audit.models import AuditEvent
from toegang.audit.services import audit_columns, audit_event, audit_record_many, audit_record_rows
from toegang.bulk import copy_insert, copy_insert_rows
from toegang.mail.models import MailStatus, OutgoingMail

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def _mails(tag: str) -> list[OutgoingMail]:
    return [
        OutgoingMail(
            to=f"{tag}{i}@example.test", subject=f"Subject {i} ' \" \\ ; \t é", body="line\nline", created_at=WHEN
        )
        for i in range(3)
    ]


def _columns(objs: list[Any], exclude: set[str]) -> list[dict[str, Any]]:
    model = type(objs[0])
    names = [f.attname for f in model._meta.concrete_fields if f.attname not in exclude]
    return list(model.objects.filter(pk__in=[o.pk for o in objs]).order_by("pk").values(*names))


def test_rows_and_pks_as_bulk_create_writes_them() -> None:
    copied = copy_insert(OutgoingMail, _mails("c"))
    created = OutgoingMail.objects.bulk_create(_mails("c"))
    assert all(o.pk is not None and not o._state.adding for o in copied)
    assert len({o.pk for o in copied + created}) == 6
    assert _columns(copied, {"id", "next_attempt_at"}) == _columns(created, {"id", "next_attempt_at"})
    stored = OutgoingMail.objects.get(pk=copied[1].pk)
    assert (stored.to, stored.status, stored.attempts, stored.sent_at) == (
        "c1@example.test",
        MailStatus.PENDING,
        0,
        None,
    )
    assert stored.subject == "Subject 1 ' \" \\ ; \t é" and stored.body == "line\nline"
    assert stored.created_at == WHEN


def test_the_sequence_stays_ahead_of_the_ids_written() -> None:
    copied = copy_insert(OutgoingMail, _mails("s"))
    later = OutgoingMail.objects.create(to="later@example.test", subject="s", body="b")
    assert later.pk > max(o.pk for o in copied)


def test_json_nulls_and_lazy_strings() -> None:
    events = [
        AuditEvent(action="user.add", params={"n": 1, "name": "Élise 'q'"}, before=None, after={"a": [1, None]}),
        AuditEvent(action="grant.add", object_repr=gettext_lazy("User"), params={}, client_address="192.0.2.7"),  # type: ignore[misc]
    ]
    with translation.override("en"):  # the lazy string is cast in the language of the insert
        copy_insert(AuditEvent, events)
    first, second = AuditEvent.objects.filter(pk__in=[e.pk for e in events]).order_by("pk")
    assert (first.params, first.before, first.after) == ({"n": 1, "name": "Élise 'q'"}, None, {"a": [1, None]})
    assert second.object_repr == "User" and second.client_address == "192.0.2.7"
    assert first.at is not None  # its default, filled as save() would


def test_all_or_nothing_with_the_enclosing_transaction() -> None:
    before = OutgoingMail.objects.count()
    with transaction.atomic():
        copy_insert(OutgoingMail, _mails("r"))
        assert OutgoingMail.objects.count() == before + 3
        transaction.set_rollback(True)
    assert OutgoingMail.objects.count() == before


def test_nothing_to_insert() -> None:
    assert copy_insert(OutgoingMail, []) == []


def test_the_vendor_path() -> None:
    # On PostgreSQL the rows go by COPY: no INSERT statement is executed.
    statements: list[str] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        copy_insert(OutgoingMail, _mails("v"))
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
    assert bool(inserts) == (connection.vendor != "postgresql")


def test_rows_as_columns_get_the_defaults_an_instance_gets() -> None:
    row = {"to": "a@example.test", "subject": "s", "body": "b", "created_at": WHEN}
    pks = copy_insert_rows(OutgoingMail, [row, row])
    assert len(set(pks)) == 2
    stored = OutgoingMail.objects.get(pk=pks[0])
    instance = OutgoingMail(to="a@example.test", subject="s", body="b", created_at=WHEN)
    for name in ("status", "attempts", "html", "language", "last_error", "sent_at", "created_at"):
        assert getattr(stored, name) == getattr(instance, name), name
    assert stored.next_attempt_at is not None
    assert copy_insert_rows(OutgoingMail, []) == []


def test_audit_columns_write_what_audit_event_writes(world: World) -> None:
    sd = world.zon.sd
    person = world.zon.people["user"]
    fields: dict[str, Any] = {
        "actor": world.operator,
        "action": Action.USER_ADD,
        "obj": person,
        "subdepartment": sd,
        "enterprise": sd.enterprise,
        "enterprise_quality": sd.enterprise_quality,
        "params": {"role": "user"},
        "after": {"x": 1},
    }
    with transaction.atomic():
        audit_record_rows([audit_columns(**fields)])
        audit_record_many([audit_event(**fields)])
    copied, saved = AuditEvent.objects.order_by("-id")[:2][::-1]
    names = [f.attname for f in AuditEvent._meta.concrete_fields if f.attname not in {"id", "at"}]
    assert {n: getattr(copied, n) for n in names} == {n: getattr(saved, n) for n in names}
    assert copied.person_id == person.pk and copied.params["person_ssin"] == person.ssin
