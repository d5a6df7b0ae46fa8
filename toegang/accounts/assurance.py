"""Assurance levels of a session, as the federal authentication service names them.

The level is derived from what allauth recorded in the session (``get_authentication_records``):
every login method ends in ``record_authentication``, so there is one source of truth and no second
bookkeeping. eID 500, external OpenID Connect provider (itsme) 450, a code from a mobile app or a
security key 400, username and password 200. Which level a role needs is an authorization rule
(``delegation.authz.required_level``). A session's level is the highest it has proved.

The same records give the ``amr`` values (RFC 8176) for the OIDC claims.
"""

from __future__ import annotations

from typing import Any

from allauth.account.authentication import get_authentication_records
from django.http import HttpRequest
from django.utils.translation import gettext as _

from toegang.accounts.models import EID, EXTERNAL, NONE, PASSWORD, SECOND_FACTOR

__all__ = [
    "EID",
    "EXTERNAL",
    "NONE",
    "PASSWORD",
    "SECOND_FACTOR",
    "level_name",
    "session_amr",
    "session_level",
    "ssin_proven",
]


def _record_level(record: dict[str, Any]) -> int:
    method = record.get("method")
    if method == "eid":
        return EID
    if method == "socialaccount":
        return EXTERNAL
    if method == "mfa":
        return SECOND_FACTOR
    if method == "password":
        return PASSWORD
    return NONE  # e.g. "password_reset": a mailbox is not a login


def _record_amr(record: dict[str, Any]) -> str | None:
    method = record.get("method")
    if method == "eid":
        return "sc"  # smart card
    if method == "socialaccount":
        return "fed"  # federated: the external provider's own amr is not ours to claim
    if method == "mfa":
        return {"webauthn": "hwk", "totp": "otp", "recovery_codes": "otp"}.get(str(record.get("type")), "mfa")
    if method == "password":
        return "pwd"
    return None


def _records(request: HttpRequest, user: Any) -> list[dict[str, Any]]:
    user = user if user is not None else getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    return list(get_authentication_records(request, user))


def session_level(request: HttpRequest, user: Any = None) -> int:
    return max((_record_level(r) for r in _records(request, user)), default=NONE)


def ssin_proven(request: HttpRequest, user: Any = None) -> bool:
    """Did this session prove the person's national number (eID, or the external provider's INSZ claim)?

    A second factor proves the account, not the identity: the person who attached it may not be
    the one the INSZ names (docs/security.md, the identity model).
    """
    return session_level(request, user) >= EXTERNAL


def session_amr(request: HttpRequest, user: Any = None) -> list[str]:
    return sorted({a for a in (_record_amr(r) for r in _records(request, user)) if a})


def level_name(level: int) -> str:
    if level >= EID:
        return _("eID")
    if level >= EXTERNAL:
        return _("external provider (itsme)")
    if level >= SECOND_FACTOR:
        return _("second factor (app code or security key)")
    if level >= PASSWORD:
        return _("username and password")
    return _("not logged in")
