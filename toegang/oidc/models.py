"""Which secured application each OAuth client (django-oauth-toolkit Application) belongs to.

A side table rather than a swapped Application model: swapping django-oauth-toolkit's model is
fragile across its migrations, and the link is all we need.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from oauth2_provider.models import Application


class RelyingParty(models.Model):
    client = models.OneToOneField(Application, on_delete=models.PROTECT, related_name="relying_party")
    application = models.ForeignKey(
        "applications.SecuredApplication",
        on_delete=models.PROTECT,
        related_name="relying_parties",
        verbose_name=_("secured application"),
    )

    class Meta:
        verbose_name = _("relying party")
        verbose_name_plural = _("relying parties")

    def __str__(self) -> str:
        return f"{self.client.name} → {self.application.code}"
