"""Login limits across gunicorn workers (issue 12, F2): the set-up of `make run`, without Redis.

One gunicorn with two sync workers (``--workers 2 --no-control-socket``) on a free loopback port,
on this test's database (a file for SQLite, see tests/conftest.py), with the default cache: no
TOEGANG_REDIS_URL, so Django's database cache. Every request goes on a new connection, and the
requests alternate between the two workers: a connection is opened ("parked") before the previous
one is used, so the worker that took it is busy reading it and the next connection can only go to
the other one. The access log names the worker of each answer, and the test checks that they did
alternate. Under a per-process (local-memory) cache the sixth wrong password was accepted and one
TOTP code opened two sessions.
"""

from __future__ import annotations

import http.client
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from allauth.mfa.totp.internal.auth import TOTP
from allauth.usersessions.models import UserSession
from django.contrib.auth.hashers import Argon2PasswordHasher

from tests.conftest import PASSWORD, make_person, totp_now
from tests.test_jobs_engines import free_port, process_env
from toegang.accounts.models import User
from toegang.audit.models import AuditEvent

ROOT = Path(__file__).resolve().parent.parent
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
WRONG = "not-the-password-123"


def _wait_until_accepted(port: int) -> None:
    """Until no connection waits in the listening socket's queue: a worker has taken the new one.

    Linux's /proc/net/tcp gives a listening socket's accept queue as its rx_queue. Without it the
    alternation is only likely, not certain (and the test's own check of it says so).
    """
    table = Path("/proc/net/tcp")
    if not table.exists():
        return
    deadline = time.monotonic() + 10
    local = f"0100007F:{port:04X}"
    while time.monotonic() < deadline:
        queued = [
            int(fields[4].split(":")[1], 16)
            for fields in (line.split() for line in table.read_text().splitlines()[1:])
            if fields[1] == local and fields[3] == "0A"  # 0A: LISTEN
        ]
        if not any(queued):
            return
        time.sleep(0.005)


@dataclass
class Browser:
    """A cookie jar: one person's browser."""

    cookies: dict[str, str] = field(default_factory=dict)


@dataclass
class Answer:
    status: int
    location: str
    body: str


class TwoWorkers:
    """Requests to the server, each on a new connection, each served by the other worker than the last."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.parked = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.connect()  # accepted by a free worker, which then waits for the request on it
        _wait_until_accepted(self.port)
        return conn

    def close(self) -> None:
        self.parked.close()

    def send(self, browser: Browser, method: str, path: str, form: dict[str, str] | None = None) -> Answer:
        # The worker holding the parked connection is busy: the new one goes to the other worker.
        conn, self.parked = self.parked, self._connect()
        headers = {"Connection": "close", "Host": f"127.0.0.1:{self.port}"}
        if browser.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
        body = None
        if form is not None:
            body = urlencode({**form, "csrfmiddlewaretoken": browser.cookies.get("csrftoken", "")})
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
            for value in response.headers.get_all("Set-Cookie") or []:
                jar: SimpleCookie = SimpleCookie()
                jar.load(value)
                for name, morsel in jar.items():
                    browser.cookies[name] = morsel.value
            return Answer(response.status, response.headers.get("Location", ""), text)
        finally:
            conn.close()

    def login(self, browser: Browser, username: str, password: str) -> Answer:
        if "csrftoken" not in browser.cookies:
            assert self.send(browser, "GET", "/nl/accounts/login/").status == 200
        return self.send(browser, "POST", "/nl/accounts/login/", {"login": username, "password": password})


@dataclass
class Server:
    port: int
    access_log: Path

    def workers_served(self) -> list[str]:
        """The pid of the worker behind each answer so far, in order (gunicorn's access log)."""
        return re.findall(r"^<(\d+)> ", self.access_log.read_text(), flags=re.MULTILINE)


@pytest.fixture(scope="module")
def server(django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    var_dir = tmp_path_factory.mktemp("two-workers")
    port = free_port()
    with django_db_blocker.unblock():
        env = process_env(VAR_DIR=str(var_dir), BASE_URL=f"http://127.0.0.1:{port}", ALLOWED_HOSTS="127.0.0.1")
    subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "manage.py"), "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )
    access_log, error_log = var_dir / "access.log", var_dir / "error.log"
    proc = subprocess.Popen(  # noqa: S603
        [
            sys.executable, "-m", "gunicorn", "toegang.wsgi:application", "--bind", f"127.0.0.1:{port}",
            "--workers", "2", "--no-control-socket", "--timeout", "60",
            "--access-logfile", str(access_log), "--access-logformat", "%(p)s %(r)s %(s)s",
            "--error-logfile", str(error_log),
        ],
        cwd=ROOT,
        env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while len(re.findall("Booting worker", error_log.read_text() if error_log.exists() else "")) < 2:
            assert proc.poll() is None, error_log.read_text()
            assert time.monotonic() < deadline, "gunicorn's two workers did not start"
            time.sleep(0.1)
        # "Booting worker" comes before the worker loads the application: one request each first.
        workers = TwoWorkers(port)
        try:
            for _ in range(2):
                assert workers.send(Browser(), "GET", "/healthz").status == 200
        finally:
            workers.close()
        yield Server(port, access_log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _person(username: str, *, totp: bool = False) -> User:
    person = make_person(username)
    # The server hashes with the production hashers, not the tests' fast one.
    hasher = Argon2PasswordHasher()
    person.password = hasher.encode(PASSWORD, hasher.salt())
    person.save(update_fields=["password"])
    if totp:
        TOTP.activate(person, SECRET)
    return person


def _alternated(server: Server, since: int) -> list[str]:
    served = server.workers_served()[since:]
    assert len(set(served)) == 2, served
    assert all(a != b for a, b in pairwise(served)), served
    return served


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_sixth_wrong_password_is_refused_whichever_worker_counts(server: Server) -> None:
    person = _person("twoworkers")
    before = len(server.workers_served())
    workers = TwoWorkers(server.port)
    try:
        browser = Browser()
        for _ in range(5):
            failed = workers.login(browser, person.username, WRONG)
            assert failed.status == 200 and "Too many" not in failed.body
        # The sixth, with the right password: the account is locked (the five failures were counted
        # by both workers together). Under a per-worker count each had seen two or three.
        locked = workers.login(browser, person.username, PASSWORD)
    finally:
        workers.close()
    assert locked.status == 200, locked.location
    assert AuditEvent.objects.filter(action="login.password.failed", object_id=str(person.pk)).count() == 5
    assert AuditEvent.objects.filter(action="login.password.locked", object_id=str(person.pk)).count() == 1
    _alternated(server, before)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_one_totp_code_opens_one_session_whichever_worker_checks_it(server: Server) -> None:
    person = _person("twoworkerstotp", totp=True)
    before = len(server.workers_served())
    workers = TwoWorkers(server.port)
    try:
        first, second = Browser(), Browser()
        for browser in (first, second):
            answer = workers.login(browser, person.username, PASSWORD)
            assert answer.status == 302 and "/2fa/" in answer.location, (answer.status, answer.location)
        # Both send the same code, to different workers, within one 30-second window (not at its end).
        while int(time.time()) % 30 > 25:
            time.sleep(0.5)
        code = totp_now(SECRET)
        answers = [workers.send(b, "POST", "/nl/accounts/2fa/authenticate/", {"code": code}) for b in (first, second)]
    finally:
        workers.close()
    assert answers[0].status == 302, answers[0].body[:500]
    assert answers[1].status == 200  # the code was used: refused, form shown again
    assert UserSession.objects.filter(user=person).count() == 1
    _alternated(server, before)
