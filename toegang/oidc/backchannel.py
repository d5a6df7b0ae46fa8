"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0): the clients hear when a session ends.

- **Which clients.** Each authorization of a client in a browser session records an
  ``OidcSession`` (the session's ``sid``, the client, the person). The ``sid`` lives in the Django
  session (``SID_SESSION_KEY``), made at the first authorization, so it survives the key changes of
  a login or a step-up, and goes into every ID token (the ``sid`` claim, through ``LoginContext``).
- **When a session ends** — logout in toegang, RP-initiated logout, the idle or absolute timeout
  (all of them Django's ``logout()``, so ``user_logged_out``), an operator ending a person's sessions
  (``person_sessions_end``), or the absolute lifetime passing without the browser coming back
  (the periodic ``oidc_sessions_expire``) — ``oidc_session_end`` ends the sid's open rows and, in the
  same transaction, queues one ``BackchannelLogout`` per client of that session that registered a
  ``backchannel_logout_uri``. Clients the session never logged into get nothing. Audited.
- **Delivery** is a job (``tasks.backchannel_deliver``, enqueued on commit, never in the request):
  each logout token (§2.4: ``typ: logout+jwt``, ``iss``, ``aud``, ``iat``, ``exp``, ``jti``, ``sub``,
  ``sid``, ``events``; no ``nonce``), signed with the ID tokens' key, is POSTed as
  ``logout_token=…`` (§2.5). A 200 or 204 is delivered; anything else is retried with back-off
  (1 minute, 2, 4, … at most an hour; given up after a day), as the mail outbox does
  (docs/architecture.md, "Background work"), with a lease so a dead worker's rows come back.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from jwcrypto import jwt  # type: ignore[import-untyped]
from oauth2_provider.models import Application
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.utils import jwk_from_pem

from toegang.accounts.models import User
from toegang.audit.actions import Action
from toegang.audit.services import audit_record
from toegang.bulk import outbox_claim
from toegang.oidc import tasks
from toegang.oidc.models import BackchannelLogout, LogoutStatus, OidcSession, RelyingParty

logger = logging.getLogger(__name__)

SID_SESSION_KEY = "toegang_oidc_sid"
EVENT = "http://schemas.openid.net/event/backchannel-logout"
DISCOVERY = {"backchannel_logout_supported": True, "backchannel_logout_session_supported": True}
LOGOUT_TOKEN_SECONDS = 120
HTTP_TIMEOUT_SECONDS = 5
RETRY_FIRST = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=1)
GIVE_UP_AFTER = timedelta(hours=24)
LEASE = timedelta(minutes=5)
CLAIM_BATCH = 20


def session_sid(session: Any) -> str:
    """This browser session's id for the clients; made on first use, kept in the session."""
    sid = session.get(SID_SESSION_KEY)
    if not isinstance(sid, str) or not sid:
        sid = secrets.token_urlsafe(24)
        session[SID_SESSION_KEY] = sid
    return sid


def on_user_logged_out(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    """``user_logged_out`` (connected in apps.py): every ``logout()`` of a session that has a sid —
    toegang's logout, RP-initiated logout, the idle and absolute timeouts — tells its clients."""
    session = getattr(request, "session", None)
    sid = session.get(SID_SESSION_KEY) if session is not None else None
    if isinstance(sid, str) and sid:
        oidc_session_end(sid=sid, reason="logout", actor=user if isinstance(user, User) else None)


def oidc_session_join(*, sid: str, user: User, client: Application, login_at: datetime) -> None:
    """The session ``sid`` logged ``user`` into ``client`` (called with each authorization code)."""
    OidcSession.objects.get_or_create(sid=sid, client=client, defaults={"user": user, "login_at": login_at})


def oidc_session_end(*, sid: str, reason: str, actor: User | None = None) -> int:
    """End every open row of ``sid`` and queue the logout tokens; the number queued."""
    with transaction.atomic():
        rows = list(
            OidcSession.objects.select_for_update(of=("self",))
            .select_related("user", "client__relying_party")
            .filter(sid=sid, ended_at__isnull=True)
        )
        if not rows:
            return 0
        now = timezone.now()
        OidcSession.objects.filter(pk__in=[r.pk for r in rows]).update(ended_at=now, end_reason=reason[:30])
        queued = _queue(rows, now)
        person = rows[0].user
        audit_record(
            actor=actor if actor is not None else person,
            action=Action.OIDC_SESSION_ENDED,
            person=person,
            params={"clients": sorted(r.client.client_id for r in rows), "notified": queued, "reason": reason},
            object_type="oidc_session",
            reason=reason[:30],
        )
    return queued


def _queue(rows: Iterable[OidcSession], now: datetime) -> int:
    logouts = []
    for row in rows:
        rp = _relying_party(row.client)
        if rp is not None and rp.backchannel_logout_uri:
            logouts.append(BackchannelLogout(session=row, uri=rp.backchannel_logout_uri, next_attempt_at=now))
    if logouts:
        BackchannelLogout.objects.bulk_create(logouts)
        transaction.on_commit(tasks.backchannel_deliver.enqueue, robust=True)
    return len(logouts)


def _relying_party(client: Application) -> RelyingParty | None:
    try:
        rp = client.relying_party
    except RelyingParty.DoesNotExist:
        return None
    return rp if isinstance(rp, RelyingParty) else None


def oidc_sessions_expire(*, now: datetime | None = None) -> int:
    """End the sessions past their absolute lifetime whose browser never came back (periodic)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.SESSION_ABSOLUTE_SECONDS)
    sids = set(
        OidcSession.objects.filter(ended_at__isnull=True, login_at__lte=cutoff).values_list("sid", flat=True)[:1000]
    )
    return sum(oidc_session_end(sid=sid, reason="expired") for sid in sids)


def person_sessions_end(*, actor: User, person: User) -> int:
    """An operator ends every session of ``person``: their browser sessions and, at the clients, every
    open OIDC session (back-channel logout). The number of logout tokens queued."""
    for user_session in UserSession.objects.filter(user=person):
        user_session.end()
    sids = set(OidcSession.objects.filter(user=person, ended_at__isnull=True).values_list("sid", flat=True))
    return sum(oidc_session_end(sid=sid, reason="ended_by_operator", actor=actor) for sid in sids)


# -- the logout token and its delivery ----------------------------------------------------------------


def issuer() -> str:
    return str(oauth2_settings.OIDC_ISS_ENDPOINT).rstrip("/")


def logout_token(session: OidcSession, *, now: float | None = None) -> str:
    """The signed logout token for ``session``'s client (Back-Channel Logout 1.0 §2.4)."""
    key = jwk_from_pem(oauth2_settings.OIDC_RSA_PRIVATE_KEY)
    iat = int(now if now is not None else time.time())
    claims = {
        "iss": issuer(),
        "aud": session.client.client_id,
        "iat": iat,
        "exp": iat + LOGOUT_TOKEN_SECONDS,
        "jti": str(uuid.uuid4()),
        "sub": str(session.user_id),
        "sid": session.sid,
        "events": {EVENT: {}},
    }
    header = {"typ": "logout+jwt", "alg": "RS256", "kid": key.thumbprint()}
    token = jwt.JWT(header=json.dumps(header), claims=json.dumps(claims))
    token.make_signed_token(key)
    return str(token.serialize())


@dataclass
class Delivery:
    sent: int = 0
    failed: int = 0
    retry_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "retry_at": self.retry_at.isoformat() if self.retry_at else None,
        }


def backchannel_deliver_due() -> Delivery:
    """POST the due logout tokens, each marked sent (or rescheduled) in its own statement."""
    result = Delivery()
    while batch := _claim(CLAIM_BATCH):
        for logout in batch:
            try:
                response = requests.post(
                    logout.uri,
                    data={"logout_token": logout_token(logout.session)},
                    timeout=HTTP_TIMEOUT_SECONDS,
                    allow_redirects=False,
                )
                ok = response.status_code in (200, 204)
                error = "" if ok else f"HTTP {response.status_code}"
            except requests.RequestException as exc:
                ok, error = False, f"{type(exc).__name__}: {exc}"
            if ok:
                BackchannelLogout.objects.filter(pk=logout.pk, status=LogoutStatus.SENDING).update(
                    status=LogoutStatus.SENT, sent_at=timezone.now(), attempts=F("attempts") + 1
                )
                result.sent += 1
                continue
            result.failed += 1
            retry_at = _record_failure(logout, error)
            if retry_at is not None and (result.retry_at is None or retry_at < result.retry_at):
                result.retry_at = retry_at
    return result


def backchannel_leases_expire() -> int:
    """Rows left ``sending`` by a worker that died: due again."""
    return BackchannelLogout.objects.filter(status=LogoutStatus.SENDING, next_attempt_at__lte=timezone.now()).update(
        status=LogoutStatus.PENDING
    )


def backchannel_due_count() -> int:
    return BackchannelLogout.objects.filter(status=LogoutStatus.PENDING, next_attempt_at__lte=timezone.now()).count()


def _claim(count: int) -> list[BackchannelLogout]:
    with transaction.atomic():
        # The mail outbox's claim (toegang.bulk.outbox_claim): a conditional UPDATE on the status read.
        claimed = outbox_claim(
            BackchannelLogout, count=count, lease=LEASE, pending=LogoutStatus.PENDING, sending=LogoutStatus.SENDING
        )
        return [] if claimed is None else list(claimed.select_related("session__client").order_by("id"))


def retry_delay(attempts: int) -> timedelta:
    delay: timedelta = RETRY_FIRST * 2 ** max(attempts - 1, 0)
    return min(delay, RETRY_MAX)


def _record_failure(logout: BackchannelLogout, error: str) -> datetime | None:
    now = timezone.now()
    attempts = logout.attempts + 1
    mine = BackchannelLogout.objects.filter(pk=logout.pk, status=LogoutStatus.SENDING)
    if now - logout.created_at >= GIVE_UP_AFTER:
        mine.update(status=LogoutStatus.FAILED, last_error=error[:2000], attempts=attempts)
        logger.error(
            "back-channel logout %s to %s given up after %s attempts: %s", logout.pk, logout.uri, attempts, error
        )
        return None
    retry_at = now + retry_delay(attempts)
    mine.update(status=LogoutStatus.PENDING, next_attempt_at=retry_at, last_error=error[:2000], attempts=attempts)
    logger.warning(
        "back-channel logout %s to %s failed (attempt %s), next at %s: %s",
        logout.pk,
        logout.uri,
        attempts,
        retry_at,
        error,
    )
    return retry_at
