"""What the benchmarks share: a scratch database and the JSON they write beside their table."""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent


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


@contextmanager
def bench_database(prefix: str, database_url: str = "", *, keep: bool = False) -> Iterator[tuple[str, Path]]:
    """The database a benchmark runs on, and a temporary directory for its var files.

    ``database_url``: an existing database (e.g. the generated full data set), never dropped;
    otherwise a scratch database (``scratch_database``), dropped at the end unless ``keep``.
    Afterwards Django's connections are closed and the directory removed.
    """
    tmp = Path(tempfile.mkdtemp(prefix=f"toegang-bench-{prefix}-"))
    if database_url:
        url, drop = database_url, lambda: None
    else:
        url, drop = scratch_database(tmp, prefix)
    try:
        yield url, tmp
    finally:
        from django.db import connections

        connections.close_all()
        if keep and not database_url:
            print(f"scratch database kept: {url}")
        else:
            drop()
        shutil.rmtree(tmp, ignore_errors=True)


def database_create(url: str) -> None:
    """CREATE DATABASE for a PostgreSQL URL, unless it exists (through its server's ``postgres`` database)."""
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(scheme="postgresql", path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')


def django_setup(database_url: str, tmp: Path, **extra: str) -> dict[str, str]:
    """Set Django up in this process on ``database_url`` (var files in ``tmp``, mails kept in memory,
    no debug) and return that environment, for the gunicorn the benchmark starts with the same settings.
    ``extra``: more variables (``TOEGANG_REDIS_URL=…``)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "toegang.settings",
        "TOEGANG_DATABASE_URL": database_url,
        "TOEGANG_VAR_DIR": str(tmp),
        "TOEGANG_EMAIL_URL": "locmem:",
        "TOEGANG_DEBUG": "0",
        "TOEGANG_LOG_LEVEL": "WARNING",
        # Django's test client (the in-process logins) names the host "testserver"; gunicorn is 127.0.0.1.
        "TOEGANG_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        **extra,
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    return env


def write_json(path: Path, data: dict[str, Any]) -> None:
    data = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpus": os.cpu_count(),
            "python": platform.python_version(), **data}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"written {path}")


# --- a server under load: gunicorn, wrk, and what the server's processes used -----------------------

WRK_SCRIPT = Path(__file__).with_name("wrk_requests.lua")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running gunicorn: its base URL, master pid and worker pids."""

    base: str
    pid: int
    proc: subprocess.Popen[bytes]

    def workers(self) -> list[int]:
        """The worker processes (children of the master), from /proc."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.pid:  # field 4 of stat: the parent pid
                pids.append(int(stat.parent.name))
        return sorted(pids)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far (/proc/<pid>/stat fields 14 and 15)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def rss_mib(pid: int) -> float:
    """Resident set size of one process in MiB (VmRSS of /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


@contextmanager
def serve(
    app: str, env: dict[str, str], *, workers: int = 1, pythonpath: str = "", cpu: int | None = None
) -> Iterator[Server]:
    """gunicorn (sync workers) on a free loopback port, ready (/readyz answered), stopped by its pid.

    ``cpu``: pin the server to that CPU (taskset), so that the load generator can have the other.
    """
    import httpx

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [str(Path(sys.executable).with_name("gunicorn")), app, "--bind", f"127.0.0.1:{port}"]
    # gunicorn's control socket is one path per user: a second gunicorn on the machine would take it over.
    command += ["--workers", str(workers), "--log-level", "warning", "--no-control-socket"]
    if pythonpath:
        command += ["--pythonpath", pythonpath]
    if cpu is not None and shutil.which("taskset"):
        command = ["taskset", "-c", str(cpu), *command]
    proc = subprocess.Popen(command, env=env, cwd=ROOT)  # noqa: S603 (fixed arguments, our own gunicorn)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"gunicorn exited with {proc.returncode}")
            try:
                if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("gunicorn did not become ready in 60 s")
            time.sleep(0.2)
        yield Server(base=base, pid=proc.pid, proc=proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wrk_line(method: str, path: str, body: str, content_type: str = "") -> str:
    if content_type:
        return f"{method} {path}\t{content_type}\t{body}\n"
    return f"{method} {path} {body}\n"


def wrk(
    server: Server,
    requests: list[tuple[str, str, str]] | list[tuple[str, str, str, str]],
    *,
    headers: dict[str, str] | None = None,
    duration: float = 10,
    connections: int = 8,
    cpu: int | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Drive the server with Debian's wrk (one thread) through ``requests``, taken in turn.

    ``requests``: (method, path, body) triples, a body sent as application/json; or (method, path, body,
    content type) for another type, e.g. a form. ``headers`` go with every request; ``duration`` in
    whole seconds (wrk takes no fractions; rounded, at least 1); ``timeout``: seconds after which wrk
    gives up on an answer and counts a socket error (wrk's default: 2). Returns requests,
    non-2xx answers, requests per second, p50/p99 in ms (wrk's own latency histogram, coordinated
    omission not corrected: each connection sends its next request when the last is answered), and
    the CPU seconds the server's workers used during the run, hence requests per server CPU second.
    """
    if shutil.which("wrk") is None:
        raise SystemExit("the benchmarks' load generator is Debian's wrk: apt-get install -y wrk")
    with tempfile.TemporaryDirectory(prefix="toegang-wrk-") as tmp:
        listing = Path(tmp) / "requests.txt"
        listing.write_text("".join(_wrk_line(*r) for r in requests))
        command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "-s", str(WRK_SCRIPT)]
        if timeout is not None:
            command.append(f"--timeout={max(1, round(timeout))}s")
        for name, value in (headers or {}).items():
            command += ["-H", f"{name}: {value}"]
        command.append(server.base)
        if cpu is not None and shutil.which("taskset"):
            command = ["taskset", "-c", str(cpu), *command]
        workers = server.workers()
        cpu_before = cpu_seconds(workers)
        done = subprocess.run(  # noqa: S603 (fixed arguments)
            command, env={**os.environ, "WRK_REQUESTS": str(listing)}, capture_output=True, text=True, check=True
        )
        server_cpu = cpu_seconds(workers) - cpu_before
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise SystemExit(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")
    r: dict[str, Any] = json.loads(line.removeprefix("WRK_JSON "))
    seconds = r["duration_us"] / 1e6
    return {
        "requests": r["requests"],
        "errors": r["non_2xx"] + r["socket_errors"],
        "requests_per_s": r["requests"] / seconds,
        "p50_ms": r["p50_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000,
        "max_ms": r["max_us"] / 1000,
        "server_cpu_s": server_cpu,
        "requests_per_server_cpu_s": r["requests"] / server_cpu if server_cpu else float("nan"),
        "connections": connections,
        "duration_s": seconds,
    }
