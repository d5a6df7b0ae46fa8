"""Role assignments: who holds which role, in which scope, from when until when, given by whom."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


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


class RoleAssignmentQuerySet(models.QuerySet["RoleAssignment"]):
    def active(self) -> RoleAssignmentQuerySet:
        return self.filter(valid_until__isnull=True)


class RoleAssignment(models.Model):
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
    valid_from = models.DateTimeField(default=timezone.now)
    valid_until = models.DateTimeField(null=True, blank=True)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    end_reason = models.CharField(_("reason"), max_length=200, blank=True)

    objects = RoleAssignmentQuerySet.as_manager()

    class Meta:
        verbose_name = _("role assignment")
        verbose_name_plural = _("role assignments")
        indexes = [
            models.Index(fields=["person", "valid_until"], name="role_person_active"),
            models.Index(
                fields=["subdepartment", "role"], condition=Q(valid_until__isnull=True), name="role_subdep_active"
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
                condition=Q(valid_until__isnull=True, role__in=ENTERPRISE_ROLES),
                name="one_active_enterprise_role",
            ),
            models.UniqueConstraint(
                fields=["person", "role", "enterprise_quality"],
                condition=Q(valid_until__isnull=True, role__in=QUALITY_ROLES),
                name="one_active_quality_role",
            ),
            models.UniqueConstraint(
                fields=["person", "role", "subdepartment"],
                condition=Q(valid_until__isnull=True, role__in=SUBDEPARTMENT_ROLES),
                name="one_active_subdepartment_role",
            ),
            # The enterprise has one main access manager at a time; it is replaced, not doubled.
            models.UniqueConstraint(
                fields=["enterprise"],
                condition=Q(valid_until__isnull=True, role=Role.MAIN_ACCESS_MANAGER),
                name="one_active_main_access_manager",
            ),
        ]

    @property
    def is_active(self) -> bool:
        return self.valid_until is None

    @property
    def type_code(self) -> str:
        return TYPE_CODE.get(self.role, "")

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.person}"
