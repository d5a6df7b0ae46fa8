"""Reads of the organisation rows: catalogues, an enterprise's qualities and subdepartments, certificates.

The enterprise, quality or subdepartment itself always comes from ``delegation.selectors`` (404
outside the actor's scope); these functions only read below an object that was already scoped; the
certificate functions check the certificate right themselves (403), the operator's search the
operator right. Its applications are read by
``applications.selectors``, its members by ``delegation.selectors``.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from toegang.accounts.models import User
from toegang.delegation import authz
from toegang.history import active_q
from toegang.organisations.models import (
    Audience,
    Certificate,
    Enterprise,
    EnterpriseQuality,
    Quality,
    Subdepartment,
)


def certificates_for_actor(actor: User, subdepartment: Subdepartment) -> list[Certificate]:
    """Every certificate of the subdepartment, active ones first (revoked ones stay: history)."""
    authz.require(authz.may(actor, authz.Action.SUBDEPARTMENT_CERTIFICATES, subdepartment))
    qs = Certificate.objects.filter(subdepartment=subdepartment).select_related("granted_by", "ended_by")
    return sorted(qs, key=lambda c: (not c.is_active(), -c.valid_from.timestamp(), -c.pk))


def certificate_for_actor(actor: User, subdepartment: Subdepartment, pk: int) -> Certificate:
    """One certificate of an already scoped subdepartment; another subdepartment's id is a 404."""
    authz.require(authz.may(actor, authz.Action.SUBDEPARTMENT_CERTIFICATES, subdepartment))
    obj = Certificate.objects.filter(subdepartment=subdepartment, pk=pk).select_related("subdepartment").first()
    if obj is None:
        raise Http404
    return obj


def qualities_offered() -> QuerySet[Quality]:
    """The catalogue's qualities that an enterprise may activate."""
    return Quality.objects.filter(is_active=True)


def active_qualities(enterprise: Enterprise) -> QuerySet[EnterpriseQuality]:
    return EnterpriseQuality.objects.active().filter(enterprise=enterprise).select_related("quality")


def active_subdepartments(enterprise_quality: EnterpriseQuality) -> QuerySet[Subdepartment]:
    return Subdepartment.objects.active().filter(enterprise_quality=enterprise_quality)


def audiences(codes: Iterable[str]) -> QuerySet[Audience]:
    return Audience.objects.filter(code__in=list(codes)).order_by("pk")


def enterprises_for_operator(actor: User, q: str = "") -> QuerySet[Enterprise]:
    """The operator's list of every enterprise, searched by name or enterprise number."""
    authz.require(authz.may_operate(actor))
    enterprises = Enterprise.objects.all()
    if q:
        enterprises = enterprises.filter(name__icontains=q) | enterprises.filter(cbe_number__contains=q)
    return enterprises.order_by("name")


def certificate_for_call(fingerprint_sha256: str, subdepartment_id: int) -> Certificate | None:
    """The certificate a system presents (mutual TLS) when it calls for ``subdepartment_id``, if it may.

    One certificate may be registered by several organisations, each having proved possession of its
    key (docs/certificates.md), so a fingerprint alone names no subdepartment: the call names the one
    it acts for, and the certificate counts only if that subdepartment registered it and it is
    neither revoked nor outside its validity, nor is the subdepartment ended.
    """
    now = timezone.now()
    return (
        Certificate.objects.active(now)
        .filter(
            active_q("subdepartment__", now),
            fingerprint_sha256=fingerprint_sha256.lower().replace(":", ""),
            subdepartment_id=subdepartment_id,
            not_valid_before__lte=now,
            not_valid_after__gt=now,
        )
        .select_related("subdepartment")
        .first()
    )
