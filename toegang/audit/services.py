from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Required, TypedDict

from django.db import models, transaction

from toegang.accounts.models import User
from toegang.audit.middleware import current_request
from toegang.audit.models import AuditEvent
from toegang.organisations.models import Enterprise, EnterpriseQuality, Subdepartment

if TYPE_CHECKING:  # typing.Unpack is Python 3.12's; only the type checker reads it here
    from typing_extensions import Unpack


class AuditFields(TypedDict, total=False):
    """What an audit event records; ``actor``, ``action`` and ``obj`` are always given."""

    actor: Required[User | None]
    action: Required[str]
    obj: Required[models.Model]
    enterprise: Enterprise | None
    enterprise_quality: EnterpriseQuality | None
    subdepartment: Subdepartment | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str


def audit_event(**fields: Unpack[AuditFields]) -> AuditEvent:
    """One audit event, not saved yet: ``audit_record`` saves one, ``audit_record_many`` a batch."""
    ctx = current_request.get()
    obj = fields["obj"]
    return AuditEvent(
        actor=fields["actor"],
        action=fields["action"],
        enterprise=fields.get("enterprise"),
        enterprise_quality=fields.get("enterprise_quality"),
        subdepartment=fields.get("subdepartment"),
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=str(obj)[:300],
        before=fields.get("before"),
        after=fields.get("after"),
        reason=fields.get("reason", "")[:200],
        request_id=ctx.request_id if ctx else "",
        client_address=ctx.client_address if ctx else None,
    )


def _require_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must be called inside the transaction of the change")


def audit_record(**fields: Unpack[AuditFields]) -> AuditEvent:
    """Write one audit event. Must run inside the transaction of the change it records."""
    _require_transaction()
    event = audit_event(**fields)
    event.save()
    return event


def audit_record_many(events: Iterable[AuditEvent]) -> list[AuditEvent]:
    """Write a batch of ``audit_event``s in one statement per thousand, inside the change's transaction."""
    _require_transaction()
    return AuditEvent.objects.bulk_create(events, batch_size=1000)
