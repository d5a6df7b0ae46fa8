"""Accesses that end by themselves: the expiry job, and the reminders before a planned end (issue 15).

Readers never wait for this module: an access whose ``valid_until`` has passed is ended for the
authorization decision, the API and the ``access`` claim at that instant (toegang/history.py). What
the jobs add is the bookkeeping and the people being told:

- ``accesses_expire`` (``delegation.expire``, every five minutes) closes the application grants and
  role assignments whose planned end has passed: ``ended_at`` = the run's instant, ``ended_by`` NULL
  (the system), ``end_reason`` "expired", one audit event each (``grant.expired`` / ``role.expired``,
  at the planned end, distinct from a manager's ``grant.end`` / ``user.end``). As a manager's end of a
  membership does, it ends the person's grants in a subdepartment where they hold no role any more
  (``grant.end``, reason "membership ended"); and a user's membership whose last application there
  expired ends too (``user.end``, reason "last grant expired"): the access was given for a time, and
  an empty membership left behind would keep the person in the list and in their managers' care. A
  membership whose applications a manager unticked is not touched (that was the manager's choice).
  It mails the person (their language) and the subdepartment's managers (theirs), one mail per
  person and subdepartment, one per manager and subdepartment, per batch.
- ``expiry_reminders_send`` (``delegation.remind``, hourly) mails the person and the subdepartment's
  managers N days before a planned end (the quality's ``reminder_days``, default 14 and 3), once per
  threshold and planned end (``ExpiryReminder``).

Idempotent and safe beside itself: a row is closed by a conditional ``UPDATE … WHERE ended_at IS NULL
AND valid_until <= now … RETURNING id`` whose candidates are read ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL; only the rows this run's UPDATE returned get an audit event and a mail, so a second or a
concurrent run finds nothing to double. The UPDATE re-checks ``valid_until`` on the row's latest
version: a manager who extended the access meanwhile wins. In batches of ``BATCH`` rows, each its own
transaction, audit events and mails written with COPY (toegang/bulk.py).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from django.db import connections, models, router, transaction
from django.db.models import Exists, OuterRef, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from toegang.accounts.models import User, salutation_format
from toegang.applications.models import ApplicationGrant, SecuredApplication
from toegang.audit.actions import Action, Reason
from toegang.audit.services import audit_record_rows
from toegang.delegation.models import (
    SUBDEPARTMENT_ROLES,
    ExpiryReminder,
    ReminderKind,
    Role,
    RoleAssignment,
)
from toegang.delegation.services import last_day_of
from toegang.history import EXPIRED
from toegang.locks import lock_job
from toegang.mail.links import absolute_url
from toegang.mail.services import mail_enqueue_languages
from toegang.organisations.models import Enterprise, EnterpriseQuality, Quality, Subdepartment, reminder_thresholds

# Rows closed per transaction: one IN list of ids (SQLite's parameter limit is far away), and a
# transaction short enough that a manager's change waits at most a moment behind it.
BATCH = 5000
MANAGER_ROLES = (Role.SUBDEPARTMENT_MANAGER, Role.CO_SUBDEPARTMENT_MANAGER)
# A manager's mail names at most this many persons, then "and N more".
MANAGER_LIST_MAX = 200

# Slots filled per person in a text rendered once per language (as access_changed_messages does).
_GREETING = "\x00greeting\x00"
_SUBDEPARTMENT = "\x00subdepartment\x00"
_ENTERPRISE = "\x00enterprise\x00"
_ITEMS = "\x00items\x00"


def _rows(values: Iterable[Any]) -> list[dict[str, Any]]:
    """The rows of a ``values()`` queryset as plain dicts (what the batch passes around)."""
    return [dict(row) for row in values]


# --- closing rows: one conditional UPDATE … RETURNING id ----------------------------------------


def _close(
    model: type[models.Model],
    candidates: models.QuerySet[Any],
    *,
    now: datetime,
    reason: str,
    until: datetime | None = None,
    limit: int | None = None,
) -> list[int]:
    """Close the ``candidates`` nobody closed meanwhile; the ids this statement closed.

    ``until``: also move ``valid_until`` back to it (a grant ending with its membership). The
    candidates are read ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (a row a manager or another run is
    changing is left to the next run); the UPDATE re-checks ``ended_at`` and, when closing rows at
    their own planned end, ``valid_until`` on the row's latest version.
    """
    connection = connections[router.db_for_write(model)]
    sub = candidates.order_by("pk").values("pk")
    if limit is not None:
        sub = sub[:limit]
    if connection.vendor == "postgresql":
        sub = sub.select_for_update(skip_locked=True)
    sub_sql, sub_params = sub.query.sql_with_params()
    quote = connection.ops.quote_name
    adapt = connection.ops.adapt_datetimefield_value
    sets = [f"{quote('ended_at')} = %s", f"{quote('ended_by_id')} = NULL", f"{quote('end_reason')} = %s"]
    params: list[Any] = [adapt(now), reason[:200]]
    if until is not None:
        sets.append(f"{quote('valid_until')} = %s")
        params.append(adapt(until))
    recheck = f"{quote('ended_at')} IS NULL"
    if until is None:  # at its own planned end: that end must still have passed (not extended meanwhile)
        recheck += f" AND {quote('valid_until')} <= %s"
    sql = (
        f"UPDATE {quote(model._meta.db_table)} SET {', '.join(sets)} "  # noqa: S608 (names quoted, values bound)
        f"WHERE {quote('id')} IN ({sub_sql}) AND {recheck} RETURNING {quote('id')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *sub_params, *([adapt(now)] if until is None else [])])
        return [row[0] for row in cursor.fetchall()]


# --- what a batch closed, and who is told --------------------------------------------------------


@dataclass
class _Ended:
    """One person's accesses that ended in one subdepartment in this batch."""

    applications: dict[int, datetime] = field(default_factory=dict)  # application id -> its end
    roles: dict[str, datetime] = field(default_factory=dict)  # role -> its end


@dataclass
class _Batch:
    now: datetime
    audit: list[dict[str, Any]] = field(default_factory=list)
    ended: dict[tuple[int, int], _Ended] = field(default_factory=lambda: defaultdict(_Ended))
    counts: Counter[str] = field(default_factory=Counter)
    names: _Names | None = None


def accesses_expire(*, now: datetime | None = None, batch: int = BATCH) -> dict[str, int]:
    """Close every grant and role whose planned end has passed, in batches; what was done, counted."""
    now = now or timezone.now()
    totals: Counter[str] = Counter()
    while True:
        with transaction.atomic():
            done = _expire_batch(now, batch)
        totals.update(done.counts)
        if not (done.counts["grants_expired"] or done.counts["roles_expired"]):
            break
    return {key: totals[key] for key in _COUNTS}


_COUNTS = ("grants_expired", "roles_expired", "grants_ended", "memberships_ended", "mails")


def _expire_batch(now: datetime, batch: int) -> _Batch:
    b = _Batch(now)
    due = Q(ended_at__isnull=True, valid_until__lte=now)
    grant_ids = _close(ApplicationGrant, ApplicationGrant.objects.filter(due), now=now, reason=EXPIRED, limit=batch)
    role_ids = _close(RoleAssignment, RoleAssignment.objects.filter(due), now=now, reason=EXPIRED, limit=batch)
    if not (grant_ids or role_ids):
        return b
    grants = _rows(
        ApplicationGrant.objects.filter(pk__in=grant_ids).values(
            "pk", "person_id", "subdepartment_id", "application_id", "application__code", "valid_until"
        )
    )
    roles = _rows(
        RoleAssignment.objects.filter(pk__in=role_ids).values(
            "pk", "person_id", "role", "enterprise_id", "enterprise_quality_id", "subdepartment_id", "valid_until"
        )
    )
    b.counts["grants_expired"] = len(grants)
    b.counts["roles_expired"] = len(roles)
    for g in grants:
        b.ended[g["person_id"], g["subdepartment_id"]].applications[g["application_id"]] = g["valid_until"]
    for r in roles:
        if r["subdepartment_id"] is not None:
            b.ended[r["person_id"], r["subdepartment_id"]].roles[r["role"]] = r["valid_until"]
    following_grants = _grants_following_roles(b, roles)
    following_memberships = _memberships_following_grants(b, grants)
    _audit(b, grants, roles, following_grants, following_memberships)
    audit_record_rows(b.audit)
    b.counts["mails"] = mail_enqueue_languages(_expiry_mails(b))
    return b


def _grants_following_roles(b: _Batch, roles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """End the grants of a person in a subdepartment where, with these roles closed, they hold none.

    As ``membership_end`` does for a manager's end; the grant's ``valid_until`` becomes the role's.
    """
    ends: dict[tuple[int, int], datetime] = {}
    for r in roles:
        if r["subdepartment_id"] is not None:
            key = (r["person_id"], r["subdepartment_id"])
            ends[key] = max(ends.get(key, r["valid_until"]), r["valid_until"])
    if not ends:
        return []
    member = RoleAssignment.objects.active(b.now).filter(
        person=OuterRef("person"), subdepartment=OuterRef("subdepartment")
    )
    found = (
        ApplicationGrant.objects.filter(
            ended_at__isnull=True,
            person_id__in={p for p, _s in ends},
            subdepartment_id__in={s for _p, s in ends},
        )
        .exclude(Exists(member))
        .values_list("pk", "person_id", "subdepartment_id")
    )
    by_end: dict[datetime, list[int]] = defaultdict(list)
    for pk, person_id, subdepartment_id in found:
        if (person_id, subdepartment_id) in ends:
            by_end[ends[person_id, subdepartment_id]].append(pk)
    closed: list[int] = []
    for until, pks in by_end.items():
        # Rows whose own end came first are left to the expiry itself (they are "due").
        candidates = ApplicationGrant.objects.filter(pk__in=pks).exclude(valid_until__lte=until)
        closed += _close(ApplicationGrant, candidates, now=b.now, reason=Reason.MEMBERSHIP_ENDED, until=until)
    rows = _rows(
        ApplicationGrant.objects.filter(pk__in=closed).values(
            "pk", "person_id", "subdepartment_id", "application_id", "application__code", "valid_until"
        )
    )
    for g in rows:
        b.ended[g["person_id"], g["subdepartment_id"]].applications[g["application_id"]] = g["valid_until"]
    b.counts["grants_ended"] = len(rows)
    return rows


def _memberships_following_grants(b: _Batch, grants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """End a user's membership whose last application in the subdepartment just expired."""
    ends: dict[tuple[int, int], datetime] = {}
    for g in grants:
        key = (g["person_id"], g["subdepartment_id"])
        ends[key] = max(ends.get(key, g["valid_until"]), g["valid_until"])
    if not ends:
        return []
    granted = ApplicationGrant.objects.active(b.now).filter(
        person=OuterRef("person"), subdepartment=OuterRef("subdepartment")
    )
    open_memberships = RoleAssignment.objects.active(b.now).filter(role=Role.USER).exclude(Exists(granted))
    found = open_memberships.filter(
        person_id__in={p for p, _s in ends}, subdepartment_id__in={s for _p, s in ends}
    ).values_list("pk", "person_id", "subdepartment_id")
    by_end: dict[datetime, list[int]] = defaultdict(list)
    for pk, person_id, subdepartment_id in found:
        if (person_id, subdepartment_id) in ends:
            by_end[ends[person_id, subdepartment_id]].append(pk)
    closed: list[int] = []
    for until, pks in by_end.items():
        candidates = open_memberships.filter(pk__in=pks)
        closed += _close(RoleAssignment, candidates, now=b.now, reason=Reason.LAST_GRANT_EXPIRED, until=until)
    rows = _rows(
        RoleAssignment.objects.filter(pk__in=closed).values(
            "pk", "person_id", "role", "enterprise_id", "enterprise_quality_id", "subdepartment_id", "valid_until"
        )
    )
    for r in rows:
        b.ended[r["person_id"], r["subdepartment_id"]].roles[r["role"]] = r["valid_until"]
    b.counts["memberships_ended"] = len(rows)
    return rows


# --- the audit trail -----------------------------------------------------------------------------


class _Names:
    """The names the audit events and mails of a batch need, read once per batch."""

    def __init__(self, person_ids: Iterable[int], subdepartment_ids: Iterable[int], roles: list[dict[str, Any]]):
        self.persons: dict[int, dict[str, Any]] = {
            p["pk"]: dict(p)
            for p in User.objects.filter(pk__in=set(person_ids)).values(
                "pk", "first_name", "last_name", "username", "ssin", "email", "language", "title"
            )
        }
        self.subdepartments: dict[int, dict[str, Any]] = {
            s["pk"]: dict(s)
            for s in Subdepartment.objects.filter(pk__in=set(subdepartment_ids)).values(
                "pk", "name", "enterprise_id", "enterprise__name", "enterprise_quality_id", "quality_id"
            )
        }
        eq_ids = {r["enterprise_quality_id"] for r in roles if r["enterprise_quality_id"] is not None}
        self.qualities = dict(EnterpriseQuality.objects.filter(pk__in=eq_ids).values_list("pk", "quality_id"))
        self.enterprises = dict(
            Enterprise.objects.filter(pk__in={r["enterprise_id"] for r in roles}).values_list("pk", "name")
        )

    def person_name(self, pk: int) -> str:
        p = self.persons[pk]
        return f"{p['first_name']} {p['last_name']}".strip() or p["username"]

    def person_params(self, pk: int) -> dict[str, Any]:
        return {"person_id": pk, "person_name": self.person_name(pk), "person_ssin": self.persons[pk]["ssin"] or ""}

    def subdepartment_params(self, pk: int) -> dict[str, Any]:
        s = self.subdepartments[pk]
        return {
            "enterprise_id": s["enterprise_id"],
            "enterprise_name": s["enterprise__name"],
            "quality_id": s["quality_id"],
            "subdepartment_id": pk,
            "subdepartment_name": s["name"],
        }


def _audit_row(
    *, action: Action, at: datetime, person_id: int, scope: dict[str, Any], enterprise_quality_id: int | None,
    obj: str, pk: int, repr_: str, params: dict[str, Any], reason: str, before: Any = None, after: Any = None,
) -> dict[str, Any]:  # fmt: skip
    return {
        "at": at,
        "actor_id": None,
        "action": action.value,
        "person_id": person_id,
        "enterprise_id": scope.get("enterprise_id"),
        "enterprise_quality_id": enterprise_quality_id,
        "subdepartment_id": scope.get("subdepartment_id"),
        "object_type": obj,
        "object_id": str(pk),
        "object_repr": repr_[:300],
        "params": params,
        "reason": reason,
        "request_id": "",
        "client_address": None,
        "before": before,
        "after": after,
    }


@lru_cache(maxsize=4096)
def _until(value: datetime) -> str:
    day = last_day_of(value)
    return day.isoformat() if day is not None else ""


def _audit(
    b: _Batch,
    grants: list[dict[str, Any]],
    roles: list[dict[str, Any]],
    following_grants: list[dict[str, Any]],
    following_memberships: list[dict[str, Any]],
) -> None:
    all_roles = roles + following_memberships
    subdepartments = {k[1] for k in b.ended} | {r["subdepartment_id"] for r in roles if r["subdepartment_id"]}
    persons = {k[0] for k in b.ended} | {r["person_id"] for r in roles}
    names = _Names(persons, subdepartments, all_roles)
    b.names = names
    for g, action, reason in [
        *((g, Action.GRANT_EXPIRED, "") for g in grants),
        *((g, Action.GRANT_END, Reason.MEMBERSHIP_ENDED.value) for g in following_grants),
    ]:
        sd = names.subdepartments[g["subdepartment_id"]]
        scope = names.subdepartment_params(g["subdepartment_id"])
        snapshot = {"person": g["person_id"], "application": g["application__code"]}
        b.audit.append(
            _audit_row(
                action=action,
                at=g["valid_until"] if action == Action.GRANT_EXPIRED else b.now,
                person_id=g["person_id"],
                scope=scope,
                enterprise_quality_id=sd["enterprise_quality_id"],
                obj="applications.applicationgrant",
                pk=g["pk"],
                repr_=f"{g['application__code']} — {names.persons[g['person_id']]['username']} — {sd['name']}",
                params={
                    **scope,
                    **names.person_params(g["person_id"]),
                    "application": g["application__code"],
                    "until": _until(g["valid_until"]),
                },
                reason=reason,
                before={**snapshot, "active": True},
                after={**snapshot, "active": False},
            )
        )
    for r, action, reason in [
        *((r, Action.ROLE_EXPIRED, "") for r in roles),
        *((r, Action.USER_END, Reason.LAST_GRANT_EXPIRED.value) for r in following_memberships),
    ]:
        if r["subdepartment_id"] is not None:
            scope = names.subdepartment_params(r["subdepartment_id"])
        else:
            scope = {"enterprise_id": r["enterprise_id"], "enterprise_name": names.enterprises[r["enterprise_id"]]}
            if r["enterprise_quality_id"] is not None:
                scope["quality_id"] = names.qualities[r["enterprise_quality_id"]]
        b.audit.append(
            _audit_row(
                action=action,
                at=r["valid_until"] if action == Action.ROLE_EXPIRED else b.now,
                person_id=r["person_id"],
                scope=scope,
                enterprise_quality_id=r["enterprise_quality_id"],
                obj="delegation.roleassignment",
                pk=r["pk"],
                repr_=f"{r['role']}: {names.persons[r['person_id']]['username']}",
                params={
                    **scope,
                    **names.person_params(r["person_id"]),
                    "role": r["role"],
                    "until": _until(r["valid_until"]),
                },
                reason=reason,
            )
        )


# --- the mails -----------------------------------------------------------------------------------


def _address(person: dict[str, Any], contact: str = "") -> str:
    return contact or person["email"] or ""


def _contacts(keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], str]:
    """The contact address of each (person, subdepartment) membership (the latest), "" where none."""
    keys = set(keys)
    found: dict[tuple[int, int], str] = {}
    rows = (
        RoleAssignment.objects.filter(
            person_id__in={p for p, _s in keys},
            subdepartment_id__in={s for _p, s in keys},
            role__in=SUBDEPARTMENT_ROLES,
        )
        .order_by("valid_from", "pk")
        .values_list("person_id", "subdepartment_id", "contact_email")
    )
    for person_id, subdepartment_id, email in rows:
        if (person_id, subdepartment_id) in keys and email:
            found[person_id, subdepartment_id] = email
    return found


def _managers(subdepartment_ids: Iterable[int], now: datetime) -> dict[int, list[tuple[int, str, str, str]]]:
    """Each subdepartment's SB and co-SBs now: (person id, address, language, title)."""
    managers: dict[int, list[tuple[int, str, str, str]]] = defaultdict(list)
    rows = (
        RoleAssignment.objects.active(now)
        .filter(subdepartment_id__in=set(subdepartment_ids), role__in=MANAGER_ROLES)
        .order_by("pk")
        .values_list("subdepartment_id", "person_id", "contact_email", "person__email", "person__language")
    )
    seen: set[tuple[int, int]] = set()
    for subdepartment_id, person_id, contact, email, language in rows:
        if (subdepartment_id, person_id) in seen or not (contact or email):
            continue
        seen.add((subdepartment_id, person_id))
        managers[subdepartment_id].append((person_id, contact or email, language or "nl", ""))
    return managers


def _day(value: date | None) -> str:
    return "—" if value is None else f"{value:%d/%m/%Y}"


class _Lines:
    """The lines naming what ends, each with its last day, in the active language; each line made once."""

    def __init__(self, apps: dict[int, SecuredApplication]) -> None:
        self.apps = apps
        self.roles = dict(Role.choices)
        self.made: dict[tuple[str, object, datetime], str] = {}

    def _line(self, language: str, what: object, until: datetime) -> str:
        key = (language, what, until)
        if key not in self.made:
            with translation.override(language):
                name = self.apps[what].name if isinstance(what, int) else str(self.roles[str(what)])
                day = _day(last_day_of(until))
                self.made[key] = _("- %(name)s (last day %(day)s)") % {"name": name, "day": day}
        return self.made[key]

    def __call__(self, ended: _Ended, language: str) -> list[str]:
        lines = sorted(self._line(language, a, until) for a, until in ended.applications.items())
        return lines + [self._line(language, role, until) for role, until in sorted(ended.roles.items())]


def _person_and_manager_mails(
    *,
    ended: dict[tuple[int, int], _Ended],
    persons: dict[int, dict[str, Any]],
    subdepartments: dict[int, dict[str, Any]],
    now: datetime,
    template: str,
) -> list[tuple[str, str, str, str]]:
    """(to, subject, body, language): one mail per person and subdepartment, one per manager and subdepartment."""
    app_ids = {a for e in ended.values() for a in e.applications}
    items_of = _Lines({a.pk: a for a in SecuredApplication.objects.filter(pk__in=app_ids)})
    contacts = _contacts(ended)
    rendered: dict[tuple[object, ...], tuple[str, str]] = {}
    salutations: dict[tuple[str, str], str] = {}
    messages: list[tuple[str, str, str, str]] = []
    for (person_id, subdepartment_id), what in ended.items():
        person = persons[person_id]
        to = _address(person, contacts.get((person_id, subdepartment_id), ""))
        if not to:
            continue
        sd = subdepartments[subdepartment_id]
        language = person["language"] or "nl"
        membership = Role.USER in what.roles
        key = (language, membership)
        if key not in rendered:
            context = {
                "greeting": _GREETING,
                "subdepartment": _SUBDEPARTMENT,
                "enterprise": _ENTERPRISE,
                "items": _ITEMS,
                "membership": membership,
                "manager": False,
            }
            with translation.override(language):
                rendered[key] = (
                    render_to_string(f"mail/{template}_subject.txt", context).strip(),
                    render_to_string(f"mail/{template}.txt", context),
                )
        if (language, person["title"]) not in salutations:
            with translation.override(language):
                salutations[language, person["title"]] = salutation_format(person["title"])
        greeting = salutations[language, person["title"]] % {
            "first_name": person["first_name"],
            "last_name": person["last_name"],
        }
        items = "\n".join(items_of(what, language))
        subject, body = rendered[key]
        fill = {_GREETING: greeting, _SUBDEPARTMENT: sd["name"], _ENTERPRISE: sd["enterprise__name"], _ITEMS: items}
        for slot, value in fill.items():
            subject, body = subject.replace(slot, value), body.replace(slot, value)
        messages.append((to, subject, body, language))
    by_subdepartment: dict[int, list[tuple[int, _Ended]]] = defaultdict(list)
    for (person_id, subdepartment_id), what in ended.items():
        by_subdepartment[subdepartment_id].append((person_id, what))
    for subdepartment_id, managers in _managers(by_subdepartment, now).items():
        sd = subdepartments[subdepartment_id]
        concerned = sorted(by_subdepartment[subdepartment_id], key=lambda pw: _sort_name(persons[pw[0]]))
        for manager_id, to, language, _title in managers:
            listed = [(p, w) for p, w in concerned if p != manager_id]
            if not listed:
                continue
            with translation.override(language):
                lines = []
                for person_id, what in listed[:MANAGER_LIST_MAX]:
                    p = persons[person_id]
                    lines.append(f"{p['first_name']} {p['last_name']} ({p['username']})")
                    lines += ["  " + line for line in items_of(what, language)]
                if len(listed) > MANAGER_LIST_MAX:
                    lines.append(_("… and %(count)s more") % {"count": len(listed) - MANAGER_LIST_MAX})
                context = {
                    "subdepartment": sd["name"],
                    "enterprise": sd["enterprise__name"],
                    "items": "\n".join(lines),
                    "manager": True,
                    "users_url": absolute_url(reverse("portal:users", args=[subdepartment_id])),
                }
                subject = render_to_string(f"mail/{template}_subject.txt", context).strip()
                body = render_to_string(f"mail/{template}.txt", context)
            messages.append((to, subject, body, language))
    return messages


def _sort_name(p: dict[str, Any]) -> tuple[str, str, str]:
    return (p["last_name"].lower(), p["first_name"].lower(), p["username"])


def _expiry_mails(b: _Batch) -> list[tuple[str, str, str, str]]:
    names = b.names
    assert names is not None
    return _person_and_manager_mails(
        ended=b.ended,
        persons=names.persons,
        subdepartments=names.subdepartments,
        now=b.now,
        template="access_expired",
    )


# --- reminders before a planned end --------------------------------------------------------------


def expiry_reminders_send(*, now: datetime | None = None) -> dict[str, int]:
    """Mail the person and the subdepartment's managers N days before a planned end, once per threshold.

    A row at 2 days from its end that was never reminded gets one mail (the 3-day one), and its
    14-day threshold is recorded as passed, not sent late. One transaction under a job lock
    (``lock_job``; SQLite serialises writers), so two runs at once send each reminder once.
    """
    now = now or timezone.now()
    thresholds = {q: reminder_thresholds(days) for q, days in Quality.objects.values_list("pk", "reminder_days")}
    horizon = max((max(t) for t in thresholds.values() if t), default=0)
    if not horizon:
        return {"reminders": 0, "mails": 0}
    window = Q(valid_until__gt=now, valid_until__lte=now + timedelta(days=horizon))
    with transaction.atomic():
        lock_job("delegation.remind")
        grants = ApplicationGrant.objects.active(now).filter(window)
        memberships = RoleAssignment.objects.active(now).filter(window, role__in=SUBDEPARTMENT_ROLES)
        common = ("pk", "person_id", "subdepartment_id")
        candidates: list[tuple[str, int, int, int, str, datetime, int]] = [
            (ReminderKind.GRANT, pk, person, sd, str(app), until, quality)
            for pk, person, sd, app, until, quality in grants.values_list(
                *common, "application_id", "valid_until", "subdepartment__quality_id"
            )
        ]
        candidates += [
            (ReminderKind.MEMBERSHIP, pk, person, sd, role, until, quality)
            for pk, person, sd, role, until, quality in memberships.values_list(
                *common, "role", "valid_until", "subdepartment__quality_id"
            )
        ]
        sent = set(
            ExpiryReminder.objects.filter(
                Q(kind=ReminderKind.GRANT, object_id__in=[c[1] for c in candidates if c[0] == ReminderKind.GRANT])
                | Q(
                    kind=ReminderKind.MEMBERSHIP,
                    object_id__in=[c[1] for c in candidates if c[0] == ReminderKind.MEMBERSHIP],
                )
            ).values_list("kind", "object_id", "days", "planned_end")
        )
        new: list[ExpiryReminder] = []
        ending: dict[tuple[int, int], _Ended] = defaultdict(_Ended)
        for kind, pk, person, sd, what, until, quality in candidates:
            passed = [d for d in thresholds.get(quality, ()) if until - now <= timedelta(days=d)]
            if not passed:
                continue
            fresh = [d for d in passed if (kind, pk, d, until) not in sent]
            new += [ExpiryReminder(kind=kind, object_id=pk, days=d, planned_end=until, sent_at=now) for d in fresh]
            if min(passed) in fresh:  # the nearest threshold not mailed yet: one mail, not one per threshold
                if kind == ReminderKind.GRANT:
                    ending[person, sd].applications[int(what)] = until
                else:
                    ending[person, sd].roles[what] = until
        ExpiryReminder.objects.bulk_create(new, batch_size=1000)
        mails = 0
        if ending:
            names = _Names({p for p, _s in ending}, {s for _p, s in ending}, [])
            mails = mail_enqueue_languages(
                _person_and_manager_mails(
                    ended=ending,
                    persons=names.persons,
                    subdepartments=names.subdepartments,
                    now=now,
                    template="access_expiring",
                )
            )
    return {"reminders": len(new), "mails": mails}
