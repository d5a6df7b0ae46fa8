"""Benchmark: import 10,000 generated users from CSV into a scratch database.

    .venv/bin/python bench/csv_import.py [--rows 10000] [--keep]

SQLite under a temporary directory; PostgreSQL when TOEGANG_DATABASE_URL points at a server (a
scratch database beside it, dropped afterwards unless --keep). JSON: one entry per database vendor.

Prints users/second for parsing, the preview (the file's checks and the service's, one query per
lookup, nothing written), the real import (``csv_import.rows_import`` → ``services.subdepartment_users_import``:
one transaction with the permission check, persons, memberships, grants, audit events and one outbox
e-mail per user, all with ``bulk_create``), and beside them a bare ``bulk_create`` of the same rows
(users, memberships, grants; no checks, no audit, no mail), the floor the import is compared with.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common import scratch_database

ROOT = Path(__file__).resolve().parent.parent


def _setup(url: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["TOEGANG_DATABASE_URL"] = url
    os.environ["TOEGANG_EMAIL_URL"] = "locmem:"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "toegang.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


@contextmanager
def _count_queries() -> Iterator[list[int]]:
    from django.db import connection

    counter = [0]

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        counter[0] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield counter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "csv_import.json", help="JSON results")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="toegang-bench-"))
    url, drop = scratch_database(tmp, "csv")
    try:
        _setup(url)
        _run(args)
    finally:
        from django.db import connections

        connections.close_all()
        if args.keep:
            print(f"scratch database kept: {url}")
        else:
            drop()
            for f in tmp.iterdir():
                f.unlink()
            tmp.rmdir()


def _run(args: argparse.Namespace) -> None:

    from django.db import transaction

    from toegang.accounts.models import User
    from toegang.applications.models import ApplicationGrant
    from toegang.applications.selectors import subdepartment_applications
    from toegang.delegation.csv_import import parse, rows_import
    from toegang.delegation.models import Role, RoleAssignment
    from toegang.delegation.services import role_appoint
    from toegang.identifiers import cbe_make, ssin_make
    from toegang.mail.models import OutgoingMail
    from toegang.organisations.services import enterprise_register, quality_activate, subdepartment_create
    from toegang.seed.demo import catalogue_load

    operator = User.objects.create_user(username="bench-operator", is_staff=True)
    quality = catalogue_load()
    apps = list(quality.applications.order_by("code"))
    enterprise = enterprise_register(actor=operator, cbe_number=cbe_make(4031707), name="Bench vzw")
    eq = quality_activate(actor=operator, enterprise=enterprise, quality=quality)
    sd = subdepartment_create(
        actor=operator, enterprise_quality=eq, name="Bench facility", identification_code="10000007", applications=apps
    )
    sb_ssin = ssin_make(1970, 1, 1, 999)
    role_appoint(
        actor=operator,
        role=Role.SUBDEPARTMENT_MANAGER,
        scope=sd,
        ssin=sb_ssin,
        email="sb@example.test",
        first_name="Sub",
        last_name="Manager",
    )
    # The SB activated their account themselves (docs/security.md, the identity model): the role counts.
    User.objects.filter(ssin=sb_ssin).update(activation="person")
    sb = User.objects.get(ssin=sb_ssin)
    codes = [a.code for a in subdepartment_applications(sd)]

    n = args.rows
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["insz", "naam", "voornaam", "e-mailadres", "taalkeuze", "beveiligde toepassingen"])
    for i in range(n):
        ssin = ssin_make(1950 + i % 50, 1 + (i // 50) % 12, 1 + (i // 600) % 28, 1 + (i // 16_800) % 998)
        writer.writerow(
            [ssin, f"Achternaam{i}", f"Voornaam{i}", f"user{i}@example.test", "nl", "|".join(codes[: 1 + i % 2])]
        )
    text = out.getvalue()

    results: list[tuple[str, float, int]] = []

    t = time.perf_counter()
    rows = parse(text)
    results.append(("parse + checks of the file", time.perf_counter() - t, 0))

    # The floor: the same rows written with bulk_create, no checks, no audit; rolled back afterwards.
    with _count_queries() as q:
        t = time.perf_counter()
        with transaction.atomic():
            people = []
            for r in rows:
                p = User(
                    ssin=r.ssin, username=f"u{r.ssin}", last_name=r.last_name, first_name=r.first_name, email=r.email
                )
                p.set_unusable_password()
                people.append(p)
            User.objects.bulk_create(people, batch_size=1000)
            memberships = [
                RoleAssignment(
                    person=p,
                    role=Role.USER,
                    enterprise=enterprise,
                    enterprise_quality=eq,
                    subdepartment=sd,
                    contact_email=p.email,
                    granted_by=sb,
                )
                for p in people
            ]
            RoleAssignment.objects.bulk_create(memberships, batch_size=1000)
            by_code = {a.code: a for a in apps}
            grants = [
                ApplicationGrant(person=p, subdepartment=sd, application=by_code[c], granted_by=sb)
                for p, r in zip(people, rows, strict=True)
                for c in r.applications.split("|")
            ]
            ApplicationGrant.objects.bulk_create(grants, batch_size=1000)
            elapsed = time.perf_counter() - t
            transaction.set_rollback(True)
    results.append(("bare bulk_create (users, memberships, grants)", elapsed, q[0]))

    with _count_queries() as q:
        t = time.perf_counter()
        report = rows_import(actor=sb, subdepartment=sd, rows=rows, dry_run=True)
        results.append(("preview (every check, nothing written)", time.perf_counter() - t, q[0]))
    assert report.ok and not report.committed, [r.errors for r in report.errors[:5]]

    mails_before = OutgoingMail.objects.count()  # the SB's own appointment mail
    with _count_queries() as q:
        t = time.perf_counter()
        report = rows_import(actor=sb, subdepartment=sd, rows=rows, dry_run=False)
        results.append(("import (committed, one transaction, mails queued)", time.perf_counter() - t, q[0]))
    assert report.committed and report.new_count == n
    assert OutgoingMail.objects.count() - mails_before == n  # one per user, queued in the import's transaction
    assert RoleAssignment.objects.active().filter(subdepartment=sd, role=Role.USER).count() == n

    from django.db import connection

    vendor = connection.vendor
    print(f"CSV import of {n:,} users, {vendor}")
    print(f"{'step':<48} {'seconds':>8} {'users/s':>9} {'queries/user':>13}")
    for label, seconds, queries in results:
        print(f"{label:<48} {seconds:8.2f} {n / seconds:9.0f} {queries / n:13.2f}")
    out = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpus": os.cpu_count(),
        "database": vendor,
        "rows": n,
        "results": {
            label: {"seconds": seconds, "users_per_s": n / seconds, "queries_per_user": queries / n}
            for label, seconds, queries in results
        },
    }
    # One entry per database vendor, the other kept (as bench/authz_api.py writes its file).
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    if "database" in previous:  # the earlier single-vendor layout
        previous = {previous["database"]: previous}
    merged = {k: v for k, v in previous.items() if k in {"sqlite", "postgresql"}}
    merged[vendor] = out
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(merged, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
