"""``manage.py generate_data --scale 0.01``: issue 7's data set, scaled (see toegang/seed/generator.py)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from toegang.seed.generator import FULL, generate


class Command(BaseCommand):
    help = (
        "Generate enterprises, facilities, persons, roles and application grants at a scale of the Belgian "
        "target (1.0 = 300,000 enterprises, 100,000 facilities, 1,000,000 persons, 3,000,000 grants)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scale", type=float, default=0.001, help="1.0 is the full data set (default 0.001)")
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args: Any, scale: float, seed: int, **options: Any) -> None:
        if not 0 < scale <= 10:
            raise CommandError("--scale must be above 0 and at most 10")
        targets = ", ".join(f"{k} {round(v * scale):,}" for k, v in FULL.items())
        self.stdout.write(f"Generating at scale {scale} on {connection.vendor}: {targets}")

        def progress(label: str, rows: int, seconds: float) -> None:
            rate = rows / seconds if seconds else 0
            self.stdout.write(f"  {label:<26} {rows:>10,} rows {seconds:8.2f} s {rate:>10,.0f} rows/s")

        report = generate(scale=scale, seed=seed, progress=progress)
        self.stdout.write(
            self.style.SUCCESS(
                f"{report.total_rows:,} rows in {report.seconds:.1f} s ({report.rows_per_second:,.0f} rows/s, "
                f"{report.method}, VACUUM ANALYZE included); largest facility id {report.largest_subdepartment_id} "
                f"with {report.counts.largest_subdepartment:,} users"
            )
        )
