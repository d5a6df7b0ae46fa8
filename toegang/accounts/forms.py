"""allauth forms with toegang's rules."""

from __future__ import annotations

from typing import Any

from allauth.account.forms import AddEmailForm as AllauthAddEmailForm
from allauth.account.models import EmailAddress
from allauth.mfa.webauthn.forms import AddWebAuthnForm as AllauthAddWebAuthnForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from toegang.accounts.models import User

EMAIL_TAKEN = _("This e-mail address is already used by another account.")


class AddEmailForm(AllauthAddEmailForm):
    """One login address, one account: another account's address (verified or not) is refused.

    allauth accepts it unverified to keep enumeration hard; here an address is a login name and a
    reset channel, and a second account holding it would log in and be throttled apart.
    """

    def clean_email(self) -> Any:
        value = super().clean_email()
        assert self.user is not None
        taken = (
            User.objects.filter(email__iexact=value).exclude(pk=self.user.pk).exists()
            or EmailAddress.objects.filter(email__iexact=value).exclude(user=self.user).exists()
        )
        if taken:
            raise ValidationError(EMAIL_TAKEN)
        return value


class AddWebAuthnForm(AllauthAddWebAuthnForm):
    """allauth's form to add a security key, its name field labelled (allauth gives it none: "Name")."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].label = _("Name of the security key")
        self.fields["name"].help_text = _('So you recognise it in the list, e.g. "Blue key" or "Laptop".')
