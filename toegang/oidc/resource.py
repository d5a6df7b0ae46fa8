"""A JWT access token presented at one of toegang's resources (the authorization API, userinfo), and
the sender binding a client proves at the token endpoint.

One function each, used by ``toegang.api.auth`` and ``toegang.oidc.token_views``:

- ``presented_token``: ``Authorization: Bearer <jwt>`` or ``Authorization: DPoP <jwt>`` with its
  ``DPoP`` proof; the token verified locally (``jwt_tokens``), not on the deny-list, and held by its
  sender: a token with ``cnf.jkt`` only as DPoP with a proof by that key (as Bearer it is refused,
  RFC 9449 §7.2), a DPoP scheme only for such a token, a token with ``cnf.x5t#S256`` only with that
  certificate (RFC 8705 §3).
- ``token_endpoint_binding``: the ``cnf`` of a token request (the DPoP proof's key, the client
  certificate), or a ``DpopError`` to answer (RFC 9449 §5: 400 ``invalid_dpop_proof`` /
  ``use_dpop_nonce``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext as _

from toegang.oidc import dpop, jwt_tokens
from toegang.oidc.mtls import certificate_thumbprint


@dataclass
class TokenRefused(Exception):
    """RFC 6750 §3 / RFC 9449 §7.1: answered with ``status``, a challenge of ``scheme`` and the error."""

    status: int
    error: str = ""
    description: str = ""
    scheme: str = "Bearer"
    headers: dict[str, str] = field(default_factory=dict)

    def challenge(self, realm: str = "toegang", scope: str = "") -> str:
        parts = [f'realm="{realm}"']
        if self.error:
            parts.append(f'error="{self.error}"')
            safe = self.description.encode("ascii", "ignore").decode().replace('"', "'").replace("\\", "")
            parts.append(f'error_description="{safe}"')
        if scope and self.status == 403:
            parts.append(f'scope="{scope}"')
        if self.scheme == "DPoP":
            parts.append(f'algs="{" ".join(dpop.ALGORITHMS)}"')
        return f"{self.scheme} " + ", ".join(parts)


@dataclass(frozen=True)
class Presented:
    token: str
    scheme: str  # "Bearer" or "DPoP"
    claims: dict[str, Any]


def split_authorization(header: str) -> tuple[str, str] | None:
    """("Bearer" | "DPoP", token) of an Authorization header; None for anything else."""
    words = header.split()
    if len(words) != 2:
        return None
    scheme = words[0].lower()
    if scheme == "bearer":
        return "Bearer", words[1]
    if scheme == "dpop":
        return "DPoP", words[1]
    return None


def _nonce_headers() -> dict[str, str]:
    return {"DPoP-Nonce": dpop.current_nonce()} if settings.OIDC_DPOP_NONCE_REQUIRED else {}


def dpop_proofs(request: HttpRequest) -> list[str]:
    """The values of the request's ``DPoP`` headers (a WSGI server joins repeated ones with commas,
    which a JWT never contains)."""
    value = request.META.get("HTTP_DPOP", "")
    return [v.strip() for v in str(value).split(",") if v.strip()]


def request_url(request: HttpRequest) -> str:
    """The request's URL as the client addressed it (scheme and host as Django sees them behind the
    proxy: SECURE_PROXY_SSL_HEADER), without the query: DPoP's ``htu``."""
    return request.build_absolute_uri(request.path)


def is_for_local_check(authorization: str) -> bool:
    """A JWT access token, or the DPoP scheme: checked here rather than by django-oauth-toolkit."""
    parsed = split_authorization(authorization)
    return parsed is not None and (parsed[0] == "DPoP" or jwt_tokens.looks_like_jwt(parsed[1]))


def presented_token(request: HttpRequest) -> Presented:
    """The verified claims of the request's JWT access token; TokenRefused saying why not."""
    return presented_token_of(
        authorization=request.META.get("HTTP_AUTHORIZATION", ""),
        proofs=dpop_proofs(request),
        method=request.method or "",
        url=request_url(request),
        meta=request.META,
    )


def presented_token_of(
    *, authorization: str, proofs: list[str], method: str, url: str, meta: Mapping[str, Any]
) -> Presented:
    """``presented_token`` of these parts: ``proofs``, the values of the ``DPoP`` headers; ``url``,
    the request's absolute URL; ``meta``, its WSGI environ (the client certificate from the proxy)."""
    parsed = split_authorization(authorization)
    if parsed is None:
        raise TokenRefused(401)
    scheme, token = parsed
    invalid = "invalid_token"
    try:
        claims = jwt_tokens.verify_access_token(token)
    except jwt_tokens.InvalidAccessToken as exc:
        raise TokenRefused(401, invalid, _("The access token is invalid."), scheme) from exc
    try:
        denied = jwt_tokens.is_denied(str(claims["jti"]))
    except jwt_tokens.DenyListUnavailable as exc:
        raise TokenRefused(
            503, "temporarily_unavailable", _("The token cannot be checked just now. Try again later."), scheme
        ) from exc
    if denied:
        raise TokenRefused(401, invalid, _("The access token has been revoked."), scheme)
    cnf = claims.get("cnf") if isinstance(claims.get("cnf"), dict) else {}
    jkt = cnf.get("jkt") if cnf else None
    if jkt:
        if scheme != "DPoP":
            # RFC 9449 §7.2: a DPoP-bound token sent as a bearer token is refused, with the DPoP challenge.
            raise TokenRefused(
                401, invalid, _("This access token is bound to a DPoP key: send it with a DPoP proof."), "DPoP"
            )
        try:
            proof = dpop.verify_proof(proofs, method=method, url=url, access_token=token)
        except dpop.DpopError as exc:
            raise TokenRefused(401, exc.error, exc.description, "DPoP", _nonce_headers()) from exc
        if proof.jkt != jkt:
            raise TokenRefused(401, invalid, _("The DPoP proof was made with another key than the token's."), "DPoP")
    elif scheme == "DPoP":
        raise TokenRefused(401, invalid, _("This access token is not bound to a DPoP key."), "DPoP")
    x5t = cnf.get("x5t#S256") if cnf else None
    if x5t and certificate_thumbprint(meta) != x5t:
        raise TokenRefused(
            401, invalid, _("This access token is bound to a client certificate that was not presented."), scheme
        )
    return Presented(token=token, scheme=scheme, claims=claims)


def token_endpoint_binding(request: HttpRequest) -> dict[str, str]:
    """The ``cnf`` that the client proved with its token request (empty when none): ``jkt`` of a
    valid DPoP proof, ``x5t#S256`` of the certificate the trusted proxy passed. DpopError for a
    DPoP header that is not a valid proof."""
    cnf: dict[str, str] = {}
    proofs = dpop_proofs(request)
    if proofs:
        cnf["jkt"] = dpop.verify_proof(proofs, method=request.method or "", url=request_url(request)).jkt
    x5t = certificate_thumbprint(request.META)
    if x5t:
        cnf["x5t#S256"] = x5t
    return cnf


def dpop_error_headers() -> dict[str, str]:
    """Headers of a DPoP error answer: the next nonce when the server requires them."""
    return _nonce_headers()


def discovery_metadata() -> dict[str, Any]:
    """What discovery says about sender-constrained tokens (RFC 9449 §5.1, RFC 8705 §3.3)."""
    return {
        "dpop_signing_alg_values_supported": dpop.discovery_algorithms(),
        "tls_client_certificate_bound_access_tokens": True,
    }
