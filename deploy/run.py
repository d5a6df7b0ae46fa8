#!/usr/bin/env python3
"""Run toegang on one machine: gunicorn, the task worker and the periodic scheduler, as one unit.

``make run`` calls this. Each of the three is a child process; when one of them ends (a crash, a
failed start) the others are stopped and this exits with its status, and Ctrl-C or SIGTERM stops all
three. On several hosts each runs under its own service manager instead (docs/deployment.md).

    deploy/run.py [--bind 127.0.0.1:8000] [--workers 2]

The public URL (links in e-mails, the OpenID Connect issuer, the trusted origin) is
``TOEGANG_BASE_URL``; when it is not set, the three get ``http://<bind>``, so that
``make run PORT=8101`` sends people to the server that runs (``base_url_for``).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STOP_GRACE_SECONDS = 10
# gunicorn's access log without query strings and without the Referer (gunicorn's default logs the
# request line "%(r)s", query included, and the Referer, which can carry another page's query): URLs
# carry ID tokens (the logout's id_token_hint), authorization codes and a person's data, which the logs
# must not keep (docs/security.md, docs/oidc.md "Conformance"). %(U)s is the path alone.
ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s" %(L)s'


def base_url_for(bind: str) -> str:
    """``http://`` + the address gunicorn binds, as a browser on this machine reaches it.

    A wildcard address (``0.0.0.0``, ``[::]``) is not one a browser can open: its loopback instead.
    """
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--bind must be HOST:PORT, not {bind!r}")
    host = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]", "": "127.0.0.1"}.get(host, host)  # noqa: S104
    return f"http://{host}:{port}"


def child_environment(bind: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the three programs: TOEGANG_BASE_URL as set, else derived from ``bind``."""
    env = dict(os.environ if environ is None else environ)
    if not env.get("TOEGANG_BASE_URL"):
        env["TOEGANG_BASE_URL"] = base_url_for(bind)
    return env


def commands(bind: str, workers: int) -> dict[str, list[str]]:
    python = sys.executable
    manage = [python, str(ROOT / "manage.py")]
    if os.environ.get("TOEGANG_TASK_ENGINE", "database") == "redis":
        # --with-scheduler: RQ's own scheduler moves jobs enqueued with run_after (mail retries) onto the
        # queue; with several workers one of them holds its lock at a time.
        worker = [*manage, "rqworker", "default", "--job-class", "django_tasks_rq.Job", "--with-scheduler"]
    else:
        worker = [*manage, "db_worker", "--queue-name", "default", "--interval", "1"]
    return {
        "web": [
            python, "-m", "gunicorn", "toegang.wsgi:application", "--bind", bind, "--workers", str(workers),
            "--timeout", "300", "--access-logfile", "-", "--access-logformat", ACCESS_LOG_FORMAT,
            # gunicorn's control socket lives at one path per user: a second `make run` on the machine
            # would take it over; toegang does not use it.
            "--no-control-socket",
        ],
        "worker": worker,
        "scheduler": [*manage, "scheduler"],
    }  # fmt: skip


def stop(children: dict[str, subprocess.Popen[bytes]]) -> None:
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children.values():
        try:
            child.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def supervise(programs: dict[str, list[str]], *, poll_seconds: float = 0.2, env: dict[str, str] | None = None) -> int:
    """Start every program and wait; the first to end (or a signal) stops the rest. The exit status."""
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    children: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, command in programs.items():
            # Each child in its own process group: Ctrl-C reaches this supervisor only, which then stops
            # the children in order instead of all of them dying at once mid-request.
            children[name] = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)  # noqa: S603
        started = ", ".join(f"{name} (pid {child.pid})" for name, child in children.items())
        print(f"run: {started}; Ctrl-C stops them all", flush=True)
        while not stopping:
            for name, child in children.items():
                status = child.poll()
                if status is not None:
                    print(f"run: {name} ended with status {status}; stopping the others", file=sys.stderr, flush=True)
                    return status if status > 0 else 1
            time.sleep(poll_seconds)
        return 0
    finally:
        stop(children)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--bind", default="127.0.0.1:8000")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    env = child_environment(args.bind)
    print(f"run: public URL {env['TOEGANG_BASE_URL']} (TOEGANG_BASE_URL)", flush=True)
    return supervise(commands(args.bind, args.workers), env=env)


if __name__ == "__main__":
    sys.exit(main())
