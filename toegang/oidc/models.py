"""Which secured application each OAuth client (django-oauth-toolkit Application) belongs to.

A side table rather than a swapped Application model: swapping django-oauth-toolkit's model is
fragile across its migrations, and the link is all we need.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from oauth2_provider.models import Application, Grant


class RelyingParty(models.Model):
    client = models.OneToOneField(Application, on_delete=models.PROTECT, related_name="relying_party")
    application = models.ForeignKey(
        "applications.SecuredApplication",
        on_delete=models.PROTECT,
        related_name="relying_parties",
        verbose_name=_("secured application"),
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
