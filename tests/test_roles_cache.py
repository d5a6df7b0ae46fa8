"""An actor's roles are read once per GET page (RolesCachedForReadsMiddleware), afresh on every POST."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.conftest import World, login
from toegang.delegation import authz
from toegang.delegation.middleware import RolesCachedForReadsMiddleware


def _role_reads(queries: list[dict[str, Any]], person_id: int) -> int:
    table = '"delegation_roleassignment"'
    start, person = f"FROM {table} WHERE ({table}.", f'AND {table}."person_id" = {person_id})'
    return sum(start in q["sql"] and q["sql"].endswith(person) for q in queries)


def test_users_list_reads_the_actors_roles_once(world: World, client: Client) -> None:
    sb = world.person("sb2")
    login(client, sb)
    url = reverse("portal:users", args=[world.zon.sd2.pk])
    client.get(url)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    assert _role_reads(ctx.captured_queries, sb.pk) == 1


def test_only_safe_methods_share_the_roles() -> None:
    seen: dict[str, object] = {}

    def view(request: HttpRequest) -> HttpResponse:
        seen[request.method or ""] = authz._roles_cache.get()
        return HttpResponse()

    middleware = RolesCachedForReadsMiddleware(view)
    factory = RequestFactory()
    middleware(factory.get("/"))
    middleware(factory.post("/"))
    assert seen["GET"] == {}
    assert seen["POST"] is None
    assert authz._roles_cache.get() is None  # reset after the request
