"""Benchmark: resident memory of one gunicorn worker, idle and loaded, beside a bare Django process.

    .venv/bin/python bench/memory.py [--scale 0.01] [--rounds 200] [--workers-total 5]
        [--out bench/results/memory.json] [--database-url postgres://…/toegang_bench_full]

On a scratch database (SQLite under a temporary directory; PostgreSQL when TOEGANG_DATABASE_URL is
set, via ``common.scratch_database``) it runs ``manage.py generate_data --scale S`` and adds an OAuth
client of E-loket (with ``--database-url``: a database ``generate_data`` already filled, e.g. the full
data set of ``make bench-full``, which is kept; only the client and a session are added), then
starts gunicorn with toegang's own ``toegang.wsgi:application`` (one sync worker, ``common.serve``)
and reads the worker's memory from /proc:

- ``idle``: after boot and one request (``/readyz``, answered before ``serve`` returns);
- ``warm``: after one round of the mix below;
- ``loaded``: after ``--rounds`` rounds of it, one request after another (httpx; the point is what
  the worker keeps, not the rate): the login page (anonymous), the users list of the largest
  subdepartment (pages 1–3, a name filter, the INSZ sort; as its subdepartment manager, a session
  as after password + app code), two authorization-API checks and a batch of 100 (bearer token),
  the token endpoint (client credentials), OIDC discovery and the JWKS.

RSS counts every page the process maps, including those it shares with others (the libraries);
PSS (``/proc/<pid>/smaps_rollup``) divides the shared ones among their sharers. Beside them, measured
in the same run: a bare Python interpreter, and Python after ``django.setup()`` with toegang's
settings (every app and model imported, no request served): the floor of a worker. The total for
``--workers-total`` workers is the master plus that many loaded workers (RSS: an upper bound).
Prints a table and writes bench/results/memory.json (one entry per database).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import ROOT, bench_database, django_setup, rss_mib, serve, write_json


def _kib(pid: int, path: str, field: str) -> float:
    for line in Path(f"/proc/{pid}/{path}").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _memory(pid: int) -> dict[str, float]:
    return {
        "rss_mib": rss_mib(pid),
        "pss_mib": _kib(pid, "smaps_rollup", "Pss"),
        "peak_rss_mib": _kib(pid, "status", "VmHWM"),
    }


BARE = """
import os, sys
from pathlib import Path
if sys.argv[1] == "django":
    import django
    django.setup()
    from django.apps import apps
    assert apps.ready
for line in Path("/proc/self/status").read_text().splitlines():
    if line.startswith("VmRSS:"):
        print(int(line.split()[1]) / 1024)
"""


def _bare(kind: str, env: dict[str, str]) -> float:
    done = subprocess.run(  # noqa: S603 (this interpreter, fixed arguments)
        [sys.executable, "-c", BARE, kind], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip().splitlines()[-1])


def _populate(scale: float, generate: bool) -> dict[str, Any]:
    from django.core.management import call_command
    from django.db.models import Count
    from django.test import Client
    from django.urls import reverse
    from django.utils import translation
    from oauth2_provider.generators import generate_client_secret
    from oauth2_provider.models import Application

    from toegang.applications.models import ApplicationGrant, SecuredApplication
    from toegang.delegation.models import Role, RoleAssignment
    from toegang.oidc.models import RelyingParty
    from toegang.organisations.models import Subdepartment

    if generate:
        call_command("generate_data", "--scale", str(scale), verbosity=0)
    largest = (
        RoleAssignment.objects.active()
        .filter(role=Role.USER, subdepartment__isnull=False)
        .values("subdepartment")
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()
    )
    assert largest is not None
    sd = Subdepartment.objects.get(pk=largest["subdepartment"])
    manager_role = RoleAssignment.objects.filter(subdepartment=sd, role=Role.SUBDEPARTMENT_MANAGER).first()
    assert manager_role is not None, "the generator gives every subdepartment a manager"
    manager = manager_role.person

    sys.path.insert(0, str(ROOT))
    from tests.conftest import login  # a session as after password + app code (level 400)

    session = login(Client(), manager).cookies["sessionid"].value
    eloket = SecuredApplication.objects.get(code="eloket")
    secret = generate_client_secret()
    client = Application.objects.create(
        name="E-loket back end",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=secret,
    )
    RelyingParty.objects.create(client=client, application=eloket)
    pairs = list(
        ApplicationGrant.objects.active()
        .filter(application=eloket)
        .values_list("person__ssin", "subdepartment_id")
        .order_by("pk")[:100]
    )
    with translation.override("nl"):
        users = reverse("portal:users", args=[sd.pk])
    return {
        "subdepartment_users": largest["n"],
        "users_url": users,
        "session": session,
        "client_id": client.client_id,
        "secret": secret,
        "pairs": pairs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.01, help="generate_data scale")
    parser.add_argument("--rounds", type=int, default=200, help="rounds of the request mix for 'loaded'")
    parser.add_argument("--workers-total", type=int, default=5, help="workers of the total printed")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "memory.json")
    parser.add_argument("--database-url", default="", help="an existing database filled by generate_data instead")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    with bench_database("memory", args.database_url) as (database_url, tmp):
        _run(args, tmp, database_url, load_before)


def _run(args: argparse.Namespace, tmp: Path, database_url: str, load_before: float) -> None:
    import httpx

    env = django_setup(database_url, tmp)
    from django.core.management import call_command
    from django.db import connection, connections

    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)  # the pages' static files (manifest storage)
    call_command("oidc_key", verbosity=0)
    start = time.perf_counter()
    data = _populate(args.scale, generate=not args.database_url)
    vendor = connection.vendor
    source = args.database_url.rsplit("/", 1)[-1] if args.database_url else f"generate_data --scale {args.scale}"
    print(
        f"{vendor}: {source}, largest subdepartment {data['subdepartment_users']:,} "
        f"users, in {time.perf_counter() - start:.1f} s"
    )
    connections.close_all()

    bare = {"python_mib": _bare("python", env), "python_django_setup_mib": _bare("django", env)}
    with serve("toegang.wsgi:application", env, workers=1) as server:
        (worker,) = server.workers()
        idle = _memory(worker)
        anon = httpx.Client(base_url=server.base, timeout=60)
        manager = httpx.Client(base_url=server.base, timeout=60, cookies={"sessionid": data["session"]})
        token = anon.post(
            "/oauth/token/",
            data={"grant_type": "client_credentials", "scope": "authz"},
            auth=(data["client_id"], data["secret"]),
        ).json()["access_token"]
        api = httpx.Client(base_url=server.base, timeout=60, headers={"Authorization": f"Bearer {token}"})
        users = data["users_url"]
        pairs = data["pairs"]
        batch = [{"ssin": s, "subdepartment_id": sd} for s, sd in pairs]

        def one_round(k: int) -> None:
            ssin, sd = pairs[k % len(pairs)]
            calls = [
                anon.get("/nl/accounts/login/"),
                manager.get(users),
                manager.get(users, params={"page": 2}),
                manager.get(users, params={"page": 3}),
                manager.get(users, params={"last_name": "jan"}),
                manager.get(users, params={"sort": "-ssin"}),
                api.get(f"/api/v1/persons/{ssin}/facilities/{sd}"),
                api.get(f"/api/v1/persons/{pairs[(k + 7) % len(pairs)][0]}/facilities"),
                api.post("/api/v1/checks", json=batch),
                anon.post(
                    "/oauth/token/",
                    data={"grant_type": "client_credentials", "scope": "authz"},
                    auth=(data["client_id"], data["secret"]),
                ),
                anon.get("/.well-known/openid-configuration"),
                anon.get("/oauth/.well-known/jwks.json"),
            ]
            # Pages past the end of a small list may be 404; everything else answers 200.
            bad = [(c.request.url, c.status_code) for c in calls if c.status_code != 200 and c.status_code != 404]
            assert not bad, bad
            assert calls[1].status_code == 200 and "<table" in calls[1].text, "users list not served to its manager"

        one_round(0)
        warm = _memory(worker)
        start = time.perf_counter()
        for k in range(1, args.rounds):
            one_round(k)
        seconds = time.perf_counter() - start
        loaded = _memory(worker)
        master = _memory(server.pid)
    n = args.workers_total
    total = {
        "workers": n,
        "rss_mib": master["rss_mib"] + n * loaded["rss_mib"],
        "pss_mib": master["pss_mib"] + n * loaded["pss_mib"],
    }
    print(f"{'process':48} {'RSS MiB':>8} {'PSS MiB':>8} {'peak RSS':>9}")
    print(f"{'bare: python -c pass':48} {bare['python_mib']:>8.1f}")
    print(f"{'bare: python + django.setup() (toegang settings)':48} {bare['python_django_setup_mib']:>8.1f}")
    for label, m in [
        ("gunicorn master", master),
        ("worker idle (boot + /readyz)", idle),
        ("worker warm (1 round of the mix)", warm),
        (f"worker loaded ({args.rounds} rounds)", loaded),
    ]:
        print(f"{label:48} {m['rss_mib']:>8.1f} {m['pss_mib']:>8.1f} {m['peak_rss_mib']:>9.1f}")
    print(f"{f'master + {n} loaded workers':48} {total['rss_mib']:>8.1f} {total['pss_mib']:>8.1f}")
    print(f"{args.rounds} rounds of 12 requests in {seconds:.1f} s")

    import django as dj

    entry = {
        "database": vendor,
        "scale": None if args.database_url else args.scale,
        "data_set": source,
        "largest_subdepartment_users": data["subdepartment_users"],
        "rounds": args.rounds,
        "requests_per_round": 12,
        "bare": bare,
        "master": master,
        "worker_idle": idle,
        "worker_warm": warm,
        "worker_loaded": loaded,
        "total": total,
        "django": dj.get_version(),
        "load_average_1m": {"before": load_before, "after": os.getloadavg()[0]},
    }
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    merged = {k: v for k, v in previous.items() if k in {"sqlite", "postgresql"}}
    merged[vendor] = entry
    write_json(args.out, merged)


if __name__ == "__main__":
    main()
