from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from toegang.accounts.models import User
from toegang.accounts.passwords import temporary_password_set


class Command(BaseCommand):
    help = (
        "Give a person a new random password, printed once, that they must change at their next login "
        "(audited; the person's open sessions end)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        try:
            person = User.objects.get(username=username)
        except User.DoesNotExist:
            raise CommandError(f"No account with username {username!r}.") from None
        if not person.is_active:
            raise CommandError(f"The account {username!r} is inactive.")
        password = temporary_password_set(actor=None, person=person)
        self.stdout.write(f"Temporary password for {person.username} (shown only now): {password}")
        self.stdout.write("The person must choose a new password at their next login.")
