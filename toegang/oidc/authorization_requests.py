"""Authorization requests that do not come whole in the URL: pushed (RFC 9126) and signed (RFC 9101).

- ``PushedAuthorizationRequestView``: ``POST /oauth/par/``, the client authenticated as at the token
  endpoint (validator.authenticate_client: secret, private_key_jwt or tls_client_auth); the request
  (or its request object) validated as the authorization endpoint would, then kept once
  (par.py). Answers ``201 {"request_uri", "expires_in": 60}`` or an RFC 6749 §5.2 JSON error.
- ``resolve_authorization_request``: at the authorization endpoint, before anything else, turns
  ``client_id`` + ``request_uri`` (PAR's) or ``request`` (a request object) into the request's
  parameters. The view then reads those (``request.GET`` is replaced; ``AuthorizationCore`` hands
  them to oauthlib), while its URL stays the short one, so the login page returns to it. A pushed
  request is taken from the cache at the first visit and kept in the browser's session until a code
  is issued (``forget_pushed_request``), for at most ``AUTHENTICATION_SECONDS``: the person may log in
  meanwhile, in this browser only. Any other ``request_uri`` answers ``request_uri_not_supported``.
- clients that must push (``par.par_required``) are refused a plain request; FAPI 2.0 clients'
  requests are checked (``par.fapi_refusal``).

Errors go to the client's redirect URI when the URL names one registered for the client (with
``state`` and RFC 9207 ``iss``), else on toegang's error page: a request_uri that is unknown,
used, expired or another client's never redirects.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.exceptions import FatalClientError
from oauth2_provider.oauth2_backends import OAuthLibCore
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.views.mixins import OAuthLibMixin
from oauthlib.common import Request as OAuthlibRequest  # type: ignore[import-untyped]
from oauthlib.oauth2.rfc6749 import errors  # type: ignore[import-untyped]
from oauthlib.openid.connect.core import exceptions as oidc_errors  # type: ignore[import-untyped]

from toegang.oidc.par import REQUEST_URI_PREFIX, fapi_refusal, par_push, par_required, par_take
from toegang.oidc.request_object import RequestObjectError, request_object_params
from toegang.oidc.selectors import oauth_application

AUTHENTICATION_SECONDS = 600
SESSION_KEY = "oidc_pushed_requests"
# Client authentication, never part of the authorization request that is kept.
CLIENT_AUTH_PARAMS = frozenset({"client_secret", "client_assertion", "client_assertion_type"})
ATTRIBUTE = "toegang_authorization_params"


class AuthorizationCore(OAuthLibCore):
    """django-oauth-toolkit's bridge to oauthlib, giving oauthlib the resolved parameters (pushed
    or from a request object) instead of the URL's ``client_id`` and ``request_uri``/``request``."""

    def _get_escaped_full_path(self, request: HttpRequest) -> str:
        params = getattr(request, ATTRIBUTE, None)
        if params is None:
            return str(super()._get_escaped_full_path(request))
        return f"{request.path}?{urlencode(params)}"


class AuthorizationRequestRefused(Exception):
    def __init__(self, error: Any, redirect_uri: str | None = None) -> None:
        super().__init__(error.description)
        self.error, self.redirect_uri = error, redirect_uri


def _issuer(request: HttpRequest) -> str:
    return str(oauth2_settings.oidc_issuer(request))


def _registered(client: Any, redirect_uri: str | None) -> str | None:
    if client is not None and redirect_uri and redirect_uri in client.redirect_uris.split():
        return redirect_uri
    return None


def _pushed(request: HttpRequest, request_uri: str, client: Any) -> dict[str, str] | None:
    """The pushed parameters: kept in this browser's session since an earlier visit, or taken now."""
    held = request.session.get(SESSION_KEY, {})
    entry = held.get(request_uri)
    if isinstance(entry, dict) and entry.get("client_id") == client.client_id and entry.get("until", 0) > time.time():
        return dict(entry["params"])
    params = par_take(request_uri, client.client_id)
    if params is not None:
        held = {k: v for k, v in held.items() if isinstance(v, dict) and v.get("until", 0) > time.time()}
        held[request_uri] = {
            "client_id": client.client_id,
            "params": params,
            "until": time.time() + AUTHENTICATION_SECONDS,
        }
        request.session[SESSION_KEY] = held
    return params


def _resolve(request: HttpRequest) -> dict[str, str] | None:
    query = request.GET
    if "request_uri" not in query and "request" not in query:
        client = oauth_application(query.get("client_id"))
        if client is not None and par_required(client):
            raise AuthorizationRequestRefused(
                errors.InvalidRequestError(
                    description="This client must push its authorization requests (RFC 9126).",
                    state=query.get("state"),
                ),
                _registered(client, query.get("redirect_uri")),
            )
        if client is not None and (refusal := fapi_refusal(client, query.dict())):
            raise AuthorizationRequestRefused(
                errors.InvalidRequestError(description=refusal, state=query.get("state")),
                _registered(client, query.get("redirect_uri")),
            )
        return None
    client = oauth_application(query.get("client_id"))
    if client is None:
        raise AuthorizationRequestRefused(errors.InvalidClientIdError())
    if "request_uri" in query:
        request_uri = query["request_uri"]
        if not request_uri.startswith(REQUEST_URI_PREFIX):
            raise AuthorizationRequestRefused(
                oidc_errors.RequestURINotSupported(state=query.get("state")),
                _registered(client, query.get("redirect_uri")),
            )
        params = _pushed(request, request_uri, client)
        if params is None:
            raise AuthorizationRequestRefused(
                oidc_errors.InvalidRequestURI(
                    description="The request_uri is unknown, expired, used or another client's."
                )
            )
        return params
    if par_required(client):
        raise AuthorizationRequestRefused(
            errors.InvalidRequestError(
                description="This client must push its authorization requests (RFC 9126).",
                state=query.get("state"),
            ),
            _registered(client, query.get("redirect_uri")),
        )
    try:
        inside = request_object_params(query["request"], client, _issuer(request))
    except RequestObjectError as exc:
        raise AuthorizationRequestRefused(
            oidc_errors.InvalidRequestObject(description=str(exc), state=query.get("state")),
            _registered(client, query.get("redirect_uri")),
        ) from exc
    outer = {k: v for k, v in query.dict().items() if k != "request"}
    params = {**outer, **inside}
    if refusal := fapi_refusal(client, params):
        raise AuthorizationRequestRefused(
            errors.InvalidRequestError(description=refusal, state=params.get("state")),
            _registered(client, params.get("redirect_uri")),
        )
    return params


def resolve_authorization_request(view: Any, request: HttpRequest) -> HttpResponse | None:
    """Replace the request's parameters by the pushed or signed ones; an error response if refused."""
    try:
        params = _resolve(request)
    except AuthorizationRequestRefused as refused:
        client = oauth_application(request.GET.get("client_id"))
        if refused.redirect_uri is None:
            return view.error_response(FatalClientError(error=refused.error), application=None)  # type: ignore[no-any-return]
        refused.error.redirect_uri = refused.redirect_uri
        query = dict(refused.error.twotuples)
        if oauth2_settings.COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS:
            query["iss"] = _issuer(request)  # RFC 9207
        uri = refused.redirect_uri
        return view.redirect(uri + ("&" if "?" in uri else "?") + urlencode(query), client)  # type: ignore[no-any-return]
    if params is not None:
        setattr(request, ATTRIBUTE, params)
        resolved = QueryDict(mutable=True)
        resolved.update(params)
        request.GET = resolved  # type: ignore[assignment]
    return None


def keep_pushed_request_after_logout(request: HttpRequest) -> None:
    """``prompt=login``/``max_age`` end the session; the pushed request the person is continuing
    stays in the new one, without the prompt it has now satisfied."""
    params = getattr(request, ATTRIBUTE, None)
    original = QueryDict(request.META.get("QUERY_STRING", ""))
    request_uri = original.get("request_uri")
    if params is None or not request_uri:
        return
    kept = {k: v for k, v in params.items() if k not in ("prompt", "max_age")}
    request.session[SESSION_KEY] = {
        request_uri: {"client_id": params["client_id"], "params": kept, "until": time.time() + AUTHENTICATION_SECONDS}
    }


def forget_pushed_request(request: HttpRequest) -> None:
    """A code was issued for the pushed request: it cannot be used again, in this browser either."""
    request_uri = QueryDict(request.META.get("QUERY_STRING", "")).get("request_uri")
    held = request.session.get(SESSION_KEY)
    if request_uri and isinstance(held, dict) and request_uri in held:
        del held[request_uri]
        request.session[SESSION_KEY] = held


def _json_error(error: str, description: str, status: int = 400) -> JsonResponse:
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    response["Cache-Control"] = "no-store"
    return response


@method_decorator([csrf_exempt, login_not_required, never_cache], name="dispatch")
class PushedAuthorizationRequestView(OAuthLibMixin, View):
    """RFC 9126 §2: the pushed authorization request endpoint."""

    http_method_names = ["post"]
    oauthlib_backend_class = AuthorizationCore

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        core = self.get_oauthlib_core()
        uri, http_method, body, headers = core._extract_params(request)
        oauth_request = OAuthlibRequest(uri, http_method, body, headers)
        validator = core.server.request_validator
        if not validator.authenticate_client(oauth_request):
            response = _json_error("invalid_client", "Client authentication failed.", 401)
            response["WWW-Authenticate"] = 'Basic realm="toegang", charset="UTF-8", error="invalid_client"'
            return response
        client = oauth_request.client
        posted = request.POST.dict()
        if posted.get("client_id", client.client_id) != client.client_id:
            return _json_error("invalid_request", "client_id is not the authenticated client.")
        if "request_uri" in posted:
            return _json_error("invalid_request", "request_uri cannot be pushed (RFC 9126 §2.1).")
        params = {k: v for k, v in posted.items() if k not in CLIENT_AUTH_PARAMS}
        if "request" in params:
            try:
                inside = request_object_params(params.pop("request"), client, _issuer(request))
            except RequestObjectError as exc:
                return _json_error("invalid_request_object", str(exc))
            params.update(inside)
        params["client_id"] = client.client_id
        if refusal := fapi_refusal(client, params):
            return _json_error("invalid_request", refusal)
        authorize = request.build_absolute_uri(reverse("oauth2_provider:authorize")) + "?" + urlencode(params)
        try:
            core.server.validate_authorization_request(authorize, "GET", "", {})
        except errors.OAuth2Error as exc:
            return _json_error(exc.error, exc.description or exc.error)
        request_uri, expires_in = par_push(client.client_id, params)
        response = JsonResponse({"request_uri": request_uri, "expires_in": expires_in}, status=201)
        response["Cache-Control"] = "no-store"
        return response


def discovery_metadata(par_url: str) -> dict[str, Any]:
    """What discovery says about PAR and request objects (RFC 9126 §5, RFC 9101 §10.5): a
    ``request_uri`` is PAR's only, never fetched from the client (``request_uri_parameter_supported``)."""
    return {
        "pushed_authorization_request_endpoint": par_url,
        "require_pushed_authorization_requests": settings.OIDC_REQUIRE_PUSHED_AUTHORIZATION_REQUESTS,
        "request_parameter_supported": True,
        "request_uri_parameter_supported": False,
        "request_object_signing_alg_values_supported": ["PS256", "ES256", "RS256"],
    }
