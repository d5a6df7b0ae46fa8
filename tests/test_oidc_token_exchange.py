"""Token exchange (RFC 8693) for one facility, with Authlib as the client (toegang/oidc/token_exchange.py).

The person ``user`` may use E-loket (world's app 0) in facilities A and B of De Zonnebloem. E-loket's
client exchanges the person's access token for one restricted to facility A; the refusals: a
facility the person may not use, another client's token, an expired token, an exchanged token
again, and malformed requests. Every exchange and refusal is audited.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from authlib.integrations.base_client.errors import OAuthError
from django.db import transaction
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application

from tests.conftest import World, login
from tests.oidc_flows import authlib_session, basic, code_flow, give, register
from toegang.audit.models import AuditEvent
from toegang.delegation.models import Role, RoleAssignment
from toegang.delegation.services import membership_update, role_appoint
from toegang.oidc.token_exchange import ACCESS_TOKEN_TYPE, GRANT_TYPE

CLIENT, OTHER = "exchange-client", "exchange-other"
TOKEN_URL = "http://testserver/oauth/token/"


@pytest.fixture
def client_app(world: World) -> Application:
    app = register(world, CLIENT)
    give(world, "user", [0])
    # ``user`` also a user of facility B, with E-loket there.
    user, sb2 = world.person("user"), world.person("sb2")
    with transaction.atomic():
        role_appoint(actor=sb2, role=Role.USER, scope=world.zon.sd2, ssin=user.ssin or "", email=user.email)
        membership = RoleAssignment.objects.active().get(person=user, role=Role.USER, subdepartment=world.zon.sd2)
        membership_update(
            actor=sb2, membership=membership, applications=[world.apps[0]], status=membership.status, email=user.email
        )
    return app


def person_token(world: World, client_id: str = CLIENT) -> str:
    browser = login(Client(), world.person("user"), method="password")
    token: str = code_flow(browser, client_id)["access_token"]
    return token


def exchange(subject_token: str, facility: Any, client_id: str = CLIENT, **extra: str) -> dict[str, Any]:
    session = authlib_session(client_id)
    params = {"subject_token": subject_token, "subject_token_type": ACCESS_TOKEN_TYPE, "facility": str(facility)}
    answer: dict[str, Any] = session.fetch_token(TOKEN_URL, grant_type=GRANT_TYPE, **(params | extra))
    return answer


def refused(subject_token: str, facility: Any, client_id: str = CLIENT, **extra: str) -> str:
    with pytest.raises(OAuthError) as error:
        exchange(subject_token, facility, client_id, **extra)
    return str(error.value.error)


def userinfo_access(token: str) -> list[dict[str, Any]]:
    r = Client().get("/oauth/userinfo/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert r.status_code == 200, r.content
    access: list[dict[str, Any]] = r.json()["access"]
    return access


@pytest.mark.django_db
def test_exchange_gives_a_token_for_one_facility(world: World, client_app: Application) -> None:
    subject = person_token(world)
    assert {a["subdepartment"]["id"] for a in userinfo_access(subject)} == {world.zon.sd.pk, world.zon.sd2.pk}

    answer = exchange(subject, world.zon.sd.pk)
    assert answer["issued_token_type"] == ACCESS_TOKEN_TYPE and answer["token_type"] == "Bearer"
    assert "refresh_token" not in answer and 0 < answer["expires_in"] <= 600
    assert set(answer["scope"].split()) == {"openid", "access"}  # no offline_access
    exchanged = answer["access_token"]
    assert [a["subdepartment"]["id"] for a in userinfo_access(exchanged)] == [world.zon.sd.pk]
    # The client introspects it: the facility and the actor (RFC 8693 §4.1).
    info = Client().post("/oauth/introspect/", {"token": exchanged}, **basic(CLIENT)).json()
    assert info["active"] and info["facility"] == world.zon.sd.pk and info["act"] == {"sub": CLIENT}
    assert info["username"] == world.person("user").username
    event = AuditEvent.objects.filter(action="oidc.token.exchanged").get()
    assert event.actor == world.person("user") and event.subdepartment_id == world.zon.sd.pk
    assert event.params["client_id"] == CLIENT
    # The subject token keeps both facilities.
    assert len(userinfo_access(subject)) == 2
    # A narrower scope may be asked; a wider one not.
    assert exchange(subject, world.zon.sd2.pk, scope="openid")["scope"] == "openid"
    assert refused(subject, world.zon.sd2.pk, scope="openid ssin") == "invalid_scope"


@pytest.mark.django_db
def test_a_facility_the_person_may_not_use_is_refused(world: World, client_app: Application) -> None:
    subject = person_token(world)
    assert refused(subject, world.ander.sd.pk) == "invalid_target"  # another enterprise's facility
    assert refused(subject, 999_999) == "invalid_target"  # no such facility: the same answer
    # Access ended now: refused at this instant, though the subject token still lives.
    membership = RoleAssignment.objects.active().get(person=world.person("user"), subdepartment=world.zon.sd2)
    with transaction.atomic():
        membership_update(
            actor=world.person("sb2"),
            membership=membership,
            applications=[],
            status=membership.status,
            email=world.person("user").email,
        )
    assert refused(subject, world.zon.sd2.pk) == "invalid_target"
    assert AccessToken.objects.filter(exchange__isnull=False).count() == 0
    assert AuditEvent.objects.filter(action="oidc.token.exchange_refused", reason="invalid_target").count() == 3


@pytest.mark.django_db
def test_another_clients_token_is_refused(world: World, client_app: Application) -> None:
    register(world, OTHER)
    theirs = person_token(world, OTHER)
    assert refused(theirs, world.zon.sd.pk) == "invalid_request"
    # And the other client cannot exchange E-loket's token either.
    assert refused(person_token(world), world.zon.sd.pk, OTHER) == "invalid_request"


@pytest.mark.django_db
def test_an_expired_or_exchanged_token_is_refused(world: World, client_app: Application) -> None:
    subject = person_token(world)
    exchanged = exchange(subject, world.zon.sd.pk)["access_token"]
    assert refused(exchanged, world.zon.sd.pk) == "invalid_request"  # no second exchange
    AccessToken.objects.filter(exchange__isnull=True).update(expires=timezone.now() - timedelta(seconds=1))
    assert refused(subject, world.zon.sd.pk) == "invalid_request"


@pytest.mark.django_db
def test_malformed_exchanges(world: World, client_app: Application) -> None:
    subject = person_token(world)
    sd = world.zon.sd.pk
    assert refused(subject, sd, subject_token_type="urn:ietf:params:oauth:token-type:id_token") == "invalid_request"
    assert refused(subject, "campus") == "invalid_request"
    assert refused(subject, sd, resource="https://api.example.test/") == "invalid_target"
    assert refused(subject, sd, actor_token=subject, actor_token_type=ACCESS_TOKEN_TYPE) == "invalid_request"
    assert refused("not-a-token", sd) == "invalid_request"
    # Client authentication as at every grant: a wrong secret is a 401 with a Basic challenge.
    r = Client().post(
        "/oauth/token/",
        {"grant_type": GRANT_TYPE, "subject_token": subject, "subject_token_type": ACCESS_TOKEN_TYPE, "facility": sd},
        **basic(CLIENT, "wrong-secret"),
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client" and r["WWW-Authenticate"].startswith("Basic")


@pytest.mark.django_db
def test_discovery_lists_the_grant(client: Client) -> None:
    meta = client.get("/.well-known/openid-configuration").json()
    assert GRANT_TYPE in meta["grant_types_supported"]
    assert "refresh_token" in meta["grant_types_supported"]
