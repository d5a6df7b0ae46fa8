from __future__ import annotations

import signal
from typing import Any

from apscheduler.schedulers.blocking import BlockingScheduler
from django.core.management.base import BaseCommand

from toegang.jobs.schedule import SCHEDULE
from toegang.jobs.scheduler import configure
from toegang.jobs.services import host_id


class Command(BaseCommand):
    help = "Fire the periodic jobs (toegang/jobs/schedule.py); safe to run on several hosts at once."

    def handle(self, *args: Any, **options: Any) -> None:
        scheduler = BlockingScheduler()
        configure(scheduler, host=host_id())

        def stop(signum: int, frame: Any) -> None:
            scheduler.shutdown(wait=False)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        for entry in SCHEDULE:
            self.stdout.write(f"scheduler: {entry.name} at '{entry.cron}' -> {entry.task}")
        self.stdout.flush()
        scheduler.start()
        self.stdout.write("scheduler: stopped")
