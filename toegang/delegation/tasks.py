"""Background jobs of the delegation app (django-tasks; the backend is settings.TASKS)."""

from __future__ import annotations

from django_tasks import task

from toegang.delegation import expiry, imports


@task()
def user_import_run(import_id: int) -> str:
    """Import a previewed CSV file of users (``imports.user_import_run``)."""
    return imports.user_import_run(import_id)


@task()
def imports_recover() -> list[int]:
    """Re-enqueue the imports whose worker died; to run every minute or so from the scheduler."""
    return imports.imports_recover()


@task()
def accesses_expire() -> dict[str, int]:
    """Close the grants and roles whose planned end has passed, and tell the people (``expiry.accesses_expire``)."""
    return expiry.accesses_expire()


@task()
def expiry_reminders_send() -> dict[str, int]:
    """Remind the people of an access that ends in N days (``expiry.expiry_reminders_send``)."""
    return expiry.expiry_reminders_send()
