"""toegang's one customisation of django-oauth-toolkit: which clients, scopes and claims.

The protocol (codes, PKCE, tokens, refresh rotation, introspection, revocation, logout) stays in
django-oauth-toolkit and oauthlib. This class only decides:

- which clients exist: a client is usable only while it is linked to an active secured application
  (``RelyingParty``); an unlinked client is an unknown client (``invalid_client``);
- what they may ask: people's scopes for the authorization-code flow, ``authz`` alone for client
  credentials (the authorization API), which every linked confidential client may use for its own
  application;
- the claims (architecture.md), computed each time a token is issued, so a change in the portal
  shows at the next refresh: ``sub`` (the person's id, stable), ``ssin``, names, ``email``,
  ``locale``, ``acr`` and ``amr`` of the login, and ``access``: the facilities where the person
  holds the client's application, from ``authz.facilities_for``, the same decision as the portal's.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from django.utils import translation
from oauth2_provider import oauth2_validators
from oauth2_provider.models import AbstractApplication, AccessToken, Grant, RefreshToken
from oauthlib.common import Request  # type: ignore[import-untyped]

from toegang.accounts.models import EXTERNAL
from toegang.delegation.authz import access_until, facilities_for, usable_subdepartment_ids
from toegang.oidc import jwt_tokens
from toegang.oidc.client_memory import remember_client, remembered_client
from toegang.oidc.models import LoginContext, RelyingParty

PERSON_SCOPES = frozenset({"openid", "profile", "email", "ssin", "access", "offline_access"})
CLIENT_SCOPES = frozenset({"authz"})
DISCOVERY_CLAIMS = ("sub", "auth_time", "acr", "amr", "name", "given_name", "family_name", "locale", "email")
DISCOVERY_CLAIMS_TOEGANG = ("ssin", "access")


def access_claim(person_id: int, application_id: int, usable: set[int] | None = None) -> list[dict[str, Any]]:
    """The ``access`` claim: one entry per facility where the person may use the application now.

    ``usable``: the subdepartments this login may use (``authz.usable_subdepartment_ids``), None for all.
    """
    result = []
    for grant in facilities_for(person_id, application_id):
        sd = grant.subdepartment
        if usable is not None and sd.pk not in usable:
            continue
        result.append(
            {
                "enterprise": {"cbe_number": sd.enterprise.cbe_number, "name": sd.enterprise.name},
                "quality": {"code": sd.quality.code, "name": sd.quality.name},
                "subdepartment": {"id": sd.pk, "identification_code": sd.identification_code, "name": sd.name},
                "application": grant.application.code,
                "valid_until": until.isoformat() if (until := access_until(grant)) else None,
            }
        )
    return result


def relying_party(client: Any) -> RelyingParty | None:
    try:
        rp = client.relying_party
    except RelyingParty.DoesNotExist:
        return None
    return rp if isinstance(rp, RelyingParty) else None


class OAuth2Validator(oauth2_validators.OAuth2Validator):
    oidc_claim_scope = {
        **oauth2_validators.OAuth2Validator.oidc_claim_scope,
        "acr": "openid",
        "amr": "openid",
        "ssin": "ssin",
        "access": "access",
    }

    # -- clients ----------------------------------------------------------------------------------

    def _load_application(self, client_id: str, request: Request) -> Any:
        if not request.client and (remembered := remembered_client(client_id)) is not None:
            request.client = remembered  # checked a few seconds ago (client_memory.py)
            return remembered
        client = super()._load_application(client_id, request)
        if client is None:
            return None
        rp = RelyingParty.objects.filter(client=client, application__is_active=True).first()
        if rp is None:
            request.client = None
            return None
        remember_client(client)
        return client

    def validate_grant_type(
        self, client_id: str, grant_type: str, client: Any, request: Request, *args: Any, **kwargs: Any
    ) -> bool:
        if grant_type == "client_credentials":
            # Every confidential client of a secured application may call the authorization API.
            return bool(client.client_type == AbstractApplication.CLIENT_CONFIDENTIAL)
        return bool(super().validate_grant_type(client_id, grant_type, client, request, *args, **kwargs))

    def validate_scopes(
        self, client_id: str, scopes: list[str], client: Any, request: Request, *args: Any, **kwargs: Any
    ) -> bool:
        allowed = CLIENT_SCOPES if request.grant_type == "client_credentials" else PERSON_SCOPES
        return set(scopes) <= allowed and bool(
            super().validate_scopes(client_id, scopes, client, request, *args, **kwargs)
        )

    def get_default_scopes(self, client_id: str, request: Request, *args: Any, **kwargs: Any) -> list[str]:
        return ["authz"] if request.grant_type == "client_credentials" else ["openid"]

    def validate_redirect_uri(
        self, client_id: str, redirect_uri: str, request: Request, *args: Any, **kwargs: Any
    ) -> bool:
        # Simple string comparison (OpenID Connect Core 3.1.2.1, RFC 9700 2.1): one of the URIs the
        # operator registered, character for character; no other port even on the loopback address
        # (RFC 8252's exception is for native apps, and these clients are web servers).
        return redirect_uri in request.client.redirect_uris.split()

    def validate_silent_authorization(self, request: Request) -> bool:
        # prompt=none: no consent screen to skip (operator-registered clients never show one).
        return True

    def validate_silent_login(self, request: Request) -> bool:
        # prompt=none: the authorization view answers login_required when nobody is logged in.
        return True

    # -- how the person logged in: recorded at the authorization step, carried to the tokens -------

    def _create_authorization_code(self, request: Request, code: dict[str, str], expires: Any = None) -> Grant:
        grant = super()._create_authorization_code(request, code, expires)
        login = getattr(request, "login_context", None)
        if isinstance(login, dict):
            LoginContext.objects.create(user=request.user, grant=grant, **login)
        return grant

    def validate_code(
        self, client_id: str, code: str, client: Any, request: Request, *args: Any, **kwargs: Any
    ) -> bool:
        valid = bool(super().validate_code(client_id, code, client, request, *args, **kwargs))
        if valid:
            request.login_context = LoginContext.objects.filter(grant__code=code, grant__application=client).first()
        return valid

    def _create_refresh_token(
        self, request: Request, refresh_token_code: str, access_token: Any, previous_refresh_token: Any
    ) -> RefreshToken:
        token = super()._create_refresh_token(request, refresh_token_code, access_token, previous_refresh_token)
        login = getattr(request, "login_context", None)
        if isinstance(login, LoginContext) and login.token_family != token.token_family:
            login.token_family = token.token_family
            login.save(update_fields=["token_family"])
        return token

    def validate_refresh_token(
        self, refresh_token: str, client: Any, request: Request, *args: Any, **kwargs: Any
    ) -> bool:
        valid = bool(super().validate_refresh_token(refresh_token, client, request, *args, **kwargs))
        if valid:
            family = request.refresh_token_instance.token_family
            request.login_context = LoginContext.objects.filter(token_family=family).first() if family else None
        return valid

    def _login_context(self, request: Request) -> LoginContext | None:
        login = getattr(request, "login_context", None)
        if isinstance(login, LoginContext):
            return login
        token = getattr(request, "access_token", None)  # userinfo: the bearer token
        if isinstance(token, AccessToken):
            refresh = RefreshToken.objects.filter(access_token=token).only("token_family").first()
            family = refresh.token_family if refresh else None
            if family is None and token.source_refresh_token_id:
                family = RefreshToken.objects.get(pk=token.source_refresh_token_id).token_family
            if family:
                login = LoginContext.objects.filter(token_family=family).first()
                request.login_context = login
                return login
        return None

    # -- claims -----------------------------------------------------------------------------------

    def get_additional_claims(self, request: Request) -> dict[str, Any]:
        user = request.user
        login = self._login_context(request)
        claims: dict[str, Any] = {
            "given_name": user.first_name,
            "family_name": user.last_name,
            "name": f"{user.first_name} {user.last_name}".strip(),
            "locale": user.language,
            "email": user.email,
            "ssin": user.ssin,
            "access": lambda r: self._access(r),
        }
        if login is not None:
            claims["acr"] = login.acr
            claims["amr"] = login.amr
        return claims

    def _access(self, request: Request) -> list[dict[str, Any]]:
        rp = relying_party(request.client)
        if rp is None:
            return []
        # The names in the person's own language: the token endpoint has no browser to ask.
        login = self._login_context(request)
        proven = login is not None and int(login.acr or 0) >= EXTERNAL
        usable = usable_subdepartment_ids(request.user, ssin_proven=proven)
        with translation.override(request.user.language or "nl"):
            return access_claim(request.user.pk, rp.application_id, usable)

    def get_discovery_claims(self, request: Any) -> list[str]:
        return [*DISCOVERY_CLAIMS, *DISCOVERY_CLAIMS_TOEGANG]

    def get_id_token_dictionary(
        self, token: Any, token_handler: Any, request: Request
    ) -> tuple[dict[str, Any], datetime]:
        claims, expires = super().get_id_token_dictionary(token, token_handler, request)
        login = self._login_context(request)
        if login is not None:
            claims["auth_time"] = int(login.auth_time.timestamp())
        return claims, expires

    # -- JWT access tokens (RFC 9068; toegang/oidc/jwt_tokens.py) ------------------------------------

    def access_token_claims(self, request: Request) -> dict[str, Any]:
        """The claims of the access token being issued (signed by ``access_token_generator``)."""
        now = int(time.time())
        client_id = request.client.client_id if request.client is not None else request.client_id
        scopes = list(request.scopes or [])
        resources = _resources(request)
        claims: dict[str, Any] = {
            "aud": resources[0] if len(resources) == 1 else resources or jwt_tokens.default_audience(),
            "exp": now + int(request.expires_in or 0),
            "client_id": client_id,
            "scope": " ".join(scopes),
        }
        user = request.user if request.grant_type != "client_credentials" else None
        if user is None or not getattr(user, "pk", None):
            claims["sub"] = client_id  # RFC 9068 §2.2: no resource owner, the client is the subject
            return claims
        claims["sub"] = str(user.pk)
        login = self._login_context(request)
        if login is not None:
            claims["acr"] = login.acr
            claims["auth_time"] = int(login.auth_time.timestamp())
        if "access" in scopes:
            claims["access"] = self._access(request)
        return claims

    def save_bearer_token(self, token: dict[str, Any], request: Request, *args: Any, **kwargs: Any) -> Any:
        binding = jwt_tokens.current_binding()
        if binding and "jkt" in binding:
            token["token_type"] = "DPoP"  # noqa: S105 (RFC 9449 §5: a token type, not a secret)
        if request.grant_type == "client_credentials":
            # Nothing to store: the JWT is the whole token (no refresh token, no person, no ID token).
            self._check_and_set_request_resource(request)
            request.user = None
            return None
        return super().save_bearer_token(token, request, *args, **kwargs)

    def revoke_token(
        self, token: str, token_type_hint: str | None, request: Request, *args: Any, **kwargs: Any
    ) -> None:
        """RFC 7009: a JWT access token of the calling client goes on the deny-list until it expires
        (and its row, a person's token, is deleted as before)."""
        if jwt_tokens.looks_like_jwt(token) and request.client is not None:
            try:
                claims = jwt_tokens.verify_access_token(token, any_audience=True)
            except jwt_tokens.InvalidAccessToken:
                claims = None
            if claims is not None and claims.get("client_id") == request.client.client_id:
                jwt_tokens.deny(str(claims["jti"]), int(claims["exp"]))
        super().revoke_token(token, token_type_hint, request, *args, **kwargs)


def _resources(request: Request) -> list[str]:
    """The RFC 8707 ``resource`` values of the token request (django-oauth-toolkit validates them when
    it saves the token, which answers ``invalid_target`` for a bad one)."""
    resource = getattr(request, "resource", None)
    if isinstance(resource, list):
        return [r for r in resource if isinstance(r, str) and r]
    if isinstance(resource, str) and resource.strip():
        values = [v for k, v in (getattr(request, "decoded_body", None) or []) if k == "resource"]
        return values or [resource]
    return []


def access_token_generator(request: Request) -> str:
    """django-oauth-toolkit's ``ACCESS_TOKEN_GENERATOR``: a signed JWT access token (RFC 9068)."""
    return jwt_tokens.sign_access_token(OAuth2Validator().access_token_claims(request))
