"""Tokens and a person's data stay out of the access log (issue 14): gunicorn, as deploy/run.py starts
it, logs the path without the query string and without the Referer.

Before: gunicorn's default format logged the request line ("%(r)s"), so a logout's
``id_token_hint`` (an ID token with the INSZ in it), an authorization code or an INSZ in a query
string landed in the log. gunicorn runs here on a Unix socket of the test's own directory (no port).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SECRET_HINT = "eyJhbGciOiJSUzI1NiJ9.eyJzc2luIjoiODUwNzMwMDMzMjgifQ.c2lnbmF0dXJl"
SSIN = "85073003328"


def _run_module() -> Any:
    spec = importlib.util.spec_from_file_location("deploy_run", ROOT / "deploy" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _get(sock_path: Path, target: str, referer: str) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(str(sock_path))
        s.sendall(f"GET {target} HTTP/1.0\r\nHost: 127.0.0.1\r\nReferer: {referer}\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


def test_the_access_log_keeps_paths_not_query_strings(tmp_path: Path) -> None:
    run = _run_module()
    sock_path = tmp_path / "gunicorn.sock"
    command = run.commands(f"unix:{sock_path}", 1)["web"]
    log_path = tmp_path / "out.log"
    env = {**os.environ, "TOEGANG_BASE_URL": "http://127.0.0.1:8000"}
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        try:
            for _ in range(600):  # until gunicorn listens (it imports Django first), or it ended
                if sock_path.exists() or server.poll() is not None:
                    break
                time.sleep(0.1)
            assert sock_path.exists(), log_path.read_text()
            answers = [
                _get(
                    sock_path,
                    f"/.well-known/openid-configuration?id_token_hint={SECRET_HINT}&ssin={SSIN}",
                    f"https://rp.example.test/page?ssin={SSIN}",
                ),
                _get(sock_path, f"/.well-known/jwks.json?code={SECRET_HINT}", "https://rp.example.test/"),
            ]
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
    assert all(answer.startswith(b"HTTP/1.0 200") for answer in answers), answers
    text = log_path.read_text()
    assert '"GET /.well-known/openid-configuration HTTP/1.0" 200' in text, text
    assert '"GET /.well-known/jwks.json HTTP/1.0" 200' in text, text
    assert SECRET_HINT not in text and SSIN not in text and "id_token_hint" not in text, text
