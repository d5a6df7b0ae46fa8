"""JWT access tokens (RFC 9068): signed, verified locally, revoked through a deny-list.

Every access token toegang issues is a JWT (``typ: at+jwt``) signed with ES256 by the provider's
P-256 key (``settings.OIDC_EC_PRIVATE_KEY``, toegang/oidc/keys.py), whose public key the JWKS
publishes beside the RS256 key of the ID tokens. Claims: ``iss``, ``sub`` (the person's id, or the
client id for client credentials: RFC 9068 §2.2), ``aud`` (toegang itself, the issuer URL, or the
RFC 8707 ``resource`` asked), ``exp``, ``iat``, ``jti``, ``client_id``, ``scope``; for a person's
token also ``acr``, ``auth_time`` (the login, from ``LoginContext``) and, with scope ``access``, the
``access`` facilities of the client's application; ``cnf`` when the token is sender-constrained
(``jkt``: DPoP, RFC 9449; ``x5t#S256``: a client certificate, RFC 8705).

Client-credentials tokens are not written to the database at all: the token endpoint signs and
answers. A person's token keeps django-oauth-toolkit's row (its SHA-256), because the refresh token,
userinfo and logout are built on it.

Revocation. A verified token stays valid until its ``exp`` (``ACCESS_TOKEN_EXPIRE_SECONDS``, 600 s
by default): that is the bound of any change. For the emergencies in between, revoking it (RFC 7009
at /oauth/revoke_token/) puts its ``jti`` on a deny-list in the shared cache (Redis or the database
cache that toegang already configures) until the token's ``exp``. Checking the list is the one
shared-cache read of a check, and each worker remembers each answer for
``settings.OIDC_DENY_LIST_LOCAL_SECONDS`` (2 s): a revoked token is refused by every worker at most
that long after its revocation. When the cache cannot be read the check fails closed
(``DenyListUnavailable``).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from django.conf import settings
from django.core.cache import cache as shared_cache
from jwcrypto import jwk  # type: ignore[import-untyped]

logger = logging.getLogger(__name__)

TOKEN_TYPE = "at+jwt"  # noqa: S105 (a media type, not a secret)
ALGORITHM = "ES256"
# Leeway for the clocks of several servers (verification only; exp is never extended for the deny-list).
LEEWAY_SECONDS = 5
DENY_PREFIX = "toegang:jwt-deny:"


class InvalidAccessToken(Exception):
    """Not a valid access token of this provider: bad signature, other key, expired, wrong iss/aud/typ."""


class DenyListUnavailable(Exception):
    """The shared cache holding the deny-list could not be read: the token cannot be accepted now."""


@dataclass(frozen=True)
class SigningKeys:
    private: ec.EllipticCurvePrivateKey
    kid: str
    public: dict[str, ec.EllipticCurvePublicKey]
    jwks: tuple[dict[str, Any], ...]


@cache
def _keys(active_pem: str, inactive: tuple[str, ...]) -> SigningKeys:
    private: ec.EllipticCurvePrivateKey | None = None
    public: dict[str, ec.EllipticCurvePublicKey] = {}
    published: list[dict[str, Any]] = []
    kid = ""
    for pem in (active_pem, *inactive):
        key = load_pem_private_key(pem.encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("the access-token signing key must be an EC P-256 key")
        as_jwk = jwk.JWK.from_pem(pem.encode())
        thumbprint = as_jwk.thumbprint()
        if private is None:
            private, kid = key, thumbprint
        public[thumbprint] = key.public_key()
        published.append({"alg": ALGORITHM, "use": "sig", "kid": thumbprint, **as_jwk.export_public(as_dict=True)})
    assert private is not None
    return SigningKeys(private=private, kid=kid, public=public, jwks=tuple(published))


def signing_keys() -> SigningKeys:
    """The keys of settings (parsed once per process)."""
    return _keys(settings.OIDC_EC_PRIVATE_KEY, tuple(settings.OIDC_EC_PRIVATE_KEYS_INACTIVE))


def public_jwks() -> list[dict[str, Any]]:
    """The public JWKs of the access-token keys, for the provider's JWKS document."""
    return list(signing_keys().jwks)


def issuer() -> str:
    return str(settings.OAUTH2_PROVIDER["OIDC_ISS_ENDPOINT"])


def default_audience() -> str:
    """Who the tokens are for when no RFC 8707 ``resource`` names another: toegang itself (its
    authorization API and userinfo), named by the issuer URL."""
    return issuer()


# -- the binding the token endpoint proved, for the token generator ---------------------------------

_binding: ContextVar[dict[str, str] | None] = ContextVar("toegang_token_binding", default=None)


@contextmanager
def token_binding(cnf: dict[str, str] | None) -> Iterator[None]:
    """While the token endpoint answers: the ``cnf`` the client proved (DPoP key, certificate)."""
    reset = _binding.set(cnf or None)
    try:
        yield
    finally:
        _binding.reset(reset)


def current_binding() -> dict[str, str] | None:
    return _binding.get()


# -- signing and verifying --------------------------------------------------------------------------


def sign_access_token(claims: dict[str, Any]) -> str:
    """The JWT of ``claims`` (the caller gives sub, client_id, scope, exp…), with iss, iat and jti added
    unless given, and cnf from the current binding."""
    keys = signing_keys()
    now = int(time.time())
    payload = {"iss": issuer(), "iat": now, "jti": secrets.token_urlsafe(16), **claims}
    binding = current_binding()
    if binding and "cnf" not in payload:
        payload["cnf"] = dict(binding)
    return jwt.encode(payload, keys.private, algorithm=ALGORITHM, headers={"typ": TOKEN_TYPE, "kid": keys.kid})


def looks_like_jwt(token: str) -> bool:
    """Cheap shape test: three base64url parts, a JSON header (``eyJ``); opaque tokens never look so."""
    return token.startswith("eyJ") and token.count(".") == 2


# Tokens this worker verified (token -> (claims, exp)): a client sends the same token for its whole
# lifetime, and verifying costs about 0.1 ms (PyJWT's parsing and the ES256 signature) where looking
# it up costs a dict access. Only a token that passed every check is remembered, for the default
# audience, until its exp; the deny-list is still asked on every request (``is_denied``).
_VERIFIED_MAX = 20_000
_verified: dict[str, tuple[dict[str, Any], float]] = {}
_verified_lock = threading.Lock()


def verify_access_token(token: str, *, audience: str | None = None, any_audience: bool = False) -> dict[str, Any]:
    """The claims of a valid access token of this provider; InvalidAccessToken otherwise.

    Checks: header ``typ`` at+jwt and ``alg`` ES256 with a ``kid`` of our keys (the public keys are
    in memory), the signature, ``exp`` (with LEEWAY_SECONDS), ``iss``, ``aud`` (``audience``, by
    default the issuer; ``any_audience``: not checked, for revocation and introspection), and that
    jti, sub, client_id and iat are present. Not the deny-list: see ``is_denied``.
    """
    remember = audience is None and not any_audience
    if remember and (hit := _verified.get(token)) is not None:
        if time.time() < hit[1] + LEEWAY_SECONDS:
            return hit[0]
        raise InvalidAccessToken("expired")
    if not looks_like_jwt(token):
        raise InvalidAccessToken("not a JWT")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise InvalidAccessToken("malformed") from exc
    if str(header.get("typ", "")).lower() not in {TOKEN_TYPE, "application/" + TOKEN_TYPE}:
        raise InvalidAccessToken("not an access token (typ)")
    key = signing_keys().public.get(str(header.get("kid", "")))
    if key is None or header.get("alg") != ALGORITHM:
        raise InvalidAccessToken("unknown key")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=audience or default_audience(),
            issuer=issuer(),
            leeway=LEEWAY_SECONDS,
            options={
                "require": ["exp", "iat", "iss", "aud", "sub", "jti", "client_id"],
                "verify_aud": not any_audience,
            },
        )
    except jwt.PyJWTError as exc:
        raise InvalidAccessToken(str(exc)) from exc
    if remember:
        with _verified_lock:
            if len(_verified) >= _VERIFIED_MAX:
                now = time.time()
                for stale in [k for k, (_, exp) in _verified.items() if exp + LEEWAY_SECONDS <= now]:
                    del _verified[stale]
                if len(_verified) >= _VERIFIED_MAX:
                    _verified.clear()
            _verified[token] = (claims, float(claims["exp"]))
    return claims


def token_thumbprint(token: str) -> str:
    """``ath`` of DPoP (RFC 9449 §4.2): base64url(SHA-256(token)), no padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(token.encode("ascii")).digest()).rstrip(b"=").decode()


# -- the deny-list ----------------------------------------------------------------------------------


class _LocalAnswers:
    """jti -> (denied, until): each worker's memory of the shared list, for a few seconds."""

    def __init__(self) -> None:
        self._answers: dict[str, tuple[bool, float]] = {}
        self._lock = threading.Lock()

    def get(self, jti: str, now: float) -> bool | None:
        hit = self._answers.get(jti)
        if hit is None or hit[1] <= now:
            return None
        return hit[0]

    def put(self, jti: str, denied: bool, until: float) -> None:
        with self._lock:
            if len(self._answers) > 100_000:  # bounded: drop what has expired, or everything
                now = time.monotonic()
                self._answers = {k: v for k, v in self._answers.items() if v[1] > now}
                if len(self._answers) > 100_000:
                    self._answers.clear()
            self._answers[jti] = (denied, until)

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()


_local = _LocalAnswers()


def deny(jti: str, exp: int) -> None:
    """Put ``jti`` on the shared deny-list until the token's ``exp`` (plus the leeway). Raises if the
    cache cannot be written (the revocation then answers an error rather than pretending)."""
    seconds = int(exp - time.time()) + LEEWAY_SECONDS + 1
    if seconds > 0:
        shared_cache.set(DENY_PREFIX + jti, 1, seconds)
    _local.put(jti, True, time.monotonic() + max(seconds, 1))


def is_denied(jti: str) -> bool:
    """True if ``jti`` is on the deny-list (this worker's answer at most OIDC_DENY_LIST_LOCAL_SECONDS
    old); DenyListUnavailable when the shared cache cannot be read."""
    now = time.monotonic()
    answer = _local.get(jti, now)
    if answer is not None:
        return answer
    try:
        denied = shared_cache.get(DENY_PREFIX + jti) is not None
    except Exception as exc:
        logger.warning("deny-list of JWT access tokens unreachable", exc_info=True)
        raise DenyListUnavailable from exc
    seconds = float(settings.OIDC_DENY_LIST_LOCAL_SECONDS)
    if seconds > 0:
        _local.put(jti, denied, now + seconds)
    return denied


def forget_local_answers() -> None:
    """Tests: start from an empty local memory (deny-list answers and verified tokens)."""
    _local.clear()
    with _verified_lock:
        _verified.clear()
