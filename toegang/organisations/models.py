"""Enterprises, the qualities they act in, and their subdepartments (facilities)."""

from __future__ import annotations

from django.core.validators import validate_comma_separated_integer_list
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from toegang.history import Ended, HistoryQuerySet
from toegang.identifiers import cbe_format
from toegang.translated import TranslatedName, pick


class Audience(TranslatedName):
    """The capacity one logs in with: employer, social-security professional, healthcare actor."""

    code = models.SlugField(_("code"), max_length=40, unique=True)

    class Meta:
        verbose_name = _("audience")
        verbose_name_plural = _("audiences")
        ordering = ["code"]


class IdentificationScheme(models.TextChoices):
    NIHII = "nihii", _("NIHII number (mod 97)")
    DIGITS = "digits", _("Digits")
    FREE = "free", _("Free text")


def reminder_thresholds(value: str) -> tuple[int, ...]:
    """The reminder days of a quality ("14,3"), distinct and positive, largest first; junk ignored."""
    days = {int(part) for part in value.split(",") if part.strip().isdigit()}
    return tuple(sorted((d for d in days if 0 < d <= 366), reverse=True))


class Quality(TranslatedName):
    code = models.SlugField(_("code"), max_length=60, unique=True)
    audience = models.ForeignKey(Audience, on_delete=models.PROTECT, related_name="qualities")
    identification_scheme = models.CharField(
        _("identification scheme"), max_length=10, choices=IdentificationScheme.choices
    )
    # The kind of identification code as each language names it ("RIZIV-nummer", "Numéro INAMI",
    # "LIKIV-Nummer", "NIHII number"); an empty one reads the Dutch (``identification_label``).
    identification_label_nl = models.CharField(
        _("label of the identification code (Dutch)"), max_length=60, default="Identificatiecode"
    )
    identification_label_fr = models.CharField(
        _("label of the identification code (French)"), max_length=60, blank=True
    )
    identification_label_de = models.CharField(
        _("label of the identification code (German)"), max_length=60, blank=True
    )
    identification_label_en = models.CharField(
        _("label of the identification code (English)"), max_length=60, blank=True
    )
    applications = models.ManyToManyField(
        "applications.SecuredApplication", blank=True, related_name="qualities", verbose_name=_("applications")
    )
    is_active = models.BooleanField(_("active"), default=True)
    # Days before the planned end of an access (a grant, a membership) at which the person and the
    # subdepartment's managers get a reminder (toegang/delegation/expiry.py), largest first or not.
    reminder_days = models.CharField(
        _("reminders (days before the end)"),
        max_length=40,
        default="14,3",
        blank=True,
        validators=[validate_comma_separated_integer_list],
        help_text=_("Comma-separated numbers of days, e.g. 14,3. Empty: no reminders."),
    )

    class Meta:
        verbose_name = _("quality")
        verbose_name_plural = _("qualities")
        ordering = ["code"]

    @property
    def reminder_thresholds(self) -> tuple[int, ...]:
        """``reminder_days`` as numbers, largest first (see ``reminder_thresholds``)."""
        return reminder_thresholds(self.reminder_days)

    @property
    def identification_label(self) -> str:
        """The kind of identification code in the active language."""
        return pick(self, "identification_label")


class Enterprise(models.Model):
    cbe_number = models.CharField(_("Enterprise number"), max_length=10, unique=True)
    name = models.CharField(_("Name"), max_length=200)
    created_at = models.DateTimeField(_("Creation date"), default=timezone.now)

    class Meta:
        verbose_name = _("enterprise")
        verbose_name_plural = _("enterprises")
        ordering = ["name"]

    @property
    def cbe_display(self) -> str:
        return cbe_format(self.cbe_number)

    def __str__(self) -> str:
        return f"{self.name} ({self.cbe_display})"


class EnterpriseQuality(Ended):
    """A quality activated for one enterprise: the scope of an access manager (TB).

    Activated at ``valid_from`` by ``granted_by``.
    """

    enterprise = models.ForeignKey(Enterprise, on_delete=models.PROTECT, related_name="qualities")
    quality = models.ForeignKey(Quality, on_delete=models.PROTECT, related_name="+")
    # The ceiling of the delegation: the longest an access given in this quality may last, in days
    # from the day it is given or changed (its last day at most that many days after today). Set by
    # the quality's access manager (TB) or above, per enterprise: the catalogue's quality is shared
    # by every enterprise, their contracts are not. Empty: no maximum.
    max_access_days = models.PositiveIntegerField(_("maximum duration of an access (days)"), null=True, blank=True)

    objects = HistoryQuerySet["EnterpriseQuality"].as_manager()

    class Meta:
        verbose_name = _("activated quality")
        verbose_name_plural = _("activated qualities")
        constraints = [
            models.UniqueConstraint(
                fields=["enterprise", "quality"],
                condition=Q(ended_at__isnull=True),
                name="one_active_enterprise_quality",
            )
        ]

    def __str__(self) -> str:
        return f"{self.quality.name} — {self.enterprise}"


class Subdepartment(Ended):
    """A subdepartment (facility) of an activated quality, created at ``valid_from`` by ``granted_by``."""

    enterprise_quality = models.ForeignKey(EnterpriseQuality, on_delete=models.PROTECT, related_name="subdepartments")
    # Denormalised from enterprise_quality so that every scoped query filters on one indexed column.
    enterprise = models.ForeignKey(Enterprise, on_delete=models.PROTECT, related_name="+")
    quality = models.ForeignKey(Quality, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("Name"), max_length=200)
    identification_code = models.CharField(_("Identification code"), max_length=40)
    valid_from = models.DateTimeField(_("Creation date"), default=timezone.now)

    objects = HistoryQuerySet["Subdepartment"].as_manager()

    class Meta:
        verbose_name = _("subdepartment")
        verbose_name_plural = _("subdepartments")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["quality", "identification_code"],
                condition=Q(ended_at__isnull=True),
                name="unique_identification_code_per_quality",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.identification_code})"


class CertificateStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    EXPIRED = "expired", _("Expired")
    REVOKED = "revoked", _("Revoked")


class Certificate(Ended):
    """An X.509 certificate with which an organisation's systems call the API for one subdepartment.

    The PEM is kept as uploaded (normalised to one certificate); the parsed fields are stored beside it
    so that lists never parse. Revoking ends it (``Ended.end``); a certificate is never deleted. Its
    fingerprint is unique within its subdepartment over all certificates ever stored there, so a
    revoked certificate cannot come back; another organisation may hold the same certificate only if
    it too proved possession of its key at upload (docs/certificates.md), and a call with it is
    matched to the subdepartment it names (``selectors.certificate_for_call``).
    """

    subdepartment = models.ForeignKey(Subdepartment, on_delete=models.PROTECT, related_name="certificates")
    pem = models.TextField(_("certificate (PEM)"))
    subject = models.CharField(_("Subject"), max_length=1000)
    issuer = models.CharField(_("Issuer"), max_length=1000)
    serial_number = models.CharField(_("Serial number"), max_length=64)
    not_valid_before = models.DateTimeField(_("Valid from"))
    not_valid_after = models.DateTimeField(_("Valid until"))
    fingerprint_sha256 = models.CharField(_("SHA-256 fingerprint"), max_length=64, db_index=True)
    # Uploaded at ``valid_from`` by ``granted_by``; revoked at ``valid_until`` by ``ended_by``.
    valid_from = models.DateTimeField(_("Uploaded on"), default=timezone.now)
    replaces = models.OneToOneField("self", on_delete=models.PROTECT, null=True, blank=True, related_name="replaced_by")
    valid_until = models.DateTimeField(_("Revoked on"), null=True, blank=True)

    objects = HistoryQuerySet["Certificate"].as_manager()

    class Meta:
        verbose_name = _("certificate")
        verbose_name_plural = _("certificates")
        ordering = ["-valid_from", "-id"]
        indexes = [
            models.Index(
                fields=["subdepartment"], condition=Q(ended_at__isnull=True), name="certificate_subdep_active"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["subdepartment", "fingerprint_sha256"], name="certificate_unique_per_subdepartment"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} ({self.fingerprint_display[:23]}…)"

    @property
    def status(self) -> str:
        if not self.is_active():
            return CertificateStatus.REVOKED
        if self.not_valid_after <= timezone.now():
            return CertificateStatus.EXPIRED
        return CertificateStatus.ACTIVE

    def get_status_display(self) -> str:
        return str(CertificateStatus(self.status).label)

    @property
    def fingerprint_display(self) -> str:
        """AA:BB:… as certificate tools print it."""
        f = self.fingerprint_sha256.upper()
        return ":".join(f[i : i + 2] for i in range(0, len(f), 2))

    @property
    def serial_display(self) -> str:
        s = self.serial_number.upper()
        s = s if len(s) % 2 == 0 else "0" + s
        return ":".join(s[i : i + 2] for i in range(0, len(s), 2))
