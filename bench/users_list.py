"""Benchmark: the "Gebruikers" list of a subdepartment with 20,000 users, in a scratch SQLite database.

    .venv/bin/python bench/users_list.py [--users 20000] [--runs 100] [--keep]

For each scenario (page 1, a deep page, filters, sorts, the CSV export) it prints the time of the
whole request through the test client (view, filters, paginator, template; p50 and p99), the number
of queries, the database time of those queries as Django measured them, and beside it the raw SQL
time of the same COUNT and page queries run directly on a cursor: the floor the view is compared with.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from common import write_json

ROOT = Path(__file__).resolve().parent.parent

LAST_NAMES = [
    "Janssens", "Peeters", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens", "Wouters", "De Smet",
    "Dubois", "Lambert", "Dupont", "Martin", "Simon", "Leclercq", "Hermans", "Michiels", "Aerts", "Smets",
    "Van den Broeck", "Desmet", "Vermeulen", "Pauwels", "Declercq", "Cools", "Verhoeven", "Hendrickx", "Lemmens",
]  # fmt: skip
FIRST_NAMES = [
    "Jan", "Marie", "Luc", "Anne", "Pieter", "Sofie", "Koen", "Els", "Tom", "Griet", "Wim", "Lotte", "Bart",
    "Nathalie", "Dirk", "Ines", "Geert", "Lies", "Joris", "Eva", "Hugo", "Sara", "Marc", "Hilde",
]  # fmt: skip


def _setup(db_path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["TOEGANG_DATABASE_URL"] = f"sqlite:///{db_path}"
    os.environ["TOEGANG_EMAIL_URL"] = "locmem:"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "toegang.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _populate(n_users: int, noise: int) -> tuple[Any, Any]:
    """A subdepartment with ``n_users`` (its SB included) and a second one with ``noise`` users."""
    from django.contrib.auth.hashers import make_password
    from django.db import transaction

    from toegang.accounts.models import User
    from toegang.applications.models import ApplicationGrant
    from toegang.delegation.models import Role, RoleAssignment
    from toegang.delegation.services import role_appoint
    from toegang.identifiers import cbe_make, ssin_make
    from toegang.organisations.demo import _catalogue
    from toegang.organisations.services import enterprise_register, quality_activate, subdepartment_create

    operator = User.objects.create_user(username="bench-operator", is_staff=True)
    quality = _catalogue()
    apps = list(quality.applications.order_by("code"))
    enterprise = enterprise_register(actor=operator, cbe_number=cbe_make(4031707), name="Bench vzw")
    eq = quality_activate(actor=operator, enterprise=enterprise, quality=quality)
    sd = subdepartment_create(
        actor=operator, enterprise_quality=eq, name="Groot WZC", identification_code="71000040345", applications=apps
    )
    sd_other = subdepartment_create(
        actor=operator, enterprise_quality=eq, name="Klein WZC", identification_code="71000139312", applications=apps
    )
    sb = role_appoint(
        actor=operator, role=Role.SUBDEPARTMENT_MANAGER, scope=sd, ssin=ssin_make(1960, 1, 1, 1), first_name="Sofie",
        last_name="Subbeheer", email="sb@example.test",
    ).person  # fmt: skip

    rng = random.Random(20_000)  # noqa: S311 (test data, reproducible on purpose)
    with transaction.atomic():
        total = n_users - 1 + noise
        no_password = make_password(None)

        def ssin(i: int) -> str:
            # 998 serials x 28 days x 12 months: unique for up to 335,000 people.
            k = i // 998
            return ssin_make(1970 + k % 28, 1 + (k // 28) % 12, 1 + k % 28, 1 + i % 998)

        people = User.objects.bulk_create(
            [
                User(
                    username=f"u{i:06d}",
                    ssin=ssin(i),
                    first_name=rng.choice(FIRST_NAMES),
                    last_name=rng.choice(LAST_NAMES),
                    email=f"u{i}@example.test",
                    password=no_password,
                )
                for i in range(total)
            ],
            batch_size=2000,
        )
        memberships = []
        grants = []
        for i, p in enumerate(people):
            target = sd if i < n_users - 1 else sd_other
            role = Role.CO_SUBDEPARTMENT_MANAGER if i % 500 == 0 else Role.USER
            memberships.append(
                RoleAssignment(
                    person=p,
                    role=role,
                    enterprise=enterprise,
                    enterprise_quality=eq,
                    subdepartment=target,
                    granted_by=operator,
                    status="blocked" if i % 97 == 0 else "active",
                )
            )
            for app in rng.sample(apps, rng.randint(0, 2)):
                grants.append(ApplicationGrant(person=p, subdepartment=target, application=app, granted_by=operator))
        RoleAssignment.objects.bulk_create(memberships, batch_size=2000)
        ApplicationGrant.objects.bulk_create(grants, batch_size=2000)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return sd, sb


@contextmanager
def _record() -> Iterator[list[tuple[str, Any]]]:
    """Every statement the connection executes, with its parameters (survives reconnects)."""
    from django.db import connection

    seen: list[tuple[str, Any]] = []

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield seen


def _pct(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _time(fn: Callable[[], Any], runs: int) -> list[float]:
    fn()  # warm up: template compilation, translation catalogues, SQLite page cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--noise", type=int, default=5_000, help="users of a second subdepartment")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "users_list.json", help="JSON results")
    args = parser.parse_args()
    results: dict[str, Any] = {}

    tmp = Path(tempfile.mkdtemp(prefix="toegang-bench-users-"))
    db_path = tmp / "bench.sqlite3"
    _setup(db_path)

    from django.conf import settings
    from django.db import connection
    from django.http import StreamingHttpResponse
    from django.test import Client
    from django.test.utils import override_settings
    from django.urls import reverse
    from django.utils import translation

    from toegang.identifiers import ssin_format, ssin_make

    start = time.perf_counter()
    sd, sb = _populate(args.users, args.noise)
    print(f"populated {args.users:,} users in one subdepartment (+{args.noise:,} elsewhere) in "
          f"{time.perf_counter() - start:.1f} s; database {db_path}")  # fmt: skip

    from tests.conftest import login  # a session as after password + app code (level 400)

    client = login(Client(), sb)
    with translation.override("en"):
        base = reverse("portal:users", args=[sd.pk])
        export = reverse("portal:users_export", args=[sd.pk])
    cirro = sd.application_links.order_by("application__code").first().application_id
    scenarios = [
        ("page 1 (default order)", base),
        ("page 1, sorted by INSZ desc", base + "?sort=-ssin"),
        ("deep page 350", base + "?page=350"),
        ("filter Naam=jans, Type=USE", base + "?last_name=jans&type=USE"),
        ("filter INSZ 70.01.0 (prefix)", base + "?ssin=70.01.0"),
        ("filter INSZ complete", base + "?ssin=" + ssin_format(ssin_make(1970, 1, 1, 1))),
        ("filter Status=Geblokkeerd", base + "?status=blocked"),
        ("filter Beveiligde toepassing", base + f"?application={cirro}"),
    ]
    static = {"staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    header = (
        f"{'scenario':31} {'found':>6} {'queries':>7} {'view p50':>9} {'view p99':>9} {'raw SQL p50':>11} {'p99':>7}"
    )
    print(header)
    print("-" * len(header))
    with override_settings(STORAGES={**settings.STORAGES, **static}):
        for label, url in scenarios:
            with _record() as seen:
                response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            found = response.content.decode().split('class="count">')[1].split()[0]
            # The list's own two statements: the COUNT and the page (LIMIT 50 OFFSET n).
            own = [
                (sql, params)
                for sql, params in seen
                if 'FROM "delegation_roleassignment"' in sql and ("COUNT(*)" in sql or "LIMIT" in sql)
            ]
            assert len(own) == 2, own
            view = _time(partial(client.get, url), args.runs)

            def raw(own: list[tuple[str, Any]] = own) -> None:
                with connection.cursor() as cursor:
                    for sql, params in own:
                        cursor.execute(sql, params)
                        cursor.fetchall()

            raw_times = _time(raw, args.runs)
            results[label] = {
                "found": found,
                "queries": len(seen),
                "view_p50_ms": _pct(view, 50),
                "view_p99_ms": _pct(view, 99),
                "raw_sql_p50_ms": _pct(raw_times, 50),
                "raw_sql_p99_ms": _pct(raw_times, 99),
            }
            print(
                f"{label:31} {found:>6} {len(seen):>7} {_pct(view, 50):>7.1f}ms {_pct(view, 99):>7.1f}ms "
                f"{_pct(raw_times, 50):>9.1f}ms {_pct(raw_times, 99):>5.1f}ms"
            )

        def run_export() -> int:
            response = client.get(export)
            assert isinstance(response, StreamingHttpResponse)
            return sum(len(chunk) for chunk in response.streaming_content)

        with _record() as seen:
            size = run_export()
        export_times = _time(run_export, max(3, args.runs // 20))
        print(
            f"CSV export of all {args.users:,} rows: {size / 1024:.0f} KiB, {len(seen)} queries, "
            f"p50 {_pct(export_times, 50):.0f} ms, p99 {_pct(export_times, 99):.0f} ms"
        )
        results["CSV export"] = {
            "kib": size / 1024,
            "queries": len(seen),
            "p50_ms": _pct(export_times, 50),
            "p99_ms": _pct(export_times, 99),
        }
    write_json(args.out, {"database": connection.vendor, "users": args.users, "noise": args.noise,
                           "runs": args.runs, "results": results})  # fmt: skip
    if not args.keep:
        db_path.unlink()
        for extra in tmp.iterdir():
            extra.unlink()
        tmp.rmdir()


if __name__ == "__main__":
    main()
