"""The public keys of a client (its JWKS), and verifying a JWT the client signed with one of them.

Used for ``private_key_jwt`` client assertions (client_auth.py) and signed request objects
(request_object.py). A client registers its JWKS inline (``ClientProfile.jwks``) or at a URL
(``ClientProfile.jwks_uri``), which is fetched with a timeout and a size limit and kept in the shared
cache for ``JWKS_CACHE_SECONDS``; a JWT whose ``kid`` the cached set does not hold makes one new
fetch (at most one such fetch every ``JWKS_REFETCH_SECONDS`` per client, so made-up kids cannot
make toegang hammer the client's server), so a client rotates its keys by publishing
the new one and signing with it, without telling the operator.

Only asymmetric signatures: PS256, ES256, RS256. ``none`` and the HMAC algorithms (whose key would be
the client secret) are refused before any key is looked at. The JOSE work is PyJWT's.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import jwt
import requests
from django.core.cache import cache

from toegang.oidc.models import ClientProfile

log = logging.getLogger(__name__)

SIGNING_ALGS = ("PS256", "ES256", "RS256")
JWKS_FETCH_TIMEOUT_SECONDS = 5
JWKS_MAX_BYTES = 64 * 1024
JWKS_CACHE_SECONDS = 300
JWKS_REFETCH_SECONDS = 30


class ClientKeyError(Exception):
    """The JWT is not signed by a key of the client (or cannot be read); the message is for logs."""


@dataclass(frozen=True)
class VerifiedJwt:
    header: dict[str, Any]
    claims: dict[str, Any]


def _cache_key(profile: ClientProfile) -> str:
    return f"oidc:jwks:{profile.client_id}:{profile.jwks_uri}"


def _fetch(uri: str) -> dict[str, Any]:
    """GET ``uri`` (the operator registered it): JSON of at most JWKS_MAX_BYTES, within the timeout."""
    try:
        with requests.get(
            uri,
            timeout=JWKS_FETCH_TIMEOUT_SECONDS,
            stream=True,
            allow_redirects=False,
            headers={"Accept": "application/jwk-set+json, application/json"},
        ) as response:
            if response.status_code != 200:
                raise ClientKeyError(f"jwks_uri answered {response.status_code}")
            body = b""
            for chunk in response.iter_content(8192):
                body += chunk
                if len(body) > JWKS_MAX_BYTES:
                    raise ClientKeyError("jwks_uri answered more than the size limit")
    except requests.RequestException as exc:
        raise ClientKeyError(f"jwks_uri could not be fetched: {type(exc).__name__}") from exc
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ClientKeyError("jwks_uri answered no JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ClientKeyError("jwks_uri answered no JWK set")
    return data


def client_jwks(profile: ClientProfile, *, refresh: bool = False) -> dict[str, Any]:
    """The client's JWK set: inline, or from its jwks_uri (cached; ``refresh``: fetch again, throttled)."""
    if profile.jwks:
        return dict(profile.jwks)
    if not profile.jwks_uri:
        return {"keys": []}
    key = _cache_key(profile)
    cached = cache.get(key)
    if isinstance(cached, dict) and not refresh:
        return cached
    if isinstance(cached, dict) and not cache.add(key + ":refetch", 1, JWKS_REFETCH_SECONDS):
        return cached  # fetched a moment ago: an unknown kid now is not a rotation
    try:
        data = _fetch(profile.jwks_uri)
    except ClientKeyError:
        if isinstance(cached, dict):
            return cached
        raise
    cache.set(key, data, JWKS_CACHE_SECONDS)
    return data


def _candidates(jwks: dict[str, Any], kid: str | None, alg: str) -> list[jwt.PyJWK]:
    keys = []
    for data in jwks.get("keys", []):
        if not isinstance(data, dict) or data.get("use", "sig") != "sig":
            continue
        if kid is not None and data.get("kid") != kid:
            continue
        if data.get("alg", alg) != alg or "d" in data:
            continue
        try:
            keys.append(jwt.PyJWK(data, algorithm=alg))
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            continue  # a key of another type than alg's, or unreadable
    return keys


def verify_client_jwt(
    token: str, profile: ClientProfile, *, audience: list[str] | None, require: list[str], typ: str | None = None
) -> VerifiedJwt:
    """The header and claims of ``token`` if a key of the client signed it (PS256, ES256 or RS256),
    its ``exp``/``nbf``/``iat`` hold (30 s leeway) and its ``aud`` names one of ``audience``; else
    ClientKeyError. The caller checks what else its claims must say."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise ClientKeyError("not a JWS") from exc
    alg = header.get("alg")
    if alg not in SIGNING_ALGS:
        raise ClientKeyError(f"algorithm {alg!r} refused")
    if typ is not None and header.get("typ") not in (None, typ, f"application/{typ}"):
        raise ClientKeyError(f"typ {header.get('typ')!r} refused")
    kid = header.get("kid") if isinstance(header.get("kid"), str) else None
    keys = _candidates(client_jwks(profile), kid, alg)
    if not keys and profile.jwks_uri and not profile.jwks:
        keys = _candidates(client_jwks(profile, refresh=True), kid, alg)  # a rotated key
    if not keys:
        raise ClientKeyError(f"no key of the client for kid {kid!r} and {alg}")
    last: Exception | None = None
    for key in keys:
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=audience,
                leeway=30,
                options={"require": require, "verify_aud": audience is not None},
            )
        except jwt.PyJWTError as exc:
            last = exc
            continue
        return VerifiedJwt(header=header, claims=claims)
    raise ClientKeyError(f"signature or claims refused: {type(last).__name__}: {last}")
