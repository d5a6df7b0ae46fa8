"""The append-only audit trail."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    """Bulk update and delete would bypass the model's guards: the trail is append-only."""

    def update(self, **kwargs: Any) -> int:
        raise ValueError("Audit events are append-only.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise ValueError("Audit events are append-only.")


class AuditEvent(models.Model):
    at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The values of toegang.audit.actions.Action; not declared as the field's choices, so that a new
    # action needs no migration.
    action = models.CharField(_("action"), max_length=60)
    # The person the event is about (the one given access, appointed, logging in), so that a
    # person's history and the trail's "whom" filter are one indexed column.
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # audit_person_at below starts with it
    )
    # Scope columns, so each manager's trail is one indexed filter.
    enterprise = models.ForeignKey(
        "organisations.Enterprise", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    enterprise_quality = models.ForeignKey(
        "organisations.EnterpriseQuality", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    subdepartment = models.ForeignKey(
        "organisations.Subdepartment", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    object_type = models.CharField(max_length=60)
    object_id = models.CharField(max_length=40)
    object_repr = models.CharField(_("object"), max_length=300, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    # Language-neutral facts the sentence is rendered from at read time (names, INSZ, codes, ids):
    # never a label rendered in the actor's language. Empty on events written before it existed.
    params = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=40, blank=True)
    client_address = models.GenericIPAddressField(null=True, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["enterprise", "-at"], name="audit_enterprise_at"),
            models.Index(fields=["enterprise_quality", "-at"], name="audit_quality_at"),
            models.Index(fields=["subdepartment", "-at"], name="audit_subdepartment_at"),
            models.Index(fields=["person", "-at"], name="audit_person_at"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} {self.object_repr}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ValueError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise ValueError("Audit events are append-only.")
