"""The hot queries' plans use their indexes (PostgreSQL's EXPLAIN; issue 7).

A moderate data set is generated in the test (``generate_data`` at scale 0.005: 5,000 persons,
~15,000 grants, 100 facilities the largest of which has 100 users, plus a few thousand audit events)
and ANALYZEd, so the planner sees real row counts and picks indexes on its own: no
``enable_seqscan = off``. Each test compiles the very query the code runs (the same selectors,
filters and ``authz`` functions), asks for ``EXPLAIN (FORMAT JSON)`` and asserts that the named index
appears in the plan. SQLite has no comparable planner output, so the module is skipped there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from toegang.accounts.models import User
from toegang.applications.models import ApplicationGrant, SecuredApplication
from toegang.audit.models import AuditEvent
from toegang.delegation import authz, selectors
from toegang.delegation.models import Role, RoleAssignment
from toegang.organisations.generator import GENERATOR_USERNAME, generate
from toegang.organisations.models import Enterprise, Subdepartment
from toegang.portal.filters import DEFAULT_ORDER, SubdepartmentUserFilter

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="query plans are checked on PostgreSQL only (set TOEGANG_DATABASE_URL=postgres://…)",
    ),
    pytest.mark.django_db,
]


@pytest.fixture(scope="module")
def data(django_db_setup: Any, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    """Generated once for the module, in its own transaction, rolled back at the end."""
    from django.db import transaction

    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            report = generate(scale=0.005, seed=11)
            enterprises = list(Enterprise.objects.order_by("pk").values_list("pk", flat=True)[:200])
            operator = User.objects.get(username=GENERATOR_USERNAME)
            now = timezone.now()
            AuditEvent.objects.bulk_create(
                [
                    AuditEvent(
                        at=now - timedelta(minutes=i),
                        actor=operator,
                        action="role.appointed",
                        enterprise_id=enterprises[i % len(enterprises)],
                        object_type="delegation.roleassignment",
                        object_id=str(i),
                    )
                    for i in range(5_000)
                ],
                batch_size=1_000,
            )
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
            yield {"report": report, "operator": operator}
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


def _plan(sql: str, params: Any) -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        row = cursor.fetchone()
    assert row is not None
    value = row[0]
    plan = json.loads(value) if isinstance(value, str) else value
    return dict(plan[0]["Plan"])


def _qs_plan(qs: QuerySet[Any]) -> dict[str, Any]:
    sql, params = qs.query.sql_with_params()
    return _plan(sql, params)


def _indexes(node: dict[str, Any]) -> set[str]:
    found = {node["Index Name"]} if "Index Name" in node else set()
    for child in node.get("Plans", []):
        found |= _indexes(child)
    return found


def _seq_scans(node: dict[str, Any]) -> set[str]:
    found = {node["Relation Name"]} if node.get("Node Type") == "Seq Scan" else set()
    for child in node.get("Plans", []):
        found |= _seq_scans(child)
    return found


def _scans(node: dict[str, Any], relation: str) -> list[dict[str, Any]]:
    """The plan nodes that read ``relation``: index scans, a bitmap heap scan's index scans, seq scans."""
    if node.get("Relation Name") == relation:
        if node.get("Node Type") == "Bitmap Heap Scan":
            return [child for child in node.get("Plans", []) if "Index Name" in child]
        if "Index Name" in node or node.get("Node Type") == "Seq Scan":
            return [node]
    return [scan for child in node.get("Plans", []) for scan in _scans(child, relation)]


# The two partial indexes of active grants that lead with the person: (person, application), made
# for this lookup, and the unique (person, subdepartment, application). On small tables the planner
# may prefer the unique one; both find a person's grants without reading anyone else's.
PERSON_GRANT_INDEXES = {"grant_person_app_active", "one_active_application_grant"}


def _assert_person_grant_lookup(plan: dict[str, Any]) -> None:
    scans = _scans(plan, "applications_applicationgrant")
    assert scans, json.dumps(plan, indent=1)
    for scan in scans:
        assert scan.get("Index Name") in PERSON_GRANT_INDEXES, json.dumps(plan, indent=1)
        assert "person_id" in scan.get("Index Cond", ""), json.dumps(plan, indent=1)


def _assert_index_lookup(plan: dict[str, Any], relation: str, column: str) -> None:
    """Every read of ``relation`` is an index lookup on ``column`` (the FK index or a partial one).

    PostgreSQL often prefers the small single-column foreign-key index (``…_subdepartment_id_…``) to
    the partial composite one (``role_subdep_active``) while most rows are active: either reads only
    the rows of that subdepartment or person, which is what the test holds it to.
    """
    scans = _scans(plan, relation)
    assert scans, json.dumps(plan, indent=1)
    for scan in scans:
        assert "Index Name" in scan, json.dumps(plan, indent=1)
        assert column in scan.get("Index Cond", ""), json.dumps(plan, indent=1)


def _a_person_with_grants() -> tuple[int, int, int]:
    grant = ApplicationGrant.objects.filter(valid_until__isnull=True).order_by("pk").first()
    assert grant is not None
    return grant.person_id, grant.application_id, grant.subdepartment_id


def test_facilities_for_reads_only_the_persons_grants(data: dict[str, Any]) -> None:
    person, application, _sd = _a_person_with_grants()
    plan = _qs_plan(authz.facilities_for(person, application))
    _assert_person_grant_lookup(plan)
    assert "delegation_roleassignment" not in _seq_scans(plan)


def test_may_use_reads_only_the_persons_grants(data: dict[str, Any]) -> None:
    person, application, sd = _a_person_with_grants()
    assert authz.may_use(person, application, sd) in (True, False)
    qs = authz.facilities_for(person, application).filter(subdepartment_id=sd)
    sql, params = qs.query.exists().get_compiler(connection=connection).as_sql()
    plan = _plan(sql, params)
    _assert_person_grant_lookup(plan)
    assert "delegation_roleassignment" not in _seq_scans(plan)


def _users_list(data: dict[str, Any], params: dict[str, str]) -> QuerySet[RoleAssignment]:
    sd = Subdepartment.objects.get(pk=data["report"].largest_subdepartment_id)
    members = selectors.subdepartment_members(data["operator"], sd).order_by(*DEFAULT_ORDER)
    fs = SubdepartmentUserFilter(params, queryset=members, subdepartment=sd)
    assert fs.is_valid(), fs.errors
    qs: QuerySet[RoleAssignment] = fs.qs
    return qs


@pytest.mark.parametrize(
    "params",
    [{}, {"last_name": "jans"}, {"last_name": "jans", "type": "USE"}, {"sort": "-ssin"}],
    ids=["default", "name", "name+type", "sorted-by-ssin"],
)
def test_users_list_uses_the_subdepartment_index(data: dict[str, Any], params: dict[str, str]) -> None:
    qs = _users_list(data, params)
    for plan in (_qs_plan(qs[:50]), _qs_plan(qs.order_by())):  # the page, and the COUNT's filter
        _assert_index_lookup(plan, "delegation_roleassignment", "subdepartment_id")


def test_users_list_application_filter_uses_grant_index(data: dict[str, Any]) -> None:
    sd = Subdepartment.objects.get(pk=data["report"].largest_subdepartment_id)
    app = SecuredApplication.objects.filter(subdepartment_links__subdepartment=sd).order_by("code").first()
    assert app is not None
    plan = _qs_plan(_users_list(data, {"application": str(app.pk)})[:50])
    _assert_index_lookup(plan, "delegation_roleassignment", "subdepartment_id")
    assert "applications_applicationgrant" not in _seq_scans(plan), json.dumps(plan, indent=1)


def test_audit_trail_of_a_scope_uses_its_index(data: dict[str, Any]) -> None:
    enterprise = Enterprise.objects.order_by("pk").first()
    assert enterprise is not None
    qs = selectors.audit_events_for_actor(data["operator"], enterprise).order_by("-at", "-id")[:50]
    plan = _qs_plan(qs)
    # Either the (enterprise, -at) index or the enterprise foreign-key index plus a small sort: the
    # planner picks by the scope's size; what matters is that the trail is not scanned whole.
    _assert_index_lookup(plan, "audit_auditevent", "enterprise_id")
    assert "audit_auditevent" not in _seq_scans(plan), json.dumps(plan, indent=1)


def test_roles_of_a_person_use_their_index(data: dict[str, Any]) -> None:
    person = RoleAssignment.objects.filter(role=Role.USER).order_by("pk").values_list("person_id", flat=True)[0]
    plan = _qs_plan(RoleAssignment.objects.active().filter(person_id=person))
    _assert_index_lookup(plan, "delegation_roleassignment", "person_id")
