"""The refresh with rotation (issue 14, Performance): its statements, and the reuse check it makes with
one conditional ``UPDATE`` (toegang/oidc/validator.py ``_save_bearer_token``).

The clients are tests/test_oidc_introspection.py's (E-loket's and RaaS's, registered as
``manage.py oidc_client`` does).
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import jwt
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from oauth2_provider.models import AccessToken, RefreshToken

from tests.conftest import World
from tests.test_oidc_introspection import ELOKET, basic, clients, person_tokens
from toegang.oidc import client_memory
from toegang.oidc.models import LoginContext
from toegang.oidc.validator import OAuth2Validator

__all__ = ["clients"]  # the fixture, imported for the tests below

SCOPE = "openid profile access offline_access"
# Statements of one refresh (RS256 ID token, the `access` claim, rotation), savepoints of the test's
# transaction included: the live refresh token with its person (the client, its relying party and
# profile are remembered by the worker: client_memory.py), the login, the `access` claim, the ID
# token (in its savepoint), then in django-oauth-toolkit's transaction the conditional UPDATE of the
# old refresh token, the DELETE of its access token and the INSERT of the new pair.
# django-oauth-toolkit's own path took 23.
MAX_STATEMENTS = 12


def checksum(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def refresh(http: Client, token: str) -> Any:
    return http.post("/oauth/token/", {"grant_type": "refresh_token", "refresh_token": token}, **basic(ELOKET))


@pytest.mark.django_db
def test_one_refresh_costs_few_statements_and_keeps_the_login(clients: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_memory, "MEMORY_SECONDS", 3600.0)  # remembered whatever the machine's pace
    tokens = person_tokens(Client(), clients, ELOKET, scope=SCOPE)
    first = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    old = RefreshToken.objects.get(token_checksum=checksum(tokens["refresh_token"]))
    http = Client()  # no browser session: the token endpoint as a relying party calls it
    with CaptureQueriesContext(connection) as ctx:
        r = refresh(http, tokens["refresh_token"])
    assert r.status_code == 200, r.content
    statements = [q["sql"] for q in ctx.captured_queries]
    assert len(statements) <= MAX_STATEMENTS, "\n".join(statements)
    assert sum(s.lstrip().upper().startswith("SELECT") and "applicationgrant" in s for s in statements) == 1
    body = r.json()
    # Rotated: the old refresh token revoked, its access token gone, a new pair in the same family.
    old.refresh_from_db()
    assert old.revoked is not None and old.access_token_id is None
    assert not AccessToken.objects.filter(token_checksum=checksum(tokens["access_token"])).exists()
    new = RefreshToken.objects.get(token_checksum=checksum(body["refresh_token"]))
    assert new.revoked is None and new.token_family == old.token_family
    assert new.access_token is not None and new.access_token.source_refresh_token_id == old.pk
    # The login's acr, amr, auth_time and sid are those of the login, not of the refresh.
    again = jwt.decode(body["id_token"], options={"verify_signature": False})
    for claim in ("acr", "amr", "auth_time", "sid"):
        assert again.get(claim) == first.get(claim), claim
    assert [a["subdepartment"]["id"] for a in again["access"]] == [clients.zon.sd.pk]
    # The old access token no longer opens userinfo; the new one does.
    stale = http.get("/oauth/userinfo/", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert stale.status_code == 401
    fresh = http.get("/oauth/userinfo/", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert fresh.status_code == 200, fresh.content
    # And the new refresh token refreshes in turn.
    assert refresh(http, body["refresh_token"]).status_code == 200


@pytest.mark.django_db
def test_reusing_a_spent_refresh_token_revokes_the_family(clients: World) -> None:
    tokens = person_tokens(Client(), clients, ELOKET, scope=SCOPE)
    http = Client()
    r = refresh(http, tokens["refresh_token"])
    assert r.status_code == 200, r.content
    replay = refresh(http, tokens["refresh_token"])
    assert (replay.status_code, replay.json()["error"]) == (400, "invalid_grant")
    family = RefreshToken.objects.get(token_checksum=checksum(r.json()["refresh_token"])).token_family
    assert not RefreshToken.objects.filter(token_family=family, revoked__isnull=True).exists()
    assert refresh(http, r.json()["refresh_token"]).json()["error"] == "invalid_grant"
    assert LoginContext.objects.filter(token_family=family).exists()  # kept: nothing hard-deleted


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_concurrent_double_use_yields_one_pair_and_revokes_the_family(
    clients: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests with the same refresh token, both past the check before either rotates (a barrier
    after ``validate_refresh_token`` makes that certain): one new pair, then the family revoked."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks of two concurrent transactions: PostgreSQL (TOEGANG_DATABASE_URL)")
    tokens = person_tokens(Client(), clients, ELOKET, scope=SCOPE)
    old = RefreshToken.objects.get(token_checksum=checksum(tokens["refresh_token"]))
    checked = threading.Barrier(2, timeout=30)
    validate = OAuth2Validator.validate_refresh_token

    def validate_then_wait(self: OAuth2Validator, *args: Any, **kwargs: Any) -> bool:
        valid = validate(self, *args, **kwargs)
        checked.wait()
        return valid

    monkeypatch.setattr(OAuth2Validator, "validate_refresh_token", validate_then_wait)
    answers: list[Any] = []

    def use() -> None:
        try:
            answers.append(refresh(Client(), tokens["refresh_token"]))
        finally:
            connection.close()

    threads = [threading.Thread(target=use) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(a.status_code for a in answers) == [200, 400], [a.content for a in answers]
    refused = next(a for a in answers if a.status_code == 400)
    assert refused.json()["error"] == "invalid_grant"
    family = RefreshToken.objects.filter(token_family=old.token_family)
    assert family.count() == 2  # the old token and exactly one new one
    assert not family.filter(revoked__isnull=True).exists()
    assert AccessToken.objects.filter(source_refresh_token=old).count() <= 1
