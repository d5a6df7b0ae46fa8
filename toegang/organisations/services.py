"""State changes of enterprises, activated qualities and subdepartments (see delegation.services)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from toegang import identifiers
from toegang.accounts.models import User
from toegang.applications.models import SecuredApplication
from toegang.applications.services import subdepartment_applications_set
from toegang.audit.services import audit_record
from toegang.delegation import authz
from toegang.organisations.models import (
    Enterprise,
    EnterpriseQuality,
    IdentificationScheme,
    Quality,
    Subdepartment,
)

_CLEANERS = {
    IdentificationScheme.NIHII: identifiers.nihii_clean,
    IdentificationScheme.DIGITS: identifiers.digits_clean,
    IdentificationScheme.FREE: identifiers.free_clean,
}


def enterprise_register(*, actor: User, cbe_number: str, name: str) -> Enterprise:
    if not actor.is_operator:
        raise PermissionDenied(authz.DENIED)
    cbe = identifiers.cbe_clean(cbe_number)
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("Enter the name of the enterprise.")})
    with transaction.atomic():
        if Enterprise.objects.filter(cbe_number=cbe).exists():
            raise ValidationError({"cbe_number": _("An enterprise with this number is already registered.")})
        try:
            with transaction.atomic():
                enterprise = Enterprise.objects.create(cbe_number=cbe, name=name)
        except IntegrityError as exc:
            raise ValidationError({"cbe_number": _("An enterprise with this number is already registered.")}) from exc
        audit_record(
            actor=actor,
            action="enterprise.register",
            obj=enterprise,
            enterprise=enterprise,
            after={"cbe_number": cbe, "name": name},
        )
    return enterprise


def quality_activate(*, actor: User, enterprise: Enterprise, quality: Quality) -> EnterpriseQuality:
    authz.require(authz.may(actor, authz.Action.QUALITY_ACTIVATE, enterprise))
    if not quality.is_active:
        raise ValidationError({"quality": _("This quality cannot be activated.")})
    with transaction.atomic():
        Enterprise.objects.select_for_update().filter(pk=enterprise.pk).first()
        if EnterpriseQuality.objects.filter(enterprise=enterprise, quality=quality, valid_until__isnull=True).exists():
            raise ValidationError({"quality": _("This quality is already activated for this enterprise.")})
        try:
            with transaction.atomic():
                eq = EnterpriseQuality.objects.create(enterprise=enterprise, quality=quality, activated_by=actor)
        except IntegrityError as exc:
            raise ValidationError({"quality": _("This quality is already activated for this enterprise.")}) from exc
        audit_record(
            actor=actor,
            action="quality.activate",
            obj=eq,
            enterprise=enterprise,
            enterprise_quality=eq,
            after={"quality": quality.code},
        )
    return eq


def identification_code_clean(quality: Quality, code: str) -> str:
    return _CLEANERS[IdentificationScheme(quality.identification_scheme)](code)


def subdepartment_create(
    *,
    actor: User,
    enterprise_quality: EnterpriseQuality,
    name: str,
    identification_code: str,
    applications: Iterable[SecuredApplication] = (),
) -> Subdepartment:
    authz.require(authz.may(actor, authz.Action.SUBDEPARTMENT_CREATE, enterprise_quality))
    quality = enterprise_quality.quality
    errors: dict[str, Any] = {}
    name = name.strip()
    if not name:
        errors["name"] = _("Enter the name of the subdepartment.")
    try:
        code = identification_code_clean(quality, identification_code)
    except ValidationError as exc:
        errors["identification_code"] = exc.messages
    if errors:
        raise ValidationError(errors)
    duplicate = _("A subdepartment with this identification code already exists for this quality.")
    with transaction.atomic():
        Enterprise.objects.select_for_update().filter(pk=enterprise_quality.enterprise_id).first()
        if Subdepartment.objects.filter(quality=quality, identification_code=code, valid_until__isnull=True).exists():
            raise ValidationError({"identification_code": duplicate})
        try:
            with transaction.atomic():
                sd = Subdepartment.objects.create(
                    enterprise_quality=enterprise_quality,
                    enterprise_id=enterprise_quality.enterprise_id,
                    quality=quality,
                    name=name,
                    identification_code=code,
                    created_by=actor,
                )
        except IntegrityError as exc:
            raise ValidationError({"identification_code": duplicate}) from exc
        audit_record(
            actor=actor,
            action="subdepartment.create",
            obj=sd,
            enterprise=sd.enterprise,
            enterprise_quality=enterprise_quality,
            subdepartment=sd,
            after={"name": name, "identification_code": code},
        )
        subdepartment_applications_set(actor=actor, subdepartment=sd, applications=applications)
    return sd
