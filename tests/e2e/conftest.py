"""The browser harness: the server as `make run` starts it, Debian's Chromium, axe-core, screenshots.

One gunicorn on a free loopback port over a fresh SQLite database (migrate, demo_load, collectstatic
into a temporary TOEGANG_VAR_DIR) serves every test of the session, with a task worker (db_worker)
beside it; one Chromium drives them all.
Never a downloaded browser: Playwright launches /usr/bin/chromium (`apt-get install -y chromium`).

Every page a walk visits goes through ``Walk.check``: axe-core (tests/e2e/node_modules, pinned in
package-lock.json) with the WCAG 2.0/2.1 A and AA rules, any violation fails the test, and a
screenshot lands in var/e2e-screenshots/.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.utils import translation

from tests.conftest import totp_now
from tests.smtp_sink import SmtpSink, smtp_sink
from toegang.seed.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.0 and 2.1, levels A and AA; E2E_AXE_BEST_PRACTICE=1 adds axe's best-practice rules (advice).
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] + (
    ["best-practice"] if os.environ.get("E2E_AXE_BEST_PRACTICE") == "1" else []
)
AXE_RUN = f"axe.run(document, {{runOnly: {{type: 'tag', values: {json.dumps(AXE_TAGS)}}}}})"
SCREENSHOTS = ROOT / "var" / "e2e-screenshots"
# The user guides' screenshots (docs/guide/<lang>/*.md show docs/guide/img/<lang>/*.png), taken by the
# walks in each guide's language: under var/ by default, into docs/ with E2E_GUIDE_IMAGES=1
# (`make guide-images`), so that an ordinary test run leaves the committed images alone.
GUIDE_LANGUAGES = ("nl", "fr", "de")
GUIDE_IMAGES = ROOT / "docs" / "guide" / "img" if os.environ.get("E2E_GUIDE_IMAGES") == "1" else SCREENSHOTS / "guide"
INSTALL_HINT = (
    "the browser tests need Debian's Chromium at /usr/bin/chromium: apt-get install -y chromium "
    "(and Node.js' npm for axe-core: cd tests/e2e && npm ci)"
)

# Two more enterprises of the demo legal representative with nothing appointed, so the walk of steps
# 1-5 runs in French and German on a fresh enterprise too (the demo data has one such enterprise).
SEED_SECOND_ENTERPRISE = """
from toegang.accounts.models import User
from toegang.delegation.models import Role
from toegang.delegation.services import role_appoint
from toegang.identifiers import cbe_make
from toegang.organisations.services import enterprise_register
operator = User.objects.get(username="operator")
wv = User.objects.get(username="wv")
for seed, name in ((23456789, "Groupe de soins Nouvel Horizon asbl"), (34567891, "Pflegegruppe Neuer Horizont VoG")):
    e = enterprise_register(actor=operator, cbe_number=cbe_make(seed), name=name)
    role_appoint(actor=operator, role=Role.LEGAL_REPRESENTATIVE, scope=e, ssin=wv.ssin, email=wv.email)
"""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(HERE):
            item.add_marker(pytest.mark.e2e)
            if not CHROMIUM.exists():
                item.add_marker(pytest.mark.skip(reason=INSTALL_HINT))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """`make test` says plainly why the browser tests did not run, and how to make them run."""
    if not CHROMIUM.exists() and terminalreporter.stats.get("skipped"):
        terminalreporter.write_line(f"browser tests (tests/e2e) skipped: {INSTALL_HINT}", yellow=True, bold=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    var_dir: Path
    env: dict[str, str]


@pytest.fixture(scope="session")
def mailbox() -> Iterator[SmtpSink]:
    """The test mailbox: an SMTP server (tests/smtp_sink.py) to which the server's task worker delivers."""
    with smtp_sink(0) as sink:
        yield sink


def mail_to(mailbox: SmtpSink, address: str, timeout: float = 30) -> email.message.EmailMessage:
    """The first message delivered to ``address``, waiting for the worker to send it (the outbox)."""
    deadline = time.monotonic() + timeout
    while True:
        for recipients, data in list(mailbox.messages):
            if address in recipients:
                # SMTP's dot-stuffing undone: a line starting with "." came as "..".
                text = re.sub(r"(?m)^\.\.", ".", data.replace("\r\n", "\n"))
                # As bytes: an 8-bit UTF-8 body parsed from a str would lose its accents.
                message = email.message_from_bytes(text.encode(), policy=email.policy.default)
                assert isinstance(message, email.message.EmailMessage)
                return message
        if time.monotonic() > deadline:
            raise AssertionError(f"no mail to {address} within {timeout} s")
        time.sleep(0.2)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, mailbox: SmtpSink) -> Iterator[Server]:
    """`make run`'s sequence on a fresh database (migrate, demo_load, oidc_key, collectstatic), then gunicorn.

    Stopped by its pid at the end.
    """
    var_dir = tmp_path_factory.mktemp("toegang-var")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "toegang.settings",
        "TOEGANG_VAR_DIR": str(var_dir),
        "TOEGANG_DATABASE_URL": f"sqlite:///{var_dir / 'toegang.sqlite3'}",
        "TOEGANG_BASE_URL": url,
        # localhost too: WebAuthn takes no IP address as its relying party (test_security_key.py).
        "TOEGANG_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "TOEGANG_DEBUG": "0",
        # The outbox's worker sends to the test mailbox, where a test reads what a person receives.
        "TOEGANG_EMAIL_URL": f"smtp://127.0.0.1:{mailbox.server_address[1]}",
    }
    bin_dir = Path(sys.executable).parent
    python = str(bin_dir / "python")
    manage = [python, str(ROOT / "manage.py")]
    for args in (
        ["migrate", "--noinput", "-v0"],
        ["demo_load", "--if-empty"],
        ["oidc_key"],  # one signing key for every worker, made before they start
        ["collectstatic", "--noinput", "-v0"],
    ):
        subprocess.run([*manage, *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
    subprocess.run([*manage, "shell", "-c", SEED_SECOND_ENTERPRISE], cwd=ROOT, env=env, check=True)  # noqa: S603
    log = (var_dir / "gunicorn.log").open("wb")
    proc = subprocess.Popen(  # noqa: S603
        [
            str(bin_dir / "gunicorn"),
            "toegang.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--no-control-socket",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    # The task worker beside it, as `make run` starts it: the CSV import and the outbox run there.
    worker_log = (var_dir / "db_worker.log").open("wb")
    worker = subprocess.Popen(  # noqa: S603
        [*manage, "db_worker", "--queue-name", "*", "--interval", "0.2", "--no-startup-delay"],
        cwd=ROOT,
        env=env,
        stdout=worker_log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_until_up(f"{url}/healthz", proc, var_dir / "gunicorn.log")
        yield Server(url=url, var_dir=var_dir, env={k: v for k, v in env.items() if k.startswith("TOEGANG_")})
    finally:
        _stop(worker)
        worker_log.close()
        _stop(proc)
        log.close()


@pytest.fixture(scope="session")
def demo_rp(server: Server) -> Iterator[str]:
    """`make demo-rp` beside the server: its OAuth client registered, the demo served by gunicorn."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, **server.env}
    bin_dir = Path(sys.executable).parent
    client = ["--client-id", "demo-rp", "--redirect-uri", f"{url}/callback", "--secret", "demo-rp-secret"]
    client += ["--post-logout-redirect-uri", f"{url}/"]
    subprocess.run(  # noqa: S603
        [str(bin_dir / "python"), str(ROOT / "manage.py"), "oidc_client", "--application", "eloket", *client],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    demo_env = {
        **os.environ,
        "DEMO_RP_ISSUER": server.url,
        "DEMO_RP_PORT": str(port),
        "DEMO_RP_CLIENT_ID": "demo-rp",
        "DEMO_RP_CLIENT_SECRET": "demo-rp-secret",
    }
    log = (server.var_dir / "demo-rp.log").open("wb")
    proc = subprocess.Popen(  # noqa: S603
        [
            str(bin_dir / "gunicorn"),
            "demo.wsgi:app",
            "--bind",
            f"127.0.0.1:{port}",
            "--threads",
            "4",
            "--no-control-socket",
        ],
        cwd=ROOT,
        env=demo_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_until_up(url + "/", proc, server.var_dir / "demo-rp.log")
        yield url
    finally:
        _stop(proc)
        log.close()


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 (loopback)
                if r.status == 200:
                    return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(log.read_text()) from None
            time.sleep(0.2)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not AXE.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip(INSTALL_HINT)
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)  # noqa: S603
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def tr(lang: str, msgid: str) -> str:
    """What a person reads for ``msgid`` in ``lang`` (the compiled catalogues of locale/)."""
    with translation.override(lang):
        return str(translation.gettext(msgid))


def login_label(lang: str) -> str:
    """The login form's first field as it reads: allauth's ``pgettext("field label", "Login")``.

    Not ``tr(lang, "Login")``: toegang's own "Login" (the user page's "Aanmelden") is another entry.
    """
    with translation.override(lang):
        return str(translation.pgettext("field label", "Login"))


def label(lang: str, msgid: str) -> re.Pattern[str]:
    """A form field's label as it reads: the translation, then perhaps a colon (and a * when required)."""
    return re.compile(rf"^{re.escape(tr(lang, msgid))}\s*\*?\s*:?\s*\*?$")


def ntr(lang: str, singular: str, plural: str, n: int) -> str:
    with translation.override(lang):
        return str(translation.ngettext(singular, plural, n) % {"counter": n})


@dataclass
class Walk:
    """One person's browser tab, with the checks every visited page goes through."""

    page: Any
    base: str
    name: str
    visited: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Chromium reports every Content-Security-Policy refusal (a script, a style, a form sent
        # elsewhere) on the console: any of them fails the walk at its next check.
        self.page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.csp_violations.append(f"{self.page.url}: {message.text}")

    def check(self, step: str) -> None:
        """axe-core on the page as it is now (0 WCAG 2.1 A/AA violations) and a screenshot of it.

        And no Content-Security-Policy violation so far on the tab.
        """
        self.page.wait_for_load_state("load")
        if self.csp_violations:
            pytest.fail(f"Content-Security-Policy violations ({step}):\n" + "\n".join(self.csp_violations))
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^a-z0-9]+", "-", f"{self.name}-{len(self.visited):02d}-{step}".lower()).strip("-")
        self.page.screenshot(path=str(SCREENSHOTS / f"{slug}.png"), full_page=True)
        self.visited.append(self.page.url)
        if not self.page.evaluate("typeof window.axe !== 'undefined'"):
            # Evaluated through the DevTools protocol, which the page's policy does not govern (a
            # <script> tag of it would be an inline script, refused by the policy).
            self.page.evaluate(AXE.read_text())
        result = self.page.evaluate(AXE_RUN)
        violations = [
            {
                "id": v["id"],
                "impact": v["impact"],
                "help": v["help"],
                "nodes": [{"target": n["target"], "summary": n.get("failureSummary")} for n in v["nodes"]],
            }
            for v in result["violations"]
        ]
        if violations:
            report = json.dumps(violations, indent=1, ensure_ascii=False)
            print(f"axe violations on {self.page.url} ({step}):\n{report}")
            pytest.fail(f"{len(violations)} axe violation(s) on {self.page.url} ({step}):\n{report}")

    def guide(self, lang: str, name: str) -> None:
        """The page as it is now, the screenshot ``name`` of the guide in ``lang`` (GUIDE_IMAGES/<lang>/<name>.png).

        Called after ``check``; a language without a guide (English reads the Dutch one) takes none.
        """
        if lang not in GUIDE_LANGUAGES:
            return
        folder = GUIDE_IMAGES / lang
        folder.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(folder / f"{name}.png"), full_page=True)

    def goto(self, path: str, step: str) -> None:
        self.page.goto(self.base + path)
        self.check(step)

    def login(self, lang: str, username: str, second_factor: bool = True, guide: bool = False) -> None:
        """allauth's login form, then the app code on its second-factor page (as a person types them).

        With ``guide`` both pages are also the guide's screenshots ``login`` and ``app-code`` in ``lang``.
        """
        page = self.page
        self.goto(f"/{lang}/accounts/login/", "login")
        if guide:
            self.guide(lang, "login")
        form = page.locator("#login-password")
        form.get_by_label(login_label(lang)).fill(username)
        form.get_by_label(tr(lang, "Password")).fill(DEMO_PASSWORD)
        form.get_by_role("button", name=tr(lang, "Log in")).click()
        if not second_factor:
            page.wait_for_url(lambda url: "/accounts/login/" not in url)
            return
        page.wait_for_url(re.compile(r"/2fa/"))
        self.check("app-code")
        if guide:
            self.guide(lang, "app-code")
        code = _fresh_code(username)
        page.get_by_label(tr(lang, "Code")).fill(code)
        page.get_by_role("button", name=tr(lang, "Sign In")).click()
        page.wait_for_url(lambda url: "/accounts/" not in url)


_used_codes: dict[str, str] = {}


def _fresh_code(username: str) -> str:
    """The current app code; a code is accepted once per person, so wait for the next one if needed.

    Near the end of its 30-second window a code could expire before the server reads it: then wait too.
    """
    while time.time() % 30 > 27:
        time.sleep(0.5)
    code = totp_now(DEMO_TOTP_SECRET)
    while _used_codes.get(username) == code:
        time.sleep(1)
        code = totp_now(DEMO_TOTP_SECRET)
    _used_codes[username] = code
    return code


@pytest.fixture(scope="session")
def walk_factory(server: Server, browser: Any) -> Iterator[Any]:
    contexts: list[Any] = []

    def make(name: str, lang: str = "nl") -> Walk:
        context = browser.new_context(base_url=server.url, locale=lang, viewport={"width": 1280, "height": 900})
        contexts.append(context)
        context.set_default_timeout(10_000)
        return Walk(page=context.new_page(), base=server.url, name=name)

    yield make
    for context in contexts:
        context.close()
