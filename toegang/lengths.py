"""The length of a column as the rule of what a person may type into it (issue 12, F5).

SQLite ignores a ``varchar``'s length; PostgreSQL refuses a longer value with ``DataError`` (a 500
where a form had no ``max_length``, or the value came from a CSV cell, a command or the API). So
every service that stores what a user typed checks it against the column first, by form field, with
one message (the CSV import's row errors name the field the same way), and raises or reports it like
any other bad input: nothing is saved.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext as _

# (form field or key, the value as it will be stored, model, column, label shown with the message)
LengthCheck = tuple[str, str, type[models.Model], str, "str | Promise"]


def column_limit(model: type[models.Model], column: str) -> int:
    field = model._meta.get_field(column)
    limit = field.max_length if isinstance(field, models.Field) else None
    assert isinstance(limit, int), f"{model.__name__}.{column} has no max_length"
    return limit


def too_long_message(label: str | Promise, limit: int) -> str:
    return _("%(field)s: at most %(max)s characters.") % {"field": label, "max": limit}


def length_errors(checks: Iterable[LengthCheck]) -> dict[str, str]:
    """Field -> message for each value longer than its column (empty: every value fits)."""
    errors: dict[str, str] = {}
    for key, value, model, column, label in checks:
        limit = column_limit(model, column)
        if len(value) > limit and key not in errors:
            errors[key] = too_long_message(label, limit)
    return errors
