"""Signed request objects (RFC 9101, OpenID Connect Core §6.1) at the authorization and PAR endpoints.

A client sends its authorization request's parameters as the claims of a JWT (``request=``) signed
with a key of its registered JWKS (client_keys.py: PS256, ES256 or RS256; ``alg: none`` and HMAC
refused). The JWT's ``iss`` is the client, its ``aud`` the issuer, and it has an ``exp`` (at most
``REQUEST_OBJECT_MAX_SECONDS`` after ``nbf`` for a FAPI client, which must send ``nbf``); a
``client_id`` in it must be the request's. The parameters inside win over those beside it (RFC 9101
§5: the authorization server uses only the request object's); ``client_id`` stays the outer one.
"""

from __future__ import annotations

import json
from typing import Any

from toegang.oidc.client_auth import client_profile
from toegang.oidc.client_keys import ClientKeyError, verify_client_jwt

REQUEST_OBJECT_MAX_SECONDS = 3600
JWT_CLAIMS = frozenset({"iss", "aud", "exp", "nbf", "iat", "jti", "sub"})
REQUEST_OBJECT_TYP = "oauth-authz-req+jwt"


class RequestObjectError(Exception):
    """``invalid_request_object`` (OpenID Connect Core §3.1.2.6, RFC 9101 §6.3); the message says why."""


def _param(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def request_object_params(token: str, client: Any, issuer: str) -> dict[str, str]:
    """The authorization request's parameters in the request object ``token`` of ``client``."""
    profile = client_profile(client)
    if profile is None or not (profile.jwks or profile.jwks_uri):
        raise RequestObjectError("The client has registered no keys to sign request objects.")
    require = ["iss", "aud", "exp", *(["nbf"] if profile.fapi else [])]
    try:
        verified = verify_client_jwt(
            token, profile, audience=[issuer, issuer.rstrip("/")], require=require, typ=REQUEST_OBJECT_TYP
        )
    except ClientKeyError as exc:
        raise RequestObjectError(f"The request object is refused: {exc}.") from exc
    claims = verified.claims
    client_id = client.client_id
    if claims["iss"] != client_id or claims.get("client_id", client_id) != client_id:
        raise RequestObjectError("The request object is not the client's (iss or client_id).")
    nbf = claims.get("nbf")
    if nbf is not None and (not isinstance(nbf, int) or claims["exp"] - nbf > REQUEST_OBJECT_MAX_SECONDS):
        raise RequestObjectError("The request object's lifetime (exp - nbf) is longer than 60 minutes.")
    params = {k: _param(v) for k, v in claims.items() if k not in JWT_CLAIMS}
    if "request" in params or "request_uri" in params:
        raise RequestObjectError("A request object cannot hold request or request_uri.")
    params["client_id"] = client_id
    return params
