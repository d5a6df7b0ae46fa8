"""Tokens of the authorization API, and the secured application each answers for.

JWT access tokens (RFC 9068, everything the token endpoint issues now) are checked in the worker by
``toegang.oidc.resource.presented_token`` (signature with the provider's public keys in memory, exp,
iss, aud, the jti deny-list, the DPoP proof or client certificate of a sender-constrained token);
then scope ``authz`` and the client's relying party, remembered per worker for
``CLIENT_MEMORY_SECONDS`` (``_jwt_client``). No database or Redis lookup per request. What follows is
about opaque tokens, which the token endpoint issued before, still accepted until they expire:
django-oauth-toolkit validates them, and this module only maps the token's client to the secured
application it answers for.

The protocol stays in the library: the token is checked by DOT's ``OAuthLibCore.verify_request``
(the same lookup, expiry and scope test as DOT's own protected views), whose RFC 6750 error (expired,
unknown, insufficient scope) is passed on unchanged. What toegang adds:

- the client must be linked to a secured application (``toegang.oidc.models.RelyingParty``); every
  endpoint answers for that application only;
- the client must be confidential. Client-credentials tokens always are (RFC 6749 §4.4); a token
  from a login at a confidential client lives in that client's back end too. A public client's
  token (a browser or mobile app) is refused even with the scope: otherwise any person logged in
  there could ask where anybody else works.

Token cache. DOT's check costs a database lookup of the token and its client, then the relying
party: about half of a check's time. A token that passed all of it is remembered in Django's cache
(Redis in deployment, shared by every worker and server) under the SHA-256 of the token (DOT's own
``token_checksum``), for ``settings.API_TOKEN_CACHE_SECONDS`` at most and never beyond the token's
expiry. Only a success is remembered, with what it proved (client id, application); a refusal always
goes to DOT, so its RFC 6750 errors are DOT's. A change to the token (revocation deletes it, the admin
edits or deletes it), to its client or to the client's relying party replaces the entry with a
tombstone (``_forget``, from the receivers below) that a request still finishing its DOT check cannot
overwrite (it fills the cache with ``add``): the next request goes to DOT again. Bound: a token changed
in the database by other means than the ORM (raw SQL) stays accepted for at most that many seconds.
When the cache cannot be reached, a check falls back to DOT (slower, never wrong); revoking or changing
a token with the API's scope then fails with the error instead of leaving a remembered token valid (its
tombstone could not be written). Tokens without that scope are never remembered, so their refresh,
revocation and clean-up never touch the cache.
"""

from __future__ import annotations

import hashlib
import logging
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja.security.base import AuthBase
from oauth2_provider.models import AccessToken, Application
from oauth2_provider.oauth2_backends import get_oauthlib_core

from toegang.oidc.dpop import ALGORITHMS as DPOP_ALGORITHMS
from toegang.oidc.models import RelyingParty
from toegang.oidc.resource import TokenRefused, is_for_local_check, presented_token

logger = logging.getLogger(__name__)

SCOPE = "authz"
REALM = "toegang"
CACHE_PREFIX = "toegang:api-token:"
# What a changed token leaves in the cache: it is never a valid entry, and ``add`` cannot replace it.
_TOMBSTONE = "forgotten"


@dataclass(frozen=True)
class ApiClient:
    """Who is asking: the OAuth client and the secured application it belongs to."""

    client_id: str
    application_id: int


class BearerError(Exception):
    """An RFC 6750 §3 error (RFC 9449 §7.1 for the DPoP scheme): answered with its status,
    WWW-Authenticate header (and ``headers``, e.g. DPoP-Nonce) and JSON body."""

    def __init__(
        self,
        status: int,
        error: str = "",
        description: str = "",
        scheme: str = "Bearer",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error or "unauthorized")
        self.status = status
        self.error = error
        self.description = description
        self.scheme = scheme
        self.headers = headers or {}

    def www_authenticate(self) -> str:
        # RFC 6750 §3.1: a request without credentials gets no error code, only the challenge.
        parts = [f'realm="{REALM}"']
        if self.error:
            parts.append(f'error="{self.error}"')
            # The header allows printable ASCII without '"' and '\\' (§3); the JSON body has the full text.
            # NFKD first, so that accented letters keep their base letter ("ungültig" -> "ungultig").
            ascii_text = unicodedata.normalize("NFKD", self.description).encode("ascii", "ignore").decode()
            safe = ascii_text.replace('"', "'").replace("\\", "")
            parts.append(f'error_description="{safe}"')
        if self.status == 403:
            parts.append(f'scope="{SCOPE}"')
        if self.scheme == "DPoP":
            parts.append(f'algs="{" ".join(DPOP_ALGORITHMS)}"')
        return f"{self.scheme} " + ", ".join(parts)

    def body(self) -> dict[str, str]:
        if not self.error:
            return {"error": "unauthorized", "error_description": str(_("A bearer token is required."))}
        return {"error": self.error, "error_description": self.description}


class ClientCredentials(AuthBase):
    """ninja auth: an OAuth2 bearer token with scope ``authz`` of a relying party's client.

    Raises ``BearerError`` rather than returning None, so that the answer carries RFC 6750's header
    and error code (ninja's own 401 has neither). In the OpenAPI document it is the client
    credentials flow at DOT's token endpoint, so the interactive docs can fetch a token.
    """

    openapi_type = "oauth2"
    openapi_flows: dict[str, Any] = {
        "clientCredentials": {
            "tokenUrl": "/oauth/token/",
            "scopes": {SCOPE: "Ask the authorization API about the client's own application"},
        }
    }

    def __call__(self, request: HttpRequest) -> ApiClient:
        header = request.headers.get("Authorization", "")
        if "access_token" in request.GET:
            # RFC 6750 §2.3, RFC 9700 §4.3.2: never a token in the URL (logs and histories keep it), and
            # not two methods at once (§2): refused even beside a valid header, whatever the token's kind.
            raise BearerError(
                401, "invalid_request", str(_("Send the access token in the Authorization header, not in the URL."))
            )
        if is_for_local_check(header):
            return _jwt_client(request)
        if not header.lower().startswith("bearer "):
            raise BearerError(401)
        seconds = settings.API_TOKEN_CACHE_SECONDS
        # oauthlib's own reading of the header (``get_token_from_header``): "Bearer <token>", two words.
        words = header.split()
        key = CACHE_PREFIX + hashlib.sha256(words[1].encode()).hexdigest() if seconds > 0 and len(words) == 2 else ""
        if key:
            try:
                hit = cache.get(key)
            except Exception:  # the cache is down: DOT, the authority, answers (only slower)
                logger.warning("API token cache unreachable; token checked by the database", exc_info=True)
                hit, key = None, ""
            if isinstance(hit, tuple) and time.time() < hit[2]:
                return ApiClient(client_id=hit[0], application_id=hit[1])
        client, expires = self._validate(request)
        if key:
            timeout = min(seconds, int(expires - time.time()))
            if timeout > 0:
                try:
                    cache.add(key, (client.client_id, client.application_id, expires), timeout)
                except Exception:  # not remembered: the next request asks DOT again
                    logger.warning("API token cache unreachable; result not cached", exc_info=True)
        return client

    def _validate(self, request: HttpRequest) -> tuple[ApiClient, float]:
        """DOT's check of the token, then toegang's of its client: the client and the token's expiry."""
        valid, oauth_request = get_oauthlib_core().verify_request(request, scopes=[SCOPE])
        if not valid:
            error = dict(getattr(oauth_request, "oauth2_error", None) or {})
            code = str(error.get("error", "invalid_token"))
            description = str(error.get("error_description", _("The access token is invalid.")))
            raise BearerError(403 if code == "insufficient_scope" else 401, code, description)
        token = oauth_request.access_token
        client: Application = token.application
        if client is None or client.client_type != Application.CLIENT_CONFIDENTIAL:
            raise BearerError(
                403, "insufficient_scope", str(_("Only a confidential client's tokens are accepted here."))
            )
        application_id = (
            RelyingParty.objects.filter(client_id=client.pk).values_list("application_id", flat=True).first()
        )
        if application_id is None:
            raise BearerError(
                403, "insufficient_scope", str(_("This client is not registered for a secured application."))
            )
        # A token restricted to resource servers (RFC 8707) is checked against the request's URL by
        # DOT each time: remembering it per token would accept it at the API's other URLs too.
        expires = 0.0 if token.resource else token.expires.timestamp()
        return ApiClient(client_id=client.client_id, application_id=application_id), expires


# -- JWT access tokens (RFC 9068): verified here, without the database -------------------------------

# What each worker remembers of a client (client id -> (ApiClient or None, until)): a change to the
# client or its relying party shows within this many seconds (the receivers below also forget it).
CLIENT_MEMORY_SECONDS = 10.0
_clients: dict[str, tuple[ApiClient | None, float]] = {}


def _api_client(client_id: str) -> ApiClient | None:
    """The confidential client ``client_id`` and its secured application, or None; remembered."""
    now = time.monotonic()
    hit = _clients.get(client_id)
    if hit is not None and hit[1] > now:
        return hit[0]
    row = (
        RelyingParty.objects.filter(client__client_id=client_id, client__client_type=Application.CLIENT_CONFIDENTIAL)
        .values_list("application_id", flat=True)
        .first()
    )
    client = ApiClient(client_id=client_id, application_id=row) if row is not None else None
    if len(_clients) > 10_000:
        _clients.clear()
    _clients[client_id] = (client, now + CLIENT_MEMORY_SECONDS)
    return client


def _jwt_client(request: HttpRequest) -> ApiClient:
    """A JWT access token (or any token with the DPoP scheme), checked locally: signature with the
    provider's public keys in memory, exp, iss, aud, the deny-list, the sender (DPoP proof,
    certificate), then scope ``authz`` and the client's relying party (remembered per worker)."""
    try:
        claims = presented_token(request).claims
    except TokenRefused as exc:
        raise BearerError(exc.status, exc.error, exc.description, exc.scheme, exc.headers) from exc
    scheme = "DPoP" if isinstance(claims.get("cnf"), dict) and "jkt" in claims["cnf"] else "Bearer"
    if SCOPE not in str(claims.get("scope", "")).split():
        raise BearerError(403, "insufficient_scope", str(_("The access token does not have the scope authz.")), scheme)
    client = _api_client(str(claims["client_id"]))
    if client is None:
        raise BearerError(
            403, "insufficient_scope", str(_("This client is not registered for a secured application.")), scheme
        )
    return client


def _forget(checksums: Iterable[str]) -> None:
    """Tombstones over the cached results of these tokens (SHA-256 hex, DOT's ``token_checksum``)."""
    seconds = settings.API_TOKEN_CACHE_SECONDS
    keys = [CACHE_PREFIX + c for c in checksums if c]
    if seconds > 0 and keys:
        cache.set_many(dict.fromkeys(keys, _TOMBSTONE), seconds)


def _cacheable(scope: str | None) -> bool:
    """Only a token with the API's scope can have been remembered (DOT refuses the others)."""
    return SCOPE in (scope or "").split()


def _forget_client(client_id: int | None) -> None:
    _clients.clear()  # the JWT path's memory of clients (small; rebuilt on the next requests)
    if client_id is not None and settings.API_TOKEN_CACHE_SECONDS > 0:
        tokens = AccessToken.objects.filter(application_id=client_id, scope__contains=SCOPE)
        _forget(c for c, scope in tokens.values_list("token_checksum", "scope") if _cacheable(scope))


# Connected by ApiConfig.ready(). Before an update (the admin, a refresh that rewrites a token in
# place) the stored checksum is forgotten, as the instance may already carry the new one; a new token
# cannot be cached yet, so creation forgets nothing. Tokens without the API's scope (the people's
# login tokens, rotated at every refresh) are never cached, so their changes never touch the cache:
# a cache outage cannot break a login's refresh or logout.
@receiver(pre_save, sender=AccessToken, dispatch_uid="api_token_saved")
def _token_saved(sender: Any, instance: AccessToken, **kwargs: Any) -> None:
    if instance.pk is not None and settings.API_TOKEN_CACHE_SECONDS > 0:
        stored = AccessToken.objects.filter(pk=instance.pk).values_list("token_checksum", "scope").first()
        if _cacheable(instance.scope) or (stored is not None and _cacheable(stored[1])):
            _forget([stored[0] if stored else "", instance.token_checksum])


@receiver(post_delete, sender=AccessToken, dispatch_uid="api_token_deleted")
def _token_deleted(sender: Any, instance: AccessToken, **kwargs: Any) -> None:
    if _cacheable(instance.scope):
        _forget([instance.token_checksum])


@receiver(post_delete, sender=Application, dispatch_uid="api_client_deleted")
@receiver(post_save, sender=Application, dispatch_uid="api_client_saved")
def _client_changed(sender: Any, instance: Application, created: bool = False, **kwargs: Any) -> None:
    if not created:
        _forget_client(instance.pk)


@receiver(post_delete, sender=RelyingParty, dispatch_uid="api_relying_party_deleted")
@receiver(post_save, sender=RelyingParty, dispatch_uid="api_relying_party_saved")
def _relying_party_changed(sender: Any, instance: RelyingParty, **kwargs: Any) -> None:
    _forget_client(instance.client_id)
