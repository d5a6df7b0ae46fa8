from __future__ import annotations

import time
from typing import Any

from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.conf import settings
from django.core.management.base import BaseCommand

from toegang.seed.demo import DEMO_TOTP_SECRET


class Command(BaseCommand):
    help = "Print the current code from the mobile app of the demo managers (demo data only)."

    def handle(self, *args: Any, **options: Any) -> None:
        period = getattr(settings, "MFA_TOTP_PERIOD", 30)
        counter = int(time.time()) // period
        left = period - int(time.time()) % period
        code = format_hotp_value(hotp_value(DEMO_TOTP_SECRET, counter))
        self.stdout.write(f"{code}  (valid for {left} more seconds; secret {DEMO_TOTP_SECRET})")
