"""Bearer tokens of the authorization API: django-oauth-toolkit validates them, this module only maps
the token's client to the secured application it answers for.

The protocol stays in the library: the token is checked by DOT's ``OAuthLibCore.verify_request``
(the same lookup, expiry and scope test as DOT's own protected views), whose RFC 6750 error (expired,
unknown, insufficient scope) is passed on unchanged. What toegang adds:

- the client must be linked to a secured application (``toegang.oidc.models.RelyingParty``); every
  endpoint answers for that application only;
- the client must be confidential. Client-credentials tokens always are (RFC 6749 §4.4); a token
  from a login at a confidential client lives in that client's back end too. A public client's
  token (a browser or mobile app) is refused even with the scope: otherwise any person logged in
  there could ask where anybody else works.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja.security.base import AuthBase
from oauth2_provider.models import Application
from oauth2_provider.oauth2_backends import get_oauthlib_core

from toegang.oidc.models import RelyingParty

SCOPE = "authz"
REALM = "toegang"


@dataclass(frozen=True)
class ApiClient:
    """Who is asking: the OAuth client and the secured application it belongs to."""

    client_id: str
    application_id: int


class BearerError(Exception):
    """An RFC 6750 §3 error: answered with its status, WWW-Authenticate header and JSON body."""

    def __init__(self, status: int, error: str = "", description: str = "") -> None:
        super().__init__(error or "unauthorized")
        self.status = status
        self.error = error
        self.description = description

    def www_authenticate(self) -> str:
        # RFC 6750 §3.1: a request without credentials gets no error code, only the challenge.
        parts = [f'realm="{REALM}"']
        if self.error:
            parts.append(f'error="{self.error}"')
            # The header allows printable ASCII without '"' and '\\' (§3); the JSON body has the full text.
            # NFKD first, so that accented letters keep their base letter ("ungültig" -> "ungultig").
            ascii_text = unicodedata.normalize("NFKD", self.description).encode("ascii", "ignore").decode()
            safe = ascii_text.replace('"', "'").replace("\\", "")
            parts.append(f'error_description="{safe}"')
        if self.status == 403:
            parts.append(f'scope="{SCOPE}"')
        return "Bearer " + ", ".join(parts)

    def body(self) -> dict[str, str]:
        if not self.error:
            return {"error": "unauthorized", "error_description": str(_("A bearer token is required."))}
        return {"error": self.error, "error_description": self.description}


class ClientCredentials(AuthBase):
    """ninja auth: an OAuth2 bearer token with scope ``authz`` of a relying party's client.

    Raises ``BearerError`` rather than returning None, so that the answer carries RFC 6750's header
    and error code (ninja's own 401 has neither). In the OpenAPI document it is the client
    credentials flow at DOT's token endpoint, so the interactive docs can fetch a token.
    """

    openapi_type = "oauth2"
    openapi_flows: dict[str, Any] = {
        "clientCredentials": {
            "tokenUrl": "/oauth/token/",
            "scopes": {SCOPE: "Ask the authorization API about the client's own application"},
        }
    }

    def __call__(self, request: HttpRequest) -> ApiClient:
        if not request.headers.get("Authorization", "").lower().startswith("bearer "):
            raise BearerError(401)
        valid, oauth_request = get_oauthlib_core().verify_request(request, scopes=[SCOPE])
        if not valid:
            error = dict(getattr(oauth_request, "oauth2_error", None) or {})
            code = str(error.get("error", "invalid_token"))
            description = str(error.get("error_description", _("The access token is invalid.")))
            raise BearerError(403 if code == "insufficient_scope" else 401, code, description)
        token = oauth_request.access_token
        client: Application = token.application
        if client is None or client.client_type != Application.CLIENT_CONFIDENTIAL:
            raise BearerError(
                403, "insufficient_scope", str(_("Only a confidential client's tokens are accepted here."))
            )
        application_id = (
            RelyingParty.objects.filter(client_id=client.pk).values_list("application_id", flat=True).first()
        )
        if application_id is None:
            raise BearerError(
                403, "insufficient_scope", str(_("This client is not registered for a secured application."))
            )
        return ApiClient(client_id=client.client_id, application_id=application_id)
