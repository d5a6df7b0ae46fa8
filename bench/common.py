"""What the benchmarks share: a scratch database and the JSON they write beside their table."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse


def scratch_database(tmp: Path, prefix: str) -> tuple[str, Callable[[], None]]:
    """The URL of a scratch database, and how to drop it.

    PostgreSQL when TOEGANG_DATABASE_URL points at one (a new database beside it, dropped
    afterwards), otherwise a SQLite file in ``tmp``.
    """
    base = os.environ.get("TOEGANG_DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        return f"sqlite:///{tmp / (prefix + '.sqlite3')}", lambda: None
    import psycopg

    name = f"toegang_{prefix}_{os.getpid()}"
    url = urlparse(base)
    admin_dsn = urlunparse(url._replace(scheme="postgresql"))
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return urlunparse(url._replace(path=f"/{name}")), drop


def write_json(path: Path, data: dict[str, Any]) -> None:
    data = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpus": os.cpu_count(),
            "python": platform.python_version(), **data}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"written {path}")
