"""Registering the OAuth clients of the secured applications (the operator's work), audited."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from oauth2_provider.models import AbstractApplication, Application

from toegang.accounts.models import User
from toegang.applications.models import SecuredApplication
from toegang.audit.actions import Action
from toegang.audit.services import audit_record
from toegang.lengths import length_errors
from toegang.oidc.models import RelyingParty


def _post_logout_uris(redirect_uris: list[str]) -> list[str]:
    # After RP-initiated logout the person may return to the client's origin root.
    roots = []
    for uri in redirect_uris:
        scheme, _, rest = uri.partition("://")
        root = f"{scheme}://{rest.split('/', 1)[0]}/"
        if root not in roots:
            roots.append(root)
    return roots


@transaction.atomic
def relying_party_register(
    *,
    actor: User | None,
    application: SecuredApplication,
    client_id: str,
    client_secret: str,
    redirect_uris: list[str],
    name: str = "",
    backchannel_logout_uri: str = "",
    backchannel_logout_session_required: bool = False,
) -> tuple[RelyingParty, bool]:
    """Create or update the confidential client ``client_id`` of ``application``; True if created.

    Exact redirect URIs; no consent screen (the operator registered the client, and the person's
    access is decided by the grants); ID tokens signed with RS256. ``backchannel_logout_uri``: where
    logout tokens are POSTed when a session the client was logged into ends (oidc/backchannel.py).
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
    client.post_logout_redirect_uris = " ".join(_post_logout_uris(redirect_uris))
    client.algorithm = AbstractApplication.RS256_ALGORITHM
    client.skip_authorization = True
    client.save()
    rp, _ = RelyingParty.objects.update_or_create(
        client=client,
        defaults={
            "application": application,
            "backchannel_logout_uri": backchannel_logout_uri,
            "backchannel_logout_session_required": backchannel_logout_session_required,
        },
    )
    audit_record(
        actor=actor,
        action=Action.OIDC_CLIENT_REGISTERED if created else Action.OIDC_CLIENT_UPDATED,
        params={"client_id": client_id, "application": application.code},
        obj=rp,
        after={
            "client_id": client_id,
            "application": application.code,
            "redirect_uris": redirect_uris,
            "backchannel_logout_uri": backchannel_logout_uri,
        },
    )
    return rp, created
