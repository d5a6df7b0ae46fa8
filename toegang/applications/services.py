"""Switching secured applications on and off for a subdepartment."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from toegang.accounts.models import User
from toegang.applications.models import SecuredApplication, SubdepartmentApplication
from toegang.audit.services import audit_record
from toegang.delegation import authz
from toegang.organisations.models import Subdepartment


def subdepartment_applications_set(
    *, actor: User, subdepartment: Subdepartment, applications: Iterable[SecuredApplication], reason: str = ""
) -> list[SecuredApplication]:
    """Make the switched-on applications exactly ``applications``; only those the quality offers.

    Switching on adds a link; switching off ends it (valid_until), each change audited.
    """
    authz.require(authz.may(actor, authz.Action.SUBDEPARTMENT_APPLICATIONS, subdepartment))
    wanted = {a.pk: a for a in applications}
    offered = set(subdepartment.quality.applications.filter(is_active=True).values_list("pk", flat=True))
    not_offered = [a for pk, a in wanted.items() if pk not in offered]
    if not_offered:
        raise ValidationError(
            {
                "applications": _("The quality does not offer: %(names)s.")
                % {"names": ", ".join(a.name for a in not_offered)}
            }
        )
    now = timezone.now()
    with transaction.atomic():
        current = {
            link.application_id: link
            for link in SubdepartmentApplication.objects.select_for_update()
            .filter(subdepartment=subdepartment, valid_until__isnull=True)
            .select_related("application")
        }
        for pk, link in current.items():
            if pk not in wanted:
                link.valid_until = now
                link.ended_by = actor
                link.end_reason = reason or "switched off"
                link.save(update_fields=["valid_until", "ended_by", "end_reason"])
                audit_record(
                    actor=actor,
                    action="application.switch_off",
                    obj=link,
                    enterprise=subdepartment.enterprise,
                    enterprise_quality=subdepartment.enterprise_quality,
                    subdepartment=subdepartment,
                    before={"application": link.application.code, "on": True},
                    after={"application": link.application.code, "on": False},
                    reason=reason,
                )
        for pk, app in wanted.items():
            if pk not in current:
                link = SubdepartmentApplication.objects.create(
                    subdepartment=subdepartment, application=app, granted_by=actor
                )
                audit_record(
                    actor=actor,
                    action="application.switch_on",
                    obj=link,
                    enterprise=subdepartment.enterprise,
                    enterprise_quality=subdepartment.enterprise_quality,
                    subdepartment=subdepartment,
                    before={"application": app.code, "on": False},
                    after={"application": app.code, "on": True},
                    reason=reason,
                )
    return sorted(wanted.values(), key=lambda a: a.code)


def subdepartment_applications(subdepartment: Subdepartment) -> list[SecuredApplication]:
    return list(
        SecuredApplication.objects.filter(
            subdepartment_links__subdepartment=subdepartment,
            subdepartment_links__valid_until__isnull=True,
        ).order_by("code")
    )
