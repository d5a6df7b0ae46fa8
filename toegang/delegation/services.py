"""State changes of the delegation chain: persons and role assignments.

Each function is one transaction: it checks permission first (authz), changes, and writes its audit
event before commit. Bad input raises ValidationError keyed by form field; a denial raises
PermissionDenied. Views, commands and tests all call these.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX, UNUSABLE_PASSWORD_SUFFIX_LENGTH
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.crypto import RANDOM_STRING_CHARS
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from toegang.accounts.models import Activation, Language, Title, User, UsernameValidator, salutation_format
from toegang.applications.models import ApplicationGrant, SecuredApplication, SubdepartmentApplication
from toegang.applications.services import (
    grant_audit_columns,
    not_switched_on_error,
    person_grants_end_all,
    person_grants_set,
    switched_on_ids,
)
from toegang.audit.actions import Action, Reason
from toegang.audit.services import audit_columns, audit_record, audit_record_rows
from toegang.bulk import copy_insert
from toegang.delegation import authz
from toegang.delegation.activation import activation_url, needs_activation_link
from toegang.delegation.models import ImportStatus, Role, RoleAssignment, Status, UserImport, person_copies
from toegang.identifiers import ssin_clean
from toegang.lengths import length_errors
from toegang.locks import ConcurrentChange, lock_import_run, lock_scope, lock_shared, lock_subdepartment
from toegang.mail.links import absolute_url
from toegang.mail.services import mail_enqueue, mail_enqueue_many
from toegang.organisations.models import Enterprise, EnterpriseQuality, Subdepartment

Scope = Enterprise | EnterpriseQuality | Subdepartment


def _username_base(first_name: str, last_name: str) -> str:
    """``first.last`` in ASCII: what accounts.models.UsernameValidator allows (2 characters at least)."""
    text = unicodedata.normalize("NFKD", f"{first_name}.{last_name}").encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9.]", "", text.lower()).strip(".")[:100]
    return base if len(base) >= 2 else f"user.{base}".rstrip(".")


def _taken_usernames(base: str) -> set[str]:
    return set(User.objects.filter(username__startswith=base).values_list("username", flat=True))


def _unique_username(first_name: str, last_name: str, taken: set[str] | None = None) -> str:
    """``first.last``, or with the first free number after it; ``taken``: the names known to be in use."""
    base = _username_base(first_name, last_name)
    if taken is None:
        taken = _taken_usernames(base)
    if base not in taken:
        return base
    n = 2
    while f"{base}{n}" in taken:
        n += 1
    return f"{base}{n}"


# --- The checks of a new user, shared by the form's service and the CSV import's ---------------


def email_required_error() -> str:
    return _("The e-mail address is required.")


def already_member_error() -> str:
    return _("This person is already a user of this subdepartment.")


def username_error(username: str) -> str:
    """The username rule's message ("" if ``username`` follows it): accounts.models.UsernameValidator."""
    try:
        UsernameValidator()(username)
    except ValidationError as exc:
        return " ".join(exc.messages)
    return ""


def new_person_errors(*, first_name: str, last_name: str, username: str, username_taken: bool) -> dict[str, str]:
    """What is missing or wrong to create a person whose INSZ is not known yet, by form field."""
    errors: dict[str, str] = length_errors(
        (
            ("last_name", last_name.strip(), User, "last_name", gettext_lazy("Last name")),
            ("first_name", first_name.strip(), User, "first_name", gettext_lazy("First name")),
        )
    )
    if not first_name.strip():
        errors["first_name"] = _("This INSZ is not known yet: enter the first name.")
    if not last_name.strip():
        errors["last_name"] = _("This INSZ is not known yet: enter the last name.")
    if username and username_error(username):
        errors["username"] = username_error(username)
    elif username and username_taken:
        errors["username"] = _("This username is already taken.")
    return errors


def contact_errors(*, email: str, local_email: str = "", phone: str = "") -> dict[str, str]:
    """The contact data of a membership (and of the new person it may create) longer than its column."""
    local_label = gettext_lazy("Local e-mail address")
    return length_errors(
        (
            ("email", email.strip(), RoleAssignment, "contact_email", gettext_lazy("E-mail address")),
            ("local_email", local_email.strip(), RoleAssignment, "contact_local_email", local_label),
            ("phone", phone.strip(), RoleAssignment, "contact_phone", gettext_lazy("Phone")),
        )
    )


# --- Planned ends: the last day a manager types, and the quality's ceiling ----------------------


def max_last_day(enterprise_quality_id: int | None, today: date) -> date | None:
    """The latest last day the quality allows for an access given or changed ``today`` (None: no maximum).

    ``EnterpriseQuality.max_access_days``, read from the database (not from a cached instance), so a
    ceiling the access manager has just lowered applies to the next form, import or API call.
    """
    if enterprise_quality_id is None:
        return None
    days = EnterpriseQuality.objects.filter(pk=enterprise_quality_id).values_list("max_access_days", flat=True).first()
    return None if days is None else today + timedelta(days=days)


def last_day_error(
    last_day: date | None,
    *,
    today: date,
    ceiling: date | None = None,
    membership_last_day: date | None = None,
) -> str:
    """Why ``last_day`` (inclusive, Brussels time) cannot be an access's last day ("" if it can).

    The one rule of planned ends, for the add-user form, the appointment forms, the user's page, the
    bulk action and the CSV import (and the API and SCIM, later): not in the past, not after the
    quality's maximum (``ceiling``, from ``max_last_day``; no last day at all is after it too), and
    for an application not after its membership's own last day.
    """
    if last_day is None:
        if ceiling is not None:
            return _("This quality allows an access of at most %(day)s: enter a last day.") % {"day": _day(ceiling)}
        return ""
    if last_day < today:
        return _("The last day cannot lie in the past.")
    if ceiling is not None and last_day > ceiling:
        days = (ceiling - today).days
        return ngettext(
            "The last day cannot be after %(day)s: this quality allows an access of at most %(days)s day.",
            "The last day cannot be after %(day)s: this quality allows an access of at most %(days)s days.",
            days,
        ) % {"day": _day(ceiling), "days": days}
    if membership_last_day is not None and last_day > membership_last_day:
        return _("An application's access cannot outlive the membership: its last day is %(day)s.") % {
            "day": _day(membership_last_day)
        }
    return ""


# The operating system's randomness, as get_random_string uses (secrets).
_system_random = random.SystemRandom()


def _new_person(
    *,
    ssin: str,
    username: str,
    first_name: str,
    last_name: str,
    local_email: str,
    language: str,
    title: str,
) -> User:
    # No login e-mail, no usable password: a person known by INSZ, not an account anyone can log in
    # to. The address the manager typed is the membership's contact address (``contact_email``);
    # the person attaches login channels themselves (docs/security.md, the identity model).
    person = User(
        ssin=ssin,
        username=username,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        local_email=local_email.strip(),
        language=language or "nl",
        title=title or Title.NEUTRAL,
    )
    # set_unusable_password's value, drawn in one call: get_random_string draws a character per
    # call, which was a tenth of a large CSV import's time.
    person.password = UNUSABLE_PASSWORD_PREFIX + "".join(
        _system_random.choices(RANDOM_STRING_CHARS, k=UNUSABLE_PASSWORD_SUFFIX_LENGTH)
    )
    return person


def person_get_or_create(
    *,
    ssin: str,
    first_name: str = "",
    last_name: str = "",
    language: str = "nl",
    title: str = "",
    local_email: str = "",
    username: str = "",
) -> tuple[User, bool]:
    """Find the person by INSZ, or create them (names required then) with no way to log in.

    A new person logs in with eID or itsme, or activates the account through the link in the
    e-mail of their appointment (``delegation.activation``).
    """
    ssin = ssin_clean(ssin)
    person = User.objects.filter(ssin=ssin).first()
    if person is not None:
        return person, False
    errors = new_person_errors(
        first_name=first_name,
        last_name=last_name,
        username=username,
        username_taken=bool(username) and User.objects.filter(username__iexact=username).exists(),
    )
    if errors:
        raise ValidationError(errors)
    person = _new_person(
        ssin=ssin,
        username=username or _unique_username(first_name, last_name),
        first_name=first_name,
        last_name=last_name,
        local_email=local_email,
        language=language,
        title=title,
    )
    return _person_insert(person, username_given=bool(username), first_name=first_name, last_name=last_name)


# How often a made-up username is tried again after another manager took it meanwhile.
_USERNAME_ATTEMPTS = 5


def _person_insert(person: User, *, username_given: bool, first_name: str, last_name: str) -> tuple[User, bool]:
    """Insert a new person; a concurrent manager who created the same INSZ or took the username wins.

    Nothing locks "the next free username" (two enterprises add a Jan Peeters at once): the unique
    index decides, and a made-up name goes on to the next free number. The insert's savepoint keeps
    the caller's transaction usable after a collision.
    """
    for _attempt in range(_USERNAME_ATTEMPTS):
        try:
            with transaction.atomic():
                person.save(force_insert=True)
        except IntegrityError as exc:
            # The unique index waited for the other transaction, which committed: its row is visible.
            existing = User.objects.filter(ssin=person.ssin).first()
            if existing is not None:
                return existing, False
            if username_given:
                raise ValidationError({"username": _("This username is already taken.")}) from exc
            person.username = _unique_username(first_name, last_name)
        else:
            return person, True
    raise ConcurrentChange


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


def _assignment_audit(a: RoleAssignment, *, before: Any) -> dict[str, Any]:
    """The audit fields of a change to ``a``, for ``audit_record`` or ``audit_event``."""
    return {
        "obj": a,
        "person": a.person,
        "params": {"role": a.role},
        "enterprise": a.enterprise,
        "enterprise_quality": a.enterprise_quality,
        "subdepartment": a.subdepartment,
        "before": before,
        "after": assignment_snapshot(a),
    }


def _audit_assignment(actor: User, action: Action, a: RoleAssignment, *, before: Any, reason: str = "") -> None:
    audit_record(actor=actor, action=action, reason=reason, **_assignment_audit(a, before=before))


def _lock_scope(cols: dict[str, Any]) -> None:
    # The first lock of a role change, in the domain's one order (toegang/locks.py): the subdepartment
    # row for a role in a subdepartment, else the enterprise row. It serialises a double-posted form on
    # PostgreSQL; SQLite serialises writers already (IMMEDIATE transactions).
    subdepartment = cols["subdepartment"]
    lock_scope(enterprise_id=cols["enterprise"].pk, subdepartment_id=subdepartment.pk if subdepartment else None)


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
    language: str = "",
    last_day: date | None = None,
) -> RoleAssignment:
    """Appoint a person (by INSZ) to ``role`` in ``scope``, until ``last_day`` (inclusive) when given.

    For the main access manager this replaces the current one (ending it), since an enterprise has
    exactly one; every other role is added beside the existing holders. A person not known yet gets
    ``language`` (the appointing manager's, from the portal; Dutch when empty); a known person keeps theirs.
    """
    authz.require(authz.may_appoint(actor, role, scope))
    errors = contact_errors(email=email, phone=phone)
    # A manager's appointment may end by itself too; the quality's ceiling is for its users' access.
    day_error = last_day_error(last_day, today=timezone.localdate())
    if day_error:
        errors["last_day"] = day_error
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        cols = _scope_columns(scope)
        _lock_scope(cols)
        person, _created = person_get_or_create(
            ssin=ssin, first_name=first_name, last_name=last_name, language=language or Language.NL
        )
        # Level 3 before the assignments (toegang/locks.py): the person, and the main access manager replaced.
        replaced = RoleAssignment.objects.active().filter(role=Role.MAIN_ACCESS_MANAGER, enterprise=cols["enterprise"])
        lock_shared(
            User.objects.filter(
                Q(pk=person.pk) | Q(pk__in=replaced.values("person") if role == Role.MAIN_ACCESS_MANAGER else [])
            )
        )
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
                    valid_until=until_of(last_day),
                    **cols,
                )
        except IntegrityError as exc:  # a concurrent double post that slipped past the check
            raise ValidationError({"ssin": _("This person already holds this role here.")}) from exc
        _audit_assignment(actor, Action.ROLE_APPOINT, assignment, before=None)
        notify_appointed(assignment)
    return assignment


def activation_send(*, actor: User, assignment: RoleAssignment) -> bool:
    """Send the appointment's e-mail again, with a fresh activation link, to its contact address.

    For a manager who may change the assignment; False (nothing sent) when no link is needed (the
    account is the person's own, or the assignment is confirmed) or the assignment has no address.
    """
    authz.require(assignment.is_active() and authz.may_appoint(actor, assignment.role, assignment))
    with transaction.atomic():
        assignment = RoleAssignment.objects.select_related("person", "enterprise").get(pk=assignment.pk)
        if assignment.confirmed_at is not None or not needs_activation_link(assignment):
            return False
        notify_appointed(assignment)
        audit_record(
            actor=actor,
            action=Action.ACTIVATION_SEND,
            obj=assignment,
            person=assignment.person,
            params={"role": assignment.role},
            enterprise=assignment.enterprise,
            enterprise_quality=assignment.enterprise_quality,
            subdepartment=assignment.subdepartment,
            after={"to": assignment.contact_email},
        )
    return True


# What each appointment makes the person do, in one sentence of the appointed manager's e-mail.
ROLE_DUTIES: dict[str, Any] = {
    Role.LEGAL_REPRESENTATIVE: gettext_lazy(
        "As legal representative you appoint the main access manager of the enterprise and, if you wish, "
        "co-main access managers."
    ),
    Role.MAIN_ACCESS_MANAGER: gettext_lazy(
        "As main access manager you activate the qualities of the enterprise and appoint their access managers."
    ),
    Role.CO_MAIN_ACCESS_MANAGER: gettext_lazy(
        "As co-main access manager you do the work of the main access manager beside them: activate "
        "qualities and appoint their access managers."
    ),
    Role.ACCESS_MANAGER: gettext_lazy(
        "As access manager of the quality you create its subdepartments, switch on their applications and "
        "appoint their subdepartment managers."
    ),
    Role.CO_ACCESS_MANAGER: gettext_lazy(
        "As co-access manager you do the work of the access manager of the quality beside them: "
        "subdepartments, their applications and their managers."
    ),
    Role.SUBDEPARTMENT_MANAGER: gettext_lazy(
        "As subdepartment manager you add the users of the subdepartment and give them access to its applications."
    ),
    Role.CO_SUBDEPARTMENT_MANAGER: gettext_lazy(
        "As co-subdepartment manager you do the work of the subdepartment manager beside them: add users "
        "and give them access to the applications."
    ),
}


def _login_context(assignment: RoleAssignment, language: str, *, link: bool) -> dict[str, Any]:
    """What ``mail/login_how.txt`` needs, in the active language: where to log in, the username, the link."""
    person = assignment.person
    return {
        "login_url": absolute_url(reverse("account_login")),
        "username": person.username,
        "activation_link": activation_url(assignment, language) if link else "",
        # An account activated already (through another appointment): the link confirms this one after a login.
        "link_confirms": person.activation != Activation.NONE,
        "link_days": settings.ACTIVATION_LINK_SECONDS // 86400,
    }


def appointed_message(assignment: RoleAssignment) -> tuple[str, str, str] | None:
    """(to, subject, body) of the e-mail telling an appointed person, in their language, what they became.

    To the address the appointing manager entered for this appointment, else to the account's own
    login address; with the appointment's activation link when the account is not the person's own
    yet (``delegation.activation``), which only the appointment's own address may receive. None: no address.
    """
    person = assignment.person
    to = assignment.contact_email.strip() or person.email.strip()
    if not to:
        return None
    language = person.language or "nl"
    scope = assignment.subdepartment or assignment.enterprise_quality or assignment.enterprise
    with translation.override(language):
        context = {
            "greeting": person.salutation(),
            "role": assignment.get_role_display(),
            "duties": str(ROLE_DUTIES.get(assignment.role, "")),
            "scope": str(scope),
            "enterprise": assignment.enterprise.name,
            **_login_context(assignment, language, link=needs_activation_link(assignment)),
        }
        subject = render_to_string("mail/appointed_subject.txt", context).strip()
        body = render_to_string("mail/appointed.txt", context)
    return to, subject, body


def notify_appointed(assignment: RoleAssignment) -> None:
    """Queue the appointment's e-mail (``appointed_message``) in the change's transaction (the outbox)."""
    message = appointed_message(assignment)
    if message is not None:
        to, subject, body = message
        mail_enqueue(to=to, subject=subject, body=body, language=assignment.person.language or "nl")


def role_end(*, actor: User, assignment: RoleAssignment, reason: str = "") -> RoleAssignment:
    """End a role assignment (never deletes it). The main access manager can only be replaced."""
    authz.require(authz.may_end(actor, assignment))
    if assignment.role == Role.MAIN_ACCESS_MANAGER:
        raise ValidationError(_("The main access manager cannot be removed, only replaced: appoint the successor."))
    with transaction.atomic():
        lock_scope(enterprise_id=assignment.enterprise_id, subdepartment_id=assignment.subdepartment_id)
        lock_shared(User.objects.filter(pk=assignment.person_id))
        assignment = RoleAssignment.objects.select_for_update(of=("self",)).get(pk=assignment.pk)
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
        super().__init__({"ssin": already_member_error()})
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
    last_day: date | None = None,
) -> RoleAssignment:
    """Add a user (type USE) to a subdepartment by INSZ and grant the ticked applications.

    A person already known (working elsewhere too) keeps their own data: only the membership, its
    contact addresses and the grants are added here. A new person is created with the given data.
    ``last_day``: the membership's last day (inclusive, Brussels time), its grants ending with it;
    none given, the quality's maximum (``EnterpriseQuality.max_access_days``) is the last day.
    """
    authz.require(authz.may_appoint(actor, Role.USER, subdepartment))
    if not email.strip():
        raise ValidationError({"email": email_required_error()})
    errors = contact_errors(email=email, local_email=local_email)
    today = timezone.localdate()
    ceiling = max_last_day(subdepartment.enterprise_quality_id, today)
    last_day = last_day or ceiling
    day_error = last_day_error(last_day, today=today, ceiling=ceiling)
    if day_error:
        errors["last_day"] = day_error
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        lock_subdepartment(subdepartment.pk)
        ssin = ssin_clean(ssin)
        # Locked (shared): a rename committing meanwhile would otherwise miss the membership made from
        # the name read here (its copies, PERSON_COPIES), which would keep the old name.
        lock_shared(User.objects.filter(ssin=ssin))
        person = User.objects.filter(ssin=ssin).first()
        if person is None:
            person, _created = person_get_or_create(
                ssin=ssin,
                first_name=first_name,
                last_name=last_name,
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
                    valid_until=until_of(last_day),
                    **_scope_columns(subdepartment),
                )
        except IntegrityError as exc:
            raise ValidationError({"ssin": already_member_error()}) from exc
        _audit_assignment(actor, Action.USER_ADD, membership, before=None)
        added, _removed = person_grants_set(
            actor=actor, person=person, subdepartment=subdepartment, applications=applications
        )
        notify_access_changed(membership, added=added, removed=[], new=True)
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
        raise ValidationError({"email": email_required_error()})
    errors = contact_errors(email=email, local_email=local_email)
    if errors:
        raise ValidationError(errors)
    subdepartment = membership.subdepartment
    assert subdepartment is not None
    with transaction.atomic():
        lock_subdepartment(subdepartment.pk)
        lock_shared(User.objects.filter(pk=membership.person_id))
        membership = (
            RoleAssignment.objects.select_for_update(of=("self",)).select_related("person").get(pk=membership.pk)
        )
        if not membership.is_active():  # ended by another manager since the page was read
            raise ValidationError(_("This assignment has already ended."))
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
        lock_subdepartment(subdepartment.pk)
        lock_shared(User.objects.filter(pk=membership.person_id))
        membership = (
            RoleAssignment.objects.select_for_update(of=("self",)).select_related("person").get(pk=membership.pk)
        )
        if not membership.is_active():
            raise ValidationError(_("This assignment has already ended."))
        _membership_end_locked(actor, membership, subdepartment, reason)
    return membership


def _membership_end_locked(actor: User, membership: RoleAssignment, subdepartment: Subdepartment, reason: str) -> None:
    """End one locked, active membership: audited, and the person's grants here end with their last one."""
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


# --- Correcting what a manager typed about a person, until their identity is confirmed ----------

# The person's data a manager types when adding them, and may correct (``authz.may_correct_person``).
CORRECTABLE = ("last_name", "first_name", "title", "language")


def identity_confirmed_error() -> str:
    return _(
        "This person's identity has been confirmed with eID or itsme: their name, title and language "
        "come from the national register and can no longer be corrected here."
    )


def person_correct(
    *,
    actor: User,
    person: User,
    subdepartment: Subdepartment,
    last_name: str,
    first_name: str,
    title: str,
    language: str,
) -> User:
    """Correct the names, title and language a manager typed for ``person``; audited "label: before → after".

    ``subdepartment`` is where the correction is made (the user's page): the event is recorded in its
    scope, so its managers read it in the person's history there. Allowed until the person's identity
    is confirmed (``authz.may_correct_person``, checked again under the person's lock).
    """
    authz.require(authz.may_correct_person(actor, person))
    authz.require(authz.may(actor, authz.Action.SUBDEPARTMENT_VIEW, subdepartment))
    values = {"last_name": last_name.strip(), "first_name": first_name.strip(), "title": title, "language": language}
    errors: dict[str, str] = length_errors(
        (
            ("last_name", values["last_name"], User, "last_name", gettext_lazy("Last name")),
            ("first_name", values["first_name"], User, "first_name", gettext_lazy("First name")),
        )
    )
    if not values["last_name"]:
        errors["last_name"] = _("Enter the last name.")
    if not values["first_name"]:
        errors["first_name"] = _("Enter the first name.")
    if title not in Title.values:
        errors["title"] = _("Choose a valid title.")
    if language not in Language.values:
        errors["language"] = _("Choose a valid language.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = User.objects.select_for_update(of=("self",)).get(pk=person.pk)
        if authz.identity_confirmed(locked):  # confirmed meanwhile (a login with eID, say)
            raise ValidationError(identity_confirmed_error())
        before = {f: getattr(locked, f) for f in CORRECTABLE}
        if before == values:
            return locked
        for field, value in values.items():
            setattr(locked, field, value)
        # User.save rewrites the copies of the names on the person's role assignments (the users list).
        locked.save(update_fields=list(CORRECTABLE))
        audit_record(
            actor=actor,
            action=Action.PERSON_CORRECT,
            obj=locked,
            person=locked,
            enterprise=subdepartment.enterprise,
            enterprise_quality=subdepartment.enterprise_quality,
            subdepartment=subdepartment,
            before=before,
            after={f: getattr(locked, f) for f in CORRECTABLE},
        )
    for field in CORRECTABLE:
        setattr(person, field, getattr(locked, field))
    return locked


# --- Bulk actions on rows of the users list -----------------------------------------------------


class BulkAction(models.TextChoices):
    GRANT = "grant", gettext_lazy("Give an application")
    REVOKE = "revoke", gettext_lazy("Take an application away")
    BLOCK = "block", gettext_lazy("Block")
    UNBLOCK = "unblock", gettext_lazy("Unblock")
    END = "end", gettext_lazy("End the membership")
    END_DATE = "end_date", gettext_lazy("Set the last day")


@dataclass(frozen=True)
class BulkRow:
    """One chosen row: what the action changes for it (``change`` empty: nothing, ``unchanged`` says why)."""

    membership: RoleAssignment
    change: str
    unchanged: str = ""


class RowsEnded(ValidationError):
    """A chosen row had ended (by a manager, or its last day passed) before the change could be made."""


def bulk_already_ended_error(names: str) -> str:
    return _("Nothing was changed: %(names)s had already ended. Check the list and try again.") % {"names": names}


def bulk_until(last_day: date) -> datetime:
    """The ``valid_until`` of a membership whose last day is ``last_day``: the next midnight, Brussels time."""
    return timezone.make_aware(datetime.combine(last_day + timedelta(days=1), time.min))


def until_of(last_day: date | None) -> datetime | None:
    """``bulk_until`` of a last day that may be absent (no planned end)."""
    return None if last_day is None else bulk_until(last_day)


def last_day_of(until: datetime | None) -> date | None:
    """The last day (Brussels time) of a validity ending at ``until``: the day before a midnight end."""
    return None if until is None else (timezone.localtime(until) - timedelta(microseconds=1)).date()


def change_text(field: str, before: str, after: str) -> str:
    """ "Status: Active → Blocked", as the active language writes a label before its value."""
    return _("%(field)s: %(before)s → %(after)s") % {"field": field, "before": before, "after": after}


def _day(value: date | None) -> str:
    return "—" if value is None else f"{value:%d/%m/%Y}"


def _bulk_row(
    m: RoleAssignment,
    action: str,
    application: SecuredApplication | None,
    last_day: date | None,
    granted: set[tuple[int, int]],
) -> BulkRow:
    statuses = dict(Status.choices)
    if action in (BulkAction.GRANT, BulkAction.REVOKE):
        assert application is not None
        has = (m.person_id, application.pk) in granted
        if action == BulkAction.GRANT:
            if has:
                return BulkRow(m, "", _("already has %(application)s") % {"application": application.name})
            return BulkRow(m, _("gets %(application)s") % {"application": application.name})
        if not has:
            return BulkRow(m, "", _("does not have %(application)s") % {"application": application.name})
        return BulkRow(m, _("loses %(application)s") % {"application": application.name})
    if action in (BulkAction.BLOCK, BulkAction.UNBLOCK):
        wanted = Status.BLOCKED if action == BulkAction.BLOCK else Status.ACTIVE
        if m.status == wanted:
            return BulkRow(m, "", _("already %(status)s") % {"status": str(statuses[wanted]).lower()})
        return BulkRow(m, change_text(_("Status"), str(statuses[m.status]), str(statuses[wanted])))
    if action == BulkAction.END:
        return BulkRow(m, _("no longer a user of this subdepartment; their applications here end"))
    assert last_day is not None
    current = last_day_of(m.valid_until)
    if current == last_day:
        return BulkRow(m, "", _("already ends on %(day)s") % {"day": _day(last_day)})
    return BulkRow(m, change_text(_("Last day"), _day(current), _day(last_day)))


def memberships_bulk(
    *,
    actor: User,
    subdepartment: Subdepartment,
    memberships: Sequence[RoleAssignment],
    action: str,
    application: SecuredApplication | None = None,
    reason: str = "",
    last_day: date | None = None,
    dry_run: bool = False,
) -> list[BulkRow]:
    """One action on many rows of the users list, all or nothing: what changes per row, and (unless
    ``dry_run``) the change made, through the single row's rules, audited per person.

    ``action``: give (``GRANT``) or take away (``REVOKE``) ``application``, ``BLOCK``/``UNBLOCK``,
    ``END`` (with ``reason``), ``END_DATE`` (the membership's last day, ``last_day``: a planned end).
    Every row must be an active row of ``subdepartment`` that the actor may change (authz, as for one
    row); one that ended meanwhile (a confirmation posted twice) changes nothing at all. A row the
    action leaves as it is (already blocked, already has the application) is listed, not touched,
    so a double post applies nothing twice.
    """
    if action not in BulkAction.values:
        raise ValidationError(_("Choose an action."))
    for m in memberships:
        authz.require(m.subdepartment_id == subdepartment.pk and authz.may_appoint(actor, m.role, m))
    if action in (BulkAction.GRANT, BulkAction.REVOKE) and application is None:
        raise ValidationError({"application": _("Choose an application.")})
    if action == BulkAction.GRANT and application is not None and application.pk not in switched_on_ids(subdepartment):
        raise ValidationError({"application": not_switched_on_error([application.name])})
    if action == BulkAction.END_DATE:
        if last_day is None:
            raise ValidationError({"last_day": _("Enter the last day.")})
        today = timezone.localdate()
        # The quality's ceiling is for its users' access; a manager's row may be planned past it.
        users = any(m.role == Role.USER for m in memberships)
        ceiling = max_last_day(subdepartment.enterprise_quality_id, today) if users else None
        day_error = last_day_error(last_day, today=today, ceiling=ceiling)
        if day_error:
            raise ValidationError({"last_day": day_error})
    reason = reason.strip()
    if len(reason) > 200:
        raise ValidationError({"reason": _("Enter a reason of at most 200 characters.")})
    # A dry run only reads: no transaction (on SQLite every transaction takes the write lock).
    with nullcontext() if dry_run else transaction.atomic():
        if not dry_run:
            lock_subdepartment(subdepartment.pk)
            lock_shared(User.objects.filter(pk__in=[m.person_id for m in memberships]))
        rows_qs = RoleAssignment.objects.filter(pk__in=[m.pk for m in memberships], subdepartment=subdepartment)
        if not dry_run:
            rows_qs = rows_qs.select_for_update(of=("self",))
        found = {r.pk: r for r in rows_qs.select_related("person", "subdepartment", "enterprise")}
        rows = [found[m.pk] for m in memberships if m.pk in found]
        gone = [r for r in rows if not r.is_active()]
        if gone or len(rows) != len(memberships):
            raise RowsEnded(bulk_already_ended_error(", ".join(str(r.person) for r in gone)))
        granted: set[tuple[int, int]] = set()
        if application is not None:
            granted = set(
                ApplicationGrant.objects.active()
                .filter(subdepartment=subdepartment, application=application, person__in=[r.person_id for r in rows])
                .values_list("person_id", "application_id")
            )
        plan = [_bulk_row(r, action, application, last_day, granted) for r in rows]
        if dry_run:
            return plan
        for row in plan:
            if row.change:
                _bulk_apply(actor, subdepartment, row.membership, action, application, reason, last_day)
    return plan


def _bulk_apply(
    actor: User,
    subdepartment: Subdepartment,
    m: RoleAssignment,
    action: str,
    application: SecuredApplication | None,
    reason: str,
    last_day: date | None,
) -> None:
    """One row of ``memberships_bulk``, inside its transaction and locks."""
    if action == BulkAction.END:
        _membership_end_locked(actor, m, subdepartment, reason)
    elif action in (BulkAction.BLOCK, BulkAction.UNBLOCK):
        before = assignment_snapshot(m)
        m.status = Status.BLOCKED if action == BulkAction.BLOCK else Status.ACTIVE
        m.save(update_fields=["status"])
        _audit_assignment(actor, Action.USER_CHANGE, m, before=before)
        notify_access_changed(m, added=[], removed=[])
    elif action == BulkAction.END_DATE:
        assert last_day is not None
        before = assignment_snapshot(m)
        m.valid_until = bulk_until(last_day)
        m.save(update_fields=["valid_until"])
        audit_record(
            actor=actor,
            reason=reason,
            **{
                **_assignment_audit(m, before=before),
                "action": Action.USER_END_PLANNED,
                "params": {"role": m.role, "until": last_day.isoformat()},
            },
        )
    else:
        assert application is not None
        current = set(
            ApplicationGrant.objects.active()
            .filter(person=m.person, subdepartment=subdepartment)
            .values_list("application_id", flat=True)
        )
        wanted = current | {application.pk} if action == BulkAction.GRANT else current - {application.pk}
        added, removed = person_grants_set(
            actor=actor,
            person=m.person,
            subdepartment=subdepartment,
            applications=SecuredApplication.objects.filter(pk__in=wanted),
        )
        notify_access_changed(m, added=added, removed=removed)


def membership_last_day_set(
    *, actor: User, membership: RoleAssignment, last_day: date, reason: str = ""
) -> RoleAssignment:
    """The user's page: extend or shorten one membership's planned end (its last day, inclusive).

    The bulk action "set the last day" (``memberships_bulk``, ``BulkAction.END_DATE``) for one row:
    the same checks (not in the past, within the quality's maximum), locks and audit event
    (``user.end_planned``, with who and why). Ending now is ``membership_end``. A membership that
    ended meanwhile (another manager, or its last day passed while the page was open) is refused
    with a message saying so.
    """
    subdepartment = membership.subdepartment
    authz.require(subdepartment is not None)
    assert subdepartment is not None
    try:
        memberships_bulk(
            actor=actor,
            subdepartment=subdepartment,
            memberships=[membership],
            action=BulkAction.END_DATE,
            last_day=last_day,
            reason=reason,
        )
    except RowsEnded as exc:
        raise ValidationError(
            _(
                "Nothing was changed: this access has already ended (its last day passed or a manager ended it). "
                "Give access again from the user's page if it is still needed."
            )
        ) from exc
    membership.refresh_from_db()
    return membership


AccessChange = tuple[RoleAssignment, list[SecuredApplication], list[SecuredApplication], bool]


@dataclass(frozen=True)
class ApplicationLink:
    """An application as the mails name it: its name in the person's language and where to open it."""

    name: str
    url: str


# The person's own words in the e-mail (its greeting) are left as these slots when the text is
# rendered, and filled per person: a CSV import of 10,000 users renders the templates once per
# language and set of applications instead of 20,000 times (1 ms each). The slots are control
# characters, which no name or template holds (the import refuses them in a file).
_GREETING_SLOT = "\x00greeting\x00"
_LINK_SLOT = "\x00link\x00"
_USERNAME_SLOT = "\x00username\x00"


def access_changed_messages(changes: Iterable[AccessChange], *, new: bool = False) -> list[tuple[str, str, str]]:
    """(to, subject, body) of each e-mail telling a person, in their language, what changed.

    ``changes``: (membership, added, removed, ended). A membership without any address gets none.
    ``new``: the memberships were just made (the form's "add a user", the CSV import): the mail says
    how to start, with the username, how to log in and a link to each application.
    """
    rendered: dict[tuple[object, ...], tuple[str, str]] = {}
    titles: dict[tuple[str, str], str] = {}
    messages: list[tuple[str, str, str]] = []
    for membership, added, removed, ended in changes:
        person = membership.person
        to = membership.contact_email or person.email
        if not to:
            continue
        subdepartment = membership.subdepartment
        assert subdepartment is not None
        language = person.language or "nl"
        blocked = membership.status == Status.BLOCKED
        link = not ended and needs_activation_link(membership)
        confirms = person.activation != Activation.NONE
        key = (
            language,
            confirms,
            subdepartment.pk,
            tuple(a.pk for a in added),
            tuple(a.pk for a in removed),
            ended,
            blocked,
            link,
        )
        if key not in rendered:
            with translation.override(language):
                context = {
                    "greeting": _GREETING_SLOT,
                    "subdepartment": subdepartment,
                    "enterprise": subdepartment.enterprise,
                    "new": new,
                    "added": [ApplicationLink(a.name, a.link) for a in added],
                    "removed": [a.name for a in removed],
                    "ended": ended,
                    "blocked": blocked,
                    "login_url": absolute_url(reverse("account_login")),
                    "username": _USERNAME_SLOT,
                    "activation_link": _LINK_SLOT if link else "",
                    "link_confirms": confirms,
                    "link_days": settings.ACTIVATION_LINK_SECONDS // 86400,
                }
                rendered[key] = (
                    render_to_string("mail/access_changed_subject.txt", context).strip(),
                    render_to_string("mail/access_changed.txt", context),
                )
        if (language, person.title) not in titles:
            with translation.override(language):
                titles[language, person.title] = salutation_format(person.title)
        subject, body = rendered[key]
        greeting = titles[language, person.title] % {"first_name": person.first_name, "last_name": person.last_name}
        body = body.replace(_GREETING_SLOT, greeting)
        body = body.replace(_USERNAME_SLOT, person.username)
        if link:
            body = body.replace(_LINK_SLOT, activation_url(membership, language))
        messages.append((to, subject, body))
    return messages


def notify_access_changed(
    membership: RoleAssignment,
    *,
    added: list[SecuredApplication],
    removed: list[SecuredApplication],
    ended: bool = False,
    new: bool = False,
) -> None:
    """Queue an e-mail to the person, in their own language, with the change's transaction.

    The outbox row commits or rolls back with the change; a job sends it after commit, so an SMTP
    failure neither fails nor undoes the change (toegang/mail).
    """
    for to, subject, body in access_changed_messages([(membership, added, removed, ended)], new=new):
        mail_enqueue(to=to, subject=subject, body=body, language=membership.person.language or "nl")


# --- The CSV import: many users at once, through the same checks ---------------------------------


@dataclass(frozen=True)
class UserToAdd:
    """One user for ``subdepartment_users_import``: what the form's fields hold, the INSZ clean."""

    ssin: str
    email: str
    applications: tuple[SecuredApplication, ...] = ()
    first_name: str = ""
    last_name: str = ""
    title: str = ""
    language: str = ""
    local_email: str = ""
    username: str = ""
    last_day: date | None = None  # the membership's last day; None: the quality's maximum, if any


@dataclass
class UsersImportResult:
    errors: list[list[str]]  # per row, in the order given
    known: list[bool]  # per row: the person existed already (only a membership is added)
    written: bool


class ImportAlreadyApplied(Exception):
    """The import's job ran again after its transaction had committed: nothing more to do."""


ProgressCallback = Callable[[int], None]

# Rows written per round of bulk_create: a progress report after each, and SQLite's limit on the
# parameters of one statement (32,766) stays far away with the widest table (users, 20 columns).
IMPORT_CHUNK = 1000
_IN_CHUNK = 5000


def _in_chunks(values: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(values), _IN_CHUNK):
        yield values[i : i + _IN_CHUNK]


def _usernames_for(rows: Sequence[UserToAdd], new: list[bool]) -> tuple[dict[int, str], set[int]]:
    """A username per new row (given or made up, as ``person_get_or_create``) and the rows whose given one is taken.

    One query for the given names and one for the made-up bases; a base already taken, or made up
    twice in the file, reads its numbered variants as ``_unique_username`` does (rare).
    """
    given = {i: r.username for i, r in enumerate(rows) if new[i] and r.username}
    taken_given: set[str] = set()
    for chunk in _in_chunks(sorted({u.lower() for u in given.values()})):
        taken_given.update(
            User.objects.annotate(lower=Lower("username")).filter(lower__in=chunk).values_list("lower", flat=True)
        )
    bases = {i: _username_base(r.first_name, r.last_name) for i, r in enumerate(rows) if new[i] and not r.username}
    taken: set[str] = set(given.values())
    for chunk in _in_chunks(sorted(set(bases.values()))):
        taken.update(User.objects.filter(username__in=chunk).values_list("username", flat=True))
    repeated = {b for b, n in Counter(bases.values()).items() if n > 1}
    for base in {b for b in bases.values() if b in taken} | repeated:
        taken |= _taken_usernames(base)
    names: dict[int, str] = {}
    refused: set[int] = set()
    seen_given: set[str] = set()
    for i, r in enumerate(rows):
        if not new[i]:
            continue
        if r.username:
            if r.username.lower() in taken_given or r.username.lower() in seen_given:
                refused.add(i)
            seen_given.add(r.username.lower())
            names[i] = r.username
        else:
            names[i] = _unique_username(r.first_name, r.last_name, taken)
            taken.add(names[i])
    return names, refused


def subdepartment_users_import(
    *,
    actor: User,
    subdepartment: Subdepartment,
    rows: Sequence[UserToAdd],
    dry_run: bool = False,
    user_import: UserImport | None = None,
    progress: ProgressCallback | None = None,
) -> UsersImportResult:
    """Add every row as a user of ``subdepartment`` (as ``subdepartment_user_add`` does), or none.

    One transaction. The rules are the single form's (``subdepartment_user_add``,
    ``person_get_or_create``, ``person_grants_set``), checked for the whole file with one query
    each; any row in error, or ``dry_run``, writes nothing and returns the errors. Otherwise the
    persons, memberships, grants and audit events are written with ``bulk_create`` in rounds of
    ``IMPORT_CHUNK`` rows (``progress`` is called with the rows done after each), the e-mails
    queued, and ``user_import`` marked done in this same transaction: if the worker dies before the
    commit nothing of it remains, and a job that runs it again after the commit stops at
    ``ImportAlreadyApplied``.
    """
    authz.require(authz.may_appoint(actor, Role.USER, subdepartment))
    cols = _scope_columns(subdepartment)
    # No lock on the enterprise or the subdepartment, and none at all for the preview (dry_run): the
    # import locks what its rows need (toegang/locks.py), so that other managers' work goes on beside
    # it. A concurrent change that collides with it (the same person added, a username taken) trips
    # a unique index and ends the run as a lost race, which the job runs again.
    with transaction.atomic():
        if user_import is not None and not dry_run:
            lock_import_run(user_import.pk)
            # Read after the lock: a run of the same import that committed meanwhile is visible now.
            status = UserImport.objects.filter(pk=user_import.pk).values_list("status", flat=True).first()
            if status == ImportStatus.DONE:
                raise ImportAlreadyApplied
        ssins = [r.ssin for r in rows]
        known: dict[str, User] = {}
        for chunk in _in_chunks(ssins):
            if not dry_run:
                # Shared, as in subdepartment_user_add: a rename committing meanwhile would miss the copies.
                lock_shared(User.objects.filter(ssin__in=chunk))
            known.update((p.ssin, p) for p in User.objects.filter(ssin__in=chunk) if p.ssin)
        members = set(
            RoleAssignment.objects.active()
            .filter(subdepartment=subdepartment, role=Role.USER)
            .values_list("person_id", flat=True)
        )
        if not dry_run:
            # The applications the file gives stay switched on until it committed (switching off waits).
            lock_shared(
                SubdepartmentApplication.objects.active().filter(
                    subdepartment=subdepartment, application__in={a.pk for r in rows for a in r.applications}
                )
            )
        switched_on = switched_on_ids(subdepartment)
        new = [r.ssin not in known for r in rows]
        usernames, username_refused = _usernames_for(rows, new)
        today = timezone.localdate()
        ceiling = max_last_day(subdepartment.enterprise_quality_id, today)
        last_days = [r.last_day or ceiling for r in rows]
        errors: list[list[str]] = []
        for i, r in enumerate(rows):
            row_errors: list[str] = []
            if not r.email.strip():
                row_errors.append(email_required_error())
            row_errors.extend(contact_errors(email=r.email, local_email=r.local_email).values())
            if new[i]:
                row_errors.extend(
                    new_person_errors(
                        first_name=r.first_name,
                        last_name=r.last_name,
                        username=r.username,
                        username_taken=i in username_refused,
                    ).values()
                )
            elif known[r.ssin].pk in members:
                row_errors.append(already_member_error())
            refused = [a.name for a in r.applications if a.pk not in switched_on]
            if refused:
                row_errors.append(not_switched_on_error(refused))
            day_error = last_day_error(last_days[i], today=today, ceiling=ceiling)
            if day_error:
                row_errors.append(day_error)
            errors.append(row_errors)
        result = UsersImportResult(errors=errors, known=[not n for n in new], written=False)
        if dry_run or any(errors):
            return result
        messages: list[tuple[str, str, str]] = []
        for start in range(0, len(rows), IMPORT_CHUNK):
            messages.extend(
                _users_write(
                    actor,
                    subdepartment,
                    cols,
                    rows,
                    range(start, min(start + IMPORT_CHUNK, len(rows))),
                    known,
                    usernames,
                    last_days,
                )
            )
            if progress is not None:
                progress(min(start + IMPORT_CHUNK, len(rows)))
        mail_enqueue_many(messages)
        if user_import is not None:
            now = timezone.now()
            UserImport.objects.filter(pk=user_import.pk).update(
                status=ImportStatus.DONE, rows_processed=len(rows), finished_at=now, heartbeat=now, error=""
            )
        result.written = True
    return result


def _users_write(
    actor: User,
    subdepartment: Subdepartment,
    cols: dict[str, Any],
    rows: Sequence[UserToAdd],
    indexes: range,
    known: dict[str, User],
    usernames: dict[int, str],
    last_days: Sequence[date | None],
) -> list[tuple[str, str, str]]:
    """Write one round of rows checked by ``subdepartment_users_import``; returns their e-mails."""
    people: list[User] = []
    new_people: list[User] = []
    for i in indexes:
        r = rows[i]
        person = known.get(r.ssin)
        if person is None:
            person = _new_person(
                ssin=r.ssin,
                username=usernames[i],
                first_name=r.first_name,
                last_name=r.last_name,
                local_email=r.local_email,
                language=r.language,
                title=r.title,
            )
            new_people.append(person)
        people.append(person)
    copy_insert(User, new_people)
    # copy_insert does not go through RoleAssignment's bulk_create, which fills the person copies.
    memberships = copy_insert(
        RoleAssignment,
        [
            RoleAssignment(
                person=person,
                role=Role.USER,
                **person_copies(person),
                contact_email=rows[i].email.strip(),
                contact_local_email=rows[i].local_email.strip(),
                granted_by=actor,
                valid_until=until_of(last_days[i]),
                **cols,
            )
            for i, person in zip(indexes, people, strict=True)
        ],
    )
    grants = [
        [
            ApplicationGrant(person=person, subdepartment=subdepartment, application=app, granted_by=actor)
            for app in rows[i].applications
        ]
        for i, person in zip(indexes, people, strict=True)
    ]
    copy_insert(ApplicationGrant, [g for person_grants in grants for g in person_grants])
    # The events in the single form's order: the membership, then each of its grants.
    # Columns, not AuditEvent instances: ten thousand Model.__init__ calls were a large part of the time.
    events: list[dict[str, Any]] = []
    # RoleAssignment.__str__ with its role's label looked up once, not once per row.
    role_label = str(Role.USER.label)
    for membership, person_grants in zip(memberships, grants, strict=True):
        events.append(
            audit_columns(
                actor=actor,
                action=Action.USER_ADD,
                object_repr=f"{role_label}: {membership.person}",
                **_assignment_audit(membership, before=None),
            )
        )
        events.extend(grant_audit_columns(g, actor=actor, action=Action.GRANT_ADD) for g in person_grants)
    audit_record_rows(events)
    changes: Iterator[AccessChange] = (
        (membership, list(rows[i].applications), [], False) for i, membership in zip(indexes, memberships, strict=True)
    )
    return access_changed_messages(changes, new=True)
