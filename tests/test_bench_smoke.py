"""CI smoke of the benchmarks (issue 7): each script runs once, tiny, to its end. No timing asserted.

Every script builds its own scratch database (SQLite under a temporary directory; ``authz_api``,
``generate``, ``token_endpoint``, ``memory`` and ``expiry`` a scratch PostgreSQL database when
TOEGANG_DATABASE_URL points at PostgreSQL), so they run as subprocesses: this process's Django is
already bound to the test database. Each writes its JSON to ``tmp_path``, never over the committed
results in bench/results/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from toegang.applications.models import ApplicationGrant
from toegang.organisations.models import Subdepartment

ROOT = Path(__file__).resolve().parent.parent

SCRIPTS = {
    "password_login": ["--logins", "2", "--users", "2"],
    "csv_import": ["--rows", "20"],
    "mail_outbox": ["--mails", "20", "--deliver", "10"],
    "users_list": ["--users", "60", "--noise", "10", "--runs", "2"],
    "authz_api": ["--persons", "200", "--grants", "300", "--duration", "0.3", "--warmup", "0.1", "--workers", "1"],
    "generate": ["--scale", "0.0005"],
    "token_endpoint": ["--duration", "1", "--connections", "2", "--pool", "100", "--hash-seconds", "0.1"],
    "memory": ["--scale", "0.0005", "--rounds", "2"],
    "expiry": ["--grants", "40", "--subdepartments", "2"],
}
# The server benchmarks' load generator is Debian's wrk (`.ci/run` installs it); like the browser
# tests without Chromium, they are skipped with the install hint where it is missing.
NEEDS_WRK = {"authz_api", "token_endpoint"}
WRK_HINT = "the server benchmarks need Debian's wrk: apt-get install -y wrk"


@pytest.mark.django_db
def test_generate_data_command_at_a_tiny_scale() -> None:
    call_command("generate_data", "--scale", "0.0005", verbosity=0)
    assert Subdepartment.objects.count() >= 50
    assert ApplicationGrant.objects.count() > 0


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_bench_script_runs(script: str, tmp_path: Path) -> None:
    if script in NEEDS_WRK and shutil.which("wrk") is None:
        pytest.skip(WRK_HINT)
    out = tmp_path / f"{script}.json"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    if not env.get("TOEGANG_DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        env.pop("TOEGANG_DATABASE_URL", None)
    result = subprocess.run(  # noqa: S603 (this interpreter, our own scripts, fixed arguments)
        [sys.executable, str(ROOT / "bench" / f"{script}.py"), *SCRIPTS[script], "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert json.loads(out.read_text())
