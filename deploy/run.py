#!/usr/bin/env python3
"""Run toegang on one machine: gunicorn, the task worker and the periodic scheduler, as one unit.

``make run`` calls this. Each of the three is a child process; when one of them ends (a crash, a
failed start) the others are stopped and this exits with its status, and Ctrl-C or SIGTERM stops all
three. On several hosts each runs under its own service manager instead (docs/deployment.md).

    deploy/run.py [--bind 127.0.0.1:8000] [--workers 2]
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
            "--timeout", "300", "--access-logfile", "-",
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", default="127.0.0.1:8000")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    children: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, command in commands(args.bind, args.workers).items():
            # Each child in its own process group: Ctrl-C reaches this supervisor only, which then stops
            # the children in order instead of all of them dying at once mid-request.
            children[name] = subprocess.Popen(command, cwd=ROOT, start_new_session=True)  # noqa: S603
        print(f"run: web (pid {children['web'].pid}), worker (pid {children['worker'].pid}), "
              f"scheduler (pid {children['scheduler'].pid}); Ctrl-C stops all three", flush=True)  # fmt: skip
        while not stopping:
            for name, child in children.items():
                status = child.poll()
                if status is not None:
                    print(f"run: {name} ended with status {status}; stopping the others", file=sys.stderr, flush=True)
                    return status or 1
            time.sleep(0.2)
        return 0
    finally:
        stop(children)


if __name__ == "__main__":
    sys.exit(main())
