"""toegang's one customisation of django-oauth-toolkit: which clients, scopes and claims.

The protocol (codes, PKCE, tokens, introspection, revocation, logout) stays in django-oauth-toolkit
and oauthlib, except the refresh rotation's writes (``_save_bearer_token``: a conditional ``UPDATE``
that is also the reuse check, then the new pair; docs/performance.md). This class decides:

- how clients authenticate: the method each registered (``client_auth.authenticate_client``:
  secret, ``private_key_jwt``, ``tls_client_auth``), and which key signs its ID tokens (RS256, or
  ES256 for the clients that registered it: FAPI 2.0);
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

import hashlib
import json
import re
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import router, transaction
from django.db.models.signals import post_delete
from django.utils import timezone, translation
from jwcrypto import jwk, jwt  # type: ignore[import-untyped]
from oauth2_provider import oauth2_validators
from oauth2_provider.models import (
    AbstractApplication,
    AccessToken,
    Grant,
    IDToken,
    RefreshToken,
    refresh_token_expire_timedelta,
)
from oauth2_provider.settings import oauth2_settings
from oauthlib.common import Request  # type: ignore[import-untyped]
from oauthlib.oauth2.rfc6749.errors import (  # type: ignore[import-untyped]
    InvalidGrantError,
    InvalidRequestError,
    UnsupportedResponseTypeError,
)

from toegang.accounts.models import EXTERNAL
from toegang.delegation.authz import access_until, facilities_for, usable_subdepartment_ids
from toegang.oidc import client_auth, jwt_tokens
from toegang.oidc.backchannel import oidc_session_join
from toegang.oidc.client_memory import remember_client, remembered_client
from toegang.oidc.models import ES256, LoginContext, RelyingParty
from toegang.oidc.services import code_replay_revoke
from toegang.oidc.token_exchange import exchanged_facility

PERSON_SCOPES = frozenset({"openid", "profile", "email", "ssin", "access", "offline_access"})
CLIENT_SCOPES = frozenset({"authz"})
DISCOVERY_CLAIMS = ("sub", "auth_time", "acr", "amr", "name", "given_name", "family_name", "locale", "email")
DISCOVERY_CLAIMS_TOEGANG = ("ssin", "access")
# The only response type (code flow; no implicit, no hybrid: RFC 9700 §2.1.2, FAPI 2.0).
RESPONSE_TYPES = ("code",)
# RFC 7636 §4.1: code_verifier = 43*128unreserved, unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~".
CODE_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def code_checksum(code: str) -> str:
    """How a spent authorization code is remembered (its SHA-256), to recognise a replay."""
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


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
        client._state.fields_cache["relying_party"] = rp  # read again by the claims: no second query
        client_auth.client_profile(client)  # its authentication method and keys, remembered with it
        remember_client(client)
        return client

    def client_authentication_required(self, request: Request, *args: Any, **kwargs: Any) -> bool:
        if client_auth.presents_assertion(request):
            return True  # private_key_jwt, even without client_id in the body
        return bool(super().client_authentication_required(request, *args, **kwargs))

    def authenticate_client(self, request: Request, *args: Any, **kwargs: Any) -> bool:
        # The method the client registered, and only that one (client_auth.py).
        return client_auth.authenticate_client(
            request,
            load=self._load_application,
            secret=lambda: bool(super(OAuth2Validator, self).authenticate_client(request, *args, **kwargs)),
            issuer=str(self.get_oidc_issuer_endpoint(request)),
        )

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

    def get_default_redirect_uri(self, client_id: str, request: Request, *args: Any, **kwargs: Any) -> None:
        # OpenID Connect Core 3.1.2.1: redirect_uri is REQUIRED, even for a client with one registered
        # URI; oauthlib then refuses the request (MissingRedirectURIError: the error page, no redirect)
        # and a token request without it (invalid_request).
        return None

    def validate_response_type(
        self, client_id: str, response_type: str, client: Any, request: Request, *args: Any, **kwargs: Any
    ) -> bool:
        # Code only: implicit and hybrid response types are not supported by this server, whatever the
        # client's grant type says (RFC 6749 §4.1.2.1 unsupported_response_type, not unauthorized_client).
        if response_type not in RESPONSE_TYPES:
            raise UnsupportedResponseTypeError(request=request)
        return bool(super().validate_response_type(client_id, response_type, client, request, *args, **kwargs))

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
            LoginContext.objects.create(
                user=request.user, grant=grant, code_checksum=code_checksum(code["code"]), **login
            )
        joined = getattr(request, "oidc_session", None)
        if isinstance(joined, dict):  # back-channel logout: this session logged into this client
            oidc_session_join(sid=joined["sid"], user=request.user, client=request.client, login_at=joined["login_at"])
        return grant

    def validate_code(
        self, client_id: str, code: str, client: Any, request: Request, *args: Any, **kwargs: Any
    ) -> bool:
        verifier = request.code_verifier
        if verifier is not None and not CODE_VERIFIER.fullmatch(verifier):
            raise InvalidRequestError(
                request=request,
                description="code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636 §4.1).",
            )
        valid = bool(super().validate_code(client_id, code, client, request, *args, **kwargs))
        if valid:
            request.login_context = LoginContext.objects.filter(grant__code=code, grant__application=client).first()
        else:
            # RFC 6749 §4.1.2: a code used twice revokes the tokens issued at its first exchange.
            code_replay_revoke(client, code_checksum(code))
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

    def _create_access_token(
        self, expires: Any, request: Request, token: dict[str, Any], source_refresh_token: Any = None
    ) -> AccessToken:
        # django-oauth-toolkit's, without reading back the ID token it has just written (its
        # ``_load_id_token`` verifies the JWT and selects the row by jti): the row is on the request.
        issued = getattr(request, "id_token", None)
        if not (token.get("id_token") and isinstance(issued, IDToken)):
            return super()._create_access_token(expires, request, token, source_refresh_token)
        access_token = AccessToken(
            user=request.user,
            scope=token["scope"],
            expires=expires,
            id_token=issued,
            application=request.client,
            source_refresh_token=source_refresh_token,
            resource=getattr(request, "resource", []),
        )
        self._set_token_value(access_token, token["access_token"])
        access_token.save()
        return access_token

    def validate_refresh_token(
        self, refresh_token: str, client: Any, request: Request, *args: Any, **kwargs: Any
    ) -> bool:
        # A live token: django-oauth-toolkit's checks with its person in the same statement (it reads
        # the person and the client one query each). Anything else (unknown, spent: reuse protection
        # and the grace period; orphaned; expired) goes through django-oauth-toolkit's own rules.
        checksum = hashlib.sha256(refresh_token.encode("utf-8")).hexdigest()
        rt = (
            RefreshToken.objects.filter(token_checksum=checksum, revoked__isnull=True)
            .select_related("access_token", "user")
            .first()
        )
        if rt is None or rt.access_token is None or _refresh_expired(rt):
            valid = bool(super().validate_refresh_token(refresh_token, client, request, *args, **kwargs))
        else:
            request.user = rt.user
            request.refresh_token = refresh_token
            request.refresh_token_instance = rt
            valid = rt.application_id == client.pk
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
            if family is None and (exchange := exchanged_facility(token)) is not None:
                family = exchange.token_family  # token exchange: the subject token's login
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
        # Computed once a request: a refresh asks for it twice (the JWT access token, the ID token).
        token = getattr(request, "access_token", None)
        key = (getattr(request.client, "pk", None), getattr(request.user, "pk", None), getattr(token, "pk", None))
        cache = getattr(request, "toegang_access_claims", None)
        if not isinstance(cache, dict):
            cache = request.toegang_access_claims = {}
        if key not in cache:
            cache[key] = self._compute_access(request)
        result: list[dict[str, Any]] = cache[key]
        return result

    def _compute_access(self, request: Request) -> list[dict[str, Any]]:
        rp = relying_party(request.client)
        if rp is None:
            return []
        # The names in the person's own language: the token endpoint has no browser to ask.
        login = self._login_context(request)
        proven = login is not None and int(login.acr or 0) >= EXTERNAL
        usable = usable_subdepartment_ids(request.user, ssin_proven=proven)
        token = getattr(request, "access_token", None)
        if isinstance(token, AccessToken) and (exchange := exchanged_facility(token)) is not None:
            # An exchanged token (token_exchange.py) acts for its one facility.
            usable = {exchange.subdepartment_id} & (usable if usable is not None else {exchange.subdepartment_id})
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
            if login.sid:
                claims["sid"] = login.sid  # Back-Channel Logout 1.0 §2.1 / Front-Channel Logout §3
        return claims, expires

    def finalize_id_token(self, id_token: dict[str, Any], token: Any, token_handler: Any, request: Request) -> str:
        """ES256 for a client that registered it (FAPI 2.0: PS256 or ES256), with toegang's EC key;
        RS256 (django-oauth-toolkit's, the RSA key) for the others."""
        profile = client_auth.client_profile(request.client)
        if profile is None or profile.id_token_signed_response_alg != ES256:
            return str(super().finalize_id_token(id_token, token, token_handler, request))
        claims, expiration_time = self.get_id_token_dictionary(token, token_handler, request)
        id_token.update(**claims)
        if "nonce" not in id_token and request.nonce:
            id_token["nonce"] = request.nonce
        key = jwk.JWK.from_pem(settings.OIDC_EC_PRIVATE_KEY.encode())
        signed = jwt.JWT(
            header=json.dumps({"typ": "JWT", "alg": "ES256", "kid": key.thumbprint()}),
            claims=json.dumps(id_token, default=str),
        )
        signed.make_signed_token(key)
        with transaction.atomic(using=router.db_for_write(IDToken)):
            saved = self._save_id_token(id_token["jti"], request, expiration_time)
        request.access_token = saved
        request.id_token = saved
        return str(signed.serialize())

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
        try:
            return super().save_bearer_token(token, request, *args, **kwargs)
        except _RefreshTokenSpent as spent:
            # Spent by a concurrent request between the check and the rotation (the transaction that
            # would have rotated it is rolled back): a reuse, so the whole family is revoked.
            if oauth2_settings.REFRESH_TOKEN_REUSE_PROTECTION and spent.family:
                RefreshToken.revoke_family(spent.family)
            raise _SpentRefreshTokenError(request=request) from None

    def _save_bearer_token(self, token: dict[str, Any], request: Request, *args: Any, **kwargs: Any) -> Any:
        """The rotation of a refresh token in few statements (inside django-oauth-toolkit's transaction).

        django-oauth-toolkit locks the old refresh token, reads it and its access token again, deletes
        the access token through the ORM (a read, an ``UPDATE`` and a ``DELETE``) and saves the refresh
        token whole. Here one conditional ``UPDATE`` revokes the old refresh token, and is the reuse
        check: it changes a row only if nobody spent the token since it was validated (PostgreSQL waits
        on the row lock of a concurrent rotation, then sees it revoked). Then the old access token is
        deleted (one ``DELETE``; its ``post_delete`` receivers are told) and the new pair inserted.
        A grace period (REFRESH_TOKEN_GRACE_PERIOD_SECONDS), rotation off, and every other grant take
        django-oauth-toolkit's path unchanged.
        """
        previous = getattr(request, "refresh_token_instance", None)
        if not (
            request.grant_type == "refresh_token"
            and token.get("refresh_token")
            and "scope" in token
            and isinstance(previous, RefreshToken)
            and self.rotate_refresh_token(request)
            and not oauth2_settings.REFRESH_TOKEN_GRACE_PERIOD_SECONDS
        ):
            return super()._save_bearer_token(token, request, *args, **kwargs)
        self._check_and_set_request_resource(request)
        now = timezone.now()
        expires = now + timedelta(seconds=token.get("expires_in", oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS))
        spent = RefreshToken.objects.filter(pk=previous.pk, revoked__isnull=True).update(
            revoked=now, access_token=None, updated=now
        )
        if spent != 1:
            raise _RefreshTokenSpent(previous.token_family)
        old_access = previous.access_token  # read with the refresh token (validate_refresh_token)
        if old_access is not None:
            using = router.db_for_write(AccessToken)
            AccessToken.objects.filter(pk=old_access.pk)._raw_delete(using)  # its one reference is nulled above
            post_delete.send(sender=AccessToken, instance=old_access, using=using, origin=old_access)
        previous.revoked, previous.access_token = now, None
        request.refresh_token_instance = None
        access_token = self._create_access_token(expires, request, token, source_refresh_token=previous)
        self._create_refresh_token(request, token["refresh_token"], access_token, previous)
        return None

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


class _RefreshTokenSpent(Exception):
    def __init__(self, family: Any) -> None:
        super().__init__("refresh token spent concurrently")
        self.family = family


class _SpentRefreshTokenError(InvalidGrantError):
    """invalid_grant raised from ``save_bearer_token``: django-oauth-toolkit answers an error raised
    there with the error's own headers, so it carries the token endpoint's (RFC 6749 §5.2)."""

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json", "Cache-Control": "no-store", "Pragma": "no-cache"}


def _refresh_expired(rt: RefreshToken) -> bool:
    """django-oauth-toolkit's age rule for a live refresh token (its access token's expiry plus
    REFRESH_TOKEN_EXPIRE_SECONDS), checked the same way."""
    delta = refresh_token_expire_timedelta()
    return bool(delta and rt.access_token.expires + delta <= timezone.now())


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
