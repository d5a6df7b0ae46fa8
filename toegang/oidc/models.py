"""Which secured application each OAuth client (django-oauth-toolkit Application) belongs to.

A side table rather than a swapped Application model: swapping django-oauth-toolkit's model is
fragile across its migrations, and the link is all we need.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from oauth2_provider.models import AccessToken, Application, Grant


class RelyingParty(models.Model):
    client = models.OneToOneField(Application, on_delete=models.PROTECT, related_name="relying_party")
    application = models.ForeignKey(
        "applications.SecuredApplication",
        on_delete=models.PROTECT,
        related_name="relying_parties",
        verbose_name=_("secured application"),
    )
    # OpenID Connect Back-Channel Logout 1.0 §2.2: where a logout token is POSTed when a session that
    # logged into this client ends (toegang/oidc/backchannel.py); empty: the client is not told.
    backchannel_logout_uri = models.URLField(_("back-channel logout URI"), max_length=500, blank=True)
    backchannel_logout_session_required = models.BooleanField(
        _("back-channel logout needs the session id"), default=False
    )

    class Meta:
        verbose_name = _("relying party")
        verbose_name_plural = _("relying parties")

    def __str__(self) -> str:
        return f"{self.client.name} → {self.application.code}"


class LoginContext(models.Model):
    """How the person had logged in when they sent a client to toegang: acr, amr and auth_time.

    The token endpoint is called by the client, without the person's session, so what the login
    proved is recorded at the authorization step: on the authorization code (``grant``), then on the
    family of refresh tokens the code starts (``token_family``, kept across rotations), so a refresh
    and userinfo answer with the login that the person did, not with a later one elsewhere.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    grant = models.OneToOneField(Grant, on_delete=models.SET_NULL, null=True, blank=True, related_name="login_context")
    token_family = models.UUIDField(null=True, blank=True, db_index=True)
    # The code's SHA-256 (validator.code_checksum): the grant row goes at the exchange, and a replay of
    # the code must still find the tokens it gave (RFC 6749 §4.1.2).
    code_checksum = models.CharField(max_length=64, blank=True, default="", db_index=True)
    # The browser session's id for the clients (the ID token's ``sid``; OidcSession.sid).
    sid = models.CharField(max_length=64, blank=True)
    acr = models.CharField(max_length=10)
    amr = models.JSONField(default=list)
    auth_time = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user_id} acr={self.acr}"


class ClientAuthMethod(models.TextChoices):
    """How a client authenticates at the token, introspection, revocation and PAR endpoints
    (``token_endpoint_auth_method``, RFC 7591 §2; docs/oidc.md, "Client authentication")."""

    CLIENT_SECRET_BASIC = "client_secret_basic", _("client secret (HTTP Basic)")
    CLIENT_SECRET_POST = "client_secret_post", _("client secret (in the request body)")
    PRIVATE_KEY_JWT = "private_key_jwt", _("a JWT signed with the client's key (RFC 7523)")
    TLS_CLIENT_AUTH = "tls_client_auth", _("a TLS client certificate (RFC 8705)")


# The ID token signature of FAPI 2.0 clients (which allows PS256 and ES256 only); the others get RS256.
ES256 = "ES256"
SECRET_METHODS = frozenset({ClientAuthMethod.CLIENT_SECRET_BASIC, ClientAuthMethod.CLIENT_SECRET_POST})


class ClientProfile(models.Model):
    """What a client registered beyond django-oauth-toolkit's Application: how it authenticates,
    its keys, and the stricter rules it asked for (PAR, FAPI 2.0). A client without a profile
    authenticates with its secret, by HTTP Basic or in the body, as before issue 14."""

    client = models.OneToOneField(Application, on_delete=models.PROTECT, related_name="toegang_profile")
    token_endpoint_auth_method = models.CharField(
        _("client authentication"),
        max_length=32,
        choices=ClientAuthMethod.choices,
        default=ClientAuthMethod.CLIENT_SECRET_BASIC,
    )
    # private_key_jwt and request objects: the client's public keys, inline or at an https URL.
    jwks = models.JSONField(_("JWKS"), null=True, blank=True)
    jwks_uri = models.URLField(_("JWKS URI"), max_length=500, blank=True)
    # tls_client_auth (RFC 8705 §2.1.2): the certificate's subject DN (RFC 4514) or a DNS SAN.
    tls_client_auth_subject_dn = models.CharField(_("certificate subject DN"), max_length=500, blank=True)
    tls_client_auth_san_dns = models.CharField(_("certificate DNS name"), max_length=253, blank=True)
    require_pushed_authorization_requests = models.BooleanField(_("pushed authorization requests only"), default=False)
    # FAPI 2.0 Security Profile: PAR, PKCE S256, key-based authentication, ES256 ID tokens.
    fapi = models.BooleanField(_("FAPI 2.0 profile"), default=False)
    id_token_signed_response_alg = models.CharField(
        _("ID token signature"), max_length=5, choices=[("RS256", "RS256"), ("ES256", "ES256")], default="RS256"
    )

    class Meta:
        verbose_name = _("client profile")
        verbose_name_plural = _("client profiles")

    def __str__(self) -> str:
        return f"{self.client.client_id}: {self.token_endpoint_auth_method}"


class TokenExchange(models.Model):
    """An access token issued by token exchange (RFC 8693): restricted to one facility.

    The client presented a person's access token that it held (the subject token) and asked to act
    for one facility; ``toegang/oidc/token_exchange.py`` decided and issued ``access_token``. Kept
    when the access token is gone (expired rows are cleared, a revoked one is deleted): the record
    of who acted for which facility.
    """

    # No database constraint and nothing done on delete: an access token is deleted at every refresh
    # (django-oauth-toolkit's revoke), and a SET NULL here would cost each of them one more UPDATE. The
    # id stays as the record of which token it was.
    access_token = models.OneToOneField(
        AccessToken,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="exchange",
    )
    client = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="+")
    person = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    subdepartment = models.ForeignKey("organisations.Subdepartment", on_delete=models.PROTECT, related_name="+")
    # The login the subject token rests on (LoginContext.token_family): acr, amr and auth_time.
    token_family = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("token exchange")
        verbose_name_plural = _("token exchanges")

    def __str__(self) -> str:
        return f"{self.client_id} → {self.subdepartment_id}"


class OidcSession(models.Model):
    """A browser session of toegang that logged a person into a client: one row per (sid, client).

    ``sid`` is the session's id as the clients know it (the ``sid`` claim of ID tokens), kept in the
    Django session (it survives the key changes of a login or a step-up). When the session ends, every
    open row of its ``sid`` is ended and each client with a back-channel logout URI gets a logout
    token (``BackchannelLogout``); a client the session never logged into gets nothing.
    """

    sid = models.CharField(max_length=64, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    client = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="+")
    # When the person logged in (the session's absolute lifetime counts from here).
    login_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=30, blank=True)

    class Meta:
        verbose_name = _("session at a client")
        verbose_name_plural = _("sessions at clients")
        constraints = [models.UniqueConstraint(fields=["sid", "client"], name="oidc_session_once_per_client")]
        indexes = [models.Index(fields=["ended_at", "login_at"], name="oidc_session_open_idx")]

    def __str__(self) -> str:
        return f"{self.sid[:8]}… → {self.client_id}"


class LogoutStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    SENDING = "sending", _("sending")
    SENT = "sent", _("sent")
    FAILED = "failed", _("failed")


class BackchannelLogout(models.Model):
    """One logout token to POST to one client (the outbox of back-channel logout), as the mail outbox:
    written with the session's end, delivered by a job, retried with back-off, never deleted."""

    session = models.OneToOneField(OidcSession, on_delete=models.PROTECT, related_name="logout")
    uri = models.URLField(max_length=500)
    status = models.CharField(max_length=10, choices=LogoutStatus.choices, default=LogoutStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("back-channel logout")
        verbose_name_plural = _("back-channel logouts")
        indexes = [models.Index(fields=["status", "next_attempt_at", "id"], name="oidc_logout_due_idx")]

    def __str__(self) -> str:
        return f"{self.uri} ({self.status})"
