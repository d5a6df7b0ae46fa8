"""History, not deletion: rows that are valid from a moment until a moment, given and ended by whom and why.

Every model that ends (role assignments, application grants, switched-on applications, activated
qualities, subdepartments, certificates) inherits ``Ended`` and is read through one definition of
"active": ``valid_from <= at < valid_until`` (no ``valid_until``: open-ended), ``at`` defaulting to
now. Nothing else in the code spells out what active means: querysets call ``.active(at=None)``,
joins and subqueries ``active_q(prefix, at)``, instances ``is_active(at=None)``.

Two columns say when a row ends, because two questions are asked of them:

- ``valid_until`` is *when the row's validity ends*: planned (in the future) or past. Every reader
  decides on it, at the instant it reads, so a row whose planned end has just passed counts as ended
  for everybody at once, without a job having to sweep it.
- ``ended_at`` is *the moment the row was closed* (by a manager ending it, or by ``close_expired``
  once its planned end has passed); NULL while the row is current. The partial unique constraints
  ("one current copy of an assignment or grant", "one HTB per enterprise", "one activation per
  enterprise and quality", "one identification code per quality") key on ``ended_at IS NULL``: a
  partial index's condition must be immutable and so cannot compare with ``now()``, and a condition
  on ``valid_until IS NULL`` would either let a row with a planned end be doubled (if planned ends
  were excluded) or make planning an end impossible.

So a planned end keeps ``ended_at`` NULL and still blocks a second copy; an expired row (planned end
passed, ``ended_at`` still NULL) is ended for every reader but still holds its place in the unique
index, and a service that creates a copy first closes the expired rows of that key
(``close_expired``), in its own transaction, so re-granting after an expiry works.

Invariant, kept by ``end`` and ``close_expired``: ``ended_at`` is set only together with a
``valid_until`` at or before it, and ``ended_at`` is never in the future. Hence at the present
moment (or later) a row with ``ended_at`` set is never active, and ``active()`` adds
``ended_at IS NULL`` to its condition: redundant for the answer, but it is what lets PostgreSQL use
the partial indexes (``... WHERE ended_at IS NULL``) on the hot paths. A question about a past
instant leaves it out, since a row ended since then was active at that instant.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self, TypeVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

_M = TypeVar("_M", bound="Ended")

# The ``end_reason`` of a row that ended at its planned end and was closed afterwards.
EXPIRED = "expired"


def active_q(prefix: str = "", at: datetime | None = None) -> Q:
    """Active at ``at`` (default now), for a filter on this model (``prefix=""``) or through a join.

    ``prefix`` is the path to the history model with its trailing ``__`` (``"grants__"``,
    ``"subdepartment__enterprise_quality__"``); inside ``Exists``/``Subquery`` filter the inner
    queryset with ``.active(at)`` instead.
    """
    now = timezone.now() if at is None else at
    q = Q(**{f"{prefix}valid_from__lte": now}) & (
        Q(**{f"{prefix}valid_until__isnull": True}) | Q(**{f"{prefix}valid_until__gt": now})
    )
    if at is None or at >= timezone.now():
        q &= Q(**{f"{prefix}ended_at__isnull": True})
    return q


def ended_q(prefix: str = "", at: datetime | None = None) -> Q:
    """Ended by ``at`` (default now): its ``valid_until`` has passed (not: not started yet)."""
    return Q(**{f"{prefix}valid_until__lte": timezone.now() if at is None else at})


class HistoryQuerySet(models.QuerySet[_M]):
    def active(self, at: datetime | None = None) -> Self:
        """The rows valid at ``at`` (default now): ``valid_from <= at < valid_until``."""
        return self.filter(active_q(at=at))

    def ended(self, at: datetime | None = None) -> Self:
        """The rows whose validity ended at or before ``at`` (default now)."""
        return self.filter(ended_q(at=at))

    def current(self) -> Self:
        """The rows not closed yet (``ended_at IS NULL``): what the unique constraints count.

        Only for guarding those constraints; whether a row grants anything is ``active()``. Call
        ``close_expired()`` first so that an expired row is not mistaken for a current copy.
        """
        return self.filter(ended_at__isnull=True)

    def close_expired(self, at: datetime | None = None) -> int:
        """Close the rows of this queryset whose planned end has passed: ``ended_at`` = ``at``.

        Bookkeeping, not a change of rights (every reader already treats them as ended since their
        ``valid_until``), so no audit event: it frees their place in the unique indexes for a new copy.
        """
        now = timezone.now() if at is None else at
        return self.filter(ended_at__isnull=True, valid_until__lte=now).update(ended_at=now, end_reason=EXPIRED)


class Ended(models.Model):
    """A row valid from ``valid_from`` until ``valid_until``; ``end()`` closes it instead of deleting it.

    See the module's docstring for why there are both ``valid_until`` and ``ended_at``.
    """

    valid_from = models.DateTimeField(default=timezone.now)
    valid_until = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True, editable=False)
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    end_reason = models.CharField(_("reason"), max_length=200, blank=True)

    class Meta:
        abstract = True

    def is_active(self, at: datetime | None = None) -> bool:
        now = timezone.now() if at is None else at
        return self.valid_from <= now and (self.valid_until is None or self.valid_until > now)

    def is_ended(self, at: datetime | None = None) -> bool:
        return self.valid_until is not None and self.valid_until <= (timezone.now() if at is None else at)

    def end(self, *, actor: Any, reason: str, now: datetime | None = None) -> None:
        """Close the row now: an open or planned end becomes now, an end already past stays as it was."""
        now = now or timezone.now()
        if self.valid_until is None or self.valid_until > now:
            self.valid_until = now
        self.ended_at = now
        self.ended_by = actor
        self.end_reason = reason[:200]
        self.save(update_fields=["valid_until", "ended_at", "ended_by", "end_reason"])
