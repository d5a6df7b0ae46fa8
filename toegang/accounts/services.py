"""What a person changes about themselves ("Mijn persoonlijke gegevens wijzigen").

INSZ, names and username are not here: they come from the national register (or from the
appointment that created the account) and nobody changes them through the portal.
"""

from __future__ import annotations

from typing import Any

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from toegang.accounts.models import Activation, Language, Title, User
from toegang.accounts.passwords import chosen_password_check
from toegang.audit.actions import Action
from toegang.audit.services import audit_record
from toegang.lengths import length_errors

SELF_EDITABLE = ("title", "email", "local_email", "phone", "language")


def _snapshot(person: User) -> dict[str, Any]:
    return {field: getattr(person, field) for field in SELF_EDITABLE}


def person_update_self(
    *,
    actor: User,
    email: str,
    local_email: str = "",
    phone: str = "",
    language: str,
    title: str,
) -> User:
    """The actor changes their own contact data, language and title; audited without an enterprise.

    Only the actor's own row is touched, so there is nothing to authorise beyond being logged in.
    """
    if not actor.is_active:
        raise PermissionDenied
    values = {
        "title": title,
        "email": email.strip(),
        "local_email": local_email.strip(),
        "phone": phone.strip(),
        "language": language,
    }
    errors: dict[str, Any] = {}
    if not values["email"]:
        errors["email"] = _("The e-mail address is required.")
    for field in ("email", "local_email"):
        if values[field] and field not in errors:
            try:
                validate_email(values[field])
            except ValidationError as exc:
                errors[field] = exc.messages
    too_long = length_errors(
        (
            ("email", values["email"], User, "email", gettext_lazy("E-mail address")),
            ("local_email", values["local_email"], User, "local_email", gettext_lazy("Local e-mail address")),
        )
    )
    for field, message in too_long.items():
        errors.setdefault(field, message)
    if title not in Title.values:
        errors["title"] = _("Choose a valid title.")
    if language not in Language.values:
        errors["language"] = _("Choose a valid language.")
    if len(values["phone"]) > 30:
        errors["phone"] = _("Enter a phone number of at most 30 characters.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        person = User.objects.select_for_update().get(pk=actor.pk)
        before = _snapshot(person)
        email_changed = values["email"].lower() != person.email.lower()
        # One login per e-mail address: allauth logs in by username or e-mail.
        if email_changed and (
            User.objects.filter(email__iexact=values["email"]).exclude(pk=person.pk).exists()
            or EmailAddress.objects.filter(email__iexact=values["email"]).exclude(user=person).exists()
        ):
            raise ValidationError({"email": _("This e-mail address is already used by another account.")})
        for field, value in values.items():
            setattr(person, field, value)
        if before == _snapshot(person):
            return person
        person.save(update_fields=list(SELF_EDITABLE))
        if email_changed:
            # allauth's address book is a login index, not history (the audit event keeps the old
            # address): an old address must stop opening the account.
            EmailAddress.objects.filter(user=person).exclude(email__iexact=values["email"]).delete()
        audit_record(
            actor=person,
            action=Action.PERSON_UPDATE_SELF,
            obj=person,
            before=before,
            after=_snapshot(person),
        )
    for field in SELF_EDITABLE:
        setattr(actor, field, getattr(person, field))
    return person


def account_activate_proven(*, person: User) -> bool:
    """At a login that proved the INSZ: an account with no login channel yet becomes the person's own.

    Nobody had attached anything to it, so whatever is attached from now on is the person's
    (``Activation.PERSON``). An account activated through an appointment's link keeps its state: its
    channels came through an address a manager typed; ``account_claim`` replaces them.
    """
    with transaction.atomic():
        updated = User.objects.filter(pk=person.pk, activation=Activation.NONE).update(
            activation=Activation.PERSON, activated_at=timezone.now()
        )
        if not updated:
            return False
        audit_record(
            actor=person,
            action=Action.ACCOUNT_ACTIVATE,
            obj=person,
            person=person,
            before={"activation": Activation.NONE},
            after={"activation": Activation.PERSON},
        )
    person.activation = Activation.PERSON
    return True


def account_claim(*, actor: User, password: str, password_again: str) -> User:
    """From a session that proved the INSZ, the person takes the account over as their own.

    Every login channel that someone may have attached without that proof goes: the password (the
    new one replaces it), the app codes and security keys, the login addresses; the identities of
    external providers stay (each was linked by its INSZ claim). Other sessions end (the password
    changes). The account is then ``Activation.PERSON``.
    """
    # The session's proof, as the session middleware read it for authz (``User.ssin_proven``), not a
    # flag of the caller's.
    if not actor.is_active or not actor.ssin_proven:
        raise PermissionDenied
    chosen_password_check(actor, password, password_again)
    with transaction.atomic():
        person = User.objects.select_for_update().get(pk=actor.pk)
        before = {
            "activation": person.activation,
            "email": person.email,
            "authenticators": sorted(Authenticator.objects.filter(user=person).values_list("type", flat=True)),
        }
        Authenticator.objects.filter(user=person).delete()
        EmailAddress.objects.filter(user=person).delete()
        person.set_password(password)
        person.email = ""
        person.must_change_password = False
        person.activation = Activation.PERSON
        person.activated_at = timezone.now()
        person.save(update_fields=["password", "email", "must_change_password", "activation", "activated_at"])
        audit_record(
            actor=person,
            action=Action.ACCOUNT_CLAIM,
            obj=person,
            person=person,
            before=before,
            after={"activation": Activation.PERSON, "email": "", "authenticators": []},
        )
    return person
