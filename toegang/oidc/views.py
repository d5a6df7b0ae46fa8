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
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render, resolve_url
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider import views as oauth2_views
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.models import Application
from oauth2_provider.settings import oauth2_settings
from oauthlib.common import Request as OAuthlibRequest  # type: ignore[import-untyped]
from oauthlib.oauth2.rfc6749.errors import AccessDeniedError, LoginRequired  # type: ignore[import-untyped]

from toegang.accounts.assurance import session_amr, session_level
from toegang.delegation.authz import facilities_for
from toegang.delegation.selectors import managers_to_ask
from toegang.oidc import jwt_tokens
from toegang.oidc.resource import discovery_metadata
from toegang.oidc.selectors import oauth_application, token_introspection
from toegang.oidc.token_views import TokenResponseMixin, token_request_binding
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


class AuthorizationView(oauth2_views.AuthorizationView):
    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            _scopes, credentials = self.validate_authorization_request(request)
        except OAuthToolkitError as error:
            return self.error_response(error, application=None)  # type: ignore[no-any-return]
        application = oauth_application(credentials["client_id"])
        assert application is not None  # the request was validated against this client
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
            return redirect_to_login(
                _without(request.get_full_path(), "prompt", "max_age"),
                resolve_url(self.get_login_url()),
                self.get_redirect_field_name(),
            )
        if not self._may_use(request, application):
            if "none" in prompt:
                return self._refuse(AccessDeniedError, credentials, application)
            return self._no_access(request, application)
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
            "acr": str(session_level(request)),
            "amr": session_amr(request),
            "auth_time": login_time(request),
        }
        return super().create_authorization_response(request, scopes, credentials, allow)

    def _may_use(self, request: HttpRequest, application: Application) -> bool:
        rp = relying_party(application)
        person_id = request.user.pk
        return rp is not None and person_id is not None and facilities_for(person_id, rp.application_id).exists()

    def _refuse(self, error_class: type[Any], credentials: dict[str, Any], application: Application) -> HttpResponse:
        """An error for the client at its (validated) redirect URI, as RFC 6749 4.1.2.1 shapes it."""
        error = error_class(state=credentials.get("state"))
        params = dict(error.twotuples)
        if oauth2_settings.COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS:
            params["iss"] = oauth2_settings.oidc_issuer(self.request)  # RFC 9207
        redirect_uri = credentials["redirect_uri"]
        return self.redirect(  # type: ignore[no-any-return]
            redirect_uri + ("&" if "?" in redirect_uri else "?") + urlencode(params), application
        )

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


class ConnectDiscoveryInfoView(oauth2_views.ConnectDiscoveryInfoView):
    """django-oauth-toolkit's discovery, with the introspection and revocation endpoints it leaves
    out and how clients authenticate there (RFC 8414 §2; RFC 7662 §4 names the same fields)."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().get(request, *args, **kwargs)
        data = json.loads(response.content)
        methods = oauth2_settings.OIDC_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED
        for endpoint, name in (("introspection", "introspect"), ("revocation", "revoke-token")):
            data[f"{endpoint}_endpoint"] = self._get_endpoint_url(request, name, required=True)
            data[f"{endpoint}_endpoint_auth_methods_supported"] = methods
        data.update(discovery_metadata())  # DPoP and certificate-bound access tokens (token_views.py)
        answer = JsonResponse(data)
        answer["Access-Control-Allow-Origin"] = "*"
        return answer


class TokenView(TokenResponseMixin, oauth2_views.TokenView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
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
