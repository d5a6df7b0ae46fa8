"""Step-up at the authorization endpoint: what level a client asks for, and what the person must do.

A client asks for an assurance level with ``acr_values`` (OpenID Connect Core 3.1.2.1: voluntary,
in order of preference) or with an ``acr`` claim request (``claims``, Core 5.5.1.1: ``essential``,
``value`` / ``values``). toegang's values are its levels (accounts/assurance.py): ``200`` password,
``400`` second factor, ``450`` external provider (itsme), ``500`` eID. They are ordered: a stronger
login satisfies a weaker value, as the portal's own level rule does (``session_level >= needed``).
So the level a request needs is the lowest toegang value among those asked (any of them is
acceptable to the client); values toegang does not know are ignored, as voluntary values may be.

- The session's level is below it: the person is sent to the step-up page (``oidc:step_up``), which
  offers the logins that reach it, and comes back to the same authorization request.
- ``prompt=none`` with a level too low: ``login_required`` (Core 3.1.2.6: the stronger login is an
  authentication the person must do).
- A level this server cannot give (eID or the external provider not configured here), or an
  essential ``acr`` whose values toegang does not know: ``unmet_authentication_requirements``
  (OpenID Connect Core Unmet Authentication Requirements 1.0, §4), at the redirect URI.

The ``acr`` of the ID token is the level the session proved (what was done). When the request made
``acr`` essential with values, Core 5.5.1.1 requires one of those values: the strongest of them
that the session's level reaches.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from oauthlib.oauth2.rfc6749.errors import LoginRequired, OAuth2Error  # type: ignore[import-untyped]

from toegang.accounts.assurance import EID, EXTERNAL, PASSWORD, SECOND_FACTOR
from toegang.accounts.eid import eid_config

LEVELS: tuple[int, ...] = (PASSWORD, SECOND_FACTOR, EXTERNAL, EID)
ACR_VALUES_SUPPORTED: tuple[str, ...] = tuple(str(level) for level in LEVELS)

UNMET = "unmet_authentication_requirements"


@dataclass(frozen=True)
class AcrRequest:
    """The levels a client asked for, in its order; ``essential`` when the claims request said so."""

    levels: tuple[int, ...] = ()
    essential: bool = False
    unknown_only: bool = False  # values were asked, none of them toegang's

    @property
    def needed(self) -> int | None:
        return min(self.levels) if self.levels else None


def _claim_acr(claims: Any) -> tuple[list[str], bool]:
    """The ``acr`` member of a claims request (id_token or userinfo): its values and whether essential."""
    values: list[str] = []
    essential = False
    if not isinstance(claims, dict):
        return values, essential
    for member in ("id_token", "userinfo"):
        acr = claims.get(member)
        acr = acr.get("acr") if isinstance(acr, dict) else None
        if not isinstance(acr, dict):
            continue
        essential = essential or acr.get("essential") is True
        if isinstance(acr.get("value"), str):
            values.append(acr["value"])
        if isinstance(acr.get("values"), list):
            values.extend(v for v in acr["values"] if isinstance(v, str))
    return values, essential


def acr_request(acr_values: str | None, claims: str | dict[str, Any] | None) -> AcrRequest:
    """Read ``acr_values`` and the ``claims`` parameter (JSON text or already parsed)."""
    if isinstance(claims, str):
        try:
            claims = json.loads(claims) if claims else None
        except ValueError:
            claims = None  # oauthlib refuses malformed claims with invalid_request before this
    asked = (acr_values or "").split()
    claim_values, essential = _claim_acr(claims)
    asked += claim_values
    levels = tuple(dict.fromkeys(int(v) for v in asked if v in ACR_VALUES_SUPPORTED))
    return AcrRequest(levels=levels, essential=essential, unknown_only=bool(asked) and not levels)


def level_available(level: int) -> bool:
    """Can a person log in at ``level`` on this server? eID and the external provider are configured."""
    if level >= EID:
        return eid_config().configured
    if level >= EXTERNAL:
        return bool(settings.OIDC_PROVIDER_URL) or eid_config().configured
    return True


@dataclass(frozen=True)
class Decision:
    """``error``: refuse with this code; ``step_up_to``: send the person to log in at that level first."""

    error: str | None = None
    step_up_to: int | None = None


def decide(request: AcrRequest, session_level: int, *, prompt_none: bool) -> Decision:
    """What the authorization endpoint does with a logged-in person's session at ``session_level``."""
    if request.essential and request.unknown_only:
        return Decision(error=UNMET)
    needed = request.needed
    if needed is None or session_level >= needed:
        return Decision()
    if not level_available(needed):
        return Decision(error=UNMET)
    if prompt_none:
        return Decision(error="login_required")
    return Decision(step_up_to=needed)


def acr_for(request: AcrRequest, session_level: int) -> str:
    """The ``acr`` to record for the tokens: the session's level, or, when ``acr`` was essential with
    values, the strongest requested value that the level reaches (Core 5.5.1.1)."""
    if request.essential and request.levels:
        met = [level for level in request.levels if level <= session_level]
        if met:
            return str(max(met))
    return str(session_level)


class UnmetAuthenticationRequirements(OAuth2Error):
    """OpenID Connect Core Unmet Authentication Requirements 1.0: the requested level cannot be given."""

    error = UNMET
    description = "The requested authentication level cannot be met."


def error_class(code: str) -> type[OAuth2Error]:
    return UnmetAuthenticationRequirements if code == UNMET else LoginRequired
