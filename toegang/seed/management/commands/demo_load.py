from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from toegang.organisations.models import Enterprise
from toegang.seed.demo import DEMO_PASSWORD, PERSONS, demo_load


class Command(BaseCommand):
    help = "Load the manual's example (an enterprise, its quality, a facility, one person per role)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--if-empty", action="store_true", help="only on a database without enterprises")

    def handle(self, *args: Any, if_empty: bool = False, **options: Any) -> None:
        if if_empty and Enterprise.objects.exists():
            self.stdout.write("Database already holds data; demo data not loaded.")
        else:
            demo_load()
            self.stdout.write(self.style.SUCCESS("Demo data loaded."))
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        self.stdout.write("  managers then enter the app code that `make totp` prints")
        self.stdout.write("  operator   platform operator (also /nl/admin/)")
        for p in PERSONS:
            self.stdout.write(f"  {p.username:<10} {p.what}")
