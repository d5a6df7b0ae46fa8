"""State changes of the delegation chain: persons and role assignments.

Each function is one transaction: it checks permission first (authz), changes, and writes its audit
event before commit. Bad input raises ValidationError keyed by form field; a denial raises
PermissionDenied. Views, commands and tests all call these.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from toegang.accounts.models import Title, User
from toegang.applications.models import SecuredApplication
from toegang.applications.services import person_grants_end_all, person_grants_set
from toegang.audit.actions import Action, Reason
from toegang.audit.services import audit_record
from toegang.delegation import authz
from toegang.delegation.models import Role, RoleAssignment, Status
from toegang.identifiers import ssin_clean
from toegang.mail.services import mail_enqueue
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
    *,
    ssin: str,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    language: str = "nl",
    title: str = "",
    local_email: str = "",
    username: str = "",
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
    if username and User.objects.filter(username__iexact=username).exists():
        errors["username"] = _("This username is already taken.")
    if errors:
        raise ValidationError(errors)
    person = User(
        ssin=ssin,
        username=username or _unique_username(first_name, last_name),
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        email=email.strip(),
        local_email=local_email.strip(),
        language=language,
        title=title or Title.NEUTRAL,
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
        "status": a.status,
        "contact_email": a.contact_email,
        "contact_local_email": a.contact_local_email,
        "contact_phone": a.contact_phone,
        "valid_from": a.valid_from.isoformat(),
        "valid_until": a.valid_until.isoformat() if a.valid_until else None,
        "end_reason": a.end_reason,
    }


def _audit_assignment(actor: User, action: Action, a: RoleAssignment, *, before: Any, reason: str = "") -> None:
    audit_record(
        actor=actor,
        action=action,
        obj=a,
        person=a.person,
        params={"role": a.role},
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
    assignment.end(actor=actor, reason=reason)


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
        # Rows whose planned end has passed are ended already; closing them frees their place in the
        # unique indexes, so the role can be given again (and a new HTB appointed).
        RoleAssignment.objects.filter(person=person, role=role, **cols).close_expired()
        if role == Role.MAIN_ACCESS_MANAGER:
            RoleAssignment.objects.filter(role=role, enterprise=cols["enterprise"]).close_expired()
        existing = RoleAssignment.objects.active().filter(person=person, role=role, **cols)
        if existing.exists():
            raise ValidationError({"ssin": _("This person already holds this role here.")})
        if role == Role.MAIN_ACCESS_MANAGER:
            for previous in RoleAssignment.objects.active().filter(
                role=Role.MAIN_ACCESS_MANAGER, enterprise=cols["enterprise"]
            ):
                before = assignment_snapshot(previous)
                _end(previous, actor=actor, reason=Reason.REPLACED)
                _audit_assignment(actor, Action.ROLE_END, previous, before=before, reason=Reason.REPLACED)
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
        _audit_assignment(actor, Action.ROLE_APPOINT, assignment, before=None)
    return assignment


def role_end(*, actor: User, assignment: RoleAssignment, reason: str = "") -> RoleAssignment:
    """End a role assignment (never deletes it). The main access manager can only be replaced."""
    authz.require(authz.may_end(actor, assignment))
    if assignment.role == Role.MAIN_ACCESS_MANAGER:
        raise ValidationError(_("The main access manager cannot be removed, only replaced: appoint the successor."))
    with transaction.atomic():
        _lock_enterprise(assignment.enterprise_id)
        assignment = RoleAssignment.objects.select_for_update().get(pk=assignment.pk)
        if not assignment.is_active():
            raise ValidationError(_("This assignment has already ended."))
        before = assignment_snapshot(assignment)
        _end(assignment, actor=actor, reason=reason or Reason.ENDED)
        _audit_assignment(actor, Action.ROLE_END, assignment, before=before, reason=reason)
    return assignment


# --- Step 6: the users of a subdepartment --------------------------------------------------------


class AlreadyMember(ValidationError):
    """The person is already an active user of this subdepartment; ``membership`` is that row."""

    def __init__(self, membership: RoleAssignment) -> None:
        super().__init__({"ssin": _("This person is already a user of this subdepartment.")})
        self.membership = membership


def subdepartment_user_add(
    *,
    actor: User,
    subdepartment: Subdepartment,
    ssin: str,
    email: str,
    applications: Iterable[SecuredApplication] = (),
    first_name: str = "",
    last_name: str = "",
    title: str = "",
    language: str = "",
    local_email: str = "",
    username: str = "",
) -> RoleAssignment:
    """Add a user (type USE) to a subdepartment by INSZ and grant the ticked applications.

    A person already known (working elsewhere too) keeps their own data: only the membership, its
    contact addresses and the grants are added here. A new person is created with the given data.
    """
    authz.require(authz.may_appoint(actor, Role.USER, subdepartment))
    if not email.strip():
        raise ValidationError({"email": _("The e-mail address is required.")})
    with transaction.atomic():
        _lock_enterprise(subdepartment.enterprise_id)
        ssin = ssin_clean(ssin)
        # Locked: a rename committing meanwhile would otherwise miss the membership made from the
        # name read here (its copies, PERSON_COPIES), which would keep the old name.
        person = User.objects.select_for_update().filter(ssin=ssin).first()
        if person is None:
            person, _created = person_get_or_create(
                ssin=ssin,
                first_name=first_name,
                last_name=last_name,
                email=email,
                language=language or "nl",
                title=title,
                local_email=local_email,
                username=username,
            )
        RoleAssignment.objects.filter(person=person, role=Role.USER, subdepartment=subdepartment).close_expired()
        existing = (
            RoleAssignment.objects.active().filter(person=person, role=Role.USER, subdepartment=subdepartment).first()
        )
        if existing is not None:
            raise AlreadyMember(existing)
        try:
            with transaction.atomic():
                membership = RoleAssignment.objects.create(
                    person=person,
                    role=Role.USER,
                    contact_email=email.strip(),
                    contact_local_email=local_email.strip(),
                    granted_by=actor,
                    **_scope_columns(subdepartment),
                )
        except IntegrityError as exc:
            raise ValidationError({"ssin": _("This person is already a user of this subdepartment.")}) from exc
        _audit_assignment(actor, Action.USER_ADD, membership, before=None)
        added, _removed = person_grants_set(
            actor=actor, person=person, subdepartment=subdepartment, applications=applications
        )
        notify_access_changed(membership, added=added, removed=[])
    return membership


def _require_membership_manager(actor: User, membership: RoleAssignment) -> None:
    authz.require(
        membership.is_active()
        and membership.subdepartment_id is not None
        and authz.may_appoint(actor, membership.role, membership)
    )


def membership_update(
    *,
    actor: User,
    membership: RoleAssignment,
    applications: Iterable[SecuredApplication],
    status: str,
    email: str,
    local_email: str = "",
) -> RoleAssignment:
    """Bekijken: tick or untick applications, block or unblock, change the membership's addresses."""
    _require_membership_manager(actor, membership)
    if status not in Status.values:
        raise ValidationError({"status": _("Choose a valid status.")})
    if not email.strip():
        raise ValidationError({"email": _("The e-mail address is required.")})
    subdepartment = membership.subdepartment
    assert subdepartment is not None
    with transaction.atomic():
        _lock_enterprise(membership.enterprise_id)
        membership = RoleAssignment.objects.select_for_update().select_related("person").get(pk=membership.pk)
        before = assignment_snapshot(membership)
        membership.status = status
        membership.contact_email = email.strip()
        membership.contact_local_email = local_email.strip()
        membership.save(update_fields=["status", "contact_email", "contact_local_email"])
        if before != assignment_snapshot(membership):
            _audit_assignment(actor, Action.USER_CHANGE, membership, before=before)
        added, removed = person_grants_set(
            actor=actor, person=membership.person, subdepartment=subdepartment, applications=applications
        )
        if added or removed or before["status"] != status:
            notify_access_changed(membership, added=added, removed=removed)
    return membership


def membership_end(*, actor: User, membership: RoleAssignment, reason: str = "") -> RoleAssignment:
    """Wissen: end the membership in this subdepartment and the person's grants here; nothing else."""
    _require_membership_manager(actor, membership)
    subdepartment = membership.subdepartment
    assert subdepartment is not None
    with transaction.atomic():
        _lock_enterprise(membership.enterprise_id)
        membership = RoleAssignment.objects.select_for_update().select_related("person").get(pk=membership.pk)
        if not membership.is_active():
            raise ValidationError(_("This assignment has already ended."))
        before = assignment_snapshot(membership)
        _end(membership, actor=actor, reason=reason or Reason.DELETED)
        _audit_assignment(actor, Action.USER_END, membership, before=before, reason=reason)
        still_member = (
            RoleAssignment.objects.active().filter(person=membership.person, subdepartment=subdepartment).exists()
        )
        removed = (
            []
            if still_member
            else person_grants_end_all(
                actor=actor, person=membership.person, subdepartment=subdepartment, reason=Reason.MEMBERSHIP_ENDED
            )
        )
        notify_access_changed(membership, added=[], removed=removed, ended=True)
    return membership


def notify_access_changed(
    membership: RoleAssignment,
    *,
    added: list[SecuredApplication],
    removed: list[SecuredApplication],
    ended: bool = False,
) -> None:
    """Queue an e-mail to the person, in their own language, with the change's transaction.

    The outbox row commits or rolls back with the change; a job sends it after commit, so an SMTP
    failure neither fails nor undoes the change (toegang/mail).
    """
    person = membership.person
    to = membership.contact_email or person.email
    if not to:
        return
    subdepartment = membership.subdepartment
    assert subdepartment is not None
    language = person.language or "nl"
    with translation.override(language):
        context = {
            "person": person,
            "subdepartment": subdepartment,
            "enterprise": subdepartment.enterprise,
            "added": [a.name for a in added],
            "removed": [a.name for a in removed],
            "ended": ended,
            "blocked": membership.status == Status.BLOCKED,
            "base_url": settings.BASE_URL,
        }
        subject = render_to_string("mail/access_changed_subject.txt", context).strip()
        body = render_to_string("mail/access_changed.txt", context)
    mail_enqueue(to=to, subject=subject, body=body, language=language)
