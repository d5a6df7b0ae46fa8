"""Role assignments: who holds which role, in which scope, from when until when, given by whom."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from toegang.folding import fold
from toegang.history import Ended, HistoryQuerySet


class Role(models.TextChoices):
    LEGAL_REPRESENTATIVE = "legal_representative", _("Legal representative")
    MAIN_ACCESS_MANAGER = "main_access_manager", _("Main access manager")
    CO_MAIN_ACCESS_MANAGER = "co_main_access_manager", _("Co-main access manager")
    ACCESS_MANAGER = "access_manager", _("Access manager of the quality")
    CO_ACCESS_MANAGER = "co_access_manager", _("Co-access manager")
    SUBDEPARTMENT_MANAGER = "subdepartment_manager", _("Subdepartment manager")
    CO_SUBDEPARTMENT_MANAGER = "co_subdepartment_manager", _("Co-subdepartment manager")
    USER = "user", _("User")


ENTERPRISE_ROLES = (Role.LEGAL_REPRESENTATIVE, Role.MAIN_ACCESS_MANAGER, Role.CO_MAIN_ACCESS_MANAGER)
QUALITY_ROLES = (Role.ACCESS_MANAGER, Role.CO_ACCESS_MANAGER)
SUBDEPARTMENT_ROLES = (Role.SUBDEPARTMENT_MANAGER, Role.CO_SUBDEPARTMENT_MANAGER, Role.USER)

# The "Type" column of the manual's users list.
TYPE_CODE: dict[str, str] = {
    Role.SUBDEPARTMENT_MANAGER: "SB",
    Role.CO_SUBDEPARTMENT_MANAGER: "CSB",
    Role.USER: "USE",
}


class Status(models.TextChoices):
    ACTIVE = "active", _("Active")
    BLOCKED = "blocked", _("Blocked")


# The person's fields that the users list sorts and filters on, copied onto each of their role
# assignments (copy -> person field). A subdepartment holds up to 20,000 users: sorted by the
# person's name through a join, PostgreSQL joined all 20,000 persons before taking a page of 50
# (268 ms at full scale, docs/performance.md). With the copies the page is a walk of the index
# ``role_subdep_name_active`` that stops after 50 rows, and only those 50 are joined to the person.
#
# The copies are kept here, in the model layer, and nowhere else: ``RoleAssignment.save`` and
# ``RoleAssignmentQuerySet.bulk_create`` fill them from the row's person, ``User.save`` rewrites
# them when one of these fields of the person changes (``person_copies_update``), the generator's
# COPY writes them, and migration 0003 filled the rows that existed. Nothing else writes them.
PERSON_COPIES: dict[str, str] = {
    "person_last_name": "last_name",
    "person_first_name": "first_name",
    "person_username": "username",
    "person_ssin": "ssin",
}


# The person's names once more, folded (``toegang.folding.fold``: lower case, no accents), for the
# list's search: "lefevre" finds "Lefèvre" with a plain LIKE on both databases. Kept in step with
# the copies above, by the same code paths; on PostgreSQL each has a trigram index (migration 0008).
FOLDED_COPIES: dict[str, str] = {
    "person_last_name_folded": "last_name",
    "person_first_name_folded": "first_name",
}


def copies_of(values: dict[str, Any]) -> dict[str, object]:
    """The copy columns' values (plain and folded) from the person's field values."""
    return {
        **{copy: values[field] for copy, field in PERSON_COPIES.items()},
        **{copy: fold(values[field] or "") for copy, field in FOLDED_COPIES.items()},
    }


def person_copies(person: models.Model) -> dict[str, object]:
    """The copy columns' values for a role assignment of ``person``."""
    return copies_of({field: getattr(person, field) for field in PERSON_COPIES.values()})


def person_copies_update(person: models.Model) -> int:
    """Rewrite the copies on all of ``person``'s role assignments (ended ones too, like the join did).

    From the person's row as saved, not from the instance: a ``save(update_fields=…)`` may have
    left other edited fields of the instance unsaved. Read first (the folded copies are made in
    Python), written in one UPDATE, inside the caller's transaction (``User.save``).
    """
    saved = get_user_model().objects.filter(pk=person.pk).values(*PERSON_COPIES.values()).first()
    if saved is None:
        return 0
    return RoleAssignment.objects.filter(person_id=person.pk).update(**copies_of(saved))


class RoleAssignmentQuerySet(HistoryQuerySet["RoleAssignment"]):
    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[RoleAssignment]:
        """``bulk_create`` skips ``save()``: fill the person copies here as well."""
        objs = list(objs)
        missing = {o.person_id for o in objs if not RoleAssignment.person.is_cached(o)}
        persons = {p.pk: p for p in get_user_model().objects.filter(pk__in=missing)} if missing else {}
        for o in objs:
            person = o.person if RoleAssignment.person.is_cached(o) else persons[o.person_id]
            for copy, value in person_copies(person).items():
                setattr(o, copy, value)
        return super().bulk_create(objs, *args, **kwargs)


class RoleAssignment(Ended):
    person = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="roles")
    role = models.CharField(_("role"), max_length=30, choices=Role.choices)
    # The tenant, always set; the narrower scope columns by role (see the check constraint).
    enterprise = models.ForeignKey("organisations.Enterprise", on_delete=models.PROTECT, related_name="+")
    enterprise_quality = models.ForeignKey(
        "organisations.EnterpriseQuality", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    subdepartment = models.ForeignKey(
        "organisations.Subdepartment", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(_("Status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    contact_email = models.EmailField(_("E-mail address"), blank=True)
    contact_local_email = models.EmailField(_("Local e-mail address"), blank=True)
    contact_phone = models.CharField(_("Phone"), max_length=30, blank=True)
    # When the person confirmed this assignment through its own activation link (sent to
    # ``contact_email``): from then on the account may use it from any login (docs/security.md).
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    # Nullable for role assignments, as their column always was; the other histories require it.
    granted_by = models.ForeignKey(  # type: ignore[assignment]
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Copies of the person's fields (PERSON_COPIES above); never edited on their own.
    person_last_name = models.CharField(max_length=150, blank=True, editable=False)
    person_first_name = models.CharField(max_length=150, blank=True, editable=False)
    person_username = models.CharField(max_length=150, blank=True, editable=False)
    person_ssin = models.CharField(max_length=11, null=True, blank=True, editable=False)  # noqa: DJ001 (as User.ssin)
    # Folded copies of the names (FOLDED_COPIES above), what the list's search compares with.
    person_last_name_folded = models.CharField(max_length=150, blank=True, editable=False)
    person_first_name_folded = models.CharField(max_length=150, blank=True, editable=False)

    objects = RoleAssignmentQuerySet.as_manager()

    class Meta:
        verbose_name = _("role assignment")
        verbose_name_plural = _("role assignments")
        indexes = [
            models.Index(fields=["person", "valid_until"], name="role_person_active"),
            models.Index(
                fields=["subdepartment", "role"], condition=Q(ended_at__isnull=True), name="role_subdep_active"
            ),
            # The users list's default order: a page is this index walked from the subdepartment's
            # first name on, LIMIT 50, with no sort and no join of the other rows' persons.
            models.Index(
                fields=["subdepartment", "person_last_name", "person_first_name", "id"],
                condition=Q(ended_at__isnull=True),
                name="role_subdep_name_active",
            ),
            # The list's other sort columns, each followed by the tie-breakers the list adds (name, id):
            # a sorted page is an index walk (or, descending, an incremental sort of equal keys) instead
            # of sorting the subdepartment's 20,000 rows for every page (14-20 ms, docs/performance.md).
            *(
                models.Index(fields=["subdepartment", *columns, "id"], condition=Q(ended_at__isnull=True), name=name)
                for name, columns in (
                    ("role_subdep_first_active", ["person_first_name", "person_last_name"]),
                    ("role_subdep_user_active", ["person_username"]),
                    ("role_subdep_ssin_active", ["person_ssin"]),
                    ("role_subdep_type_active", ["role", "person_last_name", "person_first_name"]),
                    ("role_subdep_status_active", ["status", "person_last_name", "person_first_name"]),
                )
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(role__in=ENTERPRISE_ROLES, enterprise_quality__isnull=True, subdepartment__isnull=True)
                    | Q(role__in=QUALITY_ROLES, enterprise_quality__isnull=False, subdepartment__isnull=True)
                    | Q(role__in=SUBDEPARTMENT_ROLES, enterprise_quality__isnull=False, subdepartment__isnull=False)
                ),
                name="role_scope_matches_role",
            ),
            # NULLs are distinct in unique indexes, so each scope level gets its own partial index.
            models.UniqueConstraint(
                fields=["person", "role", "enterprise"],
                condition=Q(ended_at__isnull=True, role__in=ENTERPRISE_ROLES),
                name="one_active_enterprise_role",
            ),
            models.UniqueConstraint(
                fields=["person", "role", "enterprise_quality"],
                condition=Q(ended_at__isnull=True, role__in=QUALITY_ROLES),
                name="one_active_quality_role",
            ),
            models.UniqueConstraint(
                fields=["person", "role", "subdepartment"],
                condition=Q(ended_at__isnull=True, role__in=SUBDEPARTMENT_ROLES),
                name="one_active_subdepartment_role",
            ),
            # The enterprise has one main access manager at a time; it is replaced, not doubled.
            models.UniqueConstraint(
                fields=["enterprise"],
                condition=Q(ended_at__isnull=True, role=Role.MAIN_ACCESS_MANAGER),
                name="one_active_main_access_manager",
            ),
        ]

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A new row, or one whose person is at hand, takes the person's current values; a row saved
        # without its person loaded (ending it, say) keeps the copies User.save maintains.
        if self._state.adding or RoleAssignment.person.is_cached(self):
            for copy, value in person_copies(self.person).items():
                setattr(self, copy, value)
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], *PERSON_COPIES, *FOLDED_COPIES}
        super().save(*args, **kwargs)

    @property
    def type_code(self) -> str:
        return TYPE_CODE.get(self.role, "")

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.person}"


class ReminderKind(models.TextChoices):
    GRANT = "grant", _("application grant")
    MEMBERSHIP = "membership", _("role assignment")


class ExpiryReminder(models.Model):
    """A reminder sent before the planned end of an access: what makes the reminder job send it once.

    One row per (kind, row, threshold in days, planned end): an access whose end is moved gets its
    reminders again for the new end. Written in the reminder's transaction with its mails.
    """

    kind = models.CharField(max_length=20, choices=ReminderKind.choices)
    object_id = models.BigIntegerField()
    days = models.PositiveSmallIntegerField()
    # The row's valid_until when the reminder was sent (not a validity of this row: it never ends).
    planned_end = models.DateTimeField()
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("expiry reminder")
        verbose_name_plural = _("expiry reminders")
        constraints = [
            models.UniqueConstraint(fields=["kind", "object_id", "days", "planned_end"], name="expiry_reminder_once")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id}: {self.days} d before {self.planned_end:%Y-%m-%d}"


class ImportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class UserImport(models.Model):
    """A CSV import of users as a background job: the previewed file, its state and its result.

    ``status`` becomes DONE in the import's own transaction (``subdepartment_users_import``), so an
    import is applied at most once however often its job runs. ``rows_processed`` and ``heartbeat``
    are written during the run through a second connection (``delegation.progress``) and say how
    far it got and that its worker still lives; ``delegation.tasks.imports_recover`` re-runs an
    import whose worker died.
    """

    subdepartment = models.ForeignKey("organisations.Subdepartment", on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    file_name = models.CharField(max_length=255, blank=True)
    digest = models.CharField(max_length=64)
    text = models.TextField()
    status = models.CharField(max_length=10, choices=ImportStatus.choices, default=ImportStatus.QUEUED)
    rows_total = models.PositiveIntegerField(default=0)
    rows_processed = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    # One entry per row: {"row", "ssin", "name", "outcome", "errors"}; the downloadable report.
    report = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("user import")
        verbose_name_plural = _("user imports")
        indexes = [
            models.Index(fields=["subdepartment", "-created_at"], name="import_subdep_created"),
            models.Index(
                fields=["heartbeat"],
                condition=Q(status__in=["queued", "running"]),
                name="import_unfinished",
            ),
        ]

    def __str__(self) -> str:
        return f"CSV import {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (ImportStatus.DONE, ImportStatus.FAILED)

    @property
    def percent(self) -> int:
        return 100 if self.status == ImportStatus.DONE else (100 * self.rows_processed // (self.rows_total or 1))
