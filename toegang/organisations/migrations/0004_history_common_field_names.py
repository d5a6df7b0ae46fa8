"""Activated qualities, subdepartments and certificates spell their history as the common base does.

Renames only (no data is rewritten): activated_at/created_at/uploaded_at -> valid_from,
activated_by/created_by/uploaded_by -> granted_by, revoked_by -> ended_by, revoke_reason -> end_reason.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("organisations", "0003_subdepartment_certificates"),
    ]

    operations = [
        migrations.RenameField("enterprisequality", "activated_at", "valid_from"),
        migrations.RenameField("enterprisequality", "activated_by", "granted_by"),
        migrations.RenameField("subdepartment", "created_at", "valid_from"),
        migrations.RenameField("subdepartment", "created_by", "granted_by"),
        migrations.RenameField("certificate", "uploaded_at", "valid_from"),
        migrations.RenameField("certificate", "uploaded_by", "granted_by"),
        migrations.RenameField("certificate", "revoked_by", "ended_by"),
        migrations.RenameField("certificate", "revoke_reason", "end_reason"),
    ]
