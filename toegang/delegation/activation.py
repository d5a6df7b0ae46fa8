"""Activation links: how a person attaches a login channel to the record a manager made of them.

A manager who adds a user or appoints a manager creates (or finds) a person known by INSZ, with no
login channel of its own, and types a contact address for *that* assignment. The e-mail of the
assignment carries a link bound to it: the assignment, its person and the address it was sent to,
signed and valid for ``settings.ACTIVATION_LINK_SECONDS``. Following it:

- on an account nobody has activated, the person chooses a password; the address becomes the
  account's login address, and this assignment is confirmed (``Activation.APPOINTMENT``);
- on an account already activated, the person logs in to it first, and the link confirms this
  assignment for that account;
- a link is used once, stops working when the assignment ends or its address changes, and is no
  use to anyone but the account's own holder.

Why a link confirms only its own assignment: the manager who typed the address could have typed
their own. They can then reach what they gave, nothing more (``authz.role_usable``); an
appointment by someone else (another enterprise's legal representative, say) needs its own link,
sent to the address its own manager entered, or a login that proves the INSZ (docs/security.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from toegang.accounts.models import Activation, User
from toegang.accounts.passwords import chosen_password_check
from toegang.audit.actions import Action
from toegang.audit.services import audit_record
from toegang.delegation.models import RoleAssignment

SALT = "toegang.delegation.activation"


class ActivationLinkInvalid(Exception):
    """The link cannot be used; ``message`` says why, translated, without naming anyone."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ActivationLink:
    assignment: RoleAssignment
    person: User

    @property
    def activated(self) -> bool:
        """Has the account a login channel already (so the person must log in to it first)?"""
        return self.person.activation != Activation.NONE


def activation_token(assignment: RoleAssignment) -> str:
    payload = {"a": assignment.pk, "p": assignment.person_id, "e": assignment.contact_email.strip().lower()}
    return signing.dumps(payload, salt=SALT, compress=True)


def activation_url(assignment: RoleAssignment, language: str) -> str:
    """The absolute link, on ``TOEGANG_BASE_URL`` (never the request's Host), in the person's language."""
    with translation.override(language):
        path = reverse("portal:activate", kwargs={"token": activation_token(assignment)})
    return f"{settings.BASE_URL}{path}"


def needs_activation_link(assignment: RoleAssignment) -> bool:
    """Does the e-mail of this assignment need a link? Not when the account is the person's own already."""
    return bool(assignment.contact_email.strip()) and assignment.person.activation != Activation.PERSON


def _invalid() -> ActivationLinkInvalid:
    return ActivationLinkInvalid(
        _("This activation link is not valid (any more). Ask your access manager to send it again, or log in with eID.")
    )


def activation_read(token: str) -> ActivationLink:
    """The assignment a link is for, if the link may still be used; else ``ActivationLinkInvalid``."""
    try:
        payload: dict[str, Any] = signing.loads(token, salt=SALT, max_age=settings.ACTIVATION_LINK_SECONDS)
    except signing.SignatureExpired as exc:
        raise ActivationLinkInvalid(
            _("This activation link has expired. Ask your access manager to send it again, or log in with eID.")
        ) from exc
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise _invalid() from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("a"), int) or not isinstance(payload.get("p"), int):
        raise _invalid()
    assignment = (
        RoleAssignment.objects.active()
        .select_related("person", "enterprise", "enterprise_quality__quality", "subdepartment")
        .filter(pk=payload["a"], person_id=payload["p"])
        .first()
    )
    if assignment is None or assignment.contact_email.strip().lower() != payload.get("e"):
        raise _invalid()
    if assignment.confirmed_at is not None:
        raise ActivationLinkInvalid(_("This activation link has been used already. Log in as usual."))
    if not assignment.person.is_active:
        raise _invalid()
    return ActivationLink(assignment=assignment, person=assignment.person)


def _confirm(assignment: RoleAssignment, person: User) -> None:
    # The assignment's own audit fields, as every other change to it (delegation.services).
    before = {"confirmed_at": None}
    assignment.confirmed_at = timezone.now()
    assignment.save(update_fields=["confirmed_at"])
    audit_record(
        actor=person,
        action=Action.ROLE_CONFIRM,
        obj=assignment,
        person=person,
        params={"role": assignment.role},
        enterprise=assignment.enterprise,
        enterprise_quality=assignment.enterprise_quality,
        subdepartment=assignment.subdepartment,
        before=before,
        after={"confirmed_at": assignment.confirmed_at.isoformat()},
    )


def account_activate(*, token: str, password: str, password_again: str) -> User:
    """The person chooses a password through the link of an account nobody has activated yet.

    The link's address becomes the account's login address (verified: the mail reached it), unless
    another account logs in with it already, which is refused (one login address, one account).
    """
    link = activation_read(token)
    with transaction.atomic():
        person = User.objects.select_for_update().get(pk=link.person.pk)
        if person.activation != Activation.NONE:
            raise ActivationLinkInvalid(
                _("This account has been activated already. Log in to confirm the appointment.")
            )
        chosen_password_check(person, password, password_again)
        email = link.assignment.contact_email.strip()
        if (
            User.objects.filter(email__iexact=email).exclude(pk=person.pk).exists()
            or EmailAddress.objects.filter(email__iexact=email).exclude(user=person).exists()
        ):
            raise ValidationError(
                {
                    "password1": _(
                        "The address this link was sent to is the login address of another account. Ask your "
                        "access manager to correct the address, or log in with eID."
                    )
                }
            )
        now = timezone.now()
        person.set_password(password)
        person.email = email
        person.activation = Activation.APPOINTMENT
        person.activated_at = now
        person.must_change_password = False
        person.save(update_fields=["password", "email", "activation", "activated_at", "must_change_password"])
        EmailAddress.objects.filter(user=person).delete()  # none: nobody could log in to add one
        EmailAddress.objects.create(user=person, email=email, verified=True, primary=True)
        audit_record(
            actor=person,
            action=Action.ACCOUNT_ACTIVATE,
            obj=person,
            person=person,
            before={"activation": Activation.NONE},
            after={"activation": Activation.APPOINTMENT, "email": email, "assignment": link.assignment.pk},
        )
        assignment = RoleAssignment.objects.select_for_update().get(pk=link.assignment.pk)
        _confirm(assignment, person)
    return person


def assignment_confirm(*, actor: User, token: str) -> RoleAssignment:
    """The holder of an activated account, logged in, confirms the assignment the link is for."""
    link = activation_read(token)
    if not actor.is_authenticated or actor.pk != link.person.pk:
        raise PermissionDenied
    with transaction.atomic():
        assignment = RoleAssignment.objects.select_for_update().get(pk=link.assignment.pk)
        if assignment.confirmed_at is None:
            _confirm(assignment, actor)
    return assignment
