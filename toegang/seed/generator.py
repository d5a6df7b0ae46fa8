"""Generated data at Belgian scale, for benchmarks and query-plan tests (``manage.py generate_data``).

At ``scale=1.0``: 300,000 enterprises, 60,000 of them with the quality "Residentiële zorginstelling"
activated, 100,000 subdepartments (facilities), 1,000,000 persons, 1,500,000 memberships (role
``user``) with 3,000,000 application grants, the largest subdepartment with 20,000 users. Every
count scales linearly (at least one of each); the largest subdepartment too.

Shape and skew:

- every enterprise has a main access manager (HTB); every activated quality an access manager (TB);
  every subdepartment a subdepartment manager (SB) and the quality's applications switched on;
- subdepartment sizes follow a Pareto law (most facilities have a handful of users, a few have
  thousands), with subdepartment 1 of the generated set forced to the largest size;
- persons are taken round-robin, so a person is a user of one or two facilities, and the managers
  are persons too;
- each user holds 1 to 3 of the facility's applications (2 on average).

Identifiers are valid: INSZ numbers from ``ssin_make`` (serials 500-997, born 1940-1999, so they do
not meet the demo's serials below 100), enterprise numbers from ``cbe_make`` (seeds from 12,000,000),
NIHII codes with their mod-97 check. Names come from a skewed list of common Belgian names.

Speed: rows are written without the ORM's per-object work. On PostgreSQL with ``COPY … FROM STDIN``
(psycopg 3's ``cursor.copy``), elsewhere with ``executemany`` of one INSERT per table in batches,
always with explicit primary keys (after the highest existing one) and the sequences reset at the
end. Everything runs in one transaction.

Audit: generated rows are bulk seed data, not changes made by anyone, so they get no audit event
each; one summary event ``data.generated`` (actor: the generator's operator account) records the
run, its scale and its counts.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.hashers import make_password
from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.db.models import Max
from django.utils import timezone

from toegang.accounts.models import Activation, User
from toegang.applications.models import ApplicationGrant, SubdepartmentApplication
from toegang.audit.actions import Action, Reason
from toegang.audit.services import audit_record
from toegang.delegation.models import FOLDED_COPIES, PERSON_COPIES, Role, RoleAssignment, Status
from toegang.folding import fold
from toegang.identifiers import cbe_make, ssin_make
from toegang.organisations.models import Enterprise, EnterpriseQuality, Subdepartment
from toegang.seed.demo import catalogue_load

# Counts at scale 1.0 (issue 7's target data set).
FULL = {
    "enterprises": 300_000,
    "enterprise_qualities": 60_000,
    "subdepartments": 100_000,
    "persons": 1_000_000,
    "memberships": 1_500_000,
    "largest_subdepartment": 20_000,
}
BATCH = 5_000
GENERATOR_USERNAME = "generator"
# Tables whose primary keys the generator sets (or that it fills): their sequences are reset at the end.
SEQUENCED: list[type[models.Model]] = [
    User,
    Enterprise,
    EnterpriseQuality,
    Subdepartment,
    SubdepartmentApplication,
    RoleAssignment,
    ApplicationGrant,
]

LAST_NAMES = [
    "Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens", "Wouters", "De Smet",
    "Dubois", "Lambert", "Dupont", "Martin", "Simon", "Leclercq", "Hermans", "Michiels", "Aerts", "Smets",
    "Van den Broeck", "Desmet", "Vermeulen", "Pauwels", "Declercq", "Cools", "Verhoeven", "Hendrickx", "Lemmens",
    "Van Damme", "Laurent", "Dumont", "Lejeune", "Renard", "Lambrechts", "Segers", "De Clercq", "Stevens",
]  # fmt: skip
FIRST_NAMES = [
    "Jan", "Marie", "Luc", "Anne", "Pieter", "Sofie", "Koen", "Els", "Tom", "Griet", "Wim", "Lotte", "Bart",
    "Nathalie", "Dirk", "Ines", "Geert", "Lies", "Joris", "Eva", "Hugo", "Sara", "Marc", "Hilde", "Noah", "Emma",
]  # fmt: skip
ENTERPRISE_WORDS = ["Zorg", "WZC", "Thuiszorg", "Residentie", "Huis", "Campus", "Groep", "Centrum", "Dienst"]


@dataclass
class Counts:
    enterprises: int
    enterprise_qualities: int
    subdepartments: int
    persons: int
    memberships: int
    largest_subdepartment: int

    @classmethod
    def at(cls, scale: float) -> Counts:
        c = {k: max(1, round(v * scale)) for k, v in FULL.items()}
        c["enterprise_qualities"] = min(c["enterprise_qualities"], c["enterprises"])
        c["subdepartments"] = max(c["subdepartments"], c["enterprise_qualities"])
        c["largest_subdepartment"] = min(c["largest_subdepartment"], c["persons"], c["memberships"])
        c["memberships"] = max(c["memberships"], c["subdepartments"] + c["largest_subdepartment"])
        # Every facility holds at most the largest facility's users.
        c["memberships"] = min(c["memberships"], c["subdepartments"] * c["largest_subdepartment"])
        return cls(**c)


@dataclass
class Report:
    scale: float
    counts: Counts
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    largest_subdepartment_id: int = 0
    method: str = ""

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.seconds if self.seconds else 0.0


def ssin_for(i: int) -> str:
    """The i-th generated INSZ (unique for i < 10,040,000)."""
    serial = 500 + i % 498
    k = i // 498
    day = 1 + k % 28
    k //= 28
    month = 1 + k % 12
    year = 1940 + (k // 12) % 60
    return ssin_make(year, month, day, serial)


def nihii_for(i: int) -> str:
    base = 200_000 + i
    return f"{base:06d}{97 - base % 97:02d}"


def subdepartment_sizes(n: int, total: int, largest: int, rng: random.Random) -> list[int]:
    """``n`` sizes summing to ``total``: the first is ``largest``, the others Pareto-distributed, ≥ 1."""
    if n == 1:
        return [total]
    rest = total - largest
    weights = [min(rng.paretovariate(1.16), 1e6) for _ in range(n - 1)]
    scale = (rest - (n - 1)) / sum(weights)
    sizes = [1 + int(w * scale) for w in weights]
    # Cap at the largest, then hand out what rounding and capping left, one per facility in turn.
    sizes = [min(s, largest) for s in sizes]
    short = rest - sum(sizes)
    i = 0
    while short > 0:
        if sizes[i % len(sizes)] < largest:
            sizes[i % len(sizes)] += 1
            short -= 1
        i += 1
    return [largest, *sizes]


class _Writer:
    """Append rows to one table fast: COPY on PostgreSQL, executemany of INSERT elsewhere.

    ``columns`` are the model's fields given per row; every other concrete column gets the field's
    default, prepared for the database once.
    """

    def __init__(self, model: type[models.Model], columns: Sequence[str]) -> None:
        self.model = model
        fields = {f.attname: f for f in model._meta.concrete_fields}
        self.varying = [fields[c] for c in columns]
        self.constant = [f for f in fields.values() if f.attname not in columns and not f.primary_key]
        self.constant_values = tuple(f.get_db_prep_save(f.get_default(), connection) for f in self.constant)
        qn = connection.ops.quote_name
        self.column_sql = ", ".join(qn(f.column) for f in [*self.varying, *self.constant])
        self.table = qn(model._meta.db_table)
        self.count = 0

    def write(self, rows: Iterable[tuple[Any, ...]]) -> None:
        constant = self.constant_values
        full = (row + constant for row in rows)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                raw = cursor.cursor  # psycopg 3
                with raw.copy(f"COPY {self.table} ({self.column_sql}) FROM STDIN") as copy:
                    for row in full:
                        copy.write_row(row)
                        self.count += 1
            return
        n = len(self.varying) + len(self.constant)
        # Table and column names come from the model's metadata, quoted; the values are parameters.
        sql = f"INSERT INTO {self.table} ({self.column_sql}) VALUES ({', '.join(['%s'] * n)})"  # noqa: S608
        with connection.cursor() as cursor:
            for batch in _batches(full, BATCH):
                cursor.executemany(sql, batch)
                self.count += len(batch)


def _batches(rows: Iterable[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _next_pk(model: type[models.Model]) -> int:
    return int(model._default_manager.aggregate(m=Max("pk"))["m"] or 0) + 1


def generate(*, scale: float, seed: int = 7, progress: Callable[[str, int, float], None] | None = None) -> Report:
    """Generate the data set at ``scale`` (1.0 = issue 7's target) into the default database."""
    counts = Counts.at(scale)
    rng = random.Random(seed)  # noqa: S311 (reproducible generated data, not secrets)
    report = Report(scale=scale, counts=counts, method="COPY" if connection.vendor == "postgresql" else "INSERT")
    started = time.perf_counter()
    now = timezone.now()
    dt = connection.ops.adapt_datetimefield_value(now)

    def done(label: str, writer: _Writer, t0: float) -> None:
        report.rows[label] = writer.count
        if progress:
            progress(label, writer.count, time.perf_counter() - t0)

    with transaction.atomic():
        operator, _ = User.objects.get_or_create(
            username=GENERATOR_USERNAME, defaults={"is_staff": True, "first_name": "Data", "last_name": "Generator"}
        )
        quality = catalogue_load()
        apps = list(quality.applications.order_by("code").values_list("pk", flat=True))

        # Persons.
        t0 = time.perf_counter()
        p0 = _next_pk(User)
        password = make_password(None)
        last_weights = [1 / (k + 1) for k in range(len(LAST_NAMES))]  # Zipf: Peeters most common
        # The persons activated their accounts themselves (docs/security.md): their roles count.
        users = _Writer(
            User,
            ["id", "username", "ssin", "first_name", "last_name", "password", "date_joined", "language", "activation"],
        )
        lasts = rng.choices(LAST_NAMES, weights=last_weights, k=counts.persons)
        firsts = rng.choices(FIRST_NAMES, k=counts.persons)
        langs = rng.choices(["nl", "fr", "de"], weights=[60, 39, 1], k=counts.persons)
        ssins = [ssin_for(i) for i in range(counts.persons)]
        users.write(
            (p0 + i, f"g{i:07d}", ssins[i], firsts[i], lasts[i], password, dt, langs[i], Activation.PERSON)
            for i in range(counts.persons)
        )
        done("persons", users, t0)
        person_cursor = 0

        def next_person() -> int:
            nonlocal person_cursor
            pk = p0 + person_cursor % counts.persons
            person_cursor += 1
            return pk

        folded_lasts = {name: fold(name) for name in set(lasts)}
        folded_firsts = {name: fold(name) for name in set(firsts)}

        def copies(pk: int) -> tuple[str, str, str, str, str, str]:
            """The person's fields that each role assignment copies (delegation's PERSON_COPIES, then
            FOLDED_COPIES)."""
            i = pk - p0
            return (lasts[i], firsts[i], f"g{i:07d}", ssins[i], folded_lasts[lasts[i]], folded_firsts[firsts[i]])

        # Enterprises, activated qualities.
        t0 = time.perf_counter()
        e0 = _next_pk(Enterprise)
        enterprises = _Writer(Enterprise, ["id", "cbe_number", "name", "created_at"])
        enterprises.write(
            (e0 + i, cbe_make(12_000_000 + i), f"{rng.choice(ENTERPRISE_WORDS)} {rng.choice(LAST_NAMES)} {i}", dt)
            for i in range(counts.enterprises)
        )
        done("enterprises", enterprises, t0)
        t0 = time.perf_counter()
        q0 = _next_pk(EnterpriseQuality)
        eqs = _Writer(EnterpriseQuality, ["id", "enterprise_id", "quality_id", "valid_from", "granted_by_id"])
        eqs.write((q0 + i, e0 + i, quality.pk, dt, operator.pk) for i in range(counts.enterprise_qualities))
        done("enterprise_qualities", eqs, t0)

        # Subdepartments: each activated quality at least one, the rest to random (skewed) qualities.
        t0 = time.perf_counter()
        s0 = _next_pk(Subdepartment)
        eq_of = list(range(counts.enterprise_qualities))
        eq_of += [
            min(int(rng.paretovariate(1.5)) - 1, counts.enterprise_qualities - 1) if rng.random() < 0.5 else k
            for k in rng.choices(range(counts.enterprise_qualities), k=counts.subdepartments - len(eq_of))
        ]
        subs = _Writer(
            Subdepartment,
            ["id", "enterprise_quality_id", "enterprise_id", "quality_id", "name", "identification_code", "valid_from",
             "granted_by_id"],
        )  # fmt: skip
        subs.write(
            (s0 + i, q0 + k, e0 + k, quality.pk, f"{rng.choice(ENTERPRISE_WORDS)} {i}", nihii_for(i), dt, operator.pk)
            for i, k in enumerate(eq_of)
        )
        done("subdepartments", subs, t0)
        report.largest_subdepartment_id = s0
        t0 = time.perf_counter()
        links = _Writer(SubdepartmentApplication, ["subdepartment_id", "application_id", "valid_from", "granted_by_id"])
        links.write((s0 + i, a, dt, operator.pk) for i in range(counts.subdepartments) for a in apps)
        done("switched_on_applications", links, t0)

        # Role assignments: HTB per enterprise, TB per activated quality, SB per subdepartment, users.
        t0 = time.perf_counter()
        roles = _Writer(
            RoleAssignment,
            ["person_id", "role", "enterprise_id", "enterprise_quality_id", "subdepartment_id", "status",
             "valid_from", "granted_by_id", *PERSON_COPIES, *FOLDED_COPIES],
        )  # fmt: skip
        active, blocked = Status.ACTIVE.value, Status.BLOCKED.value
        user_role = Role.USER.value
        roles.write(
            (p, Role.MAIN_ACCESS_MANAGER.value, e0 + i, None, None, active, dt, operator.pk, *copies(p))
            for i in range(counts.enterprises)
            for p in (next_person(),)
        )
        roles.write(
            (p, Role.ACCESS_MANAGER.value, e0 + i, q0 + i, None, active, dt, operator.pk, *copies(p))
            for i in range(counts.enterprise_qualities)
            for p in (next_person(),)
        )
        roles.write(
            (p, Role.SUBDEPARTMENT_MANAGER.value, e0 + k, q0 + k, s0 + i, active, dt, operator.pk, *copies(p))
            for i, k in enumerate(eq_of)
            for p in (next_person(),)
        )
        sizes = subdepartment_sizes(counts.subdepartments, counts.memberships, counts.largest_subdepartment, rng)
        members: list[tuple[int, int]] = []  # (person, subdepartment index), for the grants

        def memberships() -> Iterator[tuple[Any, ...]]:
            for i, size in enumerate(sizes):
                k = eq_of[i]
                # Consecutive persons: no person twice in one facility while size <= persons.
                for _ in range(size):
                    person = next_person()
                    members.append((person, i))
                    status = blocked if rng.random() < 0.01 else active
                    yield (person, user_role, e0 + k, q0 + k, s0 + i, status, dt, operator.pk, *copies(person))

        roles.write(memberships())
        done("role_assignments", roles, t0)

        # Grants: each user holds 1-3 of the facility's applications (2 on average).
        t0 = time.perf_counter()
        grants = _Writer(
            ApplicationGrant, ["person_id", "subdepartment_id", "application_id", "valid_from", "granted_by_id"]
        )
        n_apps = len(apps)

        def grant_rows() -> Iterator[tuple[Any, ...]]:
            for person, i in members:
                first = rng.randrange(n_apps)
                for j in range(min(n_apps, 1 + rng.randrange(3))):
                    yield (person, s0 + i, apps[(first + j) % n_apps], dt, operator.pk)

        grants.write(grant_rows())
        done("application_grants", grants, t0)

        with connection.cursor() as cursor:
            for sql in connection.ops.sequence_reset_sql(no_style(), SEQUENCED):
                cursor.execute(sql)
        report.seconds = time.perf_counter() - started
        audit_record(
            actor=operator,
            action=Action.DATA_GENERATED,
            params={"scale": scale},
            obj=operator,
            after={
                "scale": scale,
                "seed": seed,
                "rows": report.rows,
                "seconds": round(report.seconds, 1),
                "first_ids": {"person": p0, "enterprise": e0, "subdepartment": s0},
            },
            reason=Reason.GENERATE_DATA,
        )
    with connection.cursor() as cursor:
        # A bulk load leaves PostgreSQL's visibility map empty, so index-only scans (the users list's
        # count) read the table too until autovacuum comes by: VACUUM sets it now. Not possible
        # inside a transaction (a test's): ANALYZE alone there.
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            cursor.execute("VACUUM (ANALYZE)")
        else:
            cursor.execute("ANALYZE")
    report.seconds = time.perf_counter() - started
    return report
