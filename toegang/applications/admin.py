"""The catalogue of secured applications in the Django admin (operators), audited like the others."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Field
from django.forms import Field as FormField
from django.http import HttpRequest

from toegang.applications.models import SecuredApplication
from toegang.organisations.admin import AuditedCatalogueAdmin


@admin.register(SecuredApplication)
class SecuredApplicationAdmin(AuditedCatalogueAdmin):
    list_display = ["code", "name_nl", "url", "is_active"]

    def formfield_for_dbfield(self, db_field: Field[Any, Any], request: HttpRequest, **kwargs: Any) -> FormField | None:
        # An address typed without its scheme is taken as https:// (Django 6's default), never http://.
        if db_field.name == "url":
            kwargs["assume_scheme"] = "https"
        return super().formfield_for_dbfield(db_field, request, **kwargs)
