"""Benchmark: the "Gebruikers" list of a subdepartment with 20,000 users.

    .venv/bin/python bench/users_list.py [--users 20000] [--runs 100] [--keep]
    .venv/bin/python bench/users_list.py --database-url postgres://…/toegang_full [--runs 100]

Without ``--database-url`` it builds its own subdepartment of ``--users`` in a scratch database:
SQLite, or PostgreSQL when TOEGANG_DATABASE_URL points at a server (a database beside it, dropped
afterwards). With ``--database-url`` it reads an already generated database instead (``manage.py
generate_data --scale 1.0``, or ``bench/generate.py --scale 1.0 --keep``; migrated to the current
code first), writes nothing to it and measures its largest subdepartment, seen by that
subdepartment's manager: 1,000,000 persons around it, as in production.

For each scenario (page 1, a deep page, every filter, every sort, the CSV export) it prints the time of the
whole request through the test client (view, filters, paginator, template; p50 and p99), the number
of queries, the database time of those queries as Django measured them, and beside it the raw SQL
time of the same COUNT and page queries run directly on a cursor: the floor the view is compared with.
JSON to bench/results/users_list.json, one entry per database vendor.
"""

from __future__ import annotations

import argparse
import json
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

from common import scratch_database

ROOT = Path(__file__).resolve().parent.parent

LAST_NAMES = [
    "Janssens", "Peeters", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens", "Wouters", "De Smet",
    "Dubois", "Lambert", "Dupont", "Martin", "Simon", "Leclercq", "Hermans", "Michiels", "Aerts", "Smets",
    "Van den Broeck", "Desmet", "Vermeulen", "Pauwels", "Declercq", "Cools", "Verhoeven", "Hendrickx", "Lemmens",
    "Lefèvre", "Müller", "Dupré", "Gaëlle-Noël",
]  # fmt: skip
FIRST_NAMES = [
    "Jan", "Marie", "Luc", "Anne", "Pieter", "Sofie", "Koen", "Els", "Tom", "Griet", "Wim", "Lotte", "Bart",
    "Nathalie", "Dirk", "Ines", "Geert", "Lies", "Joris", "Eva", "Hugo", "Sara", "Marc", "Hilde", "Zoë", "Anaïs",
]  # fmt: skip
# The search as people type it (issue 13): its p99 through the whole view must stay within this.
SEARCH_LIMIT_MS = 50.0
SEARCHES = [
    ("search lefevre (substring, accents)", "q=lefevre"),
    ("search jans (prefix)", "q=jans"),
    ("search zoe lefevre (two words)", "q=zoe+lefevre"),
    ("search EVRE (inside a name)", "q=EVRE"),
]


def _setup(url: str, migrate: bool) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["TOEGANG_DATABASE_URL"] = url
    os.environ["TOEGANG_EMAIL_URL"] = "locmem:"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "toegang.settings")
    os.environ.setdefault("TOEGANG_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")  # Django's test client
    import django

    django.setup()
    from django.core.management import call_command

    if migrate:
        call_command("migrate", verbosity=0)
    else:  # a generated database is read as it is: say so if it lacks this code's migrations
        from django.db import connection
        from django.db.migrations.executor import MigrationExecutor

        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            sys.exit("the database is not migrated to this code: run manage.py migrate on it first")


def _largest() -> tuple[Any, Any, int]:
    """The generated database's largest subdepartment, its subdepartment manager, its user count."""
    from django.db.models import Count

    from toegang.delegation.models import Role, RoleAssignment
    from toegang.organisations.models import Subdepartment

    top = (
        RoleAssignment.objects.active()
        .filter(role=Role.USER, subdepartment__isnull=False)
        .values("subdepartment")
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()
    )
    if top is None:
        sys.exit("no subdepartment with users in this database: generate data first")
    sd = Subdepartment.objects.get(pk=top["subdepartment"])
    sb = (
        RoleAssignment.objects.active()
        .filter(subdepartment=sd, role=Role.SUBDEPARTMENT_MANAGER)
        .select_related("person")
        .order_by("pk")
        .first()
    )
    if sb is None:
        sys.exit(f"subdepartment {sd.pk} has no subdepartment manager")
    return sd, sb.person, int(top["n"])


def _populate(n_users: int, noise: int) -> tuple[Any, Any]:
    """A subdepartment with ``n_users`` (its SB included) and a second one with ``noise`` users."""
    from datetime import timedelta

    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from toegang.accounts.models import User
    from toegang.applications.models import ApplicationGrant
    from toegang.delegation.models import Role, RoleAssignment
    from toegang.delegation.services import role_appoint
    from toegang.identifiers import cbe_make, ssin_make
    from toegang.organisations.services import enterprise_register, quality_activate, subdepartment_create
    from toegang.seed.demo import catalogue_load

    operator = User.objects.create_user(username="bench-operator", is_staff=True)
    quality = catalogue_load()
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
    # The SB activated their account themselves (docs/security.md, the identity model): the role counts.
    User.objects.filter(pk=sb.pk).update(activation="person")

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
        gone = timezone.now() - timedelta(days=182)
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
                    # One in 61 has ended (the status "Beëindigd"), half a year ago.
                    **({"valid_until": gone, "ended_at": gone, "ended_by": operator} if i % 61 == 1 else {}),
                )
            )
            for app in rng.sample(apps, rng.randint(0, 2)):
                grants.append(ApplicationGrant(person=p, subdepartment=target, application=app, granted_by=operator))
        RoleAssignment.objects.bulk_create(memberships, batch_size=2000)
        ApplicationGrant.objects.bulk_create(grants, batch_size=2000)
    from django.db import connection

    with connection.cursor() as cursor:
        # On PostgreSQL VACUUM too, as autovacuum would after a load: it moves the trigram indexes'
        # pending entries (GIN's fast update) into the index, without which the planner prices the
        # search's bitmap scans too high and reads the subdepartment's rows instead.
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
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


def _scenarios(sd: Any, base: str) -> list[tuple[str, str]]:
    """Page 1, a deep page, each filter and each sort; the filter values taken from the data itself."""
    from toegang.delegation.models import RoleAssignment
    from toegang.identifiers import ssin_format

    rows = RoleAssignment.objects.active().filter(subdepartment=sd).order_by("pk")
    # Through the person (one query), so that the script also measures code from before the copies.
    sample = rows.exclude(person__ssin=None).values_list("person__last_name", "person__first_name",
                                                         "person__username", "person__ssin")[0]  # fmt: skip
    last, first, username, ssin = sample[0], sample[1], sample[2], sample[3] or ""
    n = rows.count()
    app = sd.application_links.active().order_by("application__code").first().application_id
    scenarios = [
        ("page 1 (default order)", base),
        (f"deep page {max(1, n // 50 * 7 // 10)}", base + f"?page={max(1, n // 50 * 7 // 10)}"),
        (f"filter Naam={last[:4].lower()}", base + f"?last_name={last[:4].lower()}"),
        (f"filter Naam={last[:4].lower()}, Type=USE", base + f"?last_name={last[:4].lower()}&type=USE"),
        (f"filter Voornaam={first[:3].lower()}", base + f"?first_name={first[:3].lower()}"),
        (f"filter Gebruikersnaam={username[-3:]}", base + f"?username={username[-3:]}"),
        ("filter Type=USE", base + "?type=USE"),
        ("filter Type=SB", base + "?type=SB"),
        (f"filter INSZ {ssin_format(ssin)[:7]} (prefix)", base + "?ssin=" + ssin_format(ssin)[:7]),
        ("filter INSZ complete", base + "?ssin=" + ssin_format(ssin)),
        ("filter Status=Geblokkeerd", base + "?status=blocked"),
        ("filter Beveiligde toepassing", base + f"?application={app}"),
        *((label, f"{base}?{query}") for label, query in SEARCHES),
        ("status Beëindigd", base + "?status=ended"),
        ("page size 200", base + "?size=200"),
    ]
    for column in ("last_name", "first_name", "username", "type", "ssin", "status"):
        scenarios.append((f"sorted by {column}", base + f"?sort={column}"))
        scenarios.append((f"sorted by {column} desc", base + f"?sort=-{column}"))
    return scenarios


def _write_results(path: Path, vendor: str, out: dict[str, Any]) -> None:
    """One entry per database vendor, the other kept (as bench/authz_api.py writes its file)."""
    previous = json.loads(path.read_text()) if path.exists() else {}
    if "database" in previous:  # the earlier single-vendor layout
        previous = {previous["database"]: previous}
    merged = {k: v for k, v in previous.items() if k in {"sqlite", "postgresql"}}
    merged[vendor] = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpus": os.cpu_count(), **out}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merged, indent=2) + "\n")
    print(f"written {path}")


def _keep() -> None:
    """A database given with --database-url is never dropped."""


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--noise", type=int, default=5_000, help="users of a second subdepartment")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument(
        "--only", help="only the scenarios whose name contains one of these, comma-separated (search,page 1); no export"
    )
    parser.add_argument(
        "--database-url",
        help="an already generated and migrated database (generate_data --scale 1.0): benchmark its largest "
        "subdepartment instead of building one",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "users_list.json", help="JSON results")
    args = parser.parse_args()
    results: dict[str, Any] = {}

    tmp = Path(tempfile.mkdtemp(prefix="toegang-bench-users-"))
    if args.database_url:
        url, drop = args.database_url, _keep
    else:
        url, drop = scratch_database(tmp, "users")
    try:
        _setup(url, migrate=not args.database_url)
        results = _run(args, url)
    finally:
        from django.db import connections

        connections.close_all()
        if args.keep or args.database_url:
            print(f"database kept: {url}")
        else:
            drop()
            for extra in tmp.iterdir():
                extra.unlink()
        if not any(tmp.iterdir()):
            tmp.rmdir()
    _write_results(args.out, results.pop("database"), results)


def _run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    from django.conf import settings
    from django.db import connection
    from django.http import StreamingHttpResponse
    from django.test import Client
    from django.test.utils import override_settings
    from django.urls import reverse
    from django.utils import translation

    start = time.perf_counter()
    if args.database_url:
        sd, sb, n_users = _largest()
        print(f"{connection.vendor}: generated database, largest subdepartment {sd.pk} ({n_users:,} users), "
              f"actor {sb.username}; found in {time.perf_counter() - start:.1f} s")  # fmt: skip
        sizes = {"users": n_users, "noise": None, "database_url": url.rsplit("/", 1)[-1]}
    else:
        sd, sb = _populate(args.users, args.noise)
        print(f"populated {args.users:,} users in one subdepartment (+{args.noise:,} elsewhere) in "
              f"{time.perf_counter() - start:.1f} s on {connection.vendor}")  # fmt: skip
        sizes = {"users": args.users, "noise": args.noise}

    from tests.conftest import login  # a session as after password + app code (level 400)

    client = login(Client(), sb)
    with translation.override("en"):
        base = reverse("portal:users", args=[sd.pk])
        export = reverse("portal:users_export", args=[sd.pk])
    results: dict[str, Any] = {}
    static = {"staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    header = (
        f"{'scenario':34} {'found':>6} {'queries':>7} {'view p50':>9} {'view p99':>9} {'raw SQL p50':>11} {'p99':>7}"
    )
    print(header)
    print("-" * len(header))
    with override_settings(STORAGES={**settings.STORAGES, **static}):
        for label, url_ in _scenarios(sd, base):
            if args.only and not any(part in label for part in args.only.split(",")):
                continue
            with _record() as seen:
                response = client.get(url_)
            assert response.status_code == 200, (url_, response.status_code)
            found = response.content.decode().split('class="count">')[1].split()[0].replace(",", "")
            found = found if found.isdigit() else "1"  # "One item found." / "Eén item gevonden."
            # The list's own statements: the COUNT, the page (LIMIT 50 OFFSET n; none when nothing is
            # found), and with code from before the copies the persons of that page (WHERE id IN …).
            own = [
                (sql, params)
                for sql, params in seen
                if ('FROM "delegation_roleassignment"' in sql and ("COUNT(*)" in sql or "LIMIT" in sql))
                or ('FROM "accounts_user"' in sql and '"accounts_user"."id" IN (' in sql)
            ]
            assert 1 <= len(own) <= 3, own
            view = _time(partial(client.get, url_), args.runs)

            def raw(own: list[tuple[str, Any]] = own) -> None:
                with connection.cursor() as cursor:
                    for sql, params in own:
                        cursor.execute(sql, params)
                        cursor.fetchall()

            raw_times = _time(raw, args.runs)
            results[label] = {
                **({"limit_p99_ms": SEARCH_LIMIT_MS} if label.startswith("search") else {}),
                "url": url_,
                "found": found,
                "queries": len(seen),
                "view_p50_ms": _pct(view, 50),
                "view_p99_ms": _pct(view, 99),
                "raw_sql_p50_ms": _pct(raw_times, 50),
                "raw_sql_p99_ms": _pct(raw_times, 99),
            }
            print(
                f"{label:34} {found:>6} {len(seen):>7} {_pct(view, 50):>7.1f}ms {_pct(view, 99):>7.1f}ms "
                f"{_pct(raw_times, 50):>9.1f}ms {_pct(raw_times, 99):>5.1f}ms"
            )

        searches = {label: r for label, r in results.items() if "limit_p99_ms" in r}
        # The limit is one of an unloaded server: say how loaded the machine was while measuring.
        load = os.getloadavg()
        print(f"\nload average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs while measuring")
        print(f"the search at {sizes['users']:,} users on {connection.vendor}, p99 of the whole request:")
        for label, r in searches.items():
            verdict = "within" if r["view_p99_ms"] <= SEARCH_LIMIT_MS else "OVER"
            print(f"  {label:34} p99 {r['view_p99_ms']:6.1f} ms  limit {SEARCH_LIMIT_MS:.0f} ms: {verdict}")
        print()

        if args.only:
            return {"database": connection.vendor, **sizes, "runs": args.runs, "load_average": load, "results": results}

        def run_export() -> int:
            response = client.get(export)
            assert isinstance(response, StreamingHttpResponse)
            return sum(len(chunk) for chunk in response.streaming_content)

        with _record() as seen:
            size = run_export()
        export_times = _time(run_export, max(3, args.runs // 20))
        print(
            f"CSV export of all {sizes['users']:,} rows: {size / 1024:.0f} KiB, {len(seen)} queries, "
            f"p50 {_pct(export_times, 50):.0f} ms, p99 {_pct(export_times, 99):.0f} ms"
        )
        results["CSV export"] = {
            "kib": size / 1024,
            "queries": len(seen),
            "p50_ms": _pct(export_times, 50),
            "p99_ms": _pct(export_times, 99),
        }
    return {"database": connection.vendor, **sizes, "runs": args.runs, "load_average": load, "results": results}


if __name__ == "__main__":
    main()
