from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import models, transaction

from toegang.accounts.models import User
from toegang.audit.middleware import current_request
from toegang.audit.models import AuditEvent
from toegang.organisations.models import Enterprise, EnterpriseQuality, Subdepartment


def audit_event(
    *,
    actor: User | None,
    action: str,
    obj: models.Model,
    enterprise: Enterprise | None = None,
    enterprise_quality: EnterpriseQuality | None = None,
    subdepartment: Subdepartment | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
) -> AuditEvent:
    """One audit event, not saved yet: ``audit_record`` saves one, ``audit_record_many`` a batch."""
    ctx = current_request.get()
    return AuditEvent(
        actor=actor,
        action=action,
        enterprise=enterprise,
        enterprise_quality=enterprise_quality,
        subdepartment=subdepartment,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=str(obj)[:300],
        before=before,
        after=after,
        reason=reason[:200],
        request_id=ctx.request_id if ctx else "",
        client_address=ctx.client_address if ctx else None,
    )


def _require_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must be called inside the transaction of the change")


def audit_record(
    *,
    actor: User | None,
    action: str,
    obj: models.Model,
    enterprise: Enterprise | None = None,
    enterprise_quality: EnterpriseQuality | None = None,
    subdepartment: Subdepartment | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
) -> AuditEvent:
    """Write one audit event. Must run inside the transaction of the change it records."""
    _require_transaction()
    event = audit_event(
        actor=actor,
        action=action,
        obj=obj,
        enterprise=enterprise,
        enterprise_quality=enterprise_quality,
        subdepartment=subdepartment,
        before=before,
        after=after,
        reason=reason,
    )
    event.save()
    return event


def audit_record_many(events: Iterable[AuditEvent]) -> list[AuditEvent]:
    """Write a batch of ``audit_event``s in one statement per thousand, inside the change's transaction."""
    _require_transaction()
    return AuditEvent.objects.bulk_create(events, batch_size=1000)
