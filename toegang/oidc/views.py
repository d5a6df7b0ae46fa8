"""The authorization endpoint, as django-oauth-toolkit's, with what toegang adds to it.

- ``prompt=login``, and ``max_age`` when the login is older: the person logs in again. The session
  ends first (so another person may log in on a shared computer), and the login page returns to
  the same request without ``prompt`` and ``max_age``, which the new login satisfies.
- The login's assurance level (``acr``), methods (``amr``) and time go with the code to the tokens
  (validator.py).
- A person who may not use the client's application in any facility gets a page that names whom
  to ask (``authz.granters``: the managers of their subdepartments who may give the application,
  nearest first), and no code; with ``prompt=none`` the client gets
  ``error=access_denied``.
- Conformance (docs/oidc.md, "Conformance"): every answer at the client's redirect URI carries
  ``iss`` (RFC 9207), errors included, because all of them leave through ``redirect``; the request
  may come by POST (OpenID Connect Core 3.1.2.1) without a CSRF token, while the consent form keeps
  its CSRF check; ``request``/``request_uri`` and response modes other than ``query`` are refused
  at the redirect URI; an unknown client or redirect URI gets a translated page, never a redirect.
- RP-initiated logout by GET or POST; ``post_logout_redirect_uri`` exactly as registered; an
  ``id_token_hint`` of another person than the session's is refused; the calling client's tokens
  of the person are revoked (``services.logout_tokens_revoke``), nobody else's.

And the client-authenticated endpoints, as django-oauth-toolkit's with these changes:

- token and revocation: a failed client authentication (401) challenges with ``Basic``, the scheme
  the client authenticates with (RFC 6749 §5.2), not oauthlib's ``Bearer``;
- introspection (RFC 7662): by client authentication only, by POST only; a client learns about its
  own tokens only (``selectors.token_introspection``), refresh tokens included; without valid
  client credentials a 401 with ``WWW-Authenticate: Basic`` and a JSON error.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from allauth.account.authentication import get_authentication_records
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, QueryDict
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import render, resolve_url
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider import views as oauth2_views
from oauth2_provider.exceptions import (
    FatalClientError,
    InvalidOIDCRedirectURIError,
    LogoutDenied,
    OAuthToolkitError,
    OIDCError,
)
from oauth2_provider.models import Application
from oauth2_provider.settings import oauth2_settings
from oauthlib.common import Request as OAuthlibRequest  # type: ignore[import-untyped]
from oauthlib.oauth2.rfc6749 import errors as oauth_errors  # type: ignore[import-untyped]
from oauthlib.oauth2.rfc6749.errors import AccessDeniedError, LoginRequired  # type: ignore[import-untyped]

from toegang.accounts.assurance import session_amr, session_level
from toegang.delegation.authz import facilities_for
from toegang.delegation.selectors import managers_to_ask
from toegang.oidc import authorization_requests, client_auth, jwt_tokens
from toegang.oidc.backchannel import DISCOVERY as BACKCHANNEL_DISCOVERY
from toegang.oidc.backchannel import session_sid
from toegang.oidc.resource import discovery_metadata
from toegang.oidc.selectors import oauth_application, token_introspection
from toegang.oidc.services import logout_tokens_revoke
from toegang.oidc.step_up import ACR_VALUES_SUPPORTED, AcrRequest, acr_for, acr_request
from toegang.oidc.step_up import decide as step_up_decide
from toegang.oidc.step_up import error_class as step_up_error_class
from toegang.oidc.token_exchange import GRANT_TYPE as TOKEN_EXCHANGE
from toegang.oidc.token_views import TokenResponseMixin, token_request_binding
from toegang.oidc.token_views import UserInfoView as TokenUserInfoView
from toegang.oidc.validator import relying_party
from toegang.portal.common import request_actor


def login_time(request: HttpRequest) -> datetime:
    """When the person last proved who they are in this session (allauth's records)."""
    user = request.user
    records = list(get_authentication_records(request, user)) if user.is_authenticated else []
    times = [float(r["at"]) for r in records if r.get("at")]
    if times:
        return datetime.fromtimestamp(max(times), tz=UTC)
    last_login = getattr(user, "last_login", None)
    return last_login if isinstance(last_login, datetime) else timezone.now()


def _without(full_path: str, *names: str) -> str:
    parts = urlsplit(full_path)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in names]
    return parts._replace(query=urlencode(query)).geturl()


def with_issuer(uri: str, issuer: str) -> str:
    """RFC 9207: the authorization response ``uri`` with ``iss`` in its query, once (an ``iss`` already
    there, e.g. in a registered redirect URI, is replaced). Only the query: responses are ``query``
    mode only (the code flow; ``response_mode`` is refused otherwise)."""
    parts = urlsplit(uri)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "iss"]
    query.append(("iss", issuer))
    return parts._replace(query=urlencode(query)).geturl()


# The errors oauthlib answers with a page of the provider's own (the redirect URI cannot be trusted),
# said to the person in their language; the protocol's code and description stay beside it.
FATAL_MESSAGES: dict[type[Exception], Any] = {
    oauth_errors.MissingRedirectURIError: _(
        "The application did not say where to send you back after logging in (its request has no "
        "redirect_uri). Please tell the application's supplier."
    ),
    oauth_errors.InvalidRedirectURIError: _(
        "The application asked to send you back to an address that is not registered for it. "
        "Please tell the application's supplier."
    ),
    oauth_errors.MismatchingRedirectURIError: _(
        "The application asked to send you back to an address that is not registered for it. "
        "Please tell the application's supplier."
    ),
    oauth_errors.MissingClientIdError: _("The application is unknown here or no longer active."),
    oauth_errors.InvalidClientIdError: _("The application is unknown here or no longer active."),
}
FATAL_DEFAULT = _("The application's request cannot be handled. Please tell the application's supplier.")
RESPONSE_MODES = ("query",)


def _error_page(request: HttpRequest, message: Any, error: str, description: str, status: int) -> HttpResponse:
    context = {"message": message, "error": error, "description": description}
    return render(request, "oidc/error.html", context, status=status)


def _form_post_as_get(request: HttpRequest) -> HttpResponse | None:
    """A protocol request by POST (form-serialized, OpenID Connect Core 3.1.2.1, RP-Initiated Logout
    §2), handled as the same request by GET; a form of toegang's own (it carries a CSRF token: the
    consent or logout confirmation) keeps Django's CSRF check. A response to send now, or None.

    An RP's request carries no CSRF token, and needs none: it changes nothing the person did not ask
    for (the authorization step decides as it does for GET, and a logout without a valid
    ``id_token_hint`` of the session's person still asks the person). A forged confirmation without a
    token is therefore read as a new request and asks again. The session cookie is ``SameSite=Lax``,
    so a cross-site POST arrives without it: without a session the request goes on by GET (303),
    which carries the cookie, rather than being answered as for somebody logged out.
    """
    if request.method != "POST":
        return None
    if "csrfmiddlewaretoken" in request.POST:
        return CsrfViewMiddleware(lambda r: HttpResponse()).process_view(request, None, (), {})  # type: ignore[arg-type]
    params = request.GET.copy()
    for key in request.POST:
        params.setlist(key, request.POST.getlist(key))
    if not request.user.is_authenticated:
        return HttpResponseRedirect(f"{request.path}?{params.urlencode()}", status=303)
    request.method = "GET"
    request.META["QUERY_STRING"] = params.urlencode()
    request.GET = params  # type: ignore[assignment]
    request.POST = QueryDict()
    return None


@method_decorator([csrf_exempt, login_not_required], name="dispatch")
class AuthorizationView(oauth2_views.AuthorizationView):
    # Pushed requests and request objects (authorization_requests.py): oauthlib reads their parameters.
    oauthlib_backend_class = authorization_requests.AuthorizationCore

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # The decorators above: Django reads them from this dispatch (django-oauth-toolkit's
        # login_not_required included); CSRF is checked by _form_post_as_get where a form has it.
        # A request by POST is read as by GET first; then a pushed request or a request object
        # replaces the parameters (or is refused).
        answer = _form_post_as_get(request) or authorization_requests.resolve_authorization_request(self, request)
        return answer or super().dispatch(request, *args, **kwargs)

    def redirect(self, redirect_to: str, application: Application | None) -> HttpResponse:
        """Every answer at the client's redirect URI leaves through here, the code and every error
        (oauthlib's, django-oauth-toolkit's, toegang's): all of them with ``iss`` (RFC 9207)."""
        issuer = oauth2_settings.oidc_issuer(self.request)
        return super().redirect(with_issuer(redirect_to, issuer), application)  # type: ignore[no-any-return]

    def error_response(self, error: Any, application: Application | None, **kwargs: Any) -> HttpResponse:
        if isinstance(error, FatalClientError):  # no redirect URI to trust: tell the person
            oauthlib_error = error.oauthlib_error
            message = FATAL_MESSAGES.get(type(oauthlib_error), FATAL_DEFAULT)
            return _error_page(
                self.request,
                message,
                oauthlib_error.error,
                oauthlib_error.description or "",
                oauthlib_error.status_code,
            )
        return super().error_response(error, application, **kwargs)  # type: ignore[no-any-return]

    def handle_no_permission(self) -> HttpResponse:
        # Nobody logged in: a request that cannot succeed is answered now, not after a login.
        try:
            _scopes, credentials = self.validate_authorization_request(self.request)
        except OAuthToolkitError as error:
            return self.error_response(error, application=None)
        application = oauth_application(credentials["client_id"])
        refused = self._unsupported(credentials, application)
        return refused or super().handle_no_permission()

    def _unsupported(self, credentials: dict[str, Any], application: Application | None) -> HttpResponse | None:
        """Parameters this provider does not support, refused at the (validated) redirect URI."""
        # Request objects and pushed requests (OpenID Connect Core 6, RFC 9126) were resolved, or
        # refused, in dispatch (authorization_requests.resolve_authorization_request).
        params = self.request.GET
        if params.get("response_mode", "query") not in RESPONSE_MODES:
            return self._refuse(
                oauth_errors.InvalidRequestError,
                credentials,
                application,
                description="Unsupported response_mode; this server answers in the query only.",
            )
        return None

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            _scopes, credentials = self.validate_authorization_request(request)
        except OAuthToolkitError as error:
            return self.error_response(error, application=None)
        application = oauth_application(credentials["client_id"])
        assert application is not None  # the request was validated against this client
        refused = self._unsupported(credentials, application)
        if refused is not None:
            return refused
        prompt = set(request.GET.get("prompt", "").split())
        max_age = request.GET.get("max_age", "")
        too_old = (
            max_age.isascii()
            and max_age.isdigit()
            and (timezone.now() - login_time(request)).total_seconds() > int(max_age)
        )

        if "login" in prompt or too_old:
            if "none" in prompt:
                return self._refuse(LoginRequired, credentials, application)
            logout(request)
            authorization_requests.keep_pushed_request_after_logout(request)
            return redirect_to_login(
                _without(request.get_full_path(), "prompt", "max_age"),
                resolve_url(self.get_login_url()),
                self.get_redirect_field_name(),
            )
        if not self._may_use(request, application):
            if "none" in prompt:
                return self._refuse(AccessDeniedError, credentials, application)
            return self._no_access(request, application)
        # acr_values / an acr claim request: a stronger login first (step_up.py).
        self.acr_request = acr_request(request.GET.get("acr_values"), request.GET.get("claims"))
        decision = step_up_decide(self.acr_request, session_level(request), prompt_none="none" in prompt)
        if decision.error is not None:
            return self._refuse(step_up_error_class(decision.error), credentials, application)
        if decision.step_up_to is not None:
            query = urlencode({"level": decision.step_up_to, "next": request.get_full_path()})
            return HttpResponseRedirect(f"{reverse('oauth2_provider:step-up')}?{query}")
        return super().get(request, *args, **kwargs)  # type: ignore[no-any-return]

    def form_valid(self, form: Any) -> HttpResponse:
        # The consent form of a client that does not skip it: the same access rule.
        application = oauth_application(form.cleaned_data.get("client_id"))
        if application is not None and not self._may_use(self.request, application):
            return self._no_access(self.request, application)
        return super().form_valid(form)  # type: ignore[no-any-return]

    def create_authorization_response(
        self, request: HttpRequest, scopes: str, credentials: dict[str, Any], allow: bool
    ) -> Any:
        credentials["login_context"] = {
            "acr": acr_for(getattr(self, "acr_request", AcrRequest()), session_level(request)),
            "amr": session_amr(request),
            "auth_time": login_time(request),
            "sid": session_sid(request.session),  # backchannel.py
        }
        authorization_requests.forget_pushed_request(request)
        credentials["oidc_session"] = {"sid": credentials["login_context"]["sid"], "login_at": login_time(request)}
        return super().create_authorization_response(request, scopes, credentials, allow)

    def _may_use(self, request: HttpRequest, application: Application) -> bool:
        rp = relying_party(application)
        person_id = request.user.pk
        return rp is not None and person_id is not None and facilities_for(person_id, rp.application_id).exists()

    def _refuse(
        self,
        error_class: type[Any],
        credentials: dict[str, Any],
        application: Application | None,
        description: str | None = None,
    ) -> HttpResponse:
        """An error for the client at its (validated) redirect URI, as RFC 6749 4.1.2.1 shapes it
        (``redirect`` adds ``iss``)."""
        error = error_class(state=credentials.get("state"), description=description)
        redirect_uri = credentials["redirect_uri"]
        return self.redirect(redirect_uri + ("&" if "?" in redirect_uri else "?") + error.urlencoded, application)

    def _no_access(self, request: HttpRequest, application: Application) -> HttpResponse:
        rp = relying_party(application)
        context = {
            "secured_application": rp.application if rp else None,
            "client": application,
            "managers": managers_to_ask(request_actor(request), rp.application if rp else None),
        }
        return render(request, "oidc/no_access.html", context, status=403)


# -- the client-authenticated endpoints ------------------------------------------------------------

# RFC 7617 requires a realm in a Basic challenge; the clients' credentials are toegang's. The error
# code goes in the challenge too, as oauthlib put it in its Bearer one: clients built on oauth4webapi
# (openid-client) read a 401's error from the challenge, not from the body.
BASIC_CHALLENGE = 'Basic realm="toegang", charset="UTF-8", error="invalid_client"'


def _basic_challenge(response: HttpResponse) -> HttpResponse:
    """oauthlib answers a failed client authentication with ``WWW-Authenticate: Bearer …``, the
    challenge of a protected resource; the token and revocation endpoints take client credentials
    by HTTP Basic (or in the body), so that is the scheme to name (RFC 6749 §5.2). oauthlib's only
    401 there is ``invalid_client``."""
    if response.status_code == 401:
        response["WWW-Authenticate"] = BASIC_CHALLENGE
    return response


# What the token endpoint accepts (TokenView refuses the device grant django-oauth-toolkit routes).
# The grants of this server, as discovery lists them and the token endpoint accepts them; token exchange
# (RFC 8693) is a grant of toegang's own on oauthlib's server (server.py, token_exchange.py).
GRANT_TYPES = ["authorization_code", "refresh_token", "client_credentials", TOKEN_EXCHANGE]


class ConnectDiscoveryInfoView(oauth2_views.ConnectDiscoveryInfoView):
    """django-oauth-toolkit's discovery, with the introspection and revocation endpoints it leaves
    out and how clients authenticate there (RFC 8414 §2; RFC 7662 §4 names the same fields), and
    every value true (docs/oidc.md, "Conformance"; tests/test_oidc_discovery.py checks each against
    what the endpoints do): values whose absence means a default toegang does not follow are listed."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().get(request, *args, **kwargs)
        data = json.loads(response.content)
        methods = oauth2_settings.OIDC_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED
        for endpoint, name in (("introspection", "introspect"), ("revocation", "revoke-token")):
            data[f"{endpoint}_endpoint"] = self._get_endpoint_url(request, name, required=True)
            data[f"{endpoint}_endpoint_auth_methods_supported"] = methods
        # Discovery 1.0 §3 defaults: response modes "query" and "fragment", grants "authorization_code"
        # and "implicit", request_uri_parameter_supported true. None of them is toegang's.
        data["response_modes_supported"] = list(RESPONSE_MODES)
        data["grant_types_supported"] = GRANT_TYPES
        data["claims_parameter_supported"] = False
        # Client authentication by key or certificate, PAR and request objects (OpenID Connect Core 6).
        data.update(client_auth.discovery_metadata())
        par_url = self._get_endpoint_url(request, "pushed-authorization-request", required=True)
        data.update(authorization_requests.discovery_metadata(par_url))
        # RS256 for every client, ES256 for the FAPI clients' ID tokens (docs/oidc.md "FAPI 2.0 clients");
        # no HS256, which would need the client secret, kept only as a hash.
        data["id_token_signing_alg_values_supported"] = ["RS256", "ES256"]
        data["acr_values_supported"] = list(ACR_VALUES_SUPPORTED)  # step_up.py
        data.update(BACKCHANNEL_DISCOVERY)  # backchannel.py
        data.update(discovery_metadata())  # DPoP and certificate-bound access tokens (token_views.py)
        answer = JsonResponse(data)
        answer["Access-Control-Allow-Origin"] = "*"
        return answer


class TokenView(TokenResponseMixin, oauth2_views.TokenView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.POST.get("grant_type", "") not in GRANT_TYPES:
            # django-oauth-toolkit sends the device grant (RFC 8628) to a flow toegang has no endpoints
            # for (and answered 500 without device_code); oauthlib answers every other unknown one so.
            error = oauth_errors.UnsupportedGrantTypeError()
            answer = HttpResponse(error.json, status=error.status_code, content_type="application/json")
            answer["Cache-Control"] = "no-store"
            answer["Pragma"] = "no-cache"
            return answer
        # The DPoP proof and client certificate the access token is bound to (token_views.py).
        binding = token_request_binding(request)
        if isinstance(binding, HttpResponse):
            return binding
        with jwt_tokens.token_binding(binding):
            return _basic_challenge(super().post(request, *args, **kwargs))


class RevokeTokenView(oauth2_views.RevokeTokenView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return _basic_challenge(super().post(request, *args, **kwargs))


@method_decorator([csrf_exempt, login_not_required, never_cache], name="dispatch")
class IntrospectTokenView(oauth2_views.IntrospectTokenView):
    """RFC 7662 for the client that holds the token, nobody else (docs/oidc.md, "Introspection").

    django-oauth-toolkit's view answers any authenticated client about any token (so one relying
    party learnt another's tokens, scopes and usernames), also takes a bearer token instead of
    client credentials, reads the token from the query string on GET, and refuses with a bare 403.
    """

    http_method_names = ["post"]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # The decorators of django-oauth-toolkit's dispatch (csrf_exempt, …) are repeated above:
        # Django reads them from the dispatch the class has, this one.
        if request.method != "POST":
            return self.http_method_not_allowed(request, *args, **kwargs)  # type: ignore[no-any-return]
        client = self._authenticated_client(request)
        if client is None:
            response = JsonResponse(
                {"error": "invalid_client", "error_description": "Client authentication failed."}, status=401
            )
            response["WWW-Authenticate"] = BASIC_CHALLENGE
            return response
        token = request.POST.get("token")
        if not token:
            return JsonResponse(
                {"error": "invalid_request", "error_description": "Token parameter is missing."}, status=400
            )
        return JsonResponse(token_introspection(token, client, request.POST.get("token_type_hint", "")))

    def _authenticated_client(self, request: HttpRequest) -> Application | None:
        """The client that authenticated with its secret (HTTP Basic or in the body), the validator's
        rule as at the token endpoint (an unlinked client is unknown); None if none did."""
        core = self.get_oauthlib_core()
        uri, http_method, body, headers = core._extract_params(request)
        oauth_request = OAuthlibRequest(uri, http_method, body, headers)
        if not core.server.request_validator.authenticate_client(oauth_request):
            return None
        client = oauth_request.client
        return client if isinstance(client, Application) else None


# -- userinfo and logout ----------------------------------------------------------------------------


class UserInfoView(TokenUserInfoView):
    """django-oauth-toolkit's userinfo with JWT, DPoP and certificate-bound tokens (token_views.py),
    without access tokens in the query string (RFC 6750 §2.3,
    RFC 9700 §4.3.2: URLs end up in logs and histories); oauthlib would read them there. The header
    (or, by POST, the form body: RFC 6750 §2.2) carries the token."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if "access_token" in request.GET:
            description = "Access tokens are not accepted in the query string; send an Authorization header."
            response = JsonResponse({"error": "invalid_request", "error_description": description}, status=400)
            response["WWW-Authenticate"] = f'Bearer error="invalid_request", error_description="{description}"'
            return response
        return super().dispatch(request, *args, **kwargs)  # type: ignore[no-any-return]


class OtherPersonLogout(OIDCError):
    status_code = 400
    error = "invalid_request"
    description = "The id_token_hint names another person than the one logged in."


class UnregisteredPostLogoutURI(InvalidOIDCRedirectURIError):
    description = "This post_logout_redirect_uri is not registered for the client (exact match)."


LOGOUT_MESSAGES: dict[type[Exception], Any] = {
    OtherPersonLogout: _(
        "The application asked to log out another person than the one logged in here. Nobody was "
        "logged out: you are still logged in. Log out with the Out button if you want to."
    ),
    UnregisteredPostLogoutURI: _(
        "The application asked to send you back after logging out to an address that is not "
        "registered for it. Nobody was logged out. Please tell the application's supplier."
    ),
}
LOGOUT_MESSAGES[LogoutDenied] = _("You are still logged in.")
LOGOUT_DEFAULT = _("The application's logout request cannot be handled. Nobody was logged out.")


@method_decorator([csrf_exempt, login_not_required, never_cache], name="dispatch")
class RPInitiatedLogoutView(oauth2_views.RPInitiatedLogoutView):
    """RP-Initiated Logout 1.0 by GET or POST (§2), the confirmation in toegang's layout and language.

    - A POST from the client carries no CSRF token (``_form_post_as_get``); the confirmation form
      does, and is checked. Without a valid ``id_token_hint`` of the session's person the person is
      asked, by GET and by POST alike (django-oauth-toolkit's ``must_prompt``).
    - ``post_logout_redirect_uri``: one the operator registered for the client, character for
      character (§3), not any port of 127.0.0.1 nor a registered redirect URI's origin.
    - An ``id_token_hint`` of another person than the session's: a page, and nobody logged out.
    - What ends: the session here, and the tokens of the person at the calling client (the client
      of the ``id_token_hint`` or ``client_id``), audited; other clients keep theirs (docs/oidc.md).
    """

    template_name = "oidc/logout_confirm.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return _form_post_as_get(request) or super().dispatch(request, *args, **kwargs)

    def validate_post_logout_redirect_uri(self, application: Any, post_logout_redirect_uri: str | None) -> None:
        super().validate_post_logout_redirect_uri(application, post_logout_redirect_uri)
        if post_logout_redirect_uri and post_logout_redirect_uri not in application.post_logout_redirect_uris.split():
            raise UnregisteredPostLogoutURI()

    def validate_logout_request(
        self, id_token_hint: str | None, client_id: str | None, post_logout_redirect_uri: str | None
    ) -> tuple[Any, Any]:
        application, token_user = super().validate_logout_request(id_token_hint, client_id, post_logout_redirect_uri)
        user = self.request.user
        if token_user is not None and user.is_authenticated and token_user.pk != user.pk:
            raise OtherPersonLogout()
        return application, token_user

    def do_logout(
        self,
        application: Any = None,
        post_logout_redirect_uri: str | None = None,
        state: str | None = None,
        token_user: Any = None,
    ) -> HttpResponse:
        person = token_user or self.request.user
        if person.is_authenticated:
            # django-oauth-toolkit's own deletion (every client's tokens) is off in the settings.
            logout_tokens_revoke(person=person, client=application)
        return super().do_logout(application, post_logout_redirect_uri, state, token_user)  # type: ignore[no-any-return]

    def error_response(self, error: Any) -> HttpResponse:
        message = LOGOUT_MESSAGES.get(type(error), LOGOUT_DEFAULT)
        return _error_page(self.request, message, error.error or "", error.description or "", error.status_code)
