"""The operator registers clients: a relying party is an OAuth client linked to a secured application."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _

from toegang.accounts.models import User
from toegang.oidc.backchannel import person_sessions_end
from toegang.oidc.models import BackchannelLogout, ClientProfile, OidcSession, RelyingParty


@admin.register(RelyingParty)
class RelyingPartyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Pick or create the client (django-oauth-toolkit's own admin, with its exact redirect URIs and
    hashed secret) and the application it belongs to. ``manage.py oidc_client`` does both at once."""

    list_display = ("client", "application", "backchannel_logout_uri")
    list_select_related = ("client", "application")
    list_filter = ("application",)
    search_fields = ("client__client_id", "client__name", "application__code")
    raw_id_fields = ("client",)


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


@admin.register(OidcSession)
class OidcSessionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Which browser sessions logged people into which clients, read-only; the operator may end them:
    the person's browser sessions end and every client they logged into gets a back-channel logout."""

    list_display = ("sid", "user", "client", "login_at", "ended_at", "end_reason")
    list_select_related = ("user", "client")
    list_filter = ("ended_at", "client")
    search_fields = ("user__username", "client__client_id")
    readonly_fields = ("sid", "user", "client", "login_at", "created_at", "ended_at", "end_reason")
    actions = ["end_sessions"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: OidcSession | None = None) -> bool:
        return False

    @admin.action(description=_("End the sessions of these people (back-channel logout to their applications)"))
    def end_sessions(self, request: HttpRequest, queryset: QuerySet[OidcSession]) -> None:
        actor = request.user
        assert isinstance(actor, User)
        people = User.objects.filter(pk__in=queryset.values("user_id"))
        queued = sum(person_sessions_end(actor=actor, person=person) for person in people)
        self.message_user(request, _("Sessions ended; %(count)s logout tokens queued.") % {"count": queued})


@admin.register(BackchannelLogout)
class BackchannelLogoutAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The logout tokens to deliver, as the mail outbox: read-only, for operators' checks."""

    list_display = ("uri", "status", "attempts", "next_attempt_at", "sent_at")
    list_filter = ("status",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: BackchannelLogout | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: BackchannelLogout | None = None) -> bool:
        return False
