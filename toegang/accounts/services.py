"""What a person changes about themselves ("Mijn persoonlijke gegevens wijzigen").

INSZ, names and username are not here: they come from the national register (or from the
appointment that created the account) and nobody changes them through the portal.
"""

from __future__ import annotations

from typing import Any

from allauth.account.models import EmailAddress
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from toegang.accounts.models import Language, Title, User
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
        if email_changed and User.objects.filter(email__iexact=values["email"]).exclude(pk=person.pk).exists():
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
