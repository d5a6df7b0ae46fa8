"""Background jobs of the delegation app (django-tasks; the backend is settings.TASKS)."""

from __future__ import annotations

from django_tasks import task

from toegang.delegation import imports


@task()
def user_import_run(import_id: int) -> str:
    """Import a previewed CSV file of users (``imports.user_import_run``)."""
    return imports.user_import_run(import_id)


@task()
def imports_recover() -> list[int]:
    """Re-enqueue the imports whose worker died; to run every minute or so from the scheduler."""
    return imports.imports_recover()
