"""Reads of the audit trail that need no authorization beyond being the person concerned.

A manager's reads of a scope's trail check their role first and live with the other scoped
selectors (``toegang.delegation.selectors.audit_events_for_actor``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet

from toegang.audit.models import AuditEvent

if TYPE_CHECKING:
    from toegang.accounts.models import User


def audit_events_of_person(person: User) -> QuerySet[AuditEvent]:
    """What the person did, and what was done to them (older events too: migration 0003 named them)."""
    return AuditEvent.objects.filter(Q(actor=person) | Q(person=person)).select_related("actor")
