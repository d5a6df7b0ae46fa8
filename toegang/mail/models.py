"""The outbox: every e-mail toegang sends is first a row here, written in the transaction of the change.

A job (``toegang.mail.tasks.mail_deliver``) hands the rows to SMTP after commit; a row that could not be
sent waits with back-off and is retried, so an SMTP failure never undoes or fails the change itself.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class MailStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    # Claimed by a worker that is handing it to SMTP; the claim is a lease (next_attempt_at), so a worker
    # that died mid-send leaves a row the sweep returns to pending (docs/architecture.md, "Background work").
    SENDING = "sending", _("sending")
    SENT = "sent", _("sent")
    FAILED = "failed", _("failed")


class OutgoingMail(models.Model):
    to = models.EmailField(_("to"), max_length=254)
    subject = models.CharField(_("subject"), max_length=400)
    body = models.TextField(_("body"))
    html = models.TextField(_("HTML body"), blank=True)
    language = models.CharField(_("language"), max_length=10, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    status = models.CharField(_("status"), max_length=10, choices=MailStatus.choices, default=MailStatus.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    last_error = models.TextField(_("last error"), blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("outgoing e-mail")
        verbose_name_plural = _("outgoing e-mails")
        indexes = [
            # The worker's query (status = pending, due, oldest first) and the sweep's (status = sending,
            # lease passed) each read one end of this index. Not a partial index: SQLite uses those only
            # when the query spells the condition's constants, and Django binds them as parameters.
            models.Index(fields=["status", "next_attempt_at", "id"], name="mail_due_idx")
        ]

    def __str__(self) -> str:
        return f"{self.to}: {self.subject}"
