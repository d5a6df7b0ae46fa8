"""oauthlib's OpenID Connect server with toegang's extension grant: token exchange (RFC 8693).

django-oauth-toolkit builds its server from ``OAUTH2_SERVER_CLASS`` (OIDC: ``OIDC_SERVER_CLASS``);
this class is oauthlib's own ``openid.Server`` with one more entry in the token endpoint's grant
types, so the token view, its client authentication and its error shapes stay the library's. The
grant authenticates the client through the validator, as every grant does, and leaves the decision
and the writing to ``token_exchange.py``.
"""

from __future__ import annotations

import json
from typing import Any

from oauthlib.common import Request  # type: ignore[import-untyped]
from oauthlib.oauth2.rfc6749 import errors  # type: ignore[import-untyped]
from oauthlib.oauth2.rfc6749.grant_types.base import GrantTypeBase  # type: ignore[import-untyped]
from oauthlib.openid import Server as OpenIDServer  # type: ignore[import-untyped]

from toegang.oidc.token_exchange import GRANT_TYPE, ExchangeRefused, token_exchange

_PARAMS = (
    "subject_token",
    "subject_token_type",
    "actor_token",
    "actor_token_type",
    "requested_token_type",
    "resource",
    "audience",
    "scope",
    "facility",
)


class TokenExchangeGrant(GrantTypeBase):
    """``grant_type=urn:ietf:params:oauth:grant-type:token-exchange`` for confidential clients."""

    def create_token_response(self, request: Request, token_handler: Any) -> tuple[dict[str, str], str, int]:
        headers = self._get_default_headers()
        try:
            if not self.request_validator.authenticate_client(request):
                raise errors.InvalidClientError(request=request)
            params = {name: getattr(request, name, None) for name in _PARAMS}
            # A parameter given twice is ambiguous (RFC 6749 §3.2: parameters must not repeat).
            names = [key for key, _value in request.decoded_body or []]
            if any(names.count(name) > 1 for name in _PARAMS):
                raise errors.InvalidRequestError(description="A parameter is repeated.", request=request)
            try:
                exchanged = token_exchange(client=request.client, params=params)
            except ExchangeRefused as refused:
                raise errors.CustomOAuth2Error(
                    error=refused.error, description=refused.description, request=request
                ) from refused
        except errors.OAuth2Error as error:
            headers.update(error.headers)
            return headers, error.json, error.status_code
        return headers, json.dumps(exchanged.as_response()), 200


class Server(OpenIDServer):
    def __init__(self, request_validator: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(request_validator, *args, **kwargs)
        self._grant_types[GRANT_TYPE] = TokenExchangeGrant(request_validator)
