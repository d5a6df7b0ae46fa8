"""Secured applications (CIRRO, E-loket, RaaS) and which subdepartments have them switched on."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from toegang.history import Ended, HistoryQuerySet
from toegang.translated import TranslatedDescription, TranslatedName

# Where a person opens the application: a web address, never javascript:, data: or ftp: (the e-mails
# and the user's Home link to it). 500 characters: longer than any real entry page, short enough for a mail line.
APPLICATION_URL_MAX_LENGTH = 500
application_url_validator = URLValidator(
    schemes=["https", "http"], message=_("Enter a web address that starts with https:// or http://.")
)


class SecuredApplication(TranslatedName, TranslatedDescription):
    code = models.SlugField(_("code"), max_length=40, unique=True)
    is_active = models.BooleanField(_("active"), default=True)
    url = models.URLField(
        _("web address"),
        max_length=APPLICATION_URL_MAX_LENGTH,
        blank=True,
        validators=[application_url_validator],
        help_text=_(
            "Where users open the application (https:// or http://). Shown in their e-mails and on their Home."
        ),
    )

    @property
    def link(self) -> str:
        """``url`` if it is an http(s) address, else "": what a page or an e-mail may link to.

        The catalogue's form validates it; this guards a value written around the form (a shell, a migration).
        """
        return self.url if self.url.lower().startswith(("https://", "http://")) else ""

    class Meta:
        verbose_name = _("secured application")
        verbose_name_plural = _("secured applications")
        ordering = ["code"]


class SubdepartmentApplication(Ended):
    """An application switched on for one subdepartment; switching off ends the row, never deletes it."""

    subdepartment = models.ForeignKey(
        "organisations.Subdepartment", on_delete=models.PROTECT, related_name="application_links"
    )
    application = models.ForeignKey(SecuredApplication, on_delete=models.PROTECT, related_name="subdepartment_links")

    objects = HistoryQuerySet["SubdepartmentApplication"].as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subdepartment", "application"],
                condition=Q(ended_at__isnull=True),
                name="one_active_subdepartment_application",
            )
        ]

    def __str__(self) -> str:
        return f"{self.application.name} — {self.subdepartment}"


class ApplicationGrant(Ended):
    """A person may use one application for one subdepartment (the manual's ticked checkbox).

    Hot path of the claims and the check API: the partial index on (person, application).
    """

    person = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="application_grants")
    subdepartment = models.ForeignKey("organisations.Subdepartment", on_delete=models.PROTECT, related_name="+")
    application = models.ForeignKey(SecuredApplication, on_delete=models.PROTECT, related_name="grants")

    objects = HistoryQuerySet["ApplicationGrant"].as_manager()

    class Meta:
        verbose_name = _("application grant")
        verbose_name_plural = _("application grants")
        constraints = [
            models.UniqueConstraint(
                fields=["person", "subdepartment", "application"],
                condition=Q(ended_at__isnull=True),
                name="one_active_application_grant",
            )
        ]
        indexes = [
            models.Index(
                fields=["person", "application"], condition=Q(ended_at__isnull=True), name="grant_person_app_active"
            ),
            models.Index(
                fields=["subdepartment", "application"],
                condition=Q(ended_at__isnull=True),
                name="grant_subdep_app_active",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.application.name} — {self.person} — {self.subdepartment}"
