"""Benchmark: authorization-API checks per second and p50/p99, beside a bare endpoint, in one run.

    .venv/bin/python bench/authz_api.py [--persons 20000] [--grants 50000] [--duration 10]
        [--connections 8] [--workers 1] [--threads 2] [--database-url URL [--generate 1.0]] [--keep]

Data: by default a scratch database (SQLite under a temporary directory; PostgreSQL when
TOEGANG_DATABASE_URL is set: ``toegang_bench_<pid>`` on that server, dropped afterwards) with
``--persons`` and ``--grants`` written here. With ``--database-url`` an existing database, e.g. one
``manage.py generate_data --scale 1.0`` filled (1,000,000 persons, 3,000,000 grants), so that
``make bench-full`` generates once: the pairs asked are drawn from its grants, and the benchmark's
OAuth client and relying party are (re)created there, nothing else is written (``--generate SCALE``:
create and fill that database first if it is missing or empty).

Server: gunicorn (``bench/common.py``'s ``serve``), pinned to CPU 0, with this file as its WSGI
application; load: Debian's wrk (``wrk``, one thread) pinned to CPU 1. A token comes from the real
token endpoint (a JWT access token). Four endpoints:

- ``API check``: ``GET /api/v1/persons/{ssin}/facilities/{id}``: the JWT access token verified in the
  worker (toegang/oidc/jwt_tokens.py: signature with the public key in memory, exp, iss, aud, the
  deny-list remembered for 2 s), ``authz.may_use_ssin`` (one statement), django-ninja, the API's
  middleware (``toegang/wsgi.py``).
- ``API check, opaque token``: the same with an opaque token as the token endpoint issued them before
  JWTs (one django-oauth-toolkit row): checked by DOT, remembered in the token cache (Redis when
  reachable: ``toegang/api/auth.py``). The comparison of the two token checks, in the same run.
- ``bare``: the very statement of ``authz.may_use_ssin`` (its SQL compiled once from the ORM query)
  on Django's connection, from a plain WSGI callable: no middleware, URL resolving, token or ninja.
  The floor for the same SQL.
- ``API batch``: ``POST /api/v1/checks`` with 100 pairs a request (checks/s counts the pairs).

Each runs twice: with one connection (latency: one request in flight, so p50/p99 are the service
time, not queueing), and with ``--connections`` (throughput). "per core" is checks per CPU second
of the gunicorn workers (``/proc``), which excludes PostgreSQL's own CPU; wrk's latencies are not
corrected for coordinated omission. Half the pairs asked are held grants, half are not. The machine
may be shared: the 1-minute load average before and after is in the JSON. Prints a table and writes
bench/results/authz_api.json (one entry per data set).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from common import bench_database, database_create, django_setup, serve, wrk

ROOT = Path(__file__).resolve().parent.parent
BATCH_PAIRS = 100
BENCH_CLIENT = "bench-authz-api"
SERVER_CPU, LOAD_CPU = 0, 1


# --- the bench's own WSGI application (loaded by gunicorn, never by the driver) ---------------------

_django_app: Any = None


def _bare(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """``authz.may_use_ssin``'s own compiled statement (the same SQL text and parameters the API runs),
    executed on Django's connection: no middleware, URL resolving, token, ninja or response object."""
    from toegang.delegation import authz

    _prefix, _bench, _bare_word, ssin, subdepartment, application = environ["PATH_INFO"].split("/")
    statement = authz._may_use_ssin_statement("default")
    allowed = statement.run("default", ssin=ssin, application=int(application), sd=int(subdepartment))
    body = b'{"allowed": true}' if allowed else b'{"allowed": false}'
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def application(environ: dict[str, Any], start_response: Any) -> Any:
    """gunicorn's entry point: /bench/bare/<ssin>/<subdepartment>/<application>, else toegang's own
    WSGI application (``toegang.wsgi``, as deployed)."""
    global _django_app
    if _django_app is None:
        from toegang.wsgi import application as toegang_application

        _django_app = toegang_application
    if environ.get("PATH_INFO", "").startswith("/bench/bare/"):
        return _bare(environ, start_response)
    return _django_app(environ, start_response)


# --- data: a scratch database written here, or pairs drawn from an existing generated one ----------


def _nihii(k: int) -> str:
    base = 100_000 + k
    return f"{base:06d}{97 - base % 97:02d}"


def _populate(n_persons: int, n_grants: int) -> dict[str, Any]:
    """A scratch data set: 200 facilities of 20 enterprises, persons, memberships and grants."""
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction

    from toegang.accounts.models import User
    from toegang.applications.models import ApplicationGrant, SecuredApplication
    from toegang.delegation.models import Role, RoleAssignment
    from toegang.identifiers import cbe_make, ssin_make
    from toegang.organisations.services import enterprise_register, quality_activate, subdepartment_create
    from toegang.seed.demo import catalogue_load

    rng = random.Random(5)  # noqa: S311 (reproducible test data)
    operator = User.objects.create_user(username="bench-operator", is_staff=True)
    quality = catalogue_load()
    apps = list(quality.applications.order_by("code"))
    subdepartments = []
    for e in range(20):
        enterprise = enterprise_register(actor=operator, cbe_number=cbe_make(4_100_000 + e), name=f"WZC {e} vzw")
        eq = quality_activate(actor=operator, enterprise=enterprise, quality=quality)
        for s in range(10):
            sd = subdepartment_create(
                actor=operator,
                enterprise_quality=eq,
                name=f"Campus {e}-{s}",
                identification_code=_nihii(e * 10 + s),
                applications=apps,
            )
            subdepartments.append(sd)

    def ssin(i: int) -> str:
        k = i // 998
        return ssin_make(1940 + k % 60, 1 + (k // 60) % 12, 1 + k % 28, 1 + i % 998)

    no_password = make_password(None)
    with transaction.atomic():
        people = User.objects.bulk_create(
            [
                User(username=f"p{i:06d}", ssin=ssin(i), first_name="P", last_name=f"{i}", password=no_password)
                for i in range(n_persons)
            ],
            batch_size=2000,
        )
        memberships: list[RoleAssignment] = []
        grants: list[ApplicationGrant] = []
        held: list[tuple[str, int, int]] = []
        seen: set[tuple[int, int]] = set()
        i = 0
        while len(grants) < n_grants:
            person = people[i % n_persons]
            sd = subdepartments[rng.randrange(len(subdepartments))]
            i += 1
            if (person.pk, sd.pk) in seen:
                continue
            seen.add((person.pk, sd.pk))
            memberships.append(
                RoleAssignment(
                    person=person,
                    role=Role.USER,
                    enterprise_id=sd.enterprise_id,
                    enterprise_quality_id=sd.enterprise_quality_id,
                    subdepartment=sd,
                    granted_by=operator,
                )
            )
            for app in rng.sample(apps, rng.randint(1, 3)):
                grants.append(ApplicationGrant(person=person, subdepartment=sd, application=app, granted_by=operator))
                held.append((person.ssin or "", sd.pk, app.pk))
        RoleAssignment.objects.bulk_create(memberships, batch_size=2000)
        ApplicationGrant.objects.bulk_create(grants, batch_size=2000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    eloket = SecuredApplication.objects.get(code="eloket")
    yes = [(s, sd) for s, sd, app in held if app == eloket.pk]
    people_ssins = [p.ssin or "" for p in people]
    sd_ids = [sd.pk for sd in subdepartments]
    no = [(rng.choice(people_ssins), rng.choice(sd_ids)) for _ in range(len(yes))]
    pairs = [p for pair in zip(yes, no, strict=False) for p in pair]
    rng.shuffle(pairs)
    return {
        "application_id": eloket.pk,
        "pairs": pairs[:20_000],
        "memberships": len(memberships),
        "grants": len(grants),
        "subdepartments": len(subdepartments),
    }


def _existing(rng: random.Random, n_pairs: int) -> dict[str, Any]:
    """Pairs drawn from a database ``generate_data`` filled: held grants of E-loket, and random
    (person, facility) pairs (almost never held), half each; the decision is asked once for each."""
    from django.db.models import Max, Min

    from toegang.accounts.models import User
    from toegang.applications.models import ApplicationGrant, SecuredApplication
    from toegang.organisations.models import Subdepartment

    eloket = SecuredApplication.objects.get(code="eloket")
    grants = ApplicationGrant.objects.aggregate(lo=Min("pk"), hi=Max("pk"))
    users = User.objects.filter(ssin__isnull=False).aggregate(lo=Min("pk"), hi=Max("pk"))
    facilities = Subdepartment.objects.aggregate(lo=Min("pk"), hi=Max("pk"))
    if grants["hi"] is None or users["hi"] is None:
        raise SystemExit("no grants in that database: fill it with manage.py generate_data --scale 1.0")
    yes: list[tuple[str, int]] = []
    while len(yes) < n_pairs // 2:
        ids = [rng.randint(grants["lo"], grants["hi"]) for _ in range(2000)]
        rows = ApplicationGrant.objects.active().filter(pk__in=ids, application=eloket)
        yes += [(s or "", sd) for s, sd in rows.values_list("person__ssin", "subdepartment_id")]
    no: list[tuple[str, int]] = []
    while len(no) < n_pairs // 2:
        ids = [rng.randint(users["lo"], users["hi"]) for _ in range(2000)]
        ssins = User.objects.filter(pk__in=ids, ssin__isnull=False).values_list("ssin", flat=True)
        no += [(s or "", rng.randint(facilities["lo"], facilities["hi"])) for s in ssins]
    pairs = yes[: n_pairs // 2] + no[: n_pairs // 2]
    rng.shuffle(pairs)
    return {
        "application_id": eloket.pk,
        "pairs": pairs,
        "persons": User.objects.count(),
        "grants": ApplicationGrant.objects.count(),
        "subdepartments": Subdepartment.objects.count(),
    }


def _bench_client(application_id: int, rng: random.Random) -> tuple[str, str]:
    """The benchmark's confidential client and its relying party, made afresh: (client id, secret)."""
    from oauth2_provider.models import Application

    from toegang.oidc.models import RelyingParty

    RelyingParty.objects.filter(client__name=BENCH_CLIENT).delete()
    Application.objects.filter(name=BENCH_CLIENT).delete()  # and its tokens
    secret = "bench-secret-" + str(rng.getrandbits(64))
    client = Application.objects.create(
        name=BENCH_CLIENT,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=secret,
    )
    RelyingParty.objects.create(client=client, application_id=application_id)
    return client.client_id, secret


def _opaque_token(client_id: str, rng: random.Random) -> str:
    """An opaque token with scope authz as the token endpoint stored them before JWT access tokens."""
    from datetime import timedelta

    from django.utils import timezone
    from oauth2_provider.models import AccessToken, Application

    value = "bench-opaque-" + str(rng.getrandbits(128))
    AccessToken.objects.create(
        application=Application.objects.get(client_id=client_id),
        token=value,
        scope="authz",
        expires=timezone.now() + timedelta(hours=2),
    )
    return value


def _allowed_share(pairs: list[tuple[str, int]], application_id: int) -> float:
    from toegang.delegation import authz

    held = 0
    for k in range(0, len(pairs), 1000):
        chunk = pairs[k : k + 1000]
        facilities = authz.facilities_for_many((s for s, _ in chunk), application_id)
        held += sum(sd in facilities.get(s, ()) for s, sd in chunk)
    return held / len(pairs)


def _redis_url(wanted: str) -> str:
    """``wanted`` if a Redis server answers there, else "" (the token cache is then per process)."""
    url = urlparse(wanted)
    try:
        with socket.create_connection((url.hostname or "127.0.0.1", url.port or 6379), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return wanted if s.recv(16).startswith(b"+PONG") else ""
    except OSError:
        return ""


# --- the run ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--persons", type=int, default=20_000, help="scratch data set: persons")
    parser.add_argument("--grants", type=int, default=50_000, help="scratch data set: grants")
    parser.add_argument("--database-url", default="", help="an existing database filled by generate_data instead")
    parser.add_argument(
        "--generate",
        type=float,
        default=0.0,
        metavar="SCALE",
        help="with --database-url: create that PostgreSQL database if missing and fill it (generate_data) if empty",
    )
    parser.add_argument("--pairs", type=int, default=20_000, help="distinct (person, facility) pairs asked")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=8, help="connections of the throughput runs")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers (all pinned to one CPU)")
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="gunicorn gthread threads (keep-alive); 0: sync workers (a connection a request)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("TOEGANG_REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="the cache of the server (the token cache); without a Redis answering there, local memory",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "authz_api.json", help="JSON results")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    if args.database_url and args.generate:
        database_create(args.database_url)
    with bench_database("bench", args.database_url, keep=args.keep) as (database_url, tmp):
        _run(args, tmp, database_url, load_before)


def _run(args: argparse.Namespace, tmp: Path, database_url: str, load_before: float) -> None:
    import httpx

    redis_url = _redis_url(args.redis_url) if args.redis_url else ""
    extra = {
        "TOEGANG_REDIS_URL": redis_url,
        # With Redis this is the default; in local memory (one cache per worker) the bench sets it,
        # since it never revokes a token.
        "TOEGANG_API_TOKEN_CACHE_SECONDS": "60",
    }
    if args.threads:
        extra["GUNICORN_CMD_ARGS"] = f"--worker-class gthread --threads {args.threads} --no-control-socket"
    env = django_setup(database_url, tmp, **extra)
    from django.core.management import call_command
    from django.db import connection, connections

    rng = random.Random(5)  # noqa: S311 (reproducible test data)
    start = time.perf_counter()
    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)  # /api/docs' Swagger UI, served by whitenoise
    if args.database_url:
        from toegang.applications.models import ApplicationGrant

        if args.generate and not ApplicationGrant.objects.exists():
            print(f"generating the data set at scale {args.generate} (once; later runs reuse it)")
            call_command("generate_data", "--scale", str(args.generate))
        data = _existing(rng, args.pairs)
        data_set = f"{connection.vendor}, existing ({data['persons']:,} persons)"
        key = f"{connection.vendor}_existing"
    else:
        data = _populate(args.persons, args.grants)
        data["persons"] = args.persons
        data_set = f"{connection.vendor}, scratch"
        key = connection.vendor
    client_id, secret = _bench_client(data["application_id"], rng)
    opaque_token = _opaque_token(client_id, rng)
    pairs: list[tuple[str, int]] = data["pairs"][: args.pairs]
    allowed_share = _allowed_share(pairs, data["application_id"])
    print(
        f"{data_set}: {data['persons']:,} persons, {data['grants']:,} grants, {data['subdepartments']:,} facilities; "
        f"{len(pairs):,} pairs asked, {allowed_share:.0%} held; ready in {time.perf_counter() - start:.1f} s"
    )
    connections.close_all()

    app_id = data["application_id"]
    results: dict[str, Any] = {}
    pythonpath = f"{ROOT},{ROOT / 'bench'}"
    with serve("authz_api:application", env, workers=args.workers, pythonpath=pythonpath, cpu=SERVER_CPU) as server:
        base = server.base
        token_response = httpx.post(
            base + "/oauth/token/",
            data={"grant_type": "client_credentials", "scope": "authz"},
            auth=(client_id, secret),
        )
        token_response.raise_for_status()
        headers = {"Authorization": f"Bearer {token_response.json()['access_token']}"}
        assert token_response.json()["access_token"].count(".") == 2, "not a JWT access token"
        opaque = {"Authorization": f"Bearer {opaque_token}"}
        docs = httpx.get(base + "/api/docs").text
        bundle = re.search(r'src="([^"]*swagger-ui-bundle[^"]*)"', docs)
        assert bundle, "Swagger UI bundle not referenced by /api/docs"
        docs_offline = httpx.get(base + bundle.group(1)).status_code == 200 and "https://" not in docs

        check = [("GET", f"/api/v1/persons/{s}/facilities/{sd}", "") for s, sd in pairs]
        bare = [("GET", f"/bench/bare/{s}/{sd}/{app_id}", "") for s, sd in pairs]
        batch = [
            (
                "POST",
                "/api/v1/checks",
                json.dumps([{"ssin": s, "subdepartment_id": sd} for s, sd in pairs[k : k + BATCH_PAIRS]]),
            )
            for k in range(0, max(1, len(pairs) - BATCH_PAIRS + 1), BATCH_PAIRS)
        ]
        # Same answers from both (a bug in the bare SQL would make the comparison meaningless).
        for k in range(50):
            a = httpx.get(base + check[k][1], headers=headers).json()
            b = httpx.get(base + bare[k][1]).json()
            assert a == b, (pairs[k], a, b)

        scenarios = [("API check (GET)", check, headers, 1), ("API check, opaque token", check, opaque, 1),
                     ("bare (same SQL)", bare, {}, 1),
                     (f"API batch ({BATCH_PAIRS} pairs)", batch, headers, BATCH_PAIRS)]  # fmt: skip
        header = (
            f"{'endpoint':24} {'run':16} {'req/s':>7} {'checks/s':>9} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'CPU s':>6} {'checks/CPU s':>12} {'errors':>6}"
        )
        print(header)
        print("-" * len(header))
        for label, requests, hdrs, per_request in scenarios:
            wrk(server, requests, headers=hdrs, duration=args.warmup, connections=1, cpu=LOAD_CPU)
            for run, connections_ in (("latency", 1), ("throughput", args.connections)):
                r = wrk(server, requests, headers=hdrs, duration=args.duration, connections=connections_, cpu=LOAD_CPU)
                r["checks_per_s"] = r["requests_per_s"] * per_request
                r["checks_per_server_cpu_s"] = r["requests_per_server_cpu_s"] * per_request
                results[f"{label}, {run}"] = r
                print(
                    f"{label:24} {run + f' (c={connections_})':16} {r['requests_per_s']:>7.0f} "
                    f"{r['checks_per_s']:>9.0f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['server_cpu_s']:>6.2f} "
                    f"{r['checks_per_server_cpu_s']:>12.0f} {r['errors']:>6}"
                )

    import django as dj
    import ninja
    import oauth2_provider

    out = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "database": connection.vendor,
        "data_set": data_set,
        "persons": data["persons"],
        "grants": data["grants"],
        "facilities": data["subdepartments"],
        "pairs_asked": len(pairs),
        "allowed_share_of_pairs": allowed_share,
        "gunicorn": {"workers": args.workers, "threads": args.threads or None, "cpu": SERVER_CPU},
        "load_generator": {"tool": "wrk", "threads": 1, "cpu": LOAD_CPU, "connections_throughput": args.connections},
        "token_cache": "redis" if redis_url else "local memory (per worker)",
        "duration_s": args.duration,
        "cpus": os.cpu_count(),
        # Other processes on the machine take CPU too; the 1-minute load before and after the run.
        "load_average_1m": {"before": load_before, "after": os.getloadavg()[0]},
        "python": sys.version.split()[0],
        "django": dj.get_version(),
        "django_ninja": ninja.__version__,
        "django_oauth_toolkit": oauth2_provider.__version__,
        "docs_served_offline": docs_offline,
        "results": results,
        "note": (
            "latency runs: one connection, so p50/p99 are service time, not queueing; throughput runs: "
            "--connections. checks/CPU s: per CPU second of the gunicorn workers (PostgreSQL's CPU not "
            "counted). Server pinned to CPU 0, wrk to CPU 1; other sessions share both."
        ),
    }
    path = args.out
    path.parent.mkdir(parents=True, exist_ok=True)
    # One entry per data set, so SQLite, scratch PostgreSQL and the full data set sit side by side.
    previous = json.loads(path.read_text()) if path.exists() else {}
    merged = {k: v for k, v in previous.items() if isinstance(v, dict) and "results" in v}
    merged[key] = out
    path.write_text(json.dumps(merged, indent=2) + "\n")
    print(f"/api/docs served offline: {docs_offline}; load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}")
    print(f"written {path}")


if __name__ == "__main__":
    main()
