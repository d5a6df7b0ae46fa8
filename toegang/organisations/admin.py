"""Operator catalogues in the Django admin (operators are staff). Changes go through the audit trail;
nothing is deleted: a catalogue entry is switched off with its ``is_active`` flag."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models, transaction
from django.forms import ModelForm
from django.http import HttpRequest

from toegang.accounts.models import User
from toegang.audit.actions import Action
from toegang.audit.services import audit_record
from toegang.organisations.models import Audience, Enterprise, Quality


def _plain(value: Any) -> Any:
    """A form value as data: a catalogue entry by its code (else its id), not its name in one language."""
    if isinstance(value, models.Model):
        return getattr(value, "code", value.pk)
    if isinstance(value, list | tuple | models.QuerySet):
        return sorted(str(_plain(v)) for v in value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


class AuditedCatalogueAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm, change: bool) -> None:  # type: ignore[type-arg]
        before = {k: _plain(v) for k, v in form.initial.items()} if change else None
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            assert isinstance(request.user, User)
            audit_record(
                actor=request.user,
                action=Action.CATALOGUE_CHANGE if change else Action.CATALOGUE_ADD,
                obj=obj,
                params={"model": obj._meta.label_lower, "code": str(getattr(obj, "code", obj.pk))},
                before=before,
                after={k: _plain(form.cleaned_data.get(k)) for k in form.changed_data},
            )


@admin.register(Audience)
class AudienceAdmin(AuditedCatalogueAdmin):
    list_display = ["code", "name_nl", "name_fr", "name_de", "name_en"]


@admin.register(Quality)
class QualityAdmin(AuditedCatalogueAdmin):
    list_display = ["code", "name_nl", "audience", "identification_scheme", "is_active"]
    list_filter = ["audience", "is_active"]
    filter_horizontal = ["applications"]


@admin.register(Enterprise)
class EnterpriseAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only here: enterprises are registered in the operator area, through the services."""

    list_display = ["name", "cbe_number", "created_at"]
    search_fields = ["name", "cbe_number"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
