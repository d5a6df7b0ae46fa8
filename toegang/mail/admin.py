from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from toegang.mail.models import OutgoingMail


@admin.register(OutgoingMail)
class OutgoingMailAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["created_at", "to", "subject", "status", "attempts", "next_attempt_at", "sent_at"]
    list_filter = ["status"]
    search_fields = ["to", "subject"]
    readonly_fields = [f.name for f in OutgoingMail._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The outbox is the record of what was sent; nothing is deleted.
        return False
