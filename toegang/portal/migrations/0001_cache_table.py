"""The table of Django's database cache (settings.CACHES without TOEGANG_REDIS_URL), made by migrate.

It holds what every worker must share: failed-login counts and used TOTP codes (issue 12, F2). It is
created whichever cache is configured, so a deployment that drops Redis later finds it in place.
``createcachetable``'s own statement, for the table name of settings.CACHE_TABLE.
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands.createcachetable import Command as CreateCacheTable
from django.db import migrations

CACHE_TABLE = "toegang_cache"


def create(apps: Any, schema_editor: Any) -> None:
    command = CreateCacheTable()
    command.verbosity = 0
    command.create_table(schema_editor.connection.alias, CACHE_TABLE, dry_run=False)


def drop(apps: Any, schema_editor: Any) -> None:
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(CACHE_TABLE)}")


class Migration(migrations.Migration):
    dependencies = []
    operations = [migrations.RunPython(create, drop, elidable=False)]
