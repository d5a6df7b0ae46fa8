"""Reads of the audit trail that are not scoped to a part of an enterprise.

The trail of an enterprise, quality or subdepartment, scoped to the actor, is read by
``delegation.selectors.audit_events_for_actor`` (it needs the actor's roles); the audit app itself
imports no domain module, so a person is any ``AUTH_USER_MODEL`` instance here.
"""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Q, QuerySet

from toegang.audit.models import AuditEvent


def audit_events_of_person(person: AbstractBaseUser) -> QuerySet[AuditEvent]:
    """The person's own logins and the changes they made or that concern them (their history page)."""
    return AuditEvent.objects.filter(
        Q(actor=person) | Q(object_type=person._meta.label_lower, object_id=str(person.pk))
    ).select_related("actor")
