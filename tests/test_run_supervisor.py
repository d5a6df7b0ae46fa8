"""deploy/run.py, the supervisor of `make run`: when one process ends, the others are stopped."""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


WAIT_FOR = "import os, time\nwhile not os.path.exists({path!r}): time.sleep(0.05)"
# The pid file appears whole (renamed into place), then the program sleeps until it is stopped.
SLEEPER = (
    "import os, time; open({path!r} + '.tmp', 'w').write(str(os.getpid())); "
    "os.rename({path!r} + '.tmp', {path!r}); time.sleep(60)"
)


def _run_module() -> Any:
    spec = importlib.util.spec_from_file_location("deploy_run", ROOT / "deploy" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (ended, not yet reaped) counts as gone.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ", 1)[1][0] != "Z"


def test_one_program_ending_stops_the_others_with_its_status(tmp_path: Path) -> None:
    run = _run_module()
    pidfile = tmp_path / "sleeper.pid"
    sleeper = SLEEPER.format(path=str(pidfile))
    started = time.monotonic()
    status = run.supervise(
        {
            "sleeper": [sys.executable, "-c", sleeper],
            # ends once the other one runs, so that there is something to stop
            "crasher": [sys.executable, "-c", WAIT_FOR.format(path=str(pidfile)) + "\nraise SystemExit(3)"],
        },
        poll_seconds=0.05,
    )
    assert status == 3
    assert time.monotonic() - started < 15
    assert not _alive(int(pidfile.read_text()))


def test_sigterm_stops_every_program(tmp_path: Path) -> None:
    run = _run_module()
    pidfiles = [tmp_path / f"{n}.pid" for n in range(2)]
    programs = {f"p{n}": [sys.executable, "-c", SLEEPER.format(path=str(p))] for n, p in enumerate(pidfiles)}

    def terminate_when_started() -> None:
        deadline = time.monotonic() + 20
        while not all(p.exists() for p in pidfiles) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=terminate_when_started, daemon=True).start()
    assert run.supervise(programs, poll_seconds=0.05) == 0
    assert not any(_alive(int(p.read_text())) for p in pidfiles)


def test_the_public_url_follows_the_bind_unless_toegang_base_url_is_set() -> None:
    """`make run PORT=8101`: e-mails and the OpenID Connect issuer point at :8101, not at :8000."""
    run = _run_module()
    assert run.child_environment("127.0.0.1:8101", {})["TOEGANG_BASE_URL"] == "http://127.0.0.1:8101"
    assert run.child_environment("0.0.0.0:8102", {})["TOEGANG_BASE_URL"] == "http://127.0.0.1:8102"
    assert run.child_environment("[::]:8103", {})["TOEGANG_BASE_URL"] == "http://[::1]:8103"
    assert run.child_environment("localhost:8104", {"TOEGANG_BASE_URL": ""})["TOEGANG_BASE_URL"] == (
        "http://localhost:8104"
    )
    kept = {"TOEGANG_BASE_URL": "https://toegang.example.be", "PATH": "/usr/bin"}
    assert run.child_environment("127.0.0.1:8101", kept) == kept


def test_the_children_get_the_derived_public_url(tmp_path: Path) -> None:
    """The environment reaches the programs: each prints what its settings make of it."""
    run = _run_module()
    out = tmp_path / "base_url"
    code = (
        "import os, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'toegang.settings'); django.setup()\n"
        "from django.conf import settings\n"
        f"open({str(out)!r}, 'w').write(settings.BASE_URL + ' ' + settings.OAUTH2_PROVIDER['OIDC_ISS_ENDPOINT'])"
    )
    env = {k: v for k, v in os.environ.items() if k != "TOEGANG_BASE_URL"}
    env["DJANGO_SETTINGS_MODULE"] = "toegang.settings"
    status = run.supervise(
        {"web": [sys.executable, "-c", code]}, poll_seconds=0.05, env=run.child_environment("127.0.0.1:8101", env)
    )
    assert status == 1  # the program ended (by itself, as a crashed one would): the supervisor says so
    assert out.read_text() == "http://127.0.0.1:8101 http://127.0.0.1:8101"
