"""Benchmark: the token endpoint (/oauth/token/), client credentials and refresh, beside its limits.

    .venv/bin/python bench/token_endpoint.py [--duration 10] [--connections 4] [--workers 1] [--threads 2]
        [--pool 4000] [--out bench/results/token_endpoint.json] [--database-url postgres://…/toegang_bench_full]

With ``--database-url``, a database ``generate_data`` filled (kept): a person of it who holds
E-loket is the tokens' person, so a refresh computes the ``access`` claim on the full data set; the
clients and token pools are added to it. Otherwise, on a scratch database (SQLite under a temporary
directory; PostgreSQL when TOEGANG_DATABASE_URL is set, via ``common.scratch_database``) it makes
one person with a grant for E-loket in one facility. Then two confidential clients of E-loket with
secrets as django-oauth-toolkit generates them (128 characters): ``fast``, stored the way toegang
stores secrets now (``CLIENT_SECRET_HASHER`` = ``pbkdf2_sha256_client``, toegang/oidc/hashers.py),
and ``argon2``, stored as before that change (Argon2id, 100 MiB, t=2, the people's hasher). gunicorn
(this file as the WSGI application, sync workers) is pinned to CPU 0 and Debian's wrk to CPU 1
(``common.serve``/``common.wrk``; the bodies are forms, the client authenticates with HTTP Basic).
Rows, each for both clients where it applies:

- ``client credentials``: ``grant_type=client_credentials&scope=authz``: the client (remembered by
  the worker for 10 s: toegang/oidc/client_memory.py), secret check, a JWT access token signed
  (ES256; nothing written: toegang/oidc/jwt_tokens.py).
- ``refresh``: ``grant_type=refresh_token``, scope ``openid profile access offline_access``:
  secret check, the refresh token rotated (ROTATE_REFRESH_TOKEN; REFRESH_TOKEN_REUSE_PROTECTION),
  a new access token, refresh token and signed ID token with the ``access`` claim. A refresh token
  works once, so each request needs its own: a pool of ``--pool`` token families per client is
  created directly through django-oauth-toolkit's models before the server starts (the rows a code
  exchange leaves: an access token, a refresh token with its ``token_family``, and toegang's
  ``LoginContext`` for that family; not through real logins, which would cost an Argon2 password
  hash each and test the login instead). wrk takes its requests in turn from that list (one wrk
  thread, one shared counter), so every request is distinct as long as the run is shorter than the
  pool; the script checks that and reports ``pool_exhausted`` otherwise (a reused token is refused
  and counted as an error).
- ``node oidc-provider``: the certified npm provider (tests/oidc-peer, oidc-provider 8.8.1, its
  in-memory store) answering the same client-credentials request with a JWT access token (its
  resourceIndicators feature, ES256, ``tests/oidc-peer/bench_client_credentials.mjs``), pinned to
  the same CPU and driven by the same wrk: per CPU second of its process, beside toegang's.
- limits measured in the same run: ``bare client credentials`` and ``bare refresh`` (a plain WSGI
  callable in this file: no middleware, no oauthlib, no secret check; the same rows looked up and
  written through the same models: the application and its relying party, one access token; or the
  refresh token by checksum, revoked, a new access token and refresh token), and, in this process,
  how many secret verifications each hasher does per CPU second (``check_password``).

Prints a table and writes bench/results/token_endpoint.json (one entry per database). The load
generator shares the machine with the server (and with whatever else runs): compare the rows of
one run with each other.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from common import ROOT, Server, bench_database, django_setup, free_port, serve, write_json, wrk

REFRESH_SCOPE = "openid profile access offline_access"

# --- the bench's own WSGI application (loaded by gunicorn, never by the driver) ---------------------

_django_app: Any = None


def _client_id(environ: dict[str, Any]) -> str:
    basic = environ.get("HTTP_AUTHORIZATION", "").removeprefix("Basic ")
    return base64.b64decode(basic).decode().split(":", 1)[0]


def _form(environ: dict[str, Any]) -> dict[str, str]:
    from urllib.parse import parse_qsl

    length = int(environ.get("CONTENT_LENGTH") or 0)
    return dict(parse_qsl(environ["wsgi.input"].read(length).decode()))


def _bare(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """The token endpoint's rows without the endpoint: no middleware, oauthlib, secret check or JWT."""
    import hashlib

    from django.db import transaction
    from django.utils import timezone
    from oauth2_provider.models import AccessToken, Application, RefreshToken

    from toegang.oidc.models import RelyingParty

    form = _form(environ)
    client = Application.objects.get(client_id=_client_id(environ))
    RelyingParty.objects.filter(client=client, application__is_active=True).get()
    expires = timezone.now() + timedelta(seconds=600)
    body: dict[str, Any] = {"token_type": "Bearer", "expires_in": 600}
    with transaction.atomic():
        if environ["PATH_INFO"].endswith("/refresh"):
            checksum = hashlib.sha256(form["refresh_token"].encode()).hexdigest()
            old = RefreshToken.objects.select_related("access_token").filter(token_checksum=checksum).get()
            RefreshToken.objects.filter(pk=old.pk).update(revoked=timezone.now())
            access = AccessToken.objects.create(
                user_id=old.user_id,
                application=client,
                token=secrets.token_urlsafe(22),
                expires=expires,
                scope=REFRESH_SCOPE,
            )
            new = RefreshToken.objects.create(
                user_id=old.user_id,
                application=client,
                token=secrets.token_urlsafe(22),
                access_token=access,
                token_family=old.token_family,
            )
            body |= {"access_token": access.token, "refresh_token": new.token, "scope": REFRESH_SCOPE}
        else:
            access = AccessToken.objects.create(
                user=None, application=client, token=secrets.token_urlsafe(22), expires=expires, scope="authz"
            )
            body |= {"access_token": access.token, "scope": "authz"}
    data = json.dumps(body).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def application(environ: dict[str, Any], start_response: Any) -> Any:
    """gunicorn's entry point: POST /bench/bare/{client_credentials,refresh}, else toegang (``toegang.wsgi``)."""
    global _django_app
    if _django_app is None:
        # toegang's own WSGI application, as deployed (toegang/wsgi.py: the token endpoint's short list).
        from toegang.wsgi import application as toegang_application

        _django_app = toegang_application
    if environ.get("PATH_INFO", "").startswith("/bench/bare/"):
        return _bare(environ, start_response)
    return _django_app(environ, start_response)


# --- data ------------------------------------------------------------------------------------------


def _populate(pool: int, existing: bool = False) -> dict[str, Any]:
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone
    from oauth2_provider.generators import generate_client_secret
    from oauth2_provider.models import AccessToken, Application, RefreshToken

    from toegang.accounts.models import User
    from toegang.applications.models import ApplicationGrant, SecuredApplication
    from toegang.delegation.models import Role, RoleAssignment
    from toegang.identifiers import cbe_make, ssin_make
    from toegang.oidc.models import LoginContext, RelyingParty
    from toegang.organisations.services import enterprise_register, quality_activate, subdepartment_create
    from toegang.seed.demo import catalogue_load

    eloket = SecuredApplication.objects.get(code="eloket") if existing else None
    held = ApplicationGrant.objects.active().filter(application=eloket).order_by("pk").first() if eloket else None
    if held is not None:
        # A generated database: a person of it who holds E-loket somewhere; their `access` claim is
        # then computed among 1,000,000 persons and 3,000,000 grants. Only clients and tokens are added.
        person, sd_id = held.person, held.subdepartment_id
    else:
        operator = User.objects.create_user(username="bench-operator", is_staff=True)
        quality = catalogue_load()
        eloket = SecuredApplication.objects.get(code="eloket")
        enterprise = enterprise_register(actor=operator, cbe_number=cbe_make(4_100_001), name="WZC Token vzw")
        eq = quality_activate(actor=operator, enterprise=enterprise, quality=quality)
        sd = subdepartment_create(
            actor=operator,
            enterprise_quality=eq,
            name="Campus Token",
            identification_code="10000106",
            applications=list(quality.applications.all()),
        )
        person = User.objects.create_user(
            username="bench-person",
            ssin=ssin_make(1970, 1, 1, 1),
            first_name="Bea",
            last_name="Bench",
            language="nl",
            activation="person",  # activated by the person (docs/security.md): the membership counts
        )
        RoleAssignment.objects.create(
            person=person,
            role=Role.USER,
            enterprise_id=sd.enterprise_id,
            enterprise_quality_id=sd.enterprise_quality_id,
            subdepartment=sd,
            granted_by=operator,
        )
        ApplicationGrant.objects.create(person=person, subdepartment=sd, application=eloket, granted_by=operator)
        sd_id = sd.pk

    clients: dict[str, Any] = {}
    for label in ("fast", "argon2", "bare"):
        secret = generate_client_secret()
        client = Application.objects.create(
            name=f"E-loket {label}",
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            redirect_uris="https://eloket.example/callback",
            # Argon2 as every secret was stored before CLIENT_SECRET_HASHER; already hashed, kept as is.
            client_secret=make_password(secret, hasher="argon2") if label == "argon2" else secret,
            algorithm=Application.RS256_ALGORITHM,
            skip_authorization=True,
        )
        RelyingParty.objects.create(client=client, application=eloket)
        client.refresh_from_db()
        # A pool of refresh tokens, as a code exchange leaves them, each usable once.
        now = timezone.now()
        with transaction.atomic():
            families = [uuid.uuid4() for _ in range(pool)]
            accesses = AccessToken.objects.bulk_create(
                AccessToken(
                    user=person,
                    application=client,
                    token=secrets.token_urlsafe(22),
                    expires=now + timedelta(seconds=600),
                    scope=REFRESH_SCOPE,
                )
                for _ in families
            )
            refreshes = RefreshToken.objects.bulk_create(
                RefreshToken(
                    user=person, application=client, token=secrets.token_urlsafe(22), access_token=a, token_family=f
                )
                for a, f in zip(accesses, families, strict=True)
            )
            LoginContext.objects.bulk_create(
                LoginContext(user=person, token_family=f, acr="400", amr=["pwd", "otp"], auth_time=now)
                for f in families
            )
            tokens = [r.token for r in refreshes]
        clients[label] = {
            "client_id": client.client_id,
            "secret": secret,
            "stored": client.client_secret.split("$", 1)[0],
            "refresh_tokens": tokens,
        }
    return {"clients": clients, "subdepartment": sd_id}


def _verifications_per_cpu_second(secret: str, stored: str, seconds: float) -> dict[str, Any]:
    """check_password on this process's CPU: verifications per CPU second (Argon2 may use threads)."""
    from django.contrib.auth.hashers import check_password

    n = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    while time.perf_counter() - wall0 < seconds or n < 3:
        assert check_password(secret, stored)
        n += 1
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"verifications": n, "per_cpu_s": n / cpu, "per_s": n / wall, "ms_each": wall / n * 1000}


# --- node's oidc-provider, the reference --------------------------------------------------------------

NODE_PEER = ROOT / "tests" / "oidc-peer"


@dataclass
class _NodeServer(Server):
    def workers(self) -> list[int]:
        return [self.pid]  # one process (its threads counted in /proc/<pid>/stat)


@contextmanager
def _node_provider(client_id: str, secret: str, cpu: int) -> Iterator[Server]:
    port = free_port()
    command = ["node", str(NODE_PEER / "bench_client_credentials.mjs"), str(port), client_id, secret]
    if shutil.which("taskset"):
        command = ["taskset", "-c", str(cpu), *command]
    proc = subprocess.Popen(command, cwd=NODE_PEER, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # noqa: S603
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if "listening" not in line:
            raise SystemExit(f"oidc-provider did not start: {line!r}")
        yield _NodeServer(base=line.split()[-1], pid=proc.pid, proc=proc)  # type: ignore[arg-type]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _node_row(args: argparse.Namespace, name: str) -> dict[str, Any] | None:
    """oidc-provider's client credentials with a JWT access token, measured as toegang's rows are."""
    import httpx

    if shutil.which("node") is None or not (NODE_PEER / "node_modules" / "oidc-provider").is_dir():
        print("node or tests/oidc-peer/node_modules missing: no oidc-provider row")
        return None
    client_id, secret = "bench-node", secrets.token_urlsafe(32)
    auth = {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}
    form = "application/x-www-form-urlencoded"
    with _node_provider(client_id, secret, cpu=0) as server:
        r = httpx.post(
            server.base + "/token", data={"grant_type": "client_credentials", "scope": "authz"}, headers=auth
        )
        assert r.status_code == 200 and r.json()["access_token"].count(".") == 2, r.text
        res = wrk(
            server,
            [("POST", "/token", "grant_type=client_credentials&scope=authz", form)],
            headers=auth,
            duration=args.duration,
            connections=args.connections,
            cpu=1,
            timeout=30,
        )
    return res | {"row": name, "client_secret": "oidc-provider 8.8.1"}


# --- driver ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk per row (whole seconds)")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections (requests in flight)")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers (pinned to CPU 0)")
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="gunicorn gthread threads (keep-alive, as docs/deployment.md advises); 0: sync workers",
    )
    parser.add_argument("--pool", type=int, default=4000, help="refresh tokens per client (each used once)")
    parser.add_argument(
        "--database-url", default="", help="a database generate_data filled (kept; clients and tokens added)"
    )
    parser.add_argument("--hash-seconds", type=float, default=3.0, help="in-process check_password timing")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "token_endpoint.json")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    with bench_database("token", args.database_url) as (database_url, tmp):
        _run(args, tmp, database_url, load_before)


def _run(args: argparse.Namespace, tmp: Path, database_url: str, load_before: float) -> None:
    import httpx

    # gthread keeps the clients' connections open, as node's server does; sync workers close each one.
    gunicorn = f"--worker-class gthread --threads {args.threads}" if args.threads else ""
    env = django_setup(database_url, tmp, GUNICORN_CMD_ARGS=f"{gunicorn} --no-control-socket".strip())
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, connections

    call_command("migrate", verbosity=0)
    call_command("oidc_key", verbosity=0)  # one signing key file for every worker
    (tmp / "static").mkdir(exist_ok=True)  # whitenoise's STATIC_ROOT; no page of this bench needs a file
    start = time.perf_counter()
    data = _populate(args.pool, existing=bool(args.database_url))
    vendor = connection.vendor
    clients = data["clients"]
    print(f"{vendor}: 3 clients, {args.pool:,} refresh tokens each, made in {time.perf_counter() - start:.1f} s")
    from oauth2_provider.models import Application

    hashing = {
        label: {
            "stored_as": clients[label]["stored"],
            **_verifications_per_cpu_second(
                clients[label]["secret"],
                Application.objects.get(client_id=clients[label]["client_id"]).client_secret,
                args.hash_seconds,
            ),
        }
        for label in ("argon2", "fast")
    }
    connections.close_all()

    def basic(label: str) -> dict[str, str]:
        c = clients[label]
        return {"Authorization": "Basic " + base64.b64encode(f"{c['client_id']}:{c['secret']}".encode()).decode()}

    form = "application/x-www-form-urlencoded"
    cc = [("POST", "/oauth/token/", "grant_type=client_credentials&scope=authz", form)]

    def refreshes(label: str, path: str = "/oauth/token/") -> list[tuple[str, str, str, str]]:
        return [
            ("POST", path, urlencode({"grant_type": "refresh_token", "refresh_token": t}), form)
            for t in clients[label]["refresh_tokens"]
        ]

    rows: list[tuple[str, str, list[tuple[str, str, str, str]], str, bool]] = [
        ("client credentials", "fast", cc, clients["fast"]["stored"], False),
        ("client credentials", "argon2", cc, clients["argon2"]["stored"], False),
        (
            "bare client credentials (same rows)",
            "bare",
            [("POST", "/bench/bare/client_credentials", "x=1", form)],
            "none",
            False,
        ),
        ("refresh", "fast", refreshes("fast")[1:], clients["fast"]["stored"], True),
        ("refresh", "argon2", refreshes("argon2")[1:], clients["argon2"]["stored"], True),
        ("bare refresh (same rows)", "bare", refreshes("bare", "/bench/bare/refresh"), "none", True),
    ]
    results: list[dict[str, Any]] = []
    with serve(
        "token_endpoint:application", env, workers=args.workers, pythonpath=f"{ROOT},{ROOT / 'bench'}", cpu=0
    ) as server:
        # Each kind of request answers as expected once before it is measured (the first refresh
        # token of each pool is spent here, not in the run).
        for label in ("fast", "argon2"):
            r = httpx.post(
                server.base + "/oauth/token/",
                data={"grant_type": "client_credentials", "scope": "authz"},
                headers=basic(label),
                timeout=30,
            )
            assert r.status_code == 200 and r.json()["scope"] == "authz", r.text
            r = httpx.post(
                server.base + "/oauth/token/",
                headers=basic(label),
                timeout=30,
                data={"grant_type": "refresh_token", "refresh_token": clients[label]["refresh_tokens"][0]},
            )
            assert r.status_code == 200 and "id_token" in r.json() and "refresh_token" in r.json(), r.text
            # A wrong secret (as text: a NUL byte in the credentials is refused earlier, with a 400).
            wrong = {"Authorization": "Basic " + base64.b64encode(b"no-such-client:a-wrong-secret").decode()}
            r = httpx.post(server.base + "/oauth/token/", data={"grant_type": "client_credentials"}, headers=wrong)
            assert r.status_code == 401, r.text
        print(
            f"{'row':38} {'client secret':22} {'requests':>8} {'req/s':>7} {'per CPU s':>9} "
            f"{'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"
        )
        for name, label, requests, stored, single_use in rows:
            res = wrk(
                server,
                requests,
                headers=basic(label),
                duration=args.duration,
                connections=args.connections,
                cpu=1,
                timeout=30,  # Argon2 rows answer in seconds under load; wrk's default (2 s) would cut them off
            )
            res |= {"row": name, "client_secret": stored}
            if single_use:
                res["pool"] = len(requests)
                res["pool_exhausted"] = res["requests"] > len(requests)
            results.append(res)
            flag = "  POOL EXHAUSTED: raise --pool" if res.get("pool_exhausted") else ""
            print(
                f"{name:38} {stored:22} {res['requests']:>8,} {res['requests_per_s']:>7.1f} "
                f"{res['requests_per_server_cpu_s']:>9.1f} {res['p50_ms']:>8.1f} {res['p99_ms']:>8.1f} "
                f"{res['errors']:>6}{flag}"
            )
    node = _node_row(args, "client credentials (node oidc-provider)")
    if node is not None:
        results.append(node)
        print(
            f"{node['row']:38} {node['client_secret']:22} {node['requests']:>8,} {node['requests_per_s']:>7.1f} "
            f"{node['requests_per_server_cpu_s']:>9.1f} {node['p50_ms']:>8.1f} {node['p99_ms']:>8.1f} "
            f"{node['errors']:>6}"
        )
    ours = next(
        r for r in results if r["row"] == "client credentials" and r["client_secret"] == clients["fast"]["stored"]
    )
    targets = {"client_credentials_per_cpu_s": ours["requests_per_server_cpu_s"], "limit_per_cpu_s": 1000.0}
    verdict = "met" if ours["requests_per_server_cpu_s"] >= 1000 else "NOT met"
    print(f"client credentials (JWT): {ours['requests_per_server_cpu_s']:,.0f} per CPU s, target >= 1,000: {verdict}")
    if node is not None:
        ratio = node["requests_per_server_cpu_s"] / ours["requests_per_server_cpu_s"]
        targets |= {"node_per_cpu_s": node["requests_per_server_cpu_s"], "node_over_toegang": ratio}
        print(
            f"node oidc-provider: {node['requests_per_server_cpu_s']:,.0f} per CPU s; node / toegang = {ratio:.2f} "
            f"(target <= 2: {'met' if ratio <= 2 else 'NOT met'})"
        )
    for h in hashing.values():
        print(
            f"check_password, secret stored as {h['stored_as']:22}: {h['per_cpu_s']:>10,.1f} per CPU second "
            f"({h['ms_each']:.3f} ms each, {h['verifications']} in this process)"
        )

    import django as dj
    import oauth2_provider

    entry = {
        "database": vendor,
        "gunicorn_workers": args.workers,
        "gunicorn_threads": args.threads or None,
        "server_cpu": 0,
        "wrk_cpu": 1,
        "connections": args.connections,
        "duration_s": args.duration,
        "refresh_pool_per_client": args.pool,
        "django": dj.get_version(),
        "django_oauth_toolkit": oauth2_provider.__version__,
        "client_secret_hasher": settings.OAUTH2_PROVIDER.get("CLIENT_SECRET_HASHER", "default"),
        "load_average_1m": {"before": load_before, "after": os.getloadavg()[0]},
        "results": results,
        "targets": targets,
        "check_password": hashing,
        "note": "wrk on CPU 1, gunicorn on CPU 0, other sessions on the same machine; requests_per_server_cpu_s "
        "is the per-core rate",
    }
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    merged = {k: v for k, v in previous.items() if k in {"sqlite", "postgresql"}}
    merged[vendor] = entry
    write_json(args.out, merged)


if __name__ == "__main__":
    main()
