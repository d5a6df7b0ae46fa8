"""The job claims in Django's admin, read-only: they are written by the scheduler and the mail job."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from toegang.jobs.models import ScheduledRun


@admin.register(ScheduledRun)
class ScheduledRunAdmin(admin.ModelAdmin[ScheduledRun]):
    list_display = ["job", "slot", "claimed_at", "claimed_by", "task_result_id"]
    list_filter = ["job"]
    ordering = ["-claimed_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ScheduledRun | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ScheduledRun | None = None) -> bool:
        return False
