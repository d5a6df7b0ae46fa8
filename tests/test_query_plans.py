"""The hot queries' plans use their indexes (PostgreSQL's EXPLAIN; issue 7).

A moderate data set is generated in the test (``generate_data`` at scale 0.005: 5,000 persons,
~15,000 grants, 100 facilities the largest of which has 100 users, grown to 2,100, plus a few
thousand audit events)
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
from django.db import connection, transaction
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from toegang.accounts.models import User
from toegang.applications.models import ApplicationGrant, SecuredApplication
from toegang.audit.models import AuditEvent
from toegang.delegation import authz, selectors
from toegang.delegation.models import Role, RoleAssignment
from toegang.organisations.models import Enterprise, Subdepartment
from toegang.portal.filters import DEFAULT_ORDER, SubdepartmentUserFilter
from toegang.seed.generator import GENERATOR_USERNAME, generate

TRIGRAM_INDEXES = {"role_last_folded_trgm", "role_first_folded_trgm", "role_username_trgm"}

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

    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            report = generate(scale=0.005, seed=11)
            _grow_largest_facility(report.largest_subdepartment_id, 2_000)
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
                # What VACUUM (not possible in a transaction) would do after the load: the search's
                # trigram indexes take in their pending entries (GIN's fast update).
                for index in TRIGRAM_INDEXES:
                    cursor.execute("SELECT gin_clean_pending_list(%s::regclass)", [index])
                cursor.execute("ANALYZE")
            yield {"report": report, "operator": operator}
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


def _grow_largest_facility(sd_pk: int, n: int) -> None:
    """``n`` more users in the largest facility (100 at this scale; 20,000 in production).

    With 100 rows, sorting them all is as cheap as walking an index in order, and the planner picks
    either; with 2,000 it walks the users list's index, as it does at full size.
    """
    sd = Subdepartment.objects.get(pk=sd_pk)
    members = RoleAssignment.objects.filter(subdepartment=sd).values("person_id")
    persons = User.objects.exclude(pk__in=members).exclude(ssin=None).order_by("pk")[:n]
    RoleAssignment.objects.bulk_create(
        [
            RoleAssignment(
                person=p,
                role=Role.USER,
                enterprise_id=sd.enterprise_id,
                enterprise_quality_id=sd.enterprise_quality_id,
                subdepartment=sd,
            )
            for p in persons
        ],
        batch_size=1_000,
    )


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
    grant = ApplicationGrant.objects.active().order_by("pk").first()
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


def _the_one_statement(call: Any) -> dict[str, Any]:
    """The plan of the one statement ``call()`` runs (as sent, parameters bound by the driver)."""
    with CaptureQueriesContext(connection) as ctx:
        call()
    (query,) = ctx.captured_queries
    return _plan(query["sql"], None)


def _assert_by_ssin(plan: dict[str, Any]) -> None:
    # The person through the unique INSZ index, then only that person's grants and membership.
    _assert_index_lookup(plan, "accounts_user", "ssin")
    _assert_person_grant_lookup(plan)
    assert not _seq_scans(plan) & {"delegation_roleassignment", "applications_applicationgrant", "accounts_user"}


def test_the_check_apis_one_statement_finds_the_person_by_ssin(data: dict[str, Any]) -> None:
    person, application, sd = _a_person_with_grants()
    ssin = User.objects.get(pk=person).ssin or ""
    assert authz.may_use_ssin(ssin, application, sd) is authz.may_use(person, application, sd)
    _assert_by_ssin(_the_one_statement(lambda: authz.may_use_ssin(ssin, application, sd)))
    _assert_by_ssin(_the_one_statement(lambda: list(authz.facilities_for_ssin(ssin, application))))


def test_a_batch_is_one_statement_on_the_same_indexes(data: dict[str, Any]) -> None:
    # 10 people of the test's 5,000: with 100 (2 % of them) the planner rightly prefers reading the
    # application's grants whole; among 1,000,000 people it keeps to the person index for 1,000
    # (docs/performance.md).
    _person, application, _sd = _a_person_with_grants()
    ssins = [
        s or "" for s in User.objects.filter(ssin__isnull=False).order_by("pk").values_list("ssin", flat=True)[:10]
    ]
    expected = {s: {g.subdepartment_id for g in authz.facilities_for_ssin(s, application)} for s in ssins}
    assert authz.facilities_for_many(ssins, application) == {s: f for s, f in expected.items() if f}
    _assert_by_ssin(_the_one_statement(lambda: authz.facilities_for_many(ssins, application)))


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
        if "last_name" in params and _indexes(plan) & TRIGRAM_INDEXES:
            # Naam compares the folded name: the matches read through its trigram index, the
            # subdepartment a filter on those few rows (test_users_list_search_reads_the_trigram_indexes).
            assert "delegation_roleassignment" not in _seq_scans(plan), json.dumps(plan, indent=1)
        else:
            _assert_index_lookup(plan, "delegation_roleassignment", "subdepartment_id")


def test_users_list_application_filter_uses_grant_index(data: dict[str, Any]) -> None:
    sd = Subdepartment.objects.get(pk=data["report"].largest_subdepartment_id)
    app = SecuredApplication.objects.filter(subdepartment_links__subdepartment=sd).order_by("code").first()
    assert app is not None
    plan = _qs_plan(_users_list(data, {"application": str(app.pk)})[:50])
    _assert_index_lookup(plan, "delegation_roleassignment", "subdepartment_id")
    assert "applications_applicationgrant" not in _seq_scans(plan), json.dumps(plan, indent=1)


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def _count_plan(qs: QuerySet[Any]) -> dict[str, Any]:
    """The plan of the paginator's COUNT, compiled as ``qs.count()`` compiles it."""
    with CaptureQueriesContext(connection) as captured:
        qs.count()
    sql = captured.captured_queries[-1]["sql"]
    assert "COUNT(" in sql, sql
    return _plan(sql, None)


LIST_FILTERS = [
    {},
    {"q": "jans"},
    {"q": "lefevre"},
    {"status": "ended"},
    {"last_name": "jans"},
    {"first_name": "an"},
    {"username": "g00"},
    {"type": "USE"},
    {"ssin": "70.01"},
    {"status": "blocked"},
    {"last_name": "jans", "type": "USE"},
]


@pytest.mark.parametrize(
    ("params", "index"),
    [
        ({}, {"role_subdep_name_active"}),
        # Type=USE: the name index filtered on the role, or the (subdepartment, role, name) index with
        # the role as its key; both give the name order without a sort, and the planner picks either
        # by its estimates (both seen in CI).
        ({"type": "USE"}, {"role_subdep_name_active", "role_subdep_type_active"}),
        ({"sort": "first_name"}, {"role_subdep_first_active"}),
        ({"sort": "username"}, {"role_subdep_user_active"}),
        ({"sort": "ssin"}, {"role_subdep_ssin_active"}),
        ({"sort": "type"}, {"role_subdep_type_active"}),
        ({"sort": "status"}, {"role_subdep_status_active"}),
    ],
    ids=lambda v: "+".join(v.values()) if isinstance(v, dict) else "",
)
def test_users_list_page_walks_the_index_of_its_order(
    data: dict[str, Any], params: dict[str, str], index: set[str]
) -> None:
    """Each order of the list is the order of one index: a page is that index walked until 50 rows
    are found; no sort of the subdepartment's rows (20,000 of them at full size). Where the index
    stops before the list's tie-breakers (username and INSZ are unique), an incremental sort orders
    the equal keys only.
    """
    plan = _qs_plan(_users_list(data, params)[:50])
    dump = json.dumps(plan, indent=1)
    assert plan["Node Type"] == "Limit", dump
    assert index & _indexes(plan), dump
    kinds = {n["Node Type"] for n in _nodes(plan)}
    assert not kinds & {"Sort", "Seq Scan"}, dump
    if "sort" not in params:
        assert "Incremental Sort" not in kinds, dump


SORTS = [d + c for c in ("last_name", "first_name", "username", "type", "ssin", "status") for d in ("", "-")]


@pytest.mark.parametrize(
    "params", LIST_FILTERS + [{"sort": s} for s in SORTS], ids=lambda p: "+".join(p.values()) or "default"
)
def test_users_list_page_and_count_read_no_person(data: dict[str, Any], params: dict[str, str]) -> None:
    """Filters and sorts use the person's copies on the row: neither the page (LIMIT 50) nor the count
    line reads accounts_user. Joining it there made PostgreSQL read every person of the
    subdepartment, or hash-join all 1,000,000 persons, before the LIMIT (268 ms, issue 7).
    """
    qs = _users_list(data, params)
    for plan in (_qs_plan(qs[:50]), _count_plan(qs)):
        dump = json.dumps(plan, indent=1)
        assert not any(n.get("Relation Name") == "accounts_user" for n in _nodes(plan)), dump
        assert "delegation_roleassignment" not in _seq_scans(plan), dump
        if _indexes(plan) & TRIGRAM_INDEXES:  # a name criterion read through the trigram indexes
            assert {"Bitmap Heap Scan", "BitmapOr"} & {n["Node Type"] for n in _nodes(plan)}, dump
        else:
            _assert_index_lookup(plan, "delegation_roleassignment", "subdepartment_id")


def test_users_list_page_is_one_statement(data: dict[str, Any]) -> None:
    """The page shows the copies too: listing it reads no person at all (no second query)."""
    page = _users_list(data, {"sort": "-ssin"})[:50]
    with CaptureQueriesContext(connection) as captured:
        rows = list(page)
    assert len(rows) == 50 and len(captured.captured_queries) == 1, captured.captured_queries


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


def test_a_persons_events_use_the_person_and_actor_indexes(data: dict[str, Any]) -> None:
    from toegang.audit.selectors import audit_events_of_person

    person = User.objects.filter(roles__role=Role.USER).order_by("pk").first()
    assert person is not None
    plan = _qs_plan(audit_events_of_person(person)[:50])
    # "My logins and changes": what they did (actor) or what concerns them (person), both indexed.
    assert {"audit_person_at"} <= _indexes(plan), json.dumps(plan, indent=1)
    assert "audit_auditevent" not in _seq_scans(plan), json.dumps(plan, indent=1)
    membership = RoleAssignment.objects.filter(person=person, role=Role.USER).select_related("subdepartment").first()
    assert membership is not None and membership.subdepartment is not None
    here = selectors.person_audit_events_for_actor(data["operator"], membership.subdepartment, person)[:20]
    assert "audit_auditevent" not in _seq_scans(_qs_plan(here))


@pytest.mark.parametrize("q", ["stevens", "tevens", "jans", "eters", "an jans"])
def test_users_list_search_reads_the_trigram_indexes(data: dict[str, Any], q: str) -> None:
    """The quick search finds its rows through the trigram indexes of the folded names, or (for a
    word common in a small facility: "jans" matches a tenth of this data set's 2,100) through the
    subdepartment's index; never a sequential scan, never the persons. The page sorts the rows found
    instead of walking the name index until 50 match, which read half the subdepartment when the
    matches share a letter (docs/performance.md). A rare name ("stevens", the generator's rarest)
    is read through the trigram indexes, the count as well as the page.
    """
    qs = _users_list(data, {"q": q})
    for plan in (_qs_plan(qs[:50]), _count_plan(qs)):
        dump = json.dumps(plan, indent=1)
        assert not _seq_scans(plan), dump
        assert not any(n.get("Relation Name") == "accounts_user" for n in _nodes(plan)), dump
        assert "role_subdep_name_active" not in _indexes(plan), dump
        if q.endswith("tevens"):
            assert _indexes(plan) & TRIGRAM_INDEXES, dump
        else:
            assert _indexes(plan) & TRIGRAM_INDEXES or _scans(plan, "delegation_roleassignment"), dump
            if not _indexes(plan) & TRIGRAM_INDEXES:
                _assert_index_lookup(plan, "delegation_roleassignment", "subdepartment_id")
