"""Pushed authorization requests (RFC 9126): the parameters a client pushed, kept for one use.

The client posts its authorization request to ``/oauth/par/`` (authenticated as at the token
endpoint); toegang validates it as an authorization request and keeps its parameters in the shared
cache (Redis or the database table every worker reads) for ``PAR_SECONDS`` under a random
``request_uri``. The authorization endpoint takes it once (``par_take``: the cache entry is deleted,
and only the request whose delete removed it may use it), for the client that pushed it only.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.core.cache import cache

from toegang.oidc.client_auth import client_profile

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
PAR_SECONDS = 60


def _key(request_uri: str) -> str:
    return "oidc:par:" + request_uri.removeprefix(REQUEST_URI_PREFIX)


def par_push(client_id: str, params: dict[str, str]) -> tuple[str, int]:
    """Keep ``params`` for ``client_id``; the request_uri and its lifetime in seconds."""
    request_uri = REQUEST_URI_PREFIX + secrets.token_urlsafe(32)
    cache.set(_key(request_uri), {"client_id": client_id, "params": params}, PAR_SECONDS)
    return request_uri, PAR_SECONDS


def par_take(request_uri: str, client_id: str) -> dict[str, str] | None:
    """The parameters pushed as ``request_uri`` by ``client_id``, once; None if unknown, expired,
    used before or pushed by another client (which also spends it: a leaked request_uri is dead)."""
    if not request_uri.startswith(REQUEST_URI_PREFIX) or len(request_uri) > 200:
        return None
    key = _key(request_uri)
    pushed: Any = cache.get(key)
    if not isinstance(pushed, dict) or not cache.delete(key):
        return None
    if pushed.get("client_id") != client_id:
        return None
    return dict(pushed["params"])


def par_required(client: Any) -> bool:
    """``require_pushed_authorization_requests``: the client's (or FAPI's), or the setting for all."""
    if settings.OIDC_REQUIRE_PUSHED_AUTHORIZATION_REQUESTS:
        return True
    profile = client_profile(client)
    return profile is not None and (profile.require_pushed_authorization_requests or profile.fapi)


def fapi_refusal(client: Any, params: dict[str, str]) -> str | None:
    """What a FAPI 2.0 client's authorization request lacks (Security Profile §5.3.2.2), or None:
    only ``response_type=code``, PKCE with S256, and the redirect_uri named (exact match is the
    validator's rule for every client)."""
    profile = client_profile(client)
    if profile is None or not profile.fapi:
        return None
    if params.get("response_type") != "code":
        return "FAPI 2.0: response_type must be code."
    if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
        return "FAPI 2.0: PKCE with S256 is required."
    if not params.get("redirect_uri"):
        return "FAPI 2.0: redirect_uri is required."
    return None
