"""Belgian identifiers: INSZ/NISS (national and BIS numbers), enterprise numbers, NIHII numbers.

The check-digit rules live in python-stdnum (incl. the rule for births from 2000 on); this module only
adapts them to Django validation errors with translated messages, and formats for display.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from stdnum.be import ssn as stdnum_ssn
from stdnum.be import vat as stdnum_vat
from stdnum.exceptions import ValidationError as StdnumError

_NON_DIGITS = re.compile(r"[\s.\-/]")


def ssin_clean(value: str) -> str:
    """Return the 11-digit INSZ (national or BIS number) or raise a translated ValidationError."""
    raw = _NON_DIGITS.sub("", value or "")
    if not raw.isdigit() or len(raw) != 11:
        raise ValidationError(_("An INSZ has 11 digits, for example 85.07.30-033.28."), code="ssin_format")
    try:
        return str(stdnum_ssn.validate(raw))
    except StdnumError as exc:
        raise ValidationError(
            _("This INSZ is not valid: check the digits (the check digits do not match)."), code="ssin_invalid"
        ) from exc


def ssin_format(value: str) -> str:
    return str(stdnum_ssn.format(value)) if value else ""


def ssin_sex(value: str) -> str | None:
    """ "M" or "F" as the INSZ says it, None where it does not say (python-stdnum's be.ssn).

    A national register number's sequence number is odd for a man and even for a woman. A BIS
    number carries the sex only when its month was raised by 40 (raised by 20: the sex was unknown).
    Only a suggestion: the person's title is what they are called, not what the number says.
    """
    raw = _NON_DIGITS.sub("", value or "")
    if not raw.isdigit() or len(raw) != 11 or not stdnum_ssn.is_valid(raw):
        return None
    sex = stdnum_ssn.get_gender(raw)
    return sex if sex in ("M", "F") else None


def cbe_clean(value: str) -> str:
    """Return the 10-digit enterprise number (KBO/BCE) or raise a translated ValidationError."""
    raw = _NON_DIGITS.sub("", (value or "").upper().removeprefix("BE").strip())
    raw = _NON_DIGITS.sub("", raw)
    if len(raw) == 9 and raw.isdigit():
        raw = "0" + raw  # old 9-digit numbers are written without the leading 0
    if not raw.isdigit() or len(raw) != 10:
        raise ValidationError(_("An enterprise number has 10 digits, for example 0403.170.701."), code="cbe_format")
    try:
        return str(stdnum_vat.validate(raw))
    except StdnumError as exc:
        raise ValidationError(
            _("This enterprise number is not valid: check the digits (mod 97 check failed)."), code="cbe_invalid"
        ) from exc


def cbe_format(value: str) -> str:
    return f"{value[:4]}.{value[4:7]}.{value[7:]}" if len(value) == 10 else value


def nihii_clean(value: str) -> str:
    """NIHII/RIZIV number of an institution: 8 digits (optionally followed by a 3-digit code).

    The first six digits carry a mod-97 check in digits 7-8: 97 - (first six mod 97), as NIHII
    publishes it. stdnum has no NIHII module, so the rule is written here.
    """
    raw = _NON_DIGITS.sub("", value or "")
    if not raw.isdigit() or len(raw) not in (8, 11):
        raise ValidationError(_("A NIHII number has 8 or 11 digits, for example 7-10000-40-345."), code="nihii_format")
    base, check = int(raw[:6]), int(raw[6:8])
    if 97 - (base % 97) != check:
        raise ValidationError(_("This NIHII number is not valid: check the digits."), code="nihii_invalid")
    return raw


def digits_clean(value: str) -> str:
    raw = _NON_DIGITS.sub("", value or "")
    if not raw.isdigit() or not 1 <= len(raw) <= 20:
        raise ValidationError(_("Enter digits only (at most 20)."), code="digits_format")
    return raw


def free_clean(value: str) -> str:
    raw = (value or "").strip()
    if not raw or len(raw) > 40:
        raise ValidationError(_("Enter an identification code of at most 40 characters."), code="free_format")
    return raw


def ssin_make(year: int, month: int, day: int, serial: int) -> str:
    """Build a valid national number (for demo data and generators): YYMMDD SSS CC."""
    body = f"{year % 100:02d}{month:02d}{day:02d}{serial:03d}"
    base = int(("2" + body) if year >= 2000 else body)
    return f"{body}{97 - base % 97:02d}"


def cbe_make(seed: int) -> str:
    """Build a valid enterprise number from an 8-digit seed (first digit 0 or 1)."""
    body = f"{seed % 20_000_000:08d}"
    return f"{body}{97 - int(body) % 97:02d}"
