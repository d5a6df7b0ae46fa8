"""How a client proves who it is at the token, introspection, revocation and PAR endpoints.

django-oauth-toolkit checks a client secret (HTTP Basic or in the body). toegang adds, through the
validator's ``authenticate_client`` (one hook, validator.py):

- ``private_key_jwt`` (RFC 7523 §2.2, OpenID Connect Core §9): ``client_assertion_type`` =
  ``urn:ietf:params:oauth:client-assertion-type:jwt-bearer`` and a ``client_assertion`` JWT signed
  with a key of the client's JWKS (client_keys.py): ``iss`` = ``sub`` = the client id, ``aud`` the
  issuer or the URL of one of these endpoints, ``exp`` at most ``ASSERTION_MAX_SECONDS`` ahead,
  a ``jti`` used once (kept in the shared cache until the assertion expires, as allauth keeps the
  used TOTP codes, so every worker sees it).
- ``tls_client_auth`` (RFC 8705 §2.1): the client certificate that the reverse proxy passes in the
  eID header, only from the eID's trusted proxies (accounts/eid.py), verified again against
  ``TOEGANG_OIDC_CLIENT_CA_BUNDLE`` and matched to the subject DN (or DNS name) the client registered.
- the registered method is the only one: a client registered for a key or a certificate cannot
  authenticate with a secret, nor a secret client with an assertion. A client without a profile
  (registered before issue 14) authenticates with its secret, by Basic or in the body, as before.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from django.conf import settings
from django.core.cache import cache
from django.urls import reverse

from toegang.accounts.eid import (
    EidError,
    certificate_from_header,
    certificate_verify,
    eid_config,
    is_trusted_proxy,
    load_ca_bundle,
)
from toegang.oidc.client_keys import ClientKeyError, verify_client_jwt
from toegang.oidc.models import SECRET_METHODS, ClientAuthMethod, ClientProfile

log = logging.getLogger(__name__)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_MAX_SECONDS = 300
# The endpoints that take client authentication; an assertion's aud may name any of them.
AUTHENTICATED_ENDPOINTS = ("token", "introspect", "revoke-token", "pushed-authorization-request")


def client_profile(client: Any) -> ClientProfile | None:
    try:
        profile = client.toegang_profile
    except (ClientProfile.DoesNotExist, AttributeError):
        return None
    return profile if isinstance(profile, ClientProfile) else None


def presents_assertion(request: Any) -> bool:
    return bool(getattr(request, "client_assertion_type", None) or getattr(request, "client_assertion", None))


def _has_basic(request: Any) -> bool:
    return str(request.headers.get("HTTP_AUTHORIZATION", "") or "").startswith("Basic ")


def audiences(issuer: str) -> list[str]:
    """What an assertion's ``aud`` may name: the issuer (FAPI 2.0) or an endpoint's URL (RFC 7523)."""
    base = issuer.rstrip("/")
    return [issuer, base, *(base + reverse(f"oauth2_provider:{name}") for name in AUTHENTICATED_ENDPOINTS)]


def _assertion_client_id(request: Any) -> str | None:
    """The client an assertion says it is from (unverified: only to find its keys)."""
    assertion = getattr(request, "client_assertion", None)
    if getattr(request, "client_assertion_type", None) != ASSERTION_TYPE or not isinstance(assertion, str):
        return None
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    iss, sub = claims.get("iss"), claims.get("sub")
    if not isinstance(iss, str) or iss != sub:
        return None
    client_id = getattr(request, "client_id", None)
    if client_id and client_id != iss:  # RFC 7523 §3: a client_id beside it must be the same
        return None
    return iss


def _jti_first_use(profile: ClientProfile, jti: str, exp: int) -> bool:
    digest = hashlib.sha256(jti.encode()).hexdigest()
    lifetime = max(int(exp - time.time()), 0) + 60  # the assertion's rest of life, and the leeway
    return bool(cache.add(f"oidc:jti:{profile.client_id}:{digest}", 1, lifetime))


def verify_assertion(profile: ClientProfile, assertion: str, issuer: str) -> bool:
    """True if ``assertion`` authenticates the profile's client (private_key_jwt)."""
    client_id = profile.client.client_id
    try:
        verified = verify_client_jwt(
            assertion, profile, audience=audiences(issuer), require=["iss", "sub", "aud", "exp", "jti"]
        )
    except ClientKeyError as exc:
        log.info("private_key_jwt refused for %s: %s", client_id, exc)
        return False
    claims = verified.claims
    if claims["iss"] != client_id or claims["sub"] != client_id:
        log.info("private_key_jwt refused for %s: iss/sub", client_id)
        return False
    if not isinstance(claims["exp"], int) or claims["exp"] > time.time() + ASSERTION_MAX_SECONDS:
        log.info("private_key_jwt refused for %s: exp too far ahead", client_id)
        return False
    if not isinstance(claims["jti"], str) or not _jti_first_use(profile, claims["jti"], claims["exp"]):
        log.info("private_key_jwt refused for %s: jti replayed", client_id)
        return False
    return True


def client_ca_bundle() -> list[x509.Certificate]:
    return load_ca_bundle([Path(p) for p in settings.OIDC_CLIENT_CA_BUNDLE])


def certificate_matches(profile: ClientProfile, cert: x509.Certificate) -> bool:
    """RFC 8705 §2.1.2: the subject DN the client registered, or one of its DNS names."""
    if profile.tls_client_auth_subject_dn:
        try:
            return x509.Name.from_rfc4514_string(profile.tls_client_auth_subject_dn) == cert.subject
        except ValueError:
            return False
    if profile.tls_client_auth_san_dns:
        try:
            names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return False
        return profile.tls_client_auth_san_dns.lower() in [n.lower() for n in names.get_values_for_type(x509.DNSName)]
    return False


def client_certificate(headers: Any) -> x509.Certificate | None:
    """The client certificate the trusted reverse proxy passed and the client CAs issued, or None."""
    config = eid_config()
    value = headers.get(config.meta_key) or ""
    if not value or not is_trusted_proxy(headers.get("REMOTE_ADDR"), config.trusted_proxies):
        return None
    if not settings.OIDC_CLIENT_CA_BUNDLE:
        return None
    try:
        cert = certificate_from_header(str(value))
        certificate_verify(cert, cas=client_ca_bundle(), crls=None, now=dt.datetime.now(tz=dt.UTC))
    except (EidError, OSError, ValueError):
        return None
    return cert


def authenticate_client(
    request: Any, *, load: Callable[[str, Any], Any], secret: Callable[[], bool], issuer: str
) -> bool:
    """The validator's ``authenticate_client``: True if the request authenticates a client by the
    method it registered; ``request.client`` is then that client. ``load`` is the validator's
    client lookup, ``secret`` django-oauth-toolkit's secret check."""
    if presents_assertion(request):
        client_id = _assertion_client_id(request)
        if client_id is None or load(client_id, request) is None:
            return False
        profile = client_profile(request.client)
        if profile is None or profile.token_endpoint_auth_method != ClientAuthMethod.PRIVATE_KEY_JWT:
            return False
        if not verify_assertion(profile, str(request.client_assertion), issuer):
            return False
        request.client_id = client_id
        return True
    if _has_basic(request) or getattr(request, "client_secret", None):
        if not secret():
            return False
        profile = client_profile(request.client)
        if profile is None:
            return True
        presented = ClientAuthMethod.CLIENT_SECRET_BASIC if _has_basic(request) else ClientAuthMethod.CLIENT_SECRET_POST
        return profile.token_endpoint_auth_method in SECRET_METHODS and profile.token_endpoint_auth_method == presented
    client_id = getattr(request, "client_id", None)
    if not client_id or load(client_id, request) is None:
        return False
    profile = client_profile(request.client)
    if profile is None or profile.token_endpoint_auth_method != ClientAuthMethod.TLS_CLIENT_AUTH:
        return False
    cert = client_certificate(request.headers)
    if cert is None or not certificate_matches(profile, cert):
        log.info("tls_client_auth refused for %s", client_id)
        return False
    return True


def discovery_metadata() -> dict[str, Any]:
    """What discovery says about client authentication (RFC 8414 §2)."""
    methods = [m.value for m in ClientAuthMethod]
    data: dict[str, Any] = {
        "token_endpoint_auth_methods_supported": methods,
        "token_endpoint_auth_signing_alg_values_supported": ["PS256", "ES256", "RS256"],
    }
    for endpoint in ("introspection", "revocation"):
        data[f"{endpoint}_endpoint_auth_methods_supported"] = methods
        data[f"{endpoint}_endpoint_auth_signing_alg_values_supported"] = ["PS256", "ES256", "RS256"]
    return data
