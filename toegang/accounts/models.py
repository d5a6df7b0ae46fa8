"""The person: one User per natural person, keyed by INSZ (empty only for operators)."""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.core.validators import RegexValidator
from django.db import models, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.dispatch import Signal
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from toegang.identifiers import ssin_format

# Assurance levels of a login, as the federal authentication service names them
# (``accounts.assurance`` reads a session's; ``delegation.authz`` says which a role needs).
EID, EXTERNAL, SECOND_FACTOR, PASSWORD, NONE = 500, 450, 400, 200, 0

# Sent inside the transaction of a save that changed a field copied onto other rows
# (``User.COPIED_FIELDS``); delegation, which holds the copies, connects to it in its AppConfig.
person_copied_fields_changed = Signal()


class Title(models.TextChoices):
    MR = "mr", _("Mr")
    MS = "ms", _("Ms")
    NEUTRAL = "mx", _("Mx")


# The opening of a letter, per title, as each language writes it ("Geachte heer Peeters", "Madame
# Dupont", "Sehr geehrte Frau Schmitz"); a neutral title greets by the whole name.
SALUTATIONS: dict[str, Any] = {
    "mr": pgettext_lazy("salutation", "Dear Mr %(last_name)s,"),
    "ms": pgettext_lazy("salutation", "Dear Ms %(last_name)s,"),
    "mx": pgettext_lazy("salutation", "Dear %(first_name)s %(last_name)s,"),
}


def salutation_format(title: str) -> str:
    """The salutation of ``title`` in the active language, with %(first_name)s and %(last_name)s."""
    return str(SALUTATIONS.get(title, SALUTATIONS["mx"]))


class Language(models.TextChoices):
    NL = "nl", _("Dutch")
    FR = "fr", _("French")
    DE = "de", _("German")
    EN = "en", _("English")


class Activation(models.TextChoices):
    """Who attached the account's login channels (password, login e-mail, app code, security key).

    A record a manager creates is a person known by INSZ, with none: nobody can log in to it. The
    person attaches them, either from a session that proved their INSZ (eID, itsme or the federal
    login: ``PERSON``), or through the activation link of one appointment, sent to the address that
    its manager entered (``APPOINTMENT``): then the account is trusted for that appointment only,
    and every other role needs its own link or a login that proves the INSZ (docs/security.md).
    """

    NONE = "", _("not activated")
    PERSON = "person", _("by the person, with a proven identity")
    APPOINTMENT = "appointment", _("through the activation link of an appointment")


@deconstructible
class UsernameValidator(RegexValidator):
    """The one rule for a username, wherever one is set (the add-user form, the CSV import, an
    appointment, createsuperuser): 2 to 150 of the ASCII letters, digits and ``. - _ @``.

    What the made-up ``first.last`` names are made of, and nothing a page or a template could read
    as markup (``<script>``) or code (``{{7*7}}``); ASCII only, so that no two names look alike
    (a Cyrillic "а" for a Latin "a").
    """

    regex = r"^[A-Za-z0-9._@-]{2,150}\Z"
    flags = re.ASCII
    message = _("A username has 2 to 150 characters: letters a-z, digits and . - _ @ only.")
    code = "invalid_username"


class User(AbstractUser):
    username = models.CharField(
        _("Username"),
        max_length=150,
        unique=True,
        help_text=_("2 to 150 characters: letters a-z, digits and . - _ @ only."),
        validators=[UsernameValidator()],
        error_messages={"unique": _("This username is already taken.")},
    )
    ssin = models.CharField(_("INSZ"), max_length=11, unique=True, null=True, blank=True)
    title = models.CharField(_("Title"), max_length=2, choices=Title.choices, default=Title.NEUTRAL)
    language = models.CharField(_("Language"), max_length=2, choices=Language.choices, default=Language.NL)
    local_email = models.EmailField(_("Local e-mail address"), blank=True)
    phone = models.CharField(_("Phone"), max_length=30, blank=True)
    # Set with a temporary password (``set_temporary_password``); MustChangePasswordMiddleware then
    # allows nothing but the password change page until the person has chosen their own.
    must_change_password = models.BooleanField(_("must change password"), default=False)
    activation = models.CharField(
        _("activation"), max_length=12, choices=Activation.choices, blank=True, default=Activation.NONE
    )
    activated_at = models.DateTimeField(_("activated at"), null=True, blank=True)

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("persons")
        constraints = [
            # One login address, one account: allauth logs in and resets passwords by it.
            models.UniqueConstraint(Lower("email"), condition=~Q(email=""), name="one_account_per_login_email"),
        ]

    # The fields copied onto the person's role assignments for the users list (delegation's
    # PERSON_COPIES, where the reason is written down); kept in step here, whichever path saves the
    # person: a service, the personal-data page, the admin, the shell.
    COPIED_FIELDS = ("last_name", "first_name", "username", "ssin")

    # Not a column: whether the current request's session proved the INSZ, set by the session
    # middleware (``accounts.sessions``) and read by ``delegation.authz.role_usable``.
    ssin_proven: bool = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._copied_saved = self._copied_now()

    def _copied_now(self) -> tuple[Any, ...]:
        # A deferred field (``only()``) is left out rather than loaded.
        deferred = self.get_deferred_fields()
        return tuple(None if f in deferred else self.__dict__.get(f) for f in self.COPIED_FIELDS)

    def save(self, *args: Any, **kwargs: Any) -> None:
        update_fields = kwargs.get("update_fields")
        changed = self._copied_now() != self._copied_saved and (
            update_fields is None or not set(update_fields).isdisjoint(self.COPIED_FIELDS)
        )
        if not changed or self._state.adding:  # a new person has no role assignments yet
            super().save(*args, **kwargs)
        else:
            with transaction.atomic(using=kwargs.get("using")):
                super().save(*args, **kwargs)
                person_copied_fields_changed.send(sender=User, person=self)
        # What is now in the database: the fields written by this save, the old snapshot for the
        # others (``save(update_fields=["last_login"])`` leaves a changed name unsaved, still to copy).
        now = self._copied_now()
        if update_fields is None:
            self._copied_saved = now
        else:
            written = set(update_fields)
            pairs = zip(self.COPIED_FIELDS, now, self._copied_saved, strict=True)
            self._copied_saved = tuple(n if f in written else old for f, n, old in pairs)

    @property
    def is_operator(self) -> bool:
        """Platform operators are staff accounts; they register enterprises and keep the catalogues."""
        return bool(self.is_active and self.is_staff)

    def salutation(self) -> str:
        """The opening of a letter to this person, in the active language."""
        return salutation_format(self.title) % {"first_name": self.first_name, "last_name": self.last_name}

    @property
    def ssin_display(self) -> str:
        return ssin_format(self.ssin or "")

    def __str__(self) -> str:
        name = f"{self.last_name} {self.first_name}".strip()
        return name or self.username
