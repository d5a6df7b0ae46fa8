"""Registering the OAuth clients of the secured applications (the operator's work), and the token
revocations the provider does on its own (a replayed code, a logout), audited."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from oauth2_provider.models import AbstractApplication, AccessToken, Application, RefreshToken

from toegang.accounts.models import User
from toegang.applications.models import SecuredApplication
from toegang.audit.actions import Action
from toegang.audit.services import audit_record
from toegang.lengths import length_errors
from toegang.oidc.models import LoginContext, RelyingParty


@transaction.atomic
def relying_party_register(
    *,
    actor: User | None,
    application: SecuredApplication,
    client_id: str,
    client_secret: str,
    redirect_uris: list[str],
    post_logout_redirect_uris: list[str] | None = None,
    name: str = "",
) -> tuple[RelyingParty, bool]:
    """Create or update the confidential client ``client_id`` of ``application``; True if created.

    Exact redirect URIs, and exact post-logout redirect URIs (RP-Initiated Logout §3; none: the
    person stays on toegang's page after logout); no consent screen (the operator registered the
    client, and the person's access is decided by the grants); ID tokens signed with RS256.
    """
    errors = length_errors(
        (
            ("client_id", client_id, Application, "client_id", "client_id"),
            ("name", name, Application, "name", "name"),
        )
    )
    if errors:
        raise ValidationError(errors)
    client = Application.objects.filter(client_id=client_id).first()
    created = client is None
    if client is None:
        client = Application(client_id=client_id)
    client.name = name or f"{application.code} ({client_id})"
    client.client_type = AbstractApplication.CLIENT_CONFIDENTIAL
    client.authorization_grant_type = AbstractApplication.GRANT_AUTHORIZATION_CODE
    client.client_secret = client_secret
    client.redirect_uris = " ".join(redirect_uris)
    client.post_logout_redirect_uris = " ".join(post_logout_redirect_uris or [])
    client.algorithm = AbstractApplication.RS256_ALGORITHM
    client.skip_authorization = True
    client.save()
    rp, _ = RelyingParty.objects.update_or_create(client=client, defaults={"application": application})
    audit_record(
        actor=actor,
        action=Action.OIDC_CLIENT_REGISTERED if created else Action.OIDC_CLIENT_UPDATED,
        params={"client_id": client_id, "application": application.code},
        obj=rp,
        after={
            "client_id": client_id,
            "application": application.code,
            "redirect_uris": redirect_uris,
            "post_logout_redirect_uris": post_logout_redirect_uris or [],
        },
    )
    return rp, created


@transaction.atomic
def code_replay_revoke(client: Any, checksum: str) -> bool:
    """RFC 6749 §4.1.2: an authorization code presented again after its exchange revokes the
    tokens that exchange issued (their refresh-token family). True if there were any."""
    login = (
        LoginContext.objects.select_related("user")
        .filter(code_checksum=checksum, grant__isnull=True, token_family__isnull=False)
        .first()
    )
    if login is None or client is None:
        return False
    family = RefreshToken.objects.filter(token_family=login.token_family, application=client)
    if not family.exists():
        return False
    RefreshToken.revoke_family(login.token_family)
    audit_record(
        actor=None,
        action=Action.OIDC_CODE_REPLAYED,
        person=login.user,
        params={"client_id": client.client_id, "person_name": f"{login.user.first_name} {login.user.last_name}"},
    )
    return True


@transaction.atomic
def logout_tokens_revoke(*, person: User, client: Application | None) -> int:
    """RP-initiated logout (docs/oidc.md, "Logout"): every access and refresh token that ``client``
    holds for ``person`` is revoked; other clients' tokens stay. The number of tokens revoked."""
    if client is None:
        return 0
    refresh = list(RefreshToken.objects.filter(user=person, application=client, revoked__isnull=True))
    access = list(AccessToken.objects.filter(user=person, application=client))
    for token in refresh:
        token.revoke()  # and its access token
    for access_token in AccessToken.objects.filter(pk__in=[a.pk for a in access]):
        access_token.revoke()
    count = len(refresh) + len(access)
    audit_record(
        actor=person,
        action=Action.OIDC_LOGOUT,
        person=person,
        params={"client_id": client.client_id, "tokens": count},
    )
    return count
