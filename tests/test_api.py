"""The authorization API for relying parties (issue 5 item 2), through its real token endpoint.

Two relying parties: ``eloket`` and ``cirro`` (confidential clients, client credentials). The persona
``user`` uses E-loket in both facilities of Zonnebloem (and CIRRO in Facility B only), granted through
the portal's services; access ended in the portal must show in the very next answer.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application

from tests.conftest import World, make_person
from toegang.accounts.models import User
from toegang.api.auth import CACHE_PREFIX
from toegang.applications.models import SecuredApplication
from toegang.applications.services import subdepartment_applications_set
from toegang.delegation.models import Role, RoleAssignment
from toegang.delegation.services import membership_end, membership_update, subdepartment_user_add
from toegang.identifiers import ssin_format, ssin_make
from toegang.oidc.models import RelyingParty

pytestmark = pytest.mark.django_db


class RP:
    """A relying party's client and how it gets a token at /oauth/token/."""

    def __init__(self, app: SecuredApplication, *, link: bool = True, client_type: str = "confidential") -> None:
        self.secret = f"secret-of-{app.code}-{client_type}-{link}"
        self.client = Application.objects.create(
            name=f"{app.code} back end",
            client_type=client_type,
            authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
            client_secret=self.secret,
        )
        if link:
            RelyingParty.objects.create(client=self.client, application=app)

    def token_response(self, http: Client, scope: str = "authz") -> Any:
        basic = base64.b64encode(f"{self.client.client_id}:{self.secret}".encode()).decode()
        return http.post(
            "/oauth/token/",
            {"grant_type": "client_credentials", "scope": scope},
            headers={"Authorization": f"Basic {basic}"},
        )

    def token(self, http: Client, scope: str = "authz") -> str:
        response = self.token_response(http, scope)
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["token_type"] == "Bearer" and body["scope"] == scope
        return str(body["access_token"])

    def opaque_token(self, http: Client | None = None, scope: str = "authz", value: str = "") -> str:
        """An opaque token as the token endpoint issued them before JWT access tokens (one row in
        django-oauth-toolkit's table): such tokens are still checked by DOT, through the token cache."""
        value = value or f"opaque-{self.client.client_id}-{AccessToken.objects.count()}"
        return _token_of(self, None, scope, value)


class Api:
    def __init__(self, http: Client, token: str) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}"}

    def facilities(self, ssin: str) -> Any:
        return self.http.get(f"/api/v1/persons/{ssin}/facilities", headers=self.headers)

    def check(self, ssin: str, subdepartment_id: int) -> Any:
        return self.http.get(f"/api/v1/persons/{ssin}/facilities/{subdepartment_id}", headers=self.headers)

    def batch(self, body: Any) -> Any:
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        return self.http.post("/api/v1/checks", data, content_type="application/json", headers=self.headers)


def application_of(code: str) -> SecuredApplication:
    return SecuredApplication.objects.get(code=code)


@pytest.fixture
def access(world: World) -> World:
    """``user`` gets E-loket in Facility A, and E-loket and CIRRO in Facility B, through the portal."""
    zon = world.zon
    cirro, eloket = application_of("cirro"), application_of("eloket")
    subdepartment_applications_set(actor=zon.people["tb"], subdepartment=zon.sd2, applications=[cirro, eloket])
    user = zon.people["user"]
    membership = RoleAssignment.objects.active().get(person=user, subdepartment=zon.sd, role=Role.USER)
    membership_update(
        actor=zon.people["sb"], membership=membership, applications=[eloket], status="active", email="u@example.test"
    )
    subdepartment_user_add(
        actor=zon.people["sb2"],
        subdepartment=zon.sd2,
        ssin=user.ssin or "",
        email="u@example.test",
        applications=[cirro, eloket],
    )
    return world


@pytest.fixture
def eloket(access: World, client: Client) -> Api:
    return Api(client, RP(application_of("eloket")).token(client))


@pytest.fixture
def cirro(access: World, client: Client) -> Api:
    return Api(Client(), RP(application_of("cirro")).token(client))


def ssin_of(person: User) -> str:
    assert person.ssin
    return person.ssin


def test_openapi_document_and_offline_docs(client: Client) -> None:
    doc = client.get("/api/openapi.json").json()
    assert set(doc["paths"]) == {
        "/api/v1/persons/{ssin}/facilities",
        "/api/v1/persons/{ssin}/facilities/{subdepartment_id}",
        "/api/v1/checks",
    }
    (scheme,) = doc["components"]["securitySchemes"].values()
    assert scheme["type"] == "oauth2"
    assert scheme["flows"]["clientCredentials"] == {
        "tokenUrl": "/oauth/token/",
        "scopes": {"authz": "Ask the authorization API about the client's own application"},
    }
    facility = doc["components"]["schemas"]["Facility"]["properties"]
    assert set(facility) == {"enterprise", "quality", "subdepartment", "application", "valid_until"}

    docs = client.get("/api/docs").content.decode()
    # Swagger UI comes from django-ninja's bundled static files: the machine (and many an intranet)
    # has no internet, so nothing may come from a CDN.
    assert "/static/ninja/swagger-ui-bundle.js" in docs and "/static/ninja/swagger-ui.css" in docs
    assert "cdn" not in docs.lower() and "https://" not in docs
    assert '"validatorUrl": null' in docs  # nor the validator badge from validator.swagger.io
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-init.js"):
        assert finders.find(f"ninja/{asset}"), asset


def test_facilities_list_has_the_access_claim_shape(access: World, eloket: Api) -> None:
    zon = access.zon
    user = zon.people["user"]
    for written in (ssin_of(user), ssin_format(ssin_of(user)), " " + ssin_format(ssin_of(user)).replace(".", " ")):
        response = eloket.facilities(written.strip())
        assert response.status_code == 200, written
        assert response.json() == [
            {
                "enterprise": {"cbe_number": zon.enterprise.cbe_number, "name": zon.enterprise.name},
                "quality": {"code": access.quality.code, "name": access.quality.name_nl},
                "subdepartment": {"id": sd.pk, "identification_code": sd.identification_code, "name": sd.name},
                "application": "eloket",
                "valid_until": None,
            }
            for sd in (zon.sd, zon.sd2)
        ]


def test_quality_name_follows_accept_language(access: World, eloket: Api) -> None:
    response = eloket.http.get(
        f"/api/v1/persons/{ssin_of(access.zon.people['user'])}/facilities",
        headers={**eloket.headers, "Accept-Language": "fr"},
    )
    assert {f["quality"]["name"] for f in response.json()} == {access.quality.name_fr}


def test_check_and_batch_follow_the_grants(access: World, eloket: Api) -> None:
    zon, ander = access.zon, access.ander
    user, sb = ssin_of(zon.people["user"]), ssin_of(zon.people["sb"])
    assert eloket.check(user, zon.sd.pk).json() == {"allowed": True}
    assert eloket.check(ssin_format(user), zon.sd2.pk).json() == {"allowed": True}
    assert eloket.check(user, ander.sd.pk).json() == {"allowed": False}
    assert eloket.check(user, 999_999).json() == {"allowed": False}
    assert eloket.check(sb, zon.sd.pk).json() == {"allowed": False}  # a manager, without E-loket

    pairs = [
        {"ssin": ssin_format(user), "subdepartment_id": zon.sd.pk},
        {"ssin": user, "subdepartment_id": ander.sd.pk},
        {"ssin": sb, "subdepartment_id": zon.sd.pk},
        {"ssin": user, "subdepartment_id": zon.sd2.pk},
        {"ssin": ssin_make(1999, 9, 9, 9), "subdepartment_id": zon.sd.pk},
    ]
    response = eloket.batch(pairs)
    assert response.status_code == 200
    assert response.json() == [
        {"ssin": user, "subdepartment_id": zon.sd.pk, "allowed": True},
        {"ssin": user, "subdepartment_id": ander.sd.pk, "allowed": False},
        {"ssin": sb, "subdepartment_id": zon.sd.pk, "allowed": False},
        {"ssin": user, "subdepartment_id": zon.sd2.pk, "allowed": True},
        {"ssin": ssin_make(1999, 9, 9, 9), "subdepartment_id": zon.sd.pk, "allowed": False},
    ]
    assert eloket.batch([]).json() == []


def test_another_applications_token_sees_nothing_of_eloket(access: World, cirro: Api) -> None:
    zon = access.zon
    user = ssin_of(zon.people["user"])
    # CIRRO's client sees CIRRO's grant in Facility B, nothing of E-loket in A or B.
    assert [(f["subdepartment"]["id"], f["application"]) for f in cirro.facilities(user).json()] == [
        (zon.sd2.pk, "cirro")
    ]
    assert cirro.check(user, zon.sd.pk).json() == {"allowed": False}
    assert cirro.check(user, zon.sd2.pk).json() == {"allowed": True}
    assert [r["allowed"] for r in cirro.batch([{"ssin": user, "subdepartment_id": zon.sd.pk}]).json()] == [False]


def test_unknown_person_is_an_empty_answer(eloket: Api) -> None:
    nobody = ssin_make(1931, 3, 3, 3)
    assert eloket.facilities(nobody).json() == []
    assert eloket.check(nobody, 1).json() == {"allowed": False}


def _end_membership(w: World) -> None:
    zon = w.zon
    membership = RoleAssignment.objects.active().get(person=zon.people["user"], subdepartment=zon.sd2)
    membership_end(actor=zon.people["sb2"], membership=membership)


def _untick(w: World) -> None:
    zon = w.zon
    membership = RoleAssignment.objects.active().get(person=zon.people["user"], subdepartment=zon.sd2)
    membership_update(
        actor=zon.people["sb2"],
        membership=membership,
        applications=[application_of("cirro")],
        status="active",
        email="u@example.test",
    )


def _switch_off(w: World) -> None:
    subdepartment_applications_set(
        actor=w.zon.people["tb"], subdepartment=w.zon.sd2, applications=[application_of("cirro")]
    )


def _block(w: World) -> None:
    zon = w.zon
    membership = RoleAssignment.objects.active().get(person=zon.people["user"], subdepartment=zon.sd2)
    membership_update(
        actor=zon.people["sb2"],
        membership=membership,
        applications=[application_of("cirro"), application_of("eloket")],
        status="blocked",
        email="u@example.test",
    )


@pytest.mark.parametrize("end", [_end_membership, _untick, _switch_off, _block], ids=lambda f: f.__name__)
def test_access_ended_in_the_portal_shows_at_once(access: World, eloket: Api, end: Any) -> None:
    zon = access.zon
    user = ssin_of(zon.people["user"])
    assert eloket.check(user, zon.sd2.pk).json() == {"allowed": True}
    end(access)
    # Same token, next request: no cache between the portal and the API.
    assert eloket.check(user, zon.sd2.pk).json() == {"allowed": False}
    assert [f["subdepartment"]["id"] for f in eloket.facilities(user).json()] == [zon.sd.pk]
    assert [r["allowed"] for r in eloket.batch([{"ssin": user, "subdepartment_id": zon.sd2.pk}]).json()] == [False]
    assert eloket.check(user, zon.sd.pk).json() == {"allowed": True}  # the other facility is untouched


def _challenge(response: Any) -> str:
    return str(response["WWW-Authenticate"])


def test_without_a_token_401_with_the_bare_challenge(access: World, client: Client) -> None:
    user = ssin_of(access.zon.people["user"])
    for headers in ({}, {"Authorization": "Basic Zm9vOmJhcg=="}):
        response = client.get(f"/api/v1/persons/{user}/facilities", headers=headers)
        assert response.status_code == 401
        # RFC 6750 §3.1: a request without a bearer token gets no error code.
        assert _challenge(response) == 'Bearer realm="toegang"'
        assert response.json()["error"] == "unauthorized"


def test_unknown_expired_and_revoked_tokens_are_401_invalid_token(access: World, client: Client) -> None:
    user = ssin_of(access.zon.people["user"])
    rp = RP(application_of("eloket"))

    def status(token: str) -> tuple[int, str, str]:
        response = Api(client, token).check(user, access.zon.sd.pk)
        return response.status_code, _challenge(response), response.json()["error"]

    code, challenge, error = status("not-a-token")
    assert (code, error) == (401, "invalid_token")
    assert challenge.startswith('Bearer realm="toegang", error="invalid_token", error_description="')

    expired = rp.opaque_token()
    AccessToken.objects.filter(application=rp.client).update(expires=timezone.now() - timedelta(seconds=1))
    assert status(expired)[0::2] == (401, "invalid_token")
    # JWT access tokens: tests/test_oidc_jwt_tokens.py (expired, other key, revoked, deny-list).

    revoked = rp.token(client)
    basic = base64.b64encode(f"{rp.client.client_id}:{rp.secret}".encode()).decode()
    response = client.post("/oauth/revoke_token/", {"token": revoked}, headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 200
    assert status(revoked)[0::2] == (401, "invalid_token")


def _token_of(rp: RP, user: User | None, scope: str, value: str) -> str:
    """A token as DOT stores it after a login at this client (the token endpoint gives client
    credentials only ``authz``, so other scopes come from the authorization-code flow)."""
    AccessToken.objects.create(
        application=rp.client, user=user, token=value, scope=scope, expires=timezone.now() + timedelta(minutes=5)
    )
    return value


def test_wrong_scope_is_403_insufficient_scope(access: World, client: Client) -> None:
    user = access.zon.people["user"]
    token = _token_of(RP(application_of("eloket")), user, "openid access", "login-token-without-authz")
    response = Api(client, token).facilities(ssin_of(user))
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in _challenge(response) and 'scope="authz"' in _challenge(response)


def test_an_unlinked_client_and_a_public_clients_token_are_refused(access: World, client: Client) -> None:
    user = access.zon.people["user"]
    rp = RP(application_of("eloket"))
    token = rp.token(client)
    RelyingParty.objects.filter(client=rp.client).delete()  # the operator unlinks the client
    response = Api(client, token).facilities(ssin_of(user))
    assert (response.status_code, response.json()["error"]) == (403, "insufficient_scope")

    # A public client (a browser app) cannot use client credentials; a token it got at a login
    # would otherwise let anyone logged in there ask where everybody works.
    public = _token_of(RP(application_of("eloket"), client_type="public"), user, "openid authz", "public-client-token")
    response = Api(client, public).facilities(ssin_of(user))
    assert (response.status_code, response.json()["error"]) == (403, "insufficient_scope")
    # The same from a confidential client's login is accepted: that token lives in its back end.
    confidential = _token_of(RP(application_of("eloket")), user, "openid authz", "confidential-login-token")
    assert Api(client, confidential).facilities(ssin_of(user)).status_code == 200


def test_invalid_ssin_is_422_with_a_clear_message(eloket: Api) -> None:
    eloket.headers["Accept-Language"] = "en"  # the messages are translated; Dutch by default
    for bad, message in (("12345", "An INSZ has 11 digits"), ("85073003329", "This INSZ is not valid")):
        for response in (eloket.facilities(bad), eloket.check(bad, 1)):
            assert response.status_code == 422
            (item,) = response.json()["detail"]
            assert item["loc"] == ["path", "ssin"] and item["msg"].startswith(message)
    response = eloket.batch([{"ssin": ssin_make(1980, 1, 1, 1), "subdepartment_id": 1}, {"ssin": "123", "x": 1}])
    assert response.status_code == 422
    locs = {tuple(d["loc"][-2:]) for d in response.json()["detail"]}
    assert locs == {(1, "ssin"), (1, "subdepartment_id")}
    eloket.headers["Accept-Language"] = "nl"
    (item,) = eloket.facilities("12345").json()["detail"]
    assert item["msg"] == "Een INSZ telt 11 cijfers, bijvoorbeeld 85.07.30-033.28."


@pytest.mark.parametrize(
    "body",
    ["{not json", "", '{"ssin": "85073003328", "subdepartment_id": 1}', "[1, 2]", '[{"ssin": 5}]', "null"],
)
def test_malformed_batches_are_json_errors_never_500(eloket: Api, body: str) -> None:
    response = eloket.batch(body)
    assert response.status_code in (400, 422), response.content
    assert response["Content-Type"].startswith("application/json")
    # 422: the fields in error; 400 (not JSON at all): the API's error shape, as its document says.
    assert response.json()["detail"] if response.status_code == 422 else response.json()["error_description"]


def test_out_of_range_ids_are_422_not_a_database_overflow(access: World, eloket: Api) -> None:
    user = ssin_of(access.zon.people["user"])
    for bad in (10**30, 2**63, 0, -5):
        response = eloket.check(user, bad)
        assert response.status_code == 422, bad
        assert response.json()["detail"][0]["loc"] == ["path", "subdepartment_id"]
        response = eloket.batch([{"ssin": user, "subdepartment_id": bad}])
        assert response.status_code == 422, bad
    assert eloket.check(user, 2**63 - 1).json() == {"allowed": False}


def test_oversized_batch_is_refused_clearly(eloket: Api, settings: Any) -> None:
    pair = {"ssin": ssin_make(1980, 1, 1, 1), "subdepartment_id": 1}
    assert len(eloket.batch([pair] * 1000).json()) == 1000
    response = eloket.batch([pair] * 1001)
    assert response.status_code == 422
    (item,) = response.json()["detail"]
    assert "at most 1000 items" in item["msg"]

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = eloket.batch([pair] * 500)
    assert response.status_code == 413
    assert response.json()["error"] == "request_too_large"


def test_a_single_check_costs_the_same_queries_whoever_asks(access: World, client: Client, settings: Any) -> None:
    settings.API_TOKEN_CACHE_SECONDS = 0  # every request checks its (opaque) token at DOT
    eloket = Api(client, RP(application_of("eloket")).opaque_token())
    zon = access.zon
    counts = []
    for person, sd in (
        (zon.people["user"], zon.sd),  # allowed
        (zon.people["sb"], zon.sd),  # member, no grant
        (make_person("stranger"), zon.sd2),  # known, nowhere
        (None, zon.sd),  # unknown INSZ
    ):
        ssin = ssin_of(person) if person else ssin_make(1950, 5, 5, 5)
        with CaptureQueriesContext(connection) as ctx:
            assert eloket.check(ssin, sd.pk).status_code == 200
        counts.append(len(ctx.captured_queries))
    # The token (DOT), its relying party, the decision (the person joined by INSZ).
    assert counts == [3, 3, 3, 3]

    with CaptureQueriesContext(connection) as ctx:
        eloket.facilities(ssin_of(zon.people["user"]))
    assert len(ctx.captured_queries) == 3

    # A batch: the token, its relying party, then one statement for every person in it.
    people = (zon.people["user"], zon.people["sb"], zon.people["tb"], make_person("another"))
    pairs = [{"ssin": ssin_of(p), "subdepartment_id": zon.sd.pk} for p in people] * 25
    with CaptureQueriesContext(connection) as ctx:
        eloket.batch(pairs)
    assert len(ctx.captured_queries) == 3


# --- the token cache (toegang/api/auth.py): a validated token is remembered, a change forgets it ---


@pytest.fixture
def token_cache(settings: Any) -> None:
    # The token cache is meant for Redis, which costs no SQL statement; a local-memory cache stands in
    # for it, so the statements counted are the check's own (without Redis the cache is a database
    # table and the token cache is off).
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.API_TOKEN_CACHE_SECONDS = 60
    cache.clear()  # local-memory caches of one name share their entries across tests


def _queries(api: Api, ssin: str, sd: int) -> tuple[int, bool]:
    with CaptureQueriesContext(connection) as ctx:
        response = api.check(ssin, sd)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries), response.json()["allowed"]


def test_a_cached_token_skips_dot_and_the_relying_party(access: World, client: Client, token_cache: None) -> None:
    user, sd = ssin_of(access.zon.people["user"]), access.zon.sd.pk
    rp = RP(application_of("eloket"))
    token = rp.opaque_token()
    api = Api(client, token)
    assert _queries(api, user, sd) == (3, True)  # DOT, the relying party, the decision
    assert _queries(api, user, sd) == (1, True)  # the decision only
    # Keyed by the token's SHA-256 (DOT's checksum), never by the token itself.
    checksum = AccessToken.objects.get(application=rp.client).token_checksum
    assert cache.get(CACHE_PREFIX + checksum)[:2] == (rp.client.client_id, application_of("eloket").pk)
    assert not any(token in str(k) for k in cache._cache)  # type: ignore[attr-defined]
    # The decision itself is never cached: access ended in the portal shows at once.
    RoleAssignment.objects.active().filter(person=access.zon.people["user"], subdepartment_id=sd).update(
        status="blocked"
    )
    assert _queries(api, user, sd) == (1, False)


def test_a_cached_token_revoked_or_deleted_is_refused_at_once(access: World, client: Client, token_cache: None) -> None:
    user, sd = ssin_of(access.zon.people["user"]), access.zon.sd.pk
    rp = RP(application_of("eloket"))
    basic = base64.b64encode(f"{rp.client.client_id}:{rp.secret}".encode()).decode()

    revoked = rp.opaque_token()
    assert Api(client, revoked).check(user, sd).status_code == 200  # now cached
    response = client.post("/oauth/revoke_token/", {"token": revoked}, headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 200
    response = Api(client, revoked).check(user, sd)
    assert (response.status_code, response.json()["error"]) == (401, "invalid_token")
    assert 'error="invalid_token"' in _challenge(response)

    deleted = rp.opaque_token()
    assert Api(client, deleted).check(user, sd).status_code == 200
    AccessToken.objects.filter(application=rp.client).delete()  # as the admin's "delete selected"
    assert Api(client, deleted).check(user, sd).status_code == 401

    edited = rp.opaque_token()
    assert Api(client, edited).check(user, sd).status_code == 200
    token = AccessToken.objects.get(application=rp.client)
    token.expires = timezone.now() - timedelta(seconds=1)  # the admin ends it
    token.save()
    assert Api(client, edited).check(user, sd).status_code == 401


def test_a_cached_token_is_refused_once_it_expires(
    access: World, client: Client, token_cache: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    user, sd = ssin_of(access.zon.people["user"]), access.zon.sd.pk
    token = _token_of(RP(application_of("eloket")), None, "authz", "short-lived-token")
    AccessToken.objects.filter(token=token).update(expires=timezone.now() + timedelta(seconds=30))
    assert _queries(Api(client, token), user, sd) == (3, True)
    assert _queries(Api(client, token), user, sd) == (1, True)  # cached
    later_now, later_time = timezone.now() + timedelta(seconds=31), time.time() + 31
    monkeypatch.setattr(timezone, "now", lambda: later_now)
    monkeypatch.setattr(time, "time", lambda: later_time)
    response = Api(client, token).check(user, sd)
    assert (response.status_code, response.json()["error"]) == (401, "invalid_token")


def test_a_cached_token_follows_a_change_of_its_client(access: World, client: Client, token_cache: None) -> None:
    user, sd = ssin_of(access.zon.people["user"]), access.zon.sd.pk  # E-loket here, CIRRO only in sd2
    rp = RP(application_of("eloket"))
    api = Api(client, rp.opaque_token())
    assert _queries(api, user, sd) == (3, True)
    # The operator links the client to CIRRO instead: the next answer is for CIRRO.
    link = RelyingParty.objects.get(client=rp.client)
    link.application = application_of("cirro")
    link.save()
    assert _queries(api, user, sd) == (3, False)
    # Unlinked: refused at once.
    link.delete()
    response = api.check(user, sd)
    assert (response.status_code, response.json()["error"]) == (403, "insufficient_scope")
    # Linked again, then the client turned public: refused at once.
    RelyingParty.objects.create(client=rp.client, application=application_of("eloket"))
    assert _queries(api, user, sd) == (3, True)
    rp.client.client_type = Application.CLIENT_PUBLIC
    rp.client.save()
    assert api.check(user, sd).status_code == 403


def test_refusals_are_never_cached(access: World, client: Client, token_cache: None) -> None:
    user, sd = ssin_of(access.zon.people["user"]), access.zon.sd.pk
    for _ in range(2):
        assert Api(client, "not-a-token").check(user, sd).status_code == 401
    assert not [k for k in cache._cache if CACHE_PREFIX in str(k)]  # type: ignore[attr-defined]


def test_an_unreachable_token_cache_falls_back_to_dot(
    access: World, client: Client, token_cache: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis down: every check goes to DOT (3 statements) and still answers right; nothing breaks."""
    user, sd = ssin_of(access.zon.people["user"]), access.zon.sd.pk
    api = Api(client, RP(application_of("eloket")).opaque_token())

    def down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("cache unreachable")

    monkeypatch.setattr(cache, "get", down)
    monkeypatch.setattr(cache, "add", down)
    assert _queries(api, user, sd) == (3, True)
    assert _queries(api, user, sd) == (3, True)
    assert Api(client, "not-a-token").check(user, sd).status_code == 401


def test_a_token_bound_to_resources_is_never_cached(access: World, client: Client, token_cache: None) -> None:
    """RFC 8707: DOT checks such a token against each request's URL, so it is checked every time."""
    user, sd = ssin_of(access.zon.people["user"]), access.zon.sd.pk
    rp = RP(application_of("eloket"))
    token = rp.opaque_token()
    AccessToken.objects.filter(application=rp.client).update(resource=["http://testserver/api/v1/checks"])
    api = Api(client, token)
    assert api.check(user, sd).status_code == 401  # not the resource it was issued for
    AccessToken.objects.filter(application=rp.client).update(resource=[])
    assert _queries(api, user, sd) == (3, True)
    AccessToken.objects.filter(application=rp.client).update(
        resource=[f"http://testserver/api/v1/persons/{user}/facilities/{sd}"]
    )
    cache.clear()
    assert _queries(api, user, sd) == (3, True)
    assert _queries(api, user, sd) == (3, True)  # still DOT's check: nothing was remembered


def test_a_login_token_never_touches_the_cache(
    access: World, client: Client, token_cache: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tokens without the API's scope are never cached: deleting one (a refresh's rotation, a logout,
    cleartokens) works with the cache down; one with the scope fails closed instead."""
    rp = RP(application_of("eloket"))
    rp.opaque_token()
    login_token = AccessToken.objects.create(
        application=rp.client, token="login-token", scope="openid profile", expires=timezone.now()
    )

    def down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("cache unreachable")

    monkeypatch.setattr(cache, "set_many", down)
    login_token.scope = "openid"
    login_token.save()
    login_token.delete()
    api_token = AccessToken.objects.get(application=rp.client, scope="authz")
    with pytest.raises(ConnectionError):
        api_token.delete()


def test_an_access_token_in_the_query_string_is_refused(access: World, client: Client) -> None:
    """RFC 6750 §2.3 and RFC 9700 §4.3.2: a URL's query string lands in logs; only the header counts."""
    user = ssin_of(access.zon.people["user"])
    token = RP(application_of("eloket")).token(client)
    response = client.get(f"/api/v1/persons/{user}/facilities?access_token={token}")
    assert response.status_code == 401
    assert Api(client, token).facilities(user).status_code == 200


def test_client_credentials_tokens_are_not_stored(access: World, client: Client) -> None:
    """A client-credentials token is a signed JWT, not a row (RFC 9700 §4: a copy of the database holds
    no usable access token; a person's token is stored as its checksum only: test_oidc_jwt_tokens.py)."""
    token = RP(application_of("eloket")).token(client)
    assert not AccessToken.objects.filter(token_checksum=hashlib.sha256(token.encode()).hexdigest()).exists()
