"""The catalogue of secured applications in the Django admin (operators), audited like the others."""

from __future__ import annotations

from django.contrib import admin

from toegang.applications.models import SecuredApplication
from toegang.organisations.admin import AuditedCatalogueAdmin


@admin.register(SecuredApplication)
class SecuredApplicationAdmin(AuditedCatalogueAdmin):
    list_display = ["code", "name_nl", "is_active"]
