"""Catalogue entries carry their own names in the four languages of the portal."""

from __future__ import annotations

from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _


def pick(obj: models.Model, field: str) -> str:
    """``obj.<field>_<active language>``, else its Dutch."""
    lang = (get_language() or "nl")[:2]
    value = getattr(obj, f"{field}_{lang}", "") or getattr(obj, f"{field}_nl", "")
    return str(value)


class TranslatedName(models.Model):
    name_nl = models.CharField(_("name (Dutch)"), max_length=200)
    name_fr = models.CharField(_("name (French)"), max_length=200)
    name_de = models.CharField(_("name (German)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200)

    class Meta:
        abstract = True

    @property
    def name(self) -> str:
        return pick(self, "name")

    def __str__(self) -> str:
        return self.name


class TranslatedDescription(models.Model):
    description_nl = models.TextField(_("description (Dutch)"), blank=True)
    description_fr = models.TextField(_("description (French)"), blank=True)
    description_de = models.TextField(_("description (German)"), blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)

    class Meta:
        abstract = True

    @property
    def description(self) -> str:
        return pick(self, "description")
