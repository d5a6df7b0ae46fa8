"""Reads of the OAuth clients, relying parties and tokens, for the authorization and introspection endpoints."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from django.utils import timezone
from oauth2_provider.models import AccessToken, Application, RefreshToken, refresh_token_expire_timedelta

from toegang.oidc import jwt_tokens
from toegang.oidc.models import TokenExchange


def oauth_application(client_id: str | None) -> Application | None:
    """The OAuth client with this id (the authorization request's, once validated); None if unknown."""
    if not client_id:
        return None
    return Application.objects.filter(client_id=client_id).first()


def token_introspection(token_value: str, client: Application, token_type_hint: str = "") -> dict[str, Any]:
    """RFC 7662 §2.2: what ``client`` may learn about ``token_value``; ``{"active": False}`` if nothing.

    A client learns about its own tokens only: an access or refresh token that another client holds
    answers exactly as an unknown, expired or revoked one does (docs/oidc.md, "Introspection").
    Access tokens are looked up first unless the hint names refresh tokens (§2.1: the hint only
    orders the search). A refresh token is active while it could still be used at the token
    endpoint: not revoked (a rotated one is), its access token present, and not older than
    ``REFRESH_TOKEN_EXPIRE_SECONDS`` after that access token expired (django-oauth-toolkit's rule).
    """
    checksum = hashlib.sha256(token_value.encode("utf-8")).hexdigest()
    if jwt_tokens.looks_like_jwt(token_value):
        return _jwt_answer(token_value, checksum, client)
    lookups = (_access_token_answer, _refresh_token_answer)
    if token_type_hint == "refresh_token":  # noqa: S105 (a token type, not a secret)
        lookups = (_refresh_token_answer, _access_token_answer)
    for lookup in lookups:
        answer = lookup(checksum, client)
        if answer is not None:
            return answer
    return {"active": False}


def _answer(client: Application, user: Any, scope: str, expires: datetime | None) -> dict[str, Any]:
    data: dict[str, Any] = {"active": True, "scope": scope, "client_id": client.client_id}
    if expires is not None:
        data["exp"] = int(expires.timestamp())
    if user is not None:
        data["username"] = user.get_username()
    return data


def _access_token_answer(checksum: str, client: Application) -> dict[str, Any] | None:
    token = (
        AccessToken.objects.select_related("user")
        .filter(token_checksum=checksum, application=client)
        .order_by("-expires")
        .first()
    )
    if token is None or not token.is_valid():
        return None
    answer = _answer(client, token.user, token.scope, token.expires)
    exchange = TokenExchange.objects.filter(access_token=token).first()
    if exchange is not None:  # RFC 8693 §4.1: the client acts for the person, for one facility
        answer |= {"act": {"sub": client.client_id}, "facility": exchange.subdepartment_id}
    return answer


def _refresh_token_answer(checksum: str, client: Application) -> dict[str, Any] | None:
    token = (
        RefreshToken.objects.select_related("user", "access_token")
        .filter(token_checksum=checksum, application=client, revoked__isnull=True)
        .first()
    )
    if token is None or token.access_token is None:
        return None
    lifetime = refresh_token_expire_timedelta()
    expires = token.access_token.expires + lifetime if lifetime else None
    if expires is not None and expires <= timezone.now():
        return None
    return _answer(client, token.user, token.access_token.scope, expires)


def _jwt_answer(token_value: str, checksum: str, client: Application) -> dict[str, Any]:
    """A JWT access token (RFC 9068): active if it verifies, is the client's, is not on the deny-list
    and, for a person's token, its row still exists (logout and refresh-token reuse delete it)."""
    inactive = {"active": False}
    try:
        claims = jwt_tokens.verify_access_token(token_value, any_audience=True)
        if claims.get("client_id") != client.client_id or jwt_tokens.is_denied(str(claims["jti"])):
            return inactive
    except (jwt_tokens.InvalidAccessToken, jwt_tokens.DenyListUnavailable):
        return inactive
    answer: dict[str, Any] = {
        "active": True,
        **{k: claims[k] for k in ("scope", "client_id", "exp", "iat", "sub", "aud", "iss", "jti") if k in claims},
        "token_type": "DPoP" if isinstance(claims.get("cnf"), dict) and "jkt" in claims["cnf"] else "Bearer",
    }
    if isinstance(claims.get("cnf"), dict):
        answer["cnf"] = claims["cnf"]
    if claims["sub"] != client.client_id:  # a person's token: django-oauth-toolkit's row decides
        token = AccessToken.objects.select_related("user").filter(token_checksum=checksum, application=client).first()
        if token is None or not token.is_valid():
            return inactive
        if token.user is not None:
            answer["username"] = token.user.get_username()
    return answer
