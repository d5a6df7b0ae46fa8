"""Reads about a person's own account."""

from __future__ import annotations

from allauth.mfa.models import Authenticator

from toegang.accounts.models import User


def authenticator_types(user: User) -> set[str]:
    """The kinds of second factor the person has set up (app code, security key, recovery codes)."""
    return set(Authenticator.objects.filter(user=user).values_list("type", flat=True))
