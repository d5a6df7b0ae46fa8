"""Each worker's memory of the OAuth clients that passed the validator's check, for a few seconds.

The token endpoint loads the client (django-oauth-toolkit's ``Application``), its relying party and
its ``ClientProfile`` (authentication method, keys) on every request: three statements and, on
SQLite, a connection, more than half of a client-credentials request once the token itself is no
longer written (bench/token_endpoint.py, docs/performance.md).
A client that passed (found, linked to an active secured application) is remembered here for
``MEMORY_SECONDS``; the secret is still checked on every request, against the remembered hash.

Bound: a change made in this process (the admin, ``manage.py oidc_client``, a service) forgets
everything at once (the receivers below); one made in another worker or server shows there within
``MEMORY_SECONDS``: a rotated secret, an unlinked client or a switched-off application is refused
by every worker at most that long after the change. An unknown or refused client is never
remembered.
"""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from oauth2_provider.models import Application

from toegang.applications.models import SecuredApplication
from toegang.oidc.models import ClientProfile, RelyingParty

MEMORY_SECONDS = 10.0
_MAX_CLIENTS = 10_000
_clients: dict[str, tuple[Application, float]] = {}
_lock = threading.Lock()


def remembered_client(client_id: str) -> Application | None:
    """A copy of the remembered client ``client_id`` (each request may change its own), or None."""
    hit = _clients.get(client_id)
    if hit is None or hit[1] <= time.monotonic():
        return None
    return copy.copy(hit[0])


def remember_client(client: Application) -> None:
    with _lock:
        if len(_clients) >= _MAX_CLIENTS:
            _clients.clear()
        _clients[client.client_id] = (copy.copy(client), time.monotonic() + MEMORY_SECONDS)


def forget_clients() -> None:
    with _lock:
        _clients.clear()


@receiver(post_save, sender=Application, dispatch_uid="oidc_client_memory_client_saved")
@receiver(post_delete, sender=Application, dispatch_uid="oidc_client_memory_client_deleted")
@receiver(post_save, sender=RelyingParty, dispatch_uid="oidc_client_memory_rp_saved")
@receiver(post_delete, sender=RelyingParty, dispatch_uid="oidc_client_memory_rp_deleted")
@receiver(post_save, sender=ClientProfile, dispatch_uid="oidc_client_memory_profile_saved")
@receiver(post_delete, sender=ClientProfile, dispatch_uid="oidc_client_memory_profile_deleted")
@receiver(post_save, sender=SecuredApplication, dispatch_uid="oidc_client_memory_application_saved")
def _changed(sender: Any, **kwargs: Any) -> None:
    forget_clients()
