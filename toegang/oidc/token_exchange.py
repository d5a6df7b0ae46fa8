"""Token exchange (RFC 8693): a client's token of a person, for one restricted to one facility.

An application that received a person's access token (the code flow) calls a downstream API for
one facility, the subdepartment the person chose in "Selecteer in de keuzelijst uw voorziening". It
asks the token endpoint (``grant_type=urn:ietf:params:oauth:grant-type:token-exchange``, client
authentication as for every grant) with:

- ``subject_token``: the person's access token, issued to this same client;
- ``subject_token_type=urn:ietf:params:oauth:token-type:access_token`` (the only type accepted);
- ``facility``: the subdepartment's ``id``, as in the ``access`` claim (``subdepartment.id``). A
  toegang parameter rather than RFC 8693's ``resource`` or ``audience``: a facility is neither the
  URI of a service nor its logical name, it is on whose behalf the token acts. ``resource`` and
  ``audience`` are refused (``invalid_target``) rather than silently ignored;
- optionally ``scope`` (a subset of the subject token's, without ``offline_access``) and
  ``requested_token_type`` (only the access token type).

The decision is the authorization module's (``authz.may_use``, and ``authz.usable_subdepartment_ids``
for the login the subject token rests on, as the ``access`` claim), at this instant. The issued
token is an opaque access token of the same client and person, restricted to the facility: its
``access`` claim (userinfo) lists that facility alone, and introspection answers the facility and the
actor (``act``: the client). It lives no longer than the subject token, carries no refresh token,
and cannot be exchanged again. Every exchange and every refusal is audited.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application, RefreshToken, set_token_value
from oauth2_provider.settings import oauth2_settings
from oauthlib.common import generate_token  # type: ignore[import-untyped]

from toegang.accounts.models import EXTERNAL
from toegang.audit.actions import Action
from toegang.audit.services import audit_record
from toegang.delegation.authz import may_use, usable_subdepartment_ids
from toegang.oidc.models import LoginContext, RelyingParty, TokenExchange
from toegang.organisations.models import Subdepartment

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 (a URN, not a secret)


class ExchangeRefused(Exception):
    """A refusal with its RFC 8693 §2.2.2 / RFC 6749 §5.2 error code."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error, self.description = error, description


@dataclass(frozen=True)
class Exchanged:
    access_token: str
    expires_in: int
    scope: str

    def as_response(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        }


def token_family_of(token: AccessToken) -> Any:
    """The refresh-token family (and so the LoginContext) an access token belongs to; None if none."""
    family = RefreshToken.objects.filter(access_token=token).values_list("token_family", flat=True).first()
    if family is None and token.source_refresh_token_id:
        family = (
            RefreshToken.objects.filter(pk=token.source_refresh_token_id).values_list("token_family", flat=True).first()
        )
    return family


def _subject(client: Application, subject_token: str) -> AccessToken:
    checksum = hashlib.sha256(subject_token.encode("utf-8")).hexdigest()
    token = (
        AccessToken.objects.select_related("user")
        .filter(token_checksum=checksum, application=client, user__isnull=False)
        .order_by("-expires")
        .first()
    )
    # Another client's token answers as an unknown one: nothing about it is revealed.
    if token is None or not token.is_valid() or not token.user.is_active:
        raise ExchangeRefused("invalid_request", "The subject token is not a valid access token of this client.")
    if TokenExchange.objects.filter(access_token=token).exists():
        raise ExchangeRefused("invalid_request", "An exchanged token cannot be exchanged again.")
    return token


def _scope(subject: AccessToken, requested: str | None) -> str:
    held = [s for s in subject.scope.split() if s != "offline_access"]
    if not requested:
        return " ".join(held)
    asked = requested.split()
    if not set(asked) <= set(held):
        raise ExchangeRefused("invalid_scope", "The scope must be within the subject token's.")
    return " ".join(asked)


def _check_request(params: dict[str, Any]) -> None:
    if params.get("subject_token_type") != ACCESS_TOKEN_TYPE:
        raise ExchangeRefused("invalid_request", f"subject_token_type must be {ACCESS_TOKEN_TYPE}.")
    if not params.get("subject_token"):
        raise ExchangeRefused("invalid_request", "subject_token is missing.")
    if params.get("actor_token") or params.get("actor_token_type"):
        raise ExchangeRefused("invalid_request", "actor_token is not supported: the client is the actor.")
    if params.get("requested_token_type") not in (None, "", ACCESS_TOKEN_TYPE):
        raise ExchangeRefused("invalid_request", f"requested_token_type must be {ACCESS_TOKEN_TYPE}.")
    if params.get("resource") or params.get("audience"):
        raise ExchangeRefused("invalid_target", "Name the facility with the facility parameter.")
    facility = params.get("facility")
    if not isinstance(facility, str) or not facility.isascii() or not facility.isdigit() or len(facility) > 18:
        raise ExchangeRefused("invalid_request", "facility must be the id of a subdepartment.")


def _may_act(person: Any, application_id: int, subdepartment_id: int, family: Any) -> bool:
    """The access claim's rule (validator._access) for one facility, now."""
    if not may_use(person.pk, application_id, subdepartment_id):
        return False
    login = LoginContext.objects.filter(token_family=family).only("acr").first() if family else None
    proven = login is not None and int(login.acr or 0) >= EXTERNAL
    usable = usable_subdepartment_ids(person, ssin_proven=proven)
    return usable is None or subdepartment_id in usable


def token_exchange(*, client: Application, params: dict[str, Any]) -> Exchanged:
    """Decide and issue; ``ExchangeRefused`` with the error code otherwise. Audited either way."""
    try:
        _check_request(params)
        subject = _subject(client, str(params["subject_token"]))
    except ExchangeRefused as refused:
        _audit_refusal(client, None, params, refused)
        raise
    person = subject.user
    try:
        scope = _scope(subject, params.get("scope"))
        rp = RelyingParty.objects.filter(client=client, application__is_active=True).first()
        family = token_family_of(subject)
        facility = int(params["facility"])
        if rp is None or not _may_act(person, rp.application_id, facility, family):
            # An unknown facility answers as one the person may not use.
            raise ExchangeRefused("invalid_target", "The person may not act for this facility with this application.")
    except ExchangeRefused as refused:
        _audit_refusal(client, person, params, refused)
        raise
    now = timezone.now()
    expires = min(subject.expires, now + timedelta(seconds=oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS))
    value = generate_token()
    with transaction.atomic():
        token = AccessToken(user=person, application=client, scope=scope, expires=expires)
        set_token_value(token, value)
        token.save()
        exchange = TokenExchange.objects.create(
            access_token=token, client=client, person=person, subdepartment_id=facility, token_family=family
        )
        audit_record(
            actor=person,
            action=Action.OIDC_TOKEN_EXCHANGED,
            obj=exchange,
            person=person,
            subdepartment=(sd := Subdepartment.objects.get(pk=facility)),
            params={"client_id": client.client_id, "facility": facility, "scope": scope, "subdepartment_name": sd.name},
        )
    return Exchanged(access_token=value, expires_in=max(int((expires - now).total_seconds()), 0), scope=scope)


def _audit_refusal(client: Application, person: Any, params: dict[str, Any], refused: ExchangeRefused) -> None:
    facility = params.get("facility")
    with transaction.atomic():
        audit_record(
            actor=person,
            action=Action.OIDC_TOKEN_EXCHANGE_REFUSED,
            person=person,
            params={"client_id": client.client_id, "facility": str(facility)[:20] if facility else ""},
            reason=refused.error,
            object_type="token_exchange",
        )


def exchanged_facility(token: AccessToken) -> TokenExchange | None:
    """The restriction of an exchanged access token; None for any other token."""
    return TokenExchange.objects.filter(access_token=token).first()
