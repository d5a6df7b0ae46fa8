"""The person: one User per natural person, keyed by INSZ (empty only for operators)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from toegang.identifiers import ssin_format


class Title(models.TextChoices):
    MR = "mr", _("Mr")
    MS = "ms", _("Ms")
    NEUTRAL = "mx", _("Mx")


class Language(models.TextChoices):
    NL = "nl", _("Dutch")
    FR = "fr", _("French")
    DE = "de", _("German")
    EN = "en", _("English")


class User(AbstractUser):
    ssin = models.CharField(_("INSZ"), max_length=11, unique=True, null=True, blank=True)
    title = models.CharField(_("Title"), max_length=2, choices=Title.choices, default=Title.NEUTRAL)
    language = models.CharField(_("Language"), max_length=2, choices=Language.choices, default=Language.NL)
    local_email = models.EmailField(_("Local e-mail address"), blank=True)
    phone = models.CharField(_("Phone"), max_length=30, blank=True)
    # Set with a temporary password (``set_temporary_password``); MustChangePasswordMiddleware then
    # allows nothing but the password change page until the person has chosen their own.
    must_change_password = models.BooleanField(_("must change password"), default=False)

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("persons")

    @property
    def is_operator(self) -> bool:
        """Platform operators are staff accounts; they register enterprises and keep the catalogues."""
        return bool(self.is_active and self.is_staff)

    @property
    def ssin_display(self) -> str:
        return ssin_format(self.ssin or "")

    def __str__(self) -> str:
        name = f"{self.last_name} {self.first_name}".strip()
        return name or self.username
