"""State changes of the delegation chain: persons and role assignments.

Each function is one transaction: it checks permission first (authz), changes, and writes its audit
event before commit. Bad input raises ValidationError keyed by form field; a denial raises
PermissionDenied. Views, commands and tests all call these.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from toegang.accounts.models import User
from toegang.audit.services import audit_record
from toegang.delegation import authz
from toegang.delegation.models import Role, RoleAssignment
from toegang.identifiers import ssin_clean
from toegang.organisations.models import Enterprise, EnterpriseQuality, Subdepartment

Scope = Enterprise | EnterpriseQuality | Subdepartment


def _username_base(first_name: str, last_name: str) -> str:
    text = unicodedata.normalize("NFKD", f"{first_name}.{last_name}").encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9.]", "", text.lower()).strip(".")[:100] or "user"


def _unique_username(first_name: str, last_name: str) -> str:
    base = _username_base(first_name, last_name)
    taken = set(User.objects.filter(username__startswith=base).values_list("username", flat=True))
    if base not in taken:
        return base
    n = 2
    while f"{base}{n}" in taken:
        n += 1
    return f"{base}{n}"


def person_get_or_create(
    *, ssin: str, first_name: str = "", last_name: str = "", email: str = "", language: str = "nl"
) -> tuple[User, bool]:
    """Find the person by INSZ, or create them (names required then) with no usable password.

    A new person sets a password through the password-reset e-mail; the later login hub adds eID.
    """
    ssin = ssin_clean(ssin)
    person = User.objects.filter(ssin=ssin).first()
    if person is not None:
        return person, False
    errors: dict[str, str] = {}
    if not first_name.strip():
        errors["first_name"] = _("This INSZ is not known yet: enter the first name.")
    if not last_name.strip():
        errors["last_name"] = _("This INSZ is not known yet: enter the last name.")
    if errors:
        raise ValidationError(errors)
    person = User(
        ssin=ssin,
        username=_unique_username(first_name, last_name),
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        email=email.strip(),
        language=language,
    )
    person.set_unusable_password()
    person.save()
    return person, True


def _scope_columns(target: Scope) -> dict[str, Any]:
    if isinstance(target, Enterprise):
        return {"enterprise": target, "enterprise_quality": None, "subdepartment": None}
    if isinstance(target, EnterpriseQuality):
        return {"enterprise": target.enterprise, "enterprise_quality": target, "subdepartment": None}
    return {
        "enterprise": target.enterprise,
        "enterprise_quality": target.enterprise_quality,
        "subdepartment": target,
    }


def assignment_snapshot(a: RoleAssignment) -> dict[str, Any]:
    return {
        "person": a.person_id,
        "ssin": a.person.ssin,
        "role": a.role,
        "enterprise": a.enterprise_id,
        "enterprise_quality": a.enterprise_quality_id,
        "subdepartment": a.subdepartment_id,
        "contact_email": a.contact_email,
        "contact_phone": a.contact_phone,
        "valid_from": a.valid_from.isoformat(),
        "valid_until": a.valid_until.isoformat() if a.valid_until else None,
        "end_reason": a.end_reason,
    }


def _audit_assignment(actor: User, action: str, a: RoleAssignment, *, before: Any, reason: str = "") -> None:
    audit_record(
        actor=actor,
        action=action,
        obj=a,
        enterprise=a.enterprise,
        enterprise_quality=a.enterprise_quality,
        subdepartment=a.subdepartment,
        before=before,
        after=assignment_snapshot(a),
        reason=reason,
    )


def _lock_enterprise(enterprise_id: int) -> None:
    # Serialises concurrent changes in one enterprise (a double-posted form) on PostgreSQL;
    # SQLite serialises writers already (IMMEDIATE transactions).
    Enterprise.objects.select_for_update().filter(pk=enterprise_id).first()


def _end(assignment: RoleAssignment, *, actor: User, reason: str) -> None:
    assignment.valid_until = timezone.now()
    assignment.ended_by = actor
    assignment.end_reason = reason[:200]
    assignment.save(update_fields=["valid_until", "ended_by", "end_reason"])


def role_appoint(
    *,
    actor: User,
    role: Role,
    scope: Scope,
    ssin: str,
    email: str = "",
    phone: str = "",
    first_name: str = "",
    last_name: str = "",
) -> RoleAssignment:
    """Appoint a person (by INSZ) to ``role`` in ``scope``.

    For the main access manager this replaces the current one (ending it), since an enterprise has
    exactly one; every other role is added beside the existing holders.
    """
    authz.require(authz.may_appoint(actor, role, scope))
    with transaction.atomic():
        cols = _scope_columns(scope)
        _lock_enterprise(cols["enterprise"].pk)
        person, _created = person_get_or_create(ssin=ssin, first_name=first_name, last_name=last_name, email=email)
        existing = RoleAssignment.objects.active().filter(person=person, role=role, **cols)
        if existing.exists():
            raise ValidationError({"ssin": _("This person already holds this role here.")})
        if role == Role.MAIN_ACCESS_MANAGER:
            for previous in RoleAssignment.objects.active().filter(
                role=Role.MAIN_ACCESS_MANAGER, enterprise=cols["enterprise"]
            ):
                before = assignment_snapshot(previous)
                _end(previous, actor=actor, reason="replaced")
                _audit_assignment(actor, "role.end", previous, before=before, reason="replaced")
        try:
            with transaction.atomic():
                assignment = RoleAssignment.objects.create(
                    person=person,
                    role=role,
                    contact_email=email.strip(),
                    contact_phone=phone.strip(),
                    granted_by=actor,
                    **cols,
                )
        except IntegrityError as exc:  # a concurrent double post that slipped past the check
            raise ValidationError({"ssin": _("This person already holds this role here.")}) from exc
        _audit_assignment(actor, "role.appoint", assignment, before=None)
    return assignment


def role_end(*, actor: User, assignment: RoleAssignment, reason: str = "") -> RoleAssignment:
    """End a role assignment (never deletes it). The main access manager can only be replaced."""
    authz.require(authz.may_end(actor, assignment))
    if assignment.role == Role.MAIN_ACCESS_MANAGER:
        raise ValidationError(_("The main access manager cannot be removed, only replaced: appoint the successor."))
    with transaction.atomic():
        _lock_enterprise(assignment.enterprise_id)
        assignment = RoleAssignment.objects.select_for_update().get(pk=assignment.pk)
        if not assignment.is_active:
            raise ValidationError(_("This assignment has already ended."))
        before = assignment_snapshot(assignment)
        _end(assignment, actor=actor, reason=reason or "ended")
        _audit_assignment(actor, "role.end", assignment, before=before, reason=reason)
    return assignment
