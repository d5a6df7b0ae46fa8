"""The operator registers clients: a relying party is an OAuth client linked to a secured application."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from toegang.oidc.models import ClientProfile, RelyingParty


@admin.register(RelyingParty)
class RelyingPartyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Pick or create the client (django-oauth-toolkit's own admin, with its exact redirect URIs and
    hashed secret) and the application it belongs to. ``manage.py oidc_client`` does both at once."""

    list_display = ("client", "application")
    list_select_related = ("client", "application")
    list_filter = ("application",)
    search_fields = ("client__client_id", "client__name", "application__code")
    raw_id_fields = ("client",)

    # Read-only here: the command checks a profile as a whole (a FAPI client without a secret, …)
    # and audits the change.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ClientProfile | None = None) -> bool:
        return False


@admin.register(ClientProfile)
class ClientProfileAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """How a client authenticates and the rules it registered for (``manage.py oidc_client``
    --auth-method, --jwks-file, --fapi …, which checks them; docs/oidc.md)."""

    list_display = ("client", "token_endpoint_auth_method", "fapi", "require_pushed_authorization_requests")
    list_select_related = ("client",)
    list_filter = ("token_endpoint_auth_method", "fapi")
    search_fields = ("client__client_id",)
    raw_id_fields = ("client",)

    # Read-only here: the command checks a profile as a whole (a FAPI client without a secret, …)
    # and audits the change.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ClientProfile | None = None) -> bool:
        return False
