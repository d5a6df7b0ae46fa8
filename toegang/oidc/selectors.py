"""Reads of the OAuth clients and relying parties, for the authorization endpoint."""

from __future__ import annotations

from oauth2_provider.models import Application


def oauth_application(client_id: str | None) -> Application | None:
    """The OAuth client with this id (the authorization request's, once validated); None if unknown."""
    if not client_id:
        return None
    return Application.objects.filter(client_id=client_id).first()
