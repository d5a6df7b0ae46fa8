from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models, transaction

from toegang.audit.middleware import current_request
from toegang.audit.models import AuditEvent

# The audit app sits below every domain app and imports none of them at run time (the layers
# contract); the models its foreign keys point to are named for the type checker only.
if TYPE_CHECKING:
    from toegang.accounts.models import User
    from toegang.organisations.models import Enterprise, EnterpriseQuality, Subdepartment


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
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must be called inside the transaction of the change")
    ctx = current_request.get()
    return AuditEvent.objects.create(
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
