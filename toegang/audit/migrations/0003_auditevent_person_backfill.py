"""Events written before ``AuditEvent.person`` existed name their person in other ways: as the object
(logins, own changes) or in the before/after snapshot (roles, memberships, grants). Fill the column
from those, so that a person's history and the trail's "whom" filter include the old events too."""

from __future__ import annotations

from typing import Any

from django.db import migrations, models
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast


def person_from_old_events(apps: Any, schema_editor: Any) -> None:
    AuditEvent = apps.get_model("audit", "AuditEvent")
    User = apps.get_model("accounts", "User")
    old = AuditEvent.objects.filter(person__isnull=True)
    # Set-wise updates: the trail can hold millions of rows, one UPDATE each rule.
    old.filter(object_type="accounts.user").exclude(object_id="").update(
        person_id=Cast("object_id", models.BigIntegerField())
    )
    for column in ("after", "before"):
        snapshot_person = Cast(KeyTextTransform("person", column), models.BigIntegerField())
        known = User.objects.filter(
            pk=Cast(KeyTextTransform("person", models.OuterRef(column)), models.BigIntegerField())
        )
        # A snapshot's person that matches no row (it never should) is left out rather than
        # breaking the foreign key.
        old.filter(person__isnull=True, **{f"{column}__has_key": "person"}).filter(models.Exists(known)).update(
            person_id=snapshot_person
        )


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_auditevent_person_params"), ("accounts", "0001_initial")]

    operations = [migrations.RunPython(person_from_old_events, migrations.RunPython.noop, elidable=True)]
