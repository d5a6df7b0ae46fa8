"""Benchmark: ``generate_data`` into a scratch database, rows per second per table.

    .venv/bin/python bench/generate.py [--scale 0.01] [--out bench/results/generate_data.json] [--keep]
        [--database-url postgres://…/toegang_bench_full]

SQLite under a temporary directory; PostgreSQL when TOEGANG_DATABASE_URL is set (a scratch database
``toegang_gen_<pid>`` is created on that server and dropped afterwards, also when the run fails).
With ``--database-url`` it generates into that PostgreSQL database instead (created if missing,
which must hold no data yet) and keeps it: ``make bench-full`` generates once, then the users-list and
authorization benchmarks read the same data set. Prints the generator's table and writes JSON (one
entry per database).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import database_create, scratch_database

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "generate_data.json")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--database-url", default="", help="generate into this database (kept) instead")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="toegang-bench-gen-"))
    if args.database_url:
        database_create(args.database_url)
        url, drop = args.database_url, lambda: None
        args.keep = True
    else:
        url, drop = scratch_database(tmp, "gen")
    try:
        os.environ.update(
            {"TOEGANG_DATABASE_URL": url, "TOEGANG_EMAIL_URL": "locmem:", "DJANGO_SETTINGS_MODULE": "toegang.settings"}
        )
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        from toegang.seed.generator import generate

        call_command("migrate", verbosity=0)
        vendor = connection.vendor
        from toegang.accounts.models import User

        if args.database_url and User.objects.exists():
            print(f"{url} already holds data: nothing generated (DROP DATABASE it to generate again)")
            return
        print(f"generate_data --scale {args.scale} on {vendor}")

        def progress(label: str, rows: int, seconds: float) -> None:
            print(f"  {label:<26} {rows:>10,} rows {seconds:8.2f} s {rows / max(seconds, 1e-9):>10,.0f} rows/s")

        report = generate(scale=args.scale, progress=progress)
        print(
            f"  {'total (VACUUM ANALYZE incl.)':<26} {report.total_rows:>10,} rows {report.seconds:8.2f} s "
            f"{report.rows_per_second:>10,.0f} rows/s ({report.method})"
        )
        out = {
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "database": vendor,
            "scale": args.scale,
            "method": report.method,
            "rows": report.rows,
            "total_rows": report.total_rows,
            "seconds": report.seconds,
            "rows_per_s": report.rows_per_second,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        }
        previous = json.loads(args.out.read_text()) if args.out.exists() else {}
        merged = {k: v for k, v in previous.items() if k in {"sqlite", "postgresql"}}
        merged[vendor] = out
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(merged, indent=2) + "\n")
        print(f"written {args.out}")
    finally:
        from django.db import connections

        connections.close_all()
        if args.keep:
            print(f"scratch database kept: {url}")
        else:
            drop()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
