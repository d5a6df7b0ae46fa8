"""DPoP proofs (RFC 9449): checked at the token endpoint, the authorization API and userinfo.

The JOSE is PyJWT's (signature, with the public key the proof carries) and jwcrypto's (the key's
RFC 7638 thumbprint, ``jkt``). What this module checks (RFC 9449 §4.3): one ``DPoP`` header, a JWT
with ``typ: dpop+jwt``, an asymmetric algorithm of ``ALGORITHMS``, a public key (no private part) in
``jwk`` that verifies the signature, ``htm`` and ``htu`` equal to the request's method and URL (no
query, no fragment), ``iat`` within ``settings.OIDC_DPOP_PROOF_SECONDS`` of now, ``jti`` never seen
before (the shared cache, for twice that window: a replay is refused by every worker), ``ath`` the
hash of the access token when one is presented, and the server's nonce when
``settings.OIDC_DPOP_NONCE_REQUIRED``.

Nonces are stateless: ``<window>.<HMAC(SECRET_KEY, window)>``, where the window is the time divided
by ``OIDC_DPOP_NONCE_SECONDS``; the current and the previous window's nonce are accepted, so every
worker and server agrees without storing anything.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

import jwt
from django.conf import settings
from django.core.cache import cache as shared_cache
from jwcrypto import jwk  # type: ignore[import-untyped]

from toegang.oidc.jwt_tokens import token_thumbprint

PROOF_TYPE = "dpop+jwt"
ALGORITHMS = ("ES256", "PS256", "RS256", "EdDSA")
REPLAY_PREFIX = "toegang:dpop-jti:"
# RFC 9449 §11.1 leaves the length to the server; a jti is a few dozen characters in practice.
JTI_MAX_LENGTH = 200
PROOF_MAX_LENGTH = 8_192
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


class DpopError(Exception):
    """A proof that cannot be accepted: ``error`` is invalid_dpop_proof or use_dpop_nonce."""

    def __init__(self, description: str, error: str = "invalid_dpop_proof") -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass(frozen=True)
class Proof:
    jkt: str  # the RFC 7638 thumbprint of the proof's key (cnf.jkt)
    claims: dict[str, Any]


def _window(now: float) -> int:
    return int(now // max(1, settings.OIDC_DPOP_NONCE_SECONDS))


def _nonce_for(window: int) -> str:
    mac = hmac.new(settings.SECRET_KEY.encode(), f"dpop-nonce:{window}".encode(), hashlib.sha256).hexdigest()
    return f"{window}.{mac[:32]}"


def current_nonce(now: float | None = None) -> str:
    """The nonce to send in ``DPoP-Nonce``."""
    return _nonce_for(_window(time.time() if now is None else now))


def nonce_valid(nonce: str, now: float | None = None) -> bool:
    window = _window(time.time() if now is None else now)
    return any(hmac.compare_digest(nonce, _nonce_for(w)) for w in (window, window - 1))


def htu_of(url: str) -> str:
    """The URL without query and fragment (RFC 9449 §4.3, 9.)."""
    return url.split("#", 1)[0].split("?", 1)[0]


def verify_proof(
    proofs: list[str], *, method: str, url: str, access_token: str | None = None, now: float | None = None
) -> Proof:
    """The proof of the request's ``DPoP`` header values (``proofs``); DpopError if it is not valid."""
    if len(proofs) != 1:
        raise DpopError("Exactly one DPoP header is required.")
    proof = proofs[0]
    if len(proof) > PROOF_MAX_LENGTH:
        raise DpopError("The DPoP proof is too long.")
    try:
        header = jwt.get_unverified_header(proof)
    except jwt.PyJWTError as exc:
        raise DpopError("The DPoP proof is not a JWT.") from exc
    if header.get("typ") != PROOF_TYPE:
        raise DpopError("The DPoP proof's typ must be dpop+jwt.")
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise DpopError("The DPoP proof's algorithm is not supported.")
    public = header.get("jwk")
    if (
        not isinstance(public, dict)
        or _PRIVATE_MEMBERS & public.keys()
        or public.get("kty") not in {"EC", "RSA", "OKP"}
    ):
        raise DpopError("The DPoP proof must carry a public key in jwk.")
    try:
        key = jwt.PyJWK(public, algorithm=str(alg))
        jkt = jwk.JWK(**public).thumbprint()
        claims: dict[str, Any] = jwt.decode(
            proof, key, algorithms=[str(alg)], options={"require": ["jti", "htm", "htu", "iat"], "verify_iat": False}
        )
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
        raise DpopError("The DPoP proof's signature does not verify.") from exc
    if claims.get("htm") != method:
        raise DpopError("The DPoP proof's htm does not match the request.")
    if not isinstance(claims.get("htu"), str) or htu_of(claims["htu"]) != htu_of(url):
        raise DpopError("The DPoP proof's htu does not match the request.")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= JTI_MAX_LENGTH:
        raise DpopError("The DPoP proof's jti is not valid.")
    now = time.time() if now is None else now
    window = settings.OIDC_DPOP_PROOF_SECONDS
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or isinstance(iat, bool) or abs(now - iat) > window:
        raise DpopError("The DPoP proof's iat is too far from now.")
    if access_token is not None and not (
        isinstance(claims.get("ath"), str) and hmac.compare_digest(claims["ath"], token_thumbprint(access_token))
    ):
        raise DpopError("The DPoP proof's ath does not match the access token.")
    if settings.OIDC_DPOP_NONCE_REQUIRED:
        nonce = claims.get("nonce")
        if not isinstance(nonce, str) or not nonce_valid(nonce, now):
            raise DpopError("The authorization server requires a DPoP nonce.", error="use_dpop_nonce")
    # Last, so that a proof refused for another reason does not spend its jti.
    replay_key = REPLAY_PREFIX + hashlib.sha256(f"{jkt}:{jti}".encode()).hexdigest()
    if not shared_cache.add(replay_key, 1, 2 * window + 1):
        raise DpopError("The DPoP proof was used before.")
    return Proof(jkt=jkt, claims=claims)


def discovery_algorithms() -> list[str]:
    return list(ALGORITHMS)
