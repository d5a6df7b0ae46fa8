"""The one way an audit event is written.

``toegang.audit`` sits below every domain app: it imports none of them at run time (the types
below are for mypy only), and takes what it records as plain model instances.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models, transaction

from toegang.audit.actions import Action
from toegang.audit.middleware import current_request
from toegang.audit.models import AuditEvent
from toegang.bulk import copy_insert, copy_insert_rows

if TYPE_CHECKING:
    from toegang.accounts.models import User
    from toegang.organisations.models import Enterprise, EnterpriseQuality, Subdepartment

if TYPE_CHECKING:  # typing.Unpack is Python 3.12's; only the type checker reads it here
    pass


def person_params(person: User) -> dict[str, Any]:
    """How an event names a person: as data, in no language."""
    return {
        "person_id": person.pk,
        "person_name": f"{person.first_name} {person.last_name}".strip() or person.username,
        "person_ssin": person.ssin or "",
    }


def _scope_params(
    enterprise: Enterprise | None, enterprise_quality: EnterpriseQuality | None, subdepartment: Subdepartment | None
) -> dict[str, Any]:
    # Names of enterprises and subdepartments are not translated: kept as data. A quality has a
    # name per language, so only its id is kept and the reader's name is looked up at read time.
    params: dict[str, Any] = {}
    if enterprise is not None:
        params |= {"enterprise_id": enterprise.pk, "enterprise_name": enterprise.name}
    if enterprise_quality is not None:
        params |= {"quality_id": enterprise_quality.quality_id}
    if subdepartment is not None:
        params |= {"subdepartment_id": subdepartment.pk, "subdepartment_name": subdepartment.name}
    return params


def audit_event(
    *,
    actor: User | None,
    action: Action,
    obj: models.Model | None = None,
    person: User | None = None,
    enterprise: Enterprise | None = None,
    enterprise_quality: EnterpriseQuality | None = None,
    subdepartment: Subdepartment | None = None,
    params: Mapping[str, Any] | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
    object_type: str = "",
    object_repr: str = "",
) -> AuditEvent:
    """One audit event, not saved yet: ``audit_record`` saves one, ``audit_record_many`` a batch.

    ``obj`` is optional for events about no row (a failed login of an unknown name): ``object_type``
    and ``object_repr`` then say what was attempted. ``person`` is the person the event concerns;
    it defaults to ``obj`` when that is a person. ``reason`` is a ``Reason`` code where the code
    chose it, the manager's text otherwise.
    """
    if not isinstance(action, Action):
        raise TypeError(f"audit action must be an Action, not {action!r}")
    if person is None and obj is not None and obj._meta.label_lower == settings.AUTH_USER_MODEL.lower():
        person = obj  # type: ignore[assignment]
    return AuditEvent(
        actor=actor,
        action=action.value,
        person=person,
        enterprise=enterprise,
        enterprise_quality=enterprise_quality,
        subdepartment=subdepartment,
        **_columns(
            enterprise, enterprise_quality, subdepartment, obj, person, params, reason, object_type, object_repr
        ),
        before=before,
        after=after,
    )


def audit_columns(
    *,
    actor: User | None,
    action: Action,
    obj: models.Model | None = None,
    person: User | None = None,
    enterprise: Enterprise | None = None,
    enterprise_quality: EnterpriseQuality | None = None,
    subdepartment: Subdepartment | None = None,
    params: Mapping[str, Any] | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
    object_type: str = "",
    object_repr: str = "",
) -> dict[str, Any]:
    """``audit_event``'s row as columns, no model instance built, for ``audit_record_rows``.

    Building ten thousand ``AuditEvent`` instances was a large part of a CSV import's time.
    """
    if not isinstance(action, Action):
        raise TypeError(f"audit action must be an Action, not {action!r}")
    if person is None and obj is not None and obj._meta.label_lower == settings.AUTH_USER_MODEL.lower():
        person = obj  # type: ignore[assignment]
    return {
        "actor_id": actor.pk if actor is not None else None,
        "action": action.value,
        "person_id": person.pk if person is not None else None,
        "enterprise_id": enterprise.pk if enterprise is not None else None,
        "enterprise_quality_id": enterprise_quality.pk if enterprise_quality is not None else None,
        "subdepartment_id": subdepartment.pk if subdepartment is not None else None,
        **_columns(
            enterprise, enterprise_quality, subdepartment, obj, person, params, reason, object_type, object_repr
        ),
        "before": before,
        "after": after,
    }


def _columns(
    enterprise: Enterprise | None,
    enterprise_quality: EnterpriseQuality | None,
    subdepartment: Subdepartment | None,
    obj: models.Model | None,
    person: User | None,
    params: Mapping[str, Any] | None,
    reason: str,
    object_type: str,
    object_repr: str,
) -> dict[str, Any]:
    # The columns audit_event and audit_columns compute alike (not the relations, which one sets as
    # instances and the other as ids).
    facts = _scope_params(enterprise, enterprise_quality, subdepartment)
    if person is not None:
        facts |= person_params(person)
    facts |= dict(params or {})
    ctx = current_request.get()
    return {
        "object_type": obj._meta.label_lower if obj is not None else object_type,
        "object_id": str(obj.pk) if obj is not None else "",
        "object_repr": (object_repr or (str(obj) if obj is not None else ""))[:300],
        "params": facts,
        "reason": reason[:200],
        "request_id": ctx.request_id if ctx else "",
        "client_address": ctx.client_address if ctx else None,
    }


def _require_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must be called inside the transaction of the change")


def audit_record(
    *,
    actor: User | None,
    action: Action,
    obj: models.Model | None = None,
    person: User | None = None,
    enterprise: Enterprise | None = None,
    enterprise_quality: EnterpriseQuality | None = None,
    subdepartment: Subdepartment | None = None,
    params: Mapping[str, Any] | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
    object_type: str = "",
    object_repr: str = "",
) -> AuditEvent:
    """Write one audit event (see ``audit_event``). Must run inside the transaction of the change it records."""
    event = audit_event(
        actor=actor,
        action=action,
        obj=obj,
        person=person,
        enterprise=enterprise,
        enterprise_quality=enterprise_quality,
        subdepartment=subdepartment,
        params=params,
        before=before,
        after=after,
        reason=reason,
        object_type=object_type,
        object_repr=object_repr,
    )
    _require_transaction()
    event.save()
    return event


def audit_record_many(events: Iterable[AuditEvent]) -> list[AuditEvent]:
    """Write a batch of ``audit_event``s (``COPY`` on PostgreSQL), inside the change's transaction."""
    _require_transaction()
    return copy_insert(AuditEvent, events)


def audit_record_rows(rows: Iterable[dict[str, Any]]) -> None:
    """Write a batch of ``audit_columns`` (``COPY`` on PostgreSQL), inside the change's transaction."""
    _require_transaction()
    copy_insert_rows(AuditEvent, rows)
