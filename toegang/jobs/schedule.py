"""The periodic jobs: one line each. ``manage.py scheduler`` fires them (toegang/jobs/scheduler.py).

To add one (the expiry of scheduled ends, reminders): write the task in its app's ``tasks.py`` with
``@task()`` and add a line here with a unique name, the task's dotted path and a crontab expression
(minute hour day-of-month month day-of-week, in TIME_ZONE, Europe/Brussels). Each firing enqueues the
task once, whichever of the scheduler hosts fires first; the job itself runs on a worker.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Periodic:
    name: str
    task: str
    cron: str


SCHEDULE: tuple[Periodic, ...] = (
    # mails whose job was lost (engine down at commit, a worker killed) or whose back-off has passed
    Periodic("mail.sweep", "toegang.mail.tasks.mail_sweep", "* * * * *"),
    # CSV imports whose worker died mid-run: run again (nothing of them was saved), three runs at most
    Periodic("imports.recover", "toegang.delegation.tasks.imports_recover", "* * * * *"),
    # grants and roles whose planned end passed: closed, audited "expired", the people told (issue 15);
    # readers treat them as ended at that instant already, so this only keeps the books and the mails
    Periodic("delegation.expire", "toegang.delegation.tasks.accesses_expire", "*/5 * * * *"),
    # reminders N days before a planned end (the quality's reminder_days), once per threshold
    Periodic("delegation.remind", "toegang.delegation.tasks.expiry_reminders_send", "7 * * * *"),
    Periodic("sessions.clear", "toegang.jobs.tasks.sessions_clear", "17 3 * * *"),
    Periodic("tasks.prune", "toegang.jobs.tasks.task_results_prune", "41 3 * * *"),
    # expired failed-login counts and used TOTP codes in the database cache (without Redis)
    Periodic("cache.expired", "toegang.jobs.tasks.cache_expired_clear", "23 * * * *"),
    # back-channel logout: sessions past their lifetime, logout tokens whose job was lost or is due again
    Periodic("oidc.backchannel.sweep", "toegang.oidc.tasks.backchannel_sweep", "* * * * *"),
)
