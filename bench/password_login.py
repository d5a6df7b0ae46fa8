"""Benchmark: password logins per second per core with the production Argon2id parameters.

    .venv/bin/python bench/password_login.py [--logins 60] [--users 10] [--keep]

Each login is a POST of username and password to allauth's login view through Django's test client,
in a scratch SQLite database, one process: the form, the failed-login throttle (cache), the
Argon2id verification, the session, allauth's authentication record and user-session row, and the
redirect. Each login comes from its own client address, so the per-address limits stay out of the
way while still being counted. Beside it, in the same run, the ceiling: argon2-cffi's
``PasswordHasher.verify`` with the same parameters in a tight loop, the hash alone.

"Per core" divides by the CPU time of the process (all its threads: Argon2 with parallelism > 1
may fill several lanes at once); the wall-clock rate is printed beside it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "een-lange-benchmark-zin"  # noqa: S105 (benchmark data)


def _setup(db_path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["TOEGANG_DATABASE_URL"] = f"sqlite:///{db_path}"
    os.environ["TOEGANG_EMAIL_URL"] = "locmem:"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "toegang.settings")
    os.environ.setdefault("TOEGANG_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")  # Django's test client
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _timed(n: int, step: Callable[[int], None]) -> tuple[float, float]:
    """Wall-clock and CPU seconds of ``n`` calls of ``step``."""
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        step(i)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--logins", type=int, default=60)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "password_login.json", help="JSON results"
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="toegang-bench-login-"))
    db_path = tmp / "bench.sqlite3"
    _setup(db_path)

    import argon2
    from django.conf import settings
    from django.contrib.auth.hashers import Argon2PasswordHasher, get_hasher
    from django.test import Client

    from toegang.accounts.models import User

    hasher = get_hasher("default")
    assert isinstance(hasher, Argon2PasswordHasher), f"the default hasher is {hasher.algorithm}, not Argon2"
    params = hasher.params()
    users = [
        User.objects.create_user(username=f"bench{i:03d}", email=f"bench{i}@example.test", password=PASSWORD)
        for i in range(args.users)
    ]
    assert users[0].password.startswith("argon2$argon2id$")

    def login(i: int) -> None:
        client = Client(REMOTE_ADDR=f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}")
        response = client.post("/nl/accounts/login/", {"login": users[i % len(users)].username, "password": PASSWORD})
        assert response.status_code == 302, response.status_code

    encoded = users[0].password.removeprefix("argon2")
    ceiling = argon2.PasswordHasher.from_parameters(params)

    def verify(i: int) -> None:
        assert ceiling.verify(encoded, PASSWORD)

    for i in range(3):  # warm up: URL resolvers, templates, the first connection
        login(10_000 + i)
        verify(i)
    n = args.logins
    hash_wall, hash_cpu = _timed(n, verify)
    view_wall, view_cpu = _timed(n, login)

    cache = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    print(f"Password login, {n} logins of {len(users)} users, SQLite ({db_path}), cache {cache}, one process")
    print(
        f"Argon2id parameters (Django's Argon2PasswordHasher): time_cost={params.time_cost}, "
        f"memory_cost={params.memory_cost} KiB, parallelism={params.parallelism}, "
        f"hash_len={params.hash_len}, salt_len={params.salt_len} (argon2-cffi {version('argon2-cffi')})"
    )
    print(f"CPUs on this machine: {os.cpu_count()}")
    print()
    header = f"{'method':<44} {'per s/core':>10} {'ms/login (CPU)':>15} {'per s (wall)':>12} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    rows = [
        ("argon2-cffi PasswordHasher.verify (ceiling)", hash_wall, hash_cpu),
        ("login view, end to end (test client)", view_wall, view_cpu),
    ]
    for label, wall, cpu in rows:
        print(f"{label:<44} {n / cpu:10.1f} {1000 * cpu / n:15.1f} {n / wall:12.1f} {hash_cpu / cpu:6.2f}")
    print()
    extra = 1000 * (view_cpu - hash_cpu) / n
    import json
    import platform

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "database": "sqlite",
                "logins": n,
                "cache": cache,
                "argon2": {
                    "time_cost": params.time_cost,
                    "memory_cost_kib": params.memory_cost,
                    "parallelism": params.parallelism,
                },
                "results": {
                    label: {"per_s_per_core": n / cpu, "ms_cpu_per_login": 1000 * cpu / n, "per_s_wall": n / wall}
                    for label, wall, cpu in rows
                },
            },
            indent=2,
        )
        + "\n"
    )
    print(f"ratio = logins per core / hash ceiling per core; the view adds {extra:.1f} ms CPU a login")
    print(f"written {args.out}")
    if not args.keep:
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()


if __name__ == "__main__":
    main()
