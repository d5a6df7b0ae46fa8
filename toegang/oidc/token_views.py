"""The provider's views for JWT, DPoP and certificate-bound access tokens, as django-oauth-toolkit's
with these additions (the logic is in ``jwt_tokens``, ``dpop``, ``mtls`` and ``resource``):

- JWKS: the ES256 keys of the access tokens beside the RS256 keys of the ID tokens;
- userinfo: a JWT access token is verified (signature, expiry, deny-list) and its sender checked
  (``Authorization: DPoP`` with a proof for a DPoP-bound token, the certificate for a certificate-bound
  one) before django-oauth-toolkit looks the person's token up as before;
- the token endpoint's binding (``token_request_binding``, called by ``views.TokenView``): a DPoP
  proof, checked, and the client certificate; a bad proof answers RFC 9449 §5's 400.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from oauth2_provider import views as oauth2_views

from toegang.oidc import dpop, jwt_tokens
from toegang.oidc.resource import (
    TokenRefused,
    dpop_error_headers,
    is_for_local_check,
    presented_token,
    token_endpoint_binding,
)


def token_request_binding(request: HttpRequest) -> dict[str, str] | HttpResponse:
    """The ``cnf`` of the token request's DPoP proof and client certificate, or the 400 to answer."""
    try:
        return token_endpoint_binding(request)
    except dpop.DpopError as exc:
        response = JsonResponse({"error": exc.error, "error_description": exc.description}, status=400)
        for name, value in dpop_error_headers().items():
            response[name] = value
        response["Cache-Control"] = "no-store"
        return response


def refusal_response(exc: TokenRefused, body: dict[str, str] | None = None) -> HttpResponse:
    response = JsonResponse(body or {"error": exc.error or "invalid_request", "error_description": exc.description})
    response.status_code = exc.status
    response["WWW-Authenticate"] = exc.challenge()
    for name, value in exc.headers.items():
        response[name] = value
    return response


class TokenResponseMixin:
    """django-oauth-toolkit's token answer without reading the new token back from the database (to
    send its ``app_authorized`` signal, which nothing in toegang receives): a client-credentials JWT
    has no row, and the read would cost a query a token."""

    @method_decorator(sensitive_post_parameters("password", "client_secret"))
    def authorization_flow_token_response(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        _url, headers, body, status = self.create_token_response(request)  # type: ignore[attr-defined]
        response = HttpResponse(content=body, status=status)
        for name, value in headers.items():
            response[name] = value
        return response


class JwksInfoView(oauth2_views.JwksInfoView):
    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response: HttpResponse = super().get(request, *args, **kwargs)
        data = json.loads(response.content)
        data["keys"] = [*data["keys"], *jwt_tokens.public_jwks()]
        response.content = json.dumps(data).encode()
        return response


class UserInfoView(oauth2_views.UserInfoView):
    def _create_userinfo_response(self, request: HttpRequest) -> HttpResponse:
        if is_for_local_check(request.META.get("HTTP_AUTHORIZATION", "")):
            try:
                presented = presented_token(request)
            except TokenRefused as exc:
                return refusal_response(exc)
            # Checked: django-oauth-toolkit reads the (person's) token as a bearer token from here on.
            request.META["HTTP_AUTHORIZATION"] = "Bearer " + presented.token
        response: HttpResponse = super()._create_userinfo_response(request)
        return response
