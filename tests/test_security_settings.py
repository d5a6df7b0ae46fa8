"""The session and transport settings of docs/security.md (ASVS V3.4, V4.2.2, V14): checked, not assumed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from tests.conftest import World, login

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_a_form_posted_without_the_csrf_token_is_refused(world: World) -> None:
    client = login(Client(enforce_csrf_checks=True), world.person("user"))
    response = client.post("/nl/me/", {"title": "mx", "language": "nl", "email": "x@example.test"})
    assert response.status_code == 403
    assert world.person("user").email != "x@example.test"


@pytest.mark.django_db
def test_the_session_cookie_is_http_only_and_same_site(world: World) -> None:
    client = Client()
    client.post("/nl/accounts/login/", {"login": world.person("user").username, "password": "a-long-test-password-1"})
    cookie = client.cookies["sessionid"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"


def test_production_settings_pass_djangos_deployment_checks(tmp_path: Path) -> None:
    """With an https base URL and a secret key: secure cookies, HSTS, SSL redirect; no warning left."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "toegang.settings",
        "TOEGANG_BASE_URL": "https://toegang.example.test",
        "TOEGANG_ALLOWED_HOSTS": "toegang.example.test",
        "TOEGANG_SECRET_KEY": "x" * 60 + "-a-production-key-of-enough-length-and-variety-0123456789",
        "TOEGANG_DEBUG": "0",
        "TOEGANG_VAR_DIR": str(tmp_path),
        "TOEGANG_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    done = subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "manage.py"), "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
