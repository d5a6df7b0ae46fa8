"""The operator registers clients: a relying party is an OAuth client linked to a secured application."""

from __future__ import annotations

from django.contrib import admin

from toegang.oidc.models import RelyingParty


@admin.register(RelyingParty)
class RelyingPartyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Pick or create the client (django-oauth-toolkit's own admin, with its exact redirect URIs and
    hashed secret) and the application it belongs to. ``manage.py oidc_client`` does both at once."""

    list_display = ("client", "application")
    list_select_related = ("client", "application")
    list_filter = ("application",)
    search_fields = ("client__client_id", "client__name", "application__code")
    raw_id_fields = ("client",)
