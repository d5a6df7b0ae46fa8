"""Which secured application each OAuth client (django-oauth-toolkit Application) belongs to.

A side table rather than a swapped Application model: swapping django-oauth-toolkit's model is
fragile across its migrations, and the link is all we need.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
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
    acr = models.CharField(max_length=10)
    amr = models.JSONField(default=list)
    auth_time = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user_id} acr={self.acr}"


class TokenExchange(models.Model):
    """An access token issued by token exchange (RFC 8693): restricted to one facility.

    The client presented a person's access token that it held (the subject token) and asked to act
    for one facility; ``toegang/oidc/token_exchange.py`` decided and issued ``access_token``. Kept
    when the access token is gone (expired rows are cleared, a revoked one is deleted): the record
    of who acted for which facility.
    """

    access_token = models.OneToOneField(
        AccessToken, on_delete=models.SET_NULL, null=True, blank=True, related_name="exchange"
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
