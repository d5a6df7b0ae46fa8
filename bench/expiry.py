"""Benchmark: the expiry job ends 100,000 expired grants, beside a bare UPDATE of the same rows.

    TOEGANG_DATABASE_URL=postgres://… .venv/bin/python bench/expiry.py [--grants 100000] [--subdepartments 100]

A scratch database (PostgreSQL when TOEGANG_DATABASE_URL points at one, else SQLite) with
``--subdepartments`` facilities, each with its SB, and ``--grants / 2`` users, each a member of one
facility with two applications whose planned end passed an hour ago (written with COPY, not through
the services). Measured in the same run:

1. the floor: ``UPDATE applications_applicationgrant SET ended_at = now() WHERE valid_until <= now()
   AND ended_at IS NULL`` (rolled back afterwards);
2. the job, ``delegation.expiry.accesses_expire``: the same grants closed in batches of 5,000 with
   the conditional UPDATE … RETURNING, one ``grant.expired`` audit event each, the memberships left
   without an application ended (``user.end``), one notice per user and one per manager and batch
   queued in the outbox;
3. the job again: nothing left to do.

Limit (issue 15): 100,000 grants in ≤ 60 s on PostgreSQL. Figures: docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from common import ROOT, bench_database, django_setup, write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--grants", type=int, default=100_000, help="expired grants (two per user)")
    parser.add_argument("--subdepartments", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "expiry.json", help="JSON results")
    args = parser.parse_args()
    with bench_database("expiry", keep=args.keep) as (url, tmp):
        django_setup(url, tmp)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        _run(args)


def _populate(users: int, subdepartments: int) -> dict[str, Any]:
    from django.db import transaction
    from django.utils import timezone

    from toegang.accounts.models import User
    from toegang.applications.models import ApplicationGrant
    from toegang.bulk import copy_insert_rows
    from toegang.delegation.models import Role, RoleAssignment
    from toegang.delegation.services import role_appoint
    from toegang.identifiers import cbe_make, ssin_make
    from toegang.organisations.services import enterprise_register, quality_activate, subdepartment_create
    from toegang.seed.demo import catalogue_load

    operator = User.objects.create_user(username="bench-operator", is_staff=True)
    quality = catalogue_load()
    apps = list(quality.applications.order_by("code"))[:2]
    enterprise = enterprise_register(actor=operator, cbe_number=cbe_make(4031707), name="Bench vzw")
    eq = quality_activate(actor=operator, enterprise=enterprise, quality=quality)
    sds = []
    for k in range(subdepartments):
        base = 100_000 + k
        sd = subdepartment_create(
            actor=operator,
            enterprise_quality=eq,
            name=f"Facility {k}",
            identification_code=f"{base:06d}{97 - base % 97:02d}",
            applications=apps,
        )
        role_appoint(
            actor=operator,
            role=Role.SUBDEPARTMENT_MANAGER,
            scope=sd,
            ssin=ssin_make(1940, 1 + k % 12, 1 + (k // 12) % 28, 1 + k // 336),
            email=f"sb{k}@example.test",
            first_name="Sub",
            last_name=f"Manager{k}",
        )
        sds.append(sd)
    now = timezone.now()
    ended = now - timedelta(hours=1)
    languages = ("nl", "fr", "de", "en")
    with transaction.atomic():
        person_ids = copy_insert_rows(
            User,
            (
                {
                    "username": f"user{i}",
                    "password": "!",
                    "ssin": ssin_make(1950 + i % 50, 1 + (i // 50) % 12, 1 + (i // 600) % 28, 1 + (i // 16_800) % 998),
                    "first_name": f"Voornaam{i}",
                    "last_name": f"Achternaam{i}",
                    "email": f"user{i}@example.test",
                    "language": languages[i % 4],
                    "date_joined": now,
                }
                for i in range(users)
            ),
        )
        copy_insert_rows(
            RoleAssignment,
            (
                {
                    "person_id": pk,
                    "role": Role.USER.value,
                    "enterprise_id": enterprise.pk,
                    "enterprise_quality_id": eq.pk,
                    "subdepartment_id": sds[i % subdepartments].pk,
                    "contact_email": f"user{i}@example.test",
                    "granted_by_id": operator.pk,
                    "valid_from": now - timedelta(days=30),
                    "person_last_name": f"Achternaam{i}",
                    "person_first_name": f"Voornaam{i}",
                    "person_username": f"user{i}",
                }
                for i, pk in enumerate(person_ids)
            ),
        )
        copy_insert_rows(
            ApplicationGrant,
            (
                {
                    "person_id": pk,
                    "subdepartment_id": sds[i % subdepartments].pk,
                    "application_id": app.pk,
                    "granted_by_id": operator.pk,
                    "valid_from": now - timedelta(days=30),
                    "valid_until": ended,
                }
                for i, pk in enumerate(person_ids)
                for app in apps
            ),
        )
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return {"now": now}


def _run(args: argparse.Namespace) -> None:
    from django.db import connection, transaction

    from toegang.applications.models import ApplicationGrant
    from toegang.audit.models import AuditEvent
    from toegang.delegation import expiry as _expiry

    accesses_expire = _expiry.accesses_expire
    from toegang.mail.models import OutgoingMail

    users = args.grants // 2
    t = time.perf_counter()
    _populate(users, args.subdepartments)
    grants = users * 2
    print(f"populated {grants:,} expired grants of {users:,} users in {args.subdepartments} facilities "
          f"in {time.perf_counter() - t:.1f} s")  # fmt: skip

    vendor = connection.vendor
    table = connection.ops.quote_name(ApplicationGrant._meta.db_table)
    with transaction.atomic():
        t = time.perf_counter()
        with connection.cursor() as cursor:
            if vendor == "postgresql":
                cursor.execute(
                    f"UPDATE {table} SET ended_at = now() WHERE valid_until <= now() AND ended_at IS NULL"  # noqa: S608
                )
            else:  # SQLite keeps Django's text form of a time: compare with the same
                from django.utils import timezone

                at = connection.ops.adapt_datetimefield_value(timezone.now())
                cursor.execute(
                    f"UPDATE {table} SET ended_at = %s WHERE valid_until <= %s AND ended_at IS NULL",  # noqa: S608
                    [at, at],
                )
            bare_rows = cursor.rowcount
        bare = time.perf_counter() - t
        transaction.set_rollback(True)
    assert bare_rows == grants, (bare_rows, grants)

    load_before = os.getloadavg()
    mails_before, events_before = OutgoingMail.objects.count(), AuditEvent.objects.count()
    t = time.perf_counter()
    done = accesses_expire()
    job = time.perf_counter() - t
    load_after = os.getloadavg()
    assert done["grants_expired"] == grants, done
    mails = OutgoingMail.objects.count() - mails_before
    events = AuditEvent.objects.count() - events_before
    t = time.perf_counter()
    again = accesses_expire()
    second = time.perf_counter() - t
    assert not any(again.values()), again

    print(f"Expiry of {grants:,} grants ({users:,} memberships left empty), {vendor}, "
          f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after")  # fmt: skip
    print(f"{'step':<58} {'seconds':>8} {'grants/s':>9}")
    rows = [
        ("bare UPDATE … SET ended_at = now() (the floor, rolled back)", bare),
        ("accesses_expire (audit, memberships, mails)", job),
        ("accesses_expire again (nothing to do)", second),
    ]
    for label, seconds in rows:
        print(f"{label:<58} {seconds:8.2f} {grants / seconds if seconds else 0:9.0f}")
    print(f"job / floor: {job / bare:.1f}×; limit 60 s for 100,000 grants: {'met' if job <= 60 else 'NOT met'}"
          f"{'' if grants == 100_000 else ' (not at full size)'}")  # fmt: skip
    print(f"counts: {done}; audit events {events:,}; mails {mails:,}")
    write_json(
        args.out,
        {
            "database": vendor,
            "grants": grants,
            "subdepartments": args.subdepartments,
            "load_average": {"before": load_before, "after": load_after},
            "bare_update_seconds": bare,
            "job_seconds": job,
            "second_run_seconds": second,
            "limit_seconds": 60,
            "counts": done,
            "audit_events": events,
            "mails": mails,
        },
    )


if __name__ == "__main__":
    sys.exit(main())
