"""Benchmark: authorization-API checks per second and p50/p99, beside a bare endpoint, in one run.

    .venv/bin/python bench/authz_api.py [--persons 20000] [--grants 50000] [--duration 10]
        [--concurrency 8] [--workers N] [--keep]

On a scratch database (SQLite under a temporary directory; PostgreSQL when TOEGANG_DATABASE_URL is
set: a scratch database ``toegang_bench_<pid>`` is created on that server and dropped afterwards),
it generates persons, facilities, memberships and grants (bulk_create, valid INSZ numbers), starts
gunicorn on 127.0.0.1 (a free port) with this file as its WSGI application, gets a token from the
real token endpoint, and drives it with an async httpx load generator:

- ``API check``: ``GET /api/v1/persons/{ssin}/facilities/{id}``: bearer token checked by
  django-oauth-toolkit, relying party, person, ``authz.may_use``; the full middleware stack.
- ``API batch``: ``POST /api/v1/checks`` with 100 pairs a request (checks/s counts the pairs).
- ``bare``: the same two statements of the decision (the person by INSZ, then the indexed
  ``may_use`` EXISTS, SQL compiled from the very same ORM query) on Django's connection, from a
  plain WSGI callable: no middleware, no URL resolving, no token, no ninja. It is the floor.

Half the pairs asked are held grants, half are not. The load generator runs on the same machine
and takes CPU from the server: compare the rows with each other, not with another machine. Prints
a table and writes bench/results/authz_api.json (one entry per database). gunicorn is stopped by
its pid.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import scratch_database

ROOT = Path(__file__).resolve().parent.parent
BATCH_PAIRS = 100


# --- the bench's own WSGI application (loaded by gunicorn, never by the driver) ---------------------

_django_app: Any = None
_bare_sql: list[str] = []


def _bare_prepare() -> None:
    """Compile the decision's own statements once: the person by INSZ, then ``may_use``'s EXISTS."""
    from django.db import connection

    from toegang.accounts.models import User
    from toegang.delegation import authz

    person_sql, person_params = User.objects.filter(ssin="SSIN").values_list("pk").query.sql_with_params()
    qs = authz.facilities_for(-111, -222).filter(subdepartment_id=-333)
    exists_sql, exists_params = qs.query.exists().get_compiler(connection=connection).as_sql()
    placeholders = {"SSIN": "%(ssin)s", -111: "%(person)s", -222: "%(application)s", -333: "%(subdepartment)s"}

    def named(sql: str, params: tuple[Any, ...]) -> str:
        # Replace each positional %s with a named one (sentinels) or the literal constant.
        sql = sql.replace("%", "%%").replace("%%s", "%s")
        parts = sql.split("%s")
        assert len(parts) == len(params) + 1, (sql, params)
        out = parts[0]
        for param, rest in zip(params, parts[1:], strict=True):
            if param in placeholders:
                out += placeholders[param]
            elif isinstance(param, bool):
                out += "TRUE" if param else "FALSE"
            elif isinstance(param, int):
                out += str(param)
            else:
                out += "'" + str(param).replace("'", "''") + "'"
            out += rest
        return out

    _bare_sql[:] = [named(person_sql, person_params), named(exists_sql, exists_params)]


def _bare(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    from django.db import connection

    _prefix, _bench, _bare_word, ssin, subdepartment, application = environ["PATH_INFO"].split("/")
    with connection.cursor() as cursor:
        cursor.execute(_bare_sql[0], {"ssin": ssin})
        row = cursor.fetchone()
        allowed = False
        if row is not None:
            cursor.execute(
                _bare_sql[1],
                {"person": row[0], "application": int(application), "subdepartment": int(subdepartment)},
            )
            allowed = cursor.fetchone() is not None
    body = b'{"allowed": true}' if allowed else b'{"allowed": false}'
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def application(environ: dict[str, Any], start_response: Any) -> Any:
    """gunicorn's entry point: /bench/bare/<ssin>/<subdepartment>/<application>, else toegang."""
    global _django_app
    if _django_app is None:
        from django.core.wsgi import get_wsgi_application

        _django_app = get_wsgi_application()
        _bare_prepare()
    if environ.get("PATH_INFO", "").startswith("/bench/bare/"):
        return _bare(environ, start_response)
    return _django_app(environ, start_response)


# --- scratch database and data ---------------------------------------------------------------------


def _nihii(k: int) -> str:
    base = 100_000 + k
    return f"{base:06d}{97 - base % 97:02d}"


def _populate(n_persons: int, n_grants: int) -> dict[str, Any]:
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction
    from oauth2_provider.models import Application

    from toegang.accounts.models import User
    from toegang.applications.models import ApplicationGrant, SecuredApplication
    from toegang.delegation.models import Role, RoleAssignment
    from toegang.identifiers import cbe_make, ssin_make
    from toegang.oidc.models import RelyingParty
    from toegang.organisations.demo import _catalogue
    from toegang.organisations.services import enterprise_register, quality_activate, subdepartment_create

    rng = random.Random(5)  # noqa: S311 (reproducible test data)
    operator = User.objects.create_user(username="bench-operator", is_staff=True)
    quality = _catalogue()
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
    secret = "bench-secret-" + str(rng.getrandbits(64))
    client = Application.objects.create(
        name="E-loket back end",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=secret,
    )
    RelyingParty.objects.create(client=client, application=eloket)
    yes = [(s, sd) for s, sd, app in held if app == eloket.pk]
    people_ssins = [p.ssin or "" for p in people]
    sd_ids = [sd.pk for sd in subdepartments]
    no = [(rng.choice(people_ssins), rng.choice(sd_ids)) for _ in range(len(yes))]
    pairs = [p for pair in zip(yes, no, strict=False) for p in pair]
    rng.shuffle(pairs)
    return {
        "client_id": client.client_id,
        "secret": secret,
        "application_id": eloket.pk,
        "pairs": pairs[:20_000],
        "memberships": len(memberships),
        "grants": len(grants),
        "subdepartments": len(subdepartments),
    }


# --- server and load -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited with {proc.returncode}")
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("gunicorn did not become ready")


def _pct(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def _load(
    base: str, make_request: Any, headers: dict[str, str], *, duration: float, concurrency: int, warmup: float
) -> dict[str, Any]:
    """``concurrency`` clients, each sending its next request as soon as the last one is answered."""
    import httpx

    latencies: list[float] = []
    errors = 0
    checks = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as http:

        async def worker(n: int, until: float, record: bool) -> None:
            nonlocal errors, checks
            k = n
            while time.perf_counter() < until:
                method, url, body, n_checks = make_request(k)
                k += concurrency
                start = time.perf_counter()
                response = await http.request(method, url, json=body)
                elapsed = (time.perf_counter() - start) * 1000
                if not record:
                    continue
                if response.status_code != 200:
                    errors += 1
                latencies.append(elapsed)
                checks += n_checks

        until = time.perf_counter() + warmup
        await asyncio.gather(*(worker(n, until, False) for n in range(concurrency)))
        start = time.perf_counter()
        until = start + duration
        await asyncio.gather(*(worker(n, until, True) for n in range(concurrency)))
        wall = time.perf_counter() - start
    return {
        "requests": len(latencies),
        "errors": errors,
        "requests_per_s": len(latencies) / wall,
        "checks_per_s": checks / wall,
        "p50_ms": _pct(latencies, 50),
        "p99_ms": _pct(latencies, 99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--grants", type=int, default=50_000)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per endpoint")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="gunicorn sync workers")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "authz_api.json", help="JSON results")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="toegang-bench-authz-"))
    database_url, drop_database = scratch_database(tmp, "bench")
    try:
        _run(args, tmp, database_url, load_before)
    finally:
        from django.db import connections

        connections.close_all()
        if args.keep:
            print(f"scratch database kept: {database_url}")
        else:
            drop_database()
            shutil.rmtree(tmp, ignore_errors=True)


def _run(args: argparse.Namespace, tmp: Path, database_url: str, load_before: float) -> None:
    import httpx

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "toegang.settings",
        "TOEGANG_DATABASE_URL": database_url,
        "TOEGANG_VAR_DIR": str(tmp),
        "TOEGANG_EMAIL_URL": "locmem:",
        "TOEGANG_DEBUG": "0",
        "TOEGANG_LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections

    from toegang.delegation import authz

    start = time.perf_counter()
    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)  # /api/docs' Swagger UI, served by whitenoise
    data = _populate(args.persons, args.grants)
    vendor = connection.vendor
    print(
        f"{vendor}: {args.persons:,} persons, {data['grants']:,} grants in {data['memberships']:,} memberships of "
        f"{data['subdepartments']} facilities, generated in {time.perf_counter() - start:.1f} s"
    )
    # How often the decision holds in the pairs asked (the same function the API calls).
    sample = data["pairs"][:200]
    from toegang.accounts.models import User

    ids = dict(User.objects.filter(ssin__in=[s for s, _ in sample]).values_list("ssin", "pk"))
    allowed_share = sum(authz.may_use(ids[s], data["application_id"], sd) for s, sd in sample) / len(sample)
    connections.close_all()

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(  # noqa: S603 (our own virtualenv's gunicorn, fixed arguments)
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "authz_api:application",
            "--pythonpath",
            f"{ROOT},{ROOT / 'bench'}",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=ROOT,
    )
    results: dict[str, Any] = {}
    try:
        _wait_ready(base, proc)
        token_response = httpx.post(
            base + "/oauth/token/",
            data={"grant_type": "client_credentials", "scope": "authz"},
            auth=(data["client_id"], data["secret"]),
        )
        token_response.raise_for_status()
        token = token_response.json()["access_token"]
        docs = httpx.get(base + "/api/docs").text
        bundle = re.search(r'src="([^"]*swagger-ui-bundle[^"]*)"', docs)
        assert bundle, "Swagger UI bundle not referenced by /api/docs"
        docs_offline = httpx.get(base + bundle.group(1)).status_code == 200 and "https://" not in docs

        pairs = data["pairs"]
        app_id = data["application_id"]
        headers = {"Authorization": f"Bearer {token}"}

        def api_check(k: int) -> tuple[str, str, None, int]:
            ssin, sd = pairs[k % len(pairs)]
            return "GET", f"/api/v1/persons/{ssin}/facilities/{sd}", None, 1

        def api_batch(k: int) -> tuple[str, str, Any, int]:
            chunk = [pairs[(k * BATCH_PAIRS + j) % len(pairs)] for j in range(BATCH_PAIRS)]
            return "POST", "/api/v1/checks", [{"ssin": s, "subdepartment_id": sd} for s, sd in chunk], BATCH_PAIRS

        def bare(k: int) -> tuple[str, str, None, int]:
            ssin, sd = pairs[k % len(pairs)]
            return "GET", f"/bench/bare/{ssin}/{sd}/{app_id}", None, 1

        # Same answers from both (a bug in the bare SQL would make the comparison meaningless).
        for k in range(50):
            a = httpx.get(base + api_check(k)[1], headers=headers).json()
            b = httpx.get(base + bare(k)[1]).json()
            assert a == b, (pairs[k], a, b)

        scenarios = [
            ("API check (GET, 4 statements)", api_check, headers),
            ("bare (same 2 decision statements)", bare, {}),
            (f"API batch ({BATCH_PAIRS} pairs/request)", api_batch, headers),
        ]
        header = (
            f"{'endpoint':36} {'requests':>9} {'req/s':>8} {'checks/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"
        )
        print(header)
        print("-" * len(header))
        for label, make, hdrs in scenarios:
            r = asyncio.run(
                _load(base, make, hdrs, duration=args.duration, concurrency=args.concurrency, warmup=args.warmup)
            )
            results[label] = r
            print(
                f"{label:36} {r['requests']:>9,} {r['requests_per_s']:>8.0f} {r['checks_per_s']:>9.0f} "
                f"{r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['errors']:>6}"
            )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    import django as dj
    import ninja
    import oauth2_provider

    out = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "database": vendor,
        "persons": args.persons,
        "grants": data["grants"],
        "memberships": data["memberships"],
        "facilities": data["subdepartments"],
        "allowed_share_of_pairs": allowed_share,
        "gunicorn_workers": args.workers,
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "cpus": os.cpu_count(),
        # Other processes on the machine take CPU too; the 1-minute load before and after the run.
        "load_average_1m": {"before": load_before, "after": os.getloadavg()[0]},
        "python": platform.python_version(),
        "django": dj.get_version(),
        "django_ninja": ninja.__version__,
        "django_oauth_toolkit": oauth2_provider.__version__,
        "docs_served_offline": docs_offline,
        "results": results,
        "note": "load generator (one asyncio process, httpx) on the same machine as the server",
    }
    path = args.out
    path.parent.mkdir(parents=True, exist_ok=True)
    # One entry per database, so a SQLite run and a PostgreSQL run sit side by side.
    previous = json.loads(path.read_text()) if path.exists() else {}
    merged = {k: v for k, v in previous.items() if k in {"sqlite", "postgresql"}}
    merged[vendor] = out
    path.write_text(json.dumps(merged, indent=2) + "\n")
    print(f"allowed in {allowed_share:.0%} of the pairs asked; /api/docs served offline: {docs_offline}")
    print(f"written {path}")


if __name__ == "__main__":
    main()
