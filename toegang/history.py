"""History, not deletion: rows that are valid from a moment until they are ended, by whom and why."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone


class Ended(models.Model):
    """Active while ``valid_until`` is empty; ``end()`` closes the row instead of deleting it."""

    valid_from = models.DateTimeField(default=timezone.now)
    valid_until = models.DateTimeField(null=True, blank=True)
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    end_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        abstract = True

    def end(self, *, actor: Any, reason: str, now: datetime | None = None) -> None:
        self.valid_until = now or timezone.now()
        self.ended_by = actor
        self.end_reason = reason[:200]
        self.save(update_fields=["valid_until", "ended_by", "end_reason"])
