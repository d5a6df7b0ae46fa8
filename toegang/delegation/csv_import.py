"""CSV import of users into a subdepartment: reading the file, checking each row, importing all or nothing.

The file is what the users list exports, or the import's template filled in Excel: a header row
naming the columns (in Dutch, French, German or English, as the export writes them in the reader's
language; the English keys too; any case, any order), then one user per row. Both write Belgian
Excel's dialect (';', UTF-8 with BOM); the import also reads ',' and Windows-1252.

The preview and the import run the same checks: ``rows_import`` checks each row's cells here and
hands the rows to ``services.subdepartment_users_import``, which applies the single "add a user"
form's rules (permission, known person, membership, names, username, applications switched on) to
the whole file with one query per lookup and, unless it is a dry run (the preview) or a row is in
error, writes everything with ``bulk_create`` in one transaction: the same audit events and one
outbox e-mail per user as the form. The import itself runs as a background job (``imports``).

A person already a user of this subdepartment is reported as an error, not skipped: in an
all-or-nothing import a silent skip would hide a mistake (a wrong INSZ, a file imported twice), and
the manager can simply remove the row.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import EmailValidator
from django.db import transaction
from django.utils import translation
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from toegang.accounts.models import Language, Title, User
from toegang.applications.models import SecuredApplication
from toegang.applications.selectors import subdepartment_applications
from toegang.applications.services import not_switched_on_error
from toegang.delegation import authz
from toegang.delegation.models import Role, RoleAssignment, UserImport
from toegang.delegation.services import (
    ProgressCallback,
    UserToAdd,
    email_required_error,
    subdepartment_users_import,
)
from toegang.identifiers import ssin_clean, ssin_format
from toegang.lengths import column_limit, too_long_message
from toegang.organisations.models import Subdepartment

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

MAX_BYTES = 5 * 1024 * 1024
# The preview runs in the web request: 10,000 rows take 1.5 s on PostgreSQL (6 s on a machine loaded
# four times over), bench/csv_import.py; 5 MB holds about 60,000 rows anyway. The import is a job.
MAX_ROWS = 10_000
APPLICATION_SEPARATOR = "|"

# Canonical column -> its header, as the users list's export and the import's template write it in
# the reader's language. The import accepts it in each of nl, fr, de and en (``_header_lookup``).
COLUMN_LABELS: dict[str, StrOrPromise] = {
    "ssin": gettext_lazy("INSZ"),
    "last_name": gettext_lazy("Last name"),
    "first_name": gettext_lazy("First name"),
    "email": gettext_lazy("E-mail address"),
    "language": gettext_lazy("Language"),
    "applications": gettext_lazy("Application codes"),
    "title": gettext_lazy("Title"),
    "local_email": gettext_lazy("Local e-mail address"),
    "username": gettext_lazy("Username"),
    "end_date": gettext_lazy("End date"),
}
# Canonical column -> more header names accepted for it, compared after _header_key() (lower case,
# without spaces, '_', '-' and a trailing '*'): the English keys (what the export wrote before it
# spoke the reader's language), the manual's Dutch labels, which managers type in Excel, and
# other ways of naming them in each language.
COLUMNS: dict[str, tuple[str, ...]] = {
    "ssin": ("ssin", "insz", "niss", "enss", "rijksregisternummer", "numéro de registre national"),
    "last_name": ("last_name", "naam", "nom", "achternaam", "nachname"),
    "first_name": ("first_name", "voornaam", "prénom", "vorname"),
    "email": ("email", "e-mailadres", "e-mail", "e-mail address", "adresse e-mail", "e-mail-adresse"),
    "language": ("language", "taalkeuze", "taal", "langue", "sprache"),
    "applications": (
        "applications",
        "beveiligde toepassingen",
        "toepassingen",
        "applications sécurisées",
        "gesicherte anwendungen",
        "anwendungen",
        "secured applications",
    ),
    "title": ("title", "titel", "titre"),
    "local_email": ("local_email", "lokaal e-mailadres", "adresse e-mail locale"),
    "username": ("username", "gebruikersnaam", "nom d'utilisateur", "benutzername"),
    # The membership's last day (inclusive): empty, the quality's maximum applies (if it has one).
    "end_date": ("end_date", "einddatum", "date de fin", "enddatum", "end date", "laatste dag", "last day"),
}
REQUIRED = ("ssin", "last_name", "first_name", "email", "language", "applications")
# Columns the users list exports for reading only; an import ignores them (in any of the four languages).
IGNORED_LABELS: dict[str, StrOrPromise] = {
    "type": gettext_lazy("Type"),
    "status": gettext_lazy("Status"),
    "application_names": gettext_lazy("Application names"),
}
IGNORED = ("type", "status", "application_names")
LANGUAGES = ("nl", "fr", "de", "en")
# Belgian Excel's CSV: ';' between cells (',' is the decimal sign), UTF-8 with a BOM, CRLF.
DELIMITER = ";"
LINE_END = "\r\n"
BOM = "\ufeff"
# No cell of a user is longer (a name, an address: at most 254); a longer one is not a users file.
CELL_MAX = 1000

_EMAIL = EmailValidator()
# The database's limits (User and RoleAssignment columns): a longer cell is a row error, not a crash.
# The service checks them too (for the rows whose INSZ is valid), with the same message, said once.
_NAME_MAX = column_limit(User, "last_name")
_EMAIL_MAX = column_limit(RoleAssignment, "contact_email")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _header_key(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name.strip().rstrip("*").strip().lower())


def column_label(column: str) -> str:
    """A column's header in the active language: "Naam", "Nom", "Nachname", "Last name"."""
    return str(COLUMN_LABELS.get(column) or IGNORED_LABELS[column])


@functools.cache
def _header_lookup() -> tuple[dict[str, str], frozenset[str]]:
    """Header key -> column, for every accepted name in every language; and the ignored keys.

    Built on first use (the catalogues are loaded by then) and kept: the catalogues do not change
    while the process runs.
    """
    lookup = {_header_key(alias): col for col, aliases in COLUMNS.items() for alias in aliases}
    ignored = {_header_key(n) for n in IGNORED}
    for lang in LANGUAGES:
        with translation.override(lang):
            for col, label in COLUMN_LABELS.items():
                lookup.setdefault(_header_key(str(label)), col)
            ignored.update(_header_key(str(label)) for label in IGNORED_LABELS.values())
    return lookup, frozenset(ignored - lookup.keys())


def header_row(columns: Iterable[str]) -> list[str]:
    return [column_label(c) for c in columns]


class _Echo:
    """csv.writer writes into this and gets the line back, so each row can be yielded as it is made."""

    def write(self, value: str) -> str:
        return value


def line_writer() -> Any:
    """A csv writer whose ``writerow`` returns the row as text in the dialect of the export (one per file)."""
    return csv.writer(_Echo(), delimiter=DELIMITER, lineterminator=LINE_END)


def csv_line(cells: Iterable[object]) -> str:
    """One row in the dialect of the export, the template and the report (';', quoted as needed, CRLF)."""
    return str(line_writer().writerow(cells))


def template_text() -> str:
    """The import's template: the header row alone, in the active language, as Belgian Excel reads it."""
    return BOM + csv_line(header_row([*REQUIRED, *(c for c in COLUMNS if c not in REQUIRED)]))


def _choice_lookup(choices: Iterable[tuple[str, object]]) -> dict[str, str]:
    """Codes and labels in every language (lower case) -> code: 'NL', 'Nederlands', 'Frans' -> 'nl'."""
    lookup: dict[str, str] = {}
    for code, label in choices:
        lookup[code.lower()] = code
        for lang in ("nl", "fr", "de", "en"):
            with translation.override(lang):
                lookup[str(label).strip().lower()] = code
    return lookup


_LANGUAGE_NATIVE = {"nederlands": "nl", "français": "fr", "francais": "fr", "deutsch": "de", "english": "en"}


class Outcome(StrEnum):
    NEW = "new"
    KNOWN = "known"
    ERROR = "error"


OUTCOME_LABELS = {
    Outcome.NEW: gettext_lazy("New person"),
    Outcome.KNOWN: gettext_lazy("Known person: membership added"),
    Outcome.ERROR: gettext_lazy("Error"),
}


@dataclass
class Row:
    """One user of the file, its cells trimmed; ``number`` is the row as Excel shows it (header = 1)."""

    number: int
    ssin: str = ""
    last_name: str = ""
    first_name: str = ""
    email: str = ""
    language: str = ""
    applications: str = ""
    title: str = ""
    local_email: str = ""
    username: str = ""
    end_date: str = ""
    extra_cells: bool = False  # more non-empty cells than header columns (a stray separator)


@dataclass
class RowResult:
    number: int
    ssin: str
    name: str
    outcome: Outcome
    errors: list[str] = field(default_factory=list)

    @property
    def ssin_display(self) -> str:
        return ssin_format(self.ssin) if len(self.ssin) == 11 and self.ssin.isdigit() else self.ssin

    @property
    def outcome_label(self) -> str:
        return str(OUTCOME_LABELS[self.outcome])


@dataclass
class ImportReport:
    rows: list[RowResult]
    committed: bool

    @property
    def errors(self) -> list[RowResult]:
        return [r for r in self.rows if r.outcome == Outcome.ERROR]

    @property
    def ok(self) -> bool:
        return bool(self.rows) and not self.errors

    @property
    def new_count(self) -> int:
        return sum(r.outcome == Outcome.NEW for r in self.rows)

    @property
    def known_count(self) -> int:
        return sum(r.outcome == Outcome.KNOWN for r in self.rows)

    def as_json(self) -> list[dict[str, object]]:
        """The rows as ``UserImport.report`` keeps them."""
        return [
            {"row": r.number, "ssin": r.ssin, "name": r.name, "outcome": r.outcome.value, "errors": r.errors}
            for r in self.rows
        ]

    @classmethod
    def from_json(cls, data: list[dict[str, Any]], *, committed: bool) -> ImportReport:
        rows = [RowResult(d["row"], d["ssin"], d["name"], Outcome(d["outcome"]), list(d["errors"])) for d in data]
        return cls(rows=rows, committed=committed)


# --- Reading the file ---------------------------------------------------------------------------


def _not_text() -> ValidationError:
    return ValidationError(
        _("This file is not a CSV text file. In Excel, choose “Save as” and the type “CSV”."), code="not_text"
    )


def too_large_error() -> ValidationError:
    return ValidationError(
        _("The file is too large: at most %(mb)s MB and %(rows)s users. Split it into smaller files.")
        % {"mb": MAX_BYTES // (1024 * 1024), "rows": number_format(MAX_ROWS, force_grouping=True)},
        code="too_large",
    )


def decode(data: bytes) -> str:
    """The text of the file as Excel writes it: UTF-8 with or without BOM, or Windows-1252.

    A UTF-8 BOM decides; otherwise bytes that are valid UTF-8 are UTF-8 (Windows-1252 text with
    accents is almost never valid UTF-8); anything else is read as Windows-1252. UTF-16 (Excel's
    "Unicode text") is read too, since it announces itself with a BOM.
    """
    if not data.strip():
        raise ValidationError(_("The file is empty."), code="empty")
    try:
        if data.startswith(codecs.BOM_UTF8):
            text = data.decode("utf-8-sig")
        elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            text = data.decode("utf-16")
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise _not_text() from exc
    if _CONTROL.search(text):  # NUL and other control bytes: a spreadsheet, a zip, an image ...
        raise _not_text()
    return text


def read_upload(upload: UploadedFile) -> str:
    """Check the size before reading, then decode. Raises a translated ValidationError."""
    if upload.size is None or upload.size > MAX_BYTES:
        raise too_large_error()
    data = upload.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise too_large_error()
    return decode(data)


def _delimiter(header_line: str) -> str:
    """';' (Belgian Excel) or ',': whichever the header line has more of (the header holds no quotes)."""
    return ";" if header_line.count(";") > header_line.count(",") else ","


def parse(text: str) -> list[Row]:
    """Split the text into rows; a file-level problem (columns, size, syntax) raises ValidationError."""
    text = text.lstrip("\ufeff")
    first_line = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first_line), strict=True)
    try:
        header = next(reader, [])
        _cells_fit(1, header)
        columns = _columns(header)
        rows: list[Row] = []
        for number, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            if len(rows) >= MAX_ROWS:
                raise too_large_error()
            _cells_fit(number, cells)
            rows.append(_row(number, cells, columns))
    except csv.Error as exc:
        # The csv module's own words are English and technical: say what to do, in the reader's language.
        if "field larger than field limit" in str(exc):
            raise _cell_too_long(reader.line_num) from exc
        raise ValidationError(
            _(
                'The file could not be read as CSV near row %(row)s: a quotation mark (") is not closed, '
                "or text follows a closing one. Save the file again as CSV from Excel."
            )
            % {"row": reader.line_num},
            code="csv",
        ) from exc
    if not rows:
        raise ValidationError(_("The file contains no users: only a header row."), code="no_rows")
    return rows


def _cell_too_long(row: int) -> ValidationError:
    return ValidationError(
        _("Row %(row)s has a cell of more than %(limit)s characters: this is not a file of users.")
        % {"row": row, "limit": number_format(CELL_MAX, force_grouping=True)},
        code="cell_too_long",
    )


def _cells_fit(row: int, cells: list[str]) -> None:
    if any(len(c) > CELL_MAX for c in cells):
        raise _cell_too_long(row)


def _named(column: str) -> str:
    """'E-mailadres (email)': the header in the reader's language and the English key."""
    return f"{column_label(column)} ({column})"


def _columns(header: list[str]) -> list[str | None]:
    """The canonical column of each header cell (None: ignored); wrong columns raise one message."""
    if not any(h.strip() for h in header):
        raise ValidationError(_("The first row must name the columns."), code="no_header")
    columns: list[str | None] = []
    unknown: list[str] = []
    seen: set[str] = set()
    doubled: list[str] = []
    lookup, ignored = _header_lookup()
    for cell in header:
        key = _header_key(cell)
        col = lookup.get(key)
        if col is None:
            if key and key not in ignored:
                unknown.append(cell.strip())
            columns.append(None)
            continue
        if col in seen:
            doubled.append(cell.strip())
        seen.add(col)
        columns.append(col)
    missing = [c for c in REQUIRED if c not in seen]
    problems = []
    if missing:
        problems.append(_("Missing columns: %(columns)s.") % {"columns": ", ".join(_named(c) for c in missing)})
    if unknown:
        problems.append(_("Unknown columns: %(columns)s.") % {"columns": ", ".join(unknown)})
    if doubled:
        problems.append(_("Columns given twice: %(columns)s.") % {"columns": ", ".join(doubled)})
    if problems:
        problems.append(
            _("The first row must name the columns %(required)s (optional: %(optional)s), in any order.")
            % {
                "required": ", ".join(_named(c) for c in REQUIRED),
                "optional": ", ".join(_named(c) for c in COLUMNS if c not in REQUIRED),
            }
        )
        raise ValidationError(" ".join(problems), code="columns")
    return columns


def _unescape(cell: str) -> str:
    """Undo the export's guard against formulas: "'=Jan" was written for "=Jan" (OWASP CSV injection)."""
    return cell[1:] if len(cell) > 1 and cell[0] == "'" and cell[1] in "=+-@" else cell


def _row(number: int, cells: list[str], columns: list[str | None]) -> Row:
    row = Row(number=number)
    for col, cell in zip(columns, cells, strict=False):
        if col is not None:
            setattr(row, col, _unescape(cell.strip()))
    row.extra_cells = any(c.strip() for c in cells[len(columns) :])
    return row


# --- Checking and importing ---------------------------------------------------------------------


def _ssin(raw: str) -> str:
    digits = re.sub(r"[\s.\-/]", "", raw)
    # Excel shows an INSZ as a number and drops its leading zeros (births 2000-2009): put them back;
    # the check digits still decide.
    if digits.isdigit() and 9 <= len(digits) < 11:
        digits = digits.zfill(11)
    return ssin_clean(digits)


# The dates Belgian Excel writes (31/12/2026, 31-12-2026, 31.12.2026) and ISO's 2026-12-31.
_DATE_FORMATS = ("%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%d")


def parse_day(value: str) -> date | None:
    """A last day as a manager types it in a cell; None: not a date."""
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(value.strip(), fmt).date()  # noqa: DTZ007 (a calendar day, no instant)
        except ValueError:
            continue
    return None


def _check(
    row: Row,
    *,
    apps: dict[str, SecuredApplication],
    languages: dict[str, str],
    titles: dict[str, str],
    first_row_of: dict[str, int],
) -> tuple[str, list[SecuredApplication], str, str, date | None, list[str]]:
    """The row's own checks: returns (ssin, applications, language, title, last day, errors)."""
    errors: list[str] = []
    if row.extra_cells:
        errors.append(_("This row has more cells than the header row has columns (a stray separator?)."))
    ssin = ""
    try:
        ssin = _ssin(row.ssin)
    except ValidationError as exc:
        errors.extend(exc.messages)
    else:
        first = first_row_of.setdefault(ssin, row.number)
        if first != row.number:
            errors.append(_("The same INSZ is already on row %(row)s.") % {"row": first})
    for value, label in ((row.email, _("E-mail address")), (row.local_email, _("Local e-mail address"))):
        if value:
            try:
                _EMAIL(value)
            except ValidationError:
                errors.append(
                    _("%(field)s: “%(value)s” is not a valid e-mail address.") % {"field": label, "value": value}
                )
    for value, label, limit in (
        (row.last_name, _("Last name"), _NAME_MAX),
        (row.first_name, _("First name"), _NAME_MAX),
        (row.email, _("E-mail address"), _EMAIL_MAX),
        (row.local_email, _("Local e-mail address"), _EMAIL_MAX),
    ):
        if len(value) > limit:
            errors.append(too_long_message(label, limit))
    if not row.email:
        errors.append(email_required_error())
    language = languages.get(row.language.lower(), "")
    if not language:
        errors.append(
            _("Language: “%(value)s” is not one of nl, fr, de, en.") % {"value": row.language}
            if row.language
            else _("The language is required (nl, fr, de or en).")
        )
    title = titles.get(row.title.lower(), "") if row.title else ""
    if row.title and not title:
        errors.append(_("Title: “%(value)s” is not known.") % {"value": row.title})
    chosen: list[SecuredApplication] = []
    refused: list[str] = []
    for code in (c.strip() for c in row.applications.split(APPLICATION_SEPARATOR)):
        if not code:
            continue
        app = apps.get(code.lower())
        if app is None:
            refused.append(code)
        elif app not in chosen:
            chosen.append(app)
    if refused:
        errors.append(not_switched_on_error(refused))
    last_day = parse_day(row.end_date) if row.end_date else None
    if row.end_date and last_day is None:
        errors.append(_("End date: “%(value)s” is not a date; write it as 31/12/2026.") % {"value": row.end_date})
    return ssin, chosen, language, title, last_day, errors


def rows_import(
    *,
    actor: User,
    subdepartment: Subdepartment,
    rows: list[Row],
    dry_run: bool,
    user_import: UserImport | None = None,
    progress: ProgressCallback | None = None,
) -> ImportReport:
    """Check every row and add them all as users of ``subdepartment`` in one transaction, or none.

    The file's own checks (INSZ, e-mail, language, title, application codes) run here; the rules of
    adding a user run in ``services.subdepartment_users_import`` for the rows that pass them, in bulk.
    A row in error anywhere, or ``dry_run`` (the preview), writes nothing. With ``user_import`` the
    per-row report is stored on it in the same transaction as the import.
    """
    authz.require(authz.may_appoint(actor, Role.USER, subdepartment))
    apps = {a.code.lower(): a for a in subdepartment_applications(subdepartment)}
    languages = {**_choice_lookup(Language.choices), **_LANGUAGE_NATIVE}
    titles = _choice_lookup(Title.choices)
    first_row_of: dict[str, int] = {}
    results: list[RowResult] = []
    candidates: list[tuple[int, UserToAdd]] = []
    for row in rows:
        ssin, chosen, language, title, last_day, errors = _check(
            row, apps=apps, languages=languages, titles=titles, first_row_of=first_row_of
        )
        name = f"{row.last_name} {row.first_name}".strip()
        results.append(RowResult(row.number, ssin or row.ssin, name, Outcome.NEW, errors))
        if ssin:
            candidates.append(
                (
                    len(results) - 1,
                    UserToAdd(
                        ssin=ssin,
                        email=row.email,
                        applications=tuple(chosen),
                        first_name=row.first_name,
                        last_name=row.last_name,
                        title=title,
                        language=language,
                        local_email=row.local_email,
                        username=row.username,
                        last_day=last_day,
                    ),
                )
            )
    file_ok = not any(r.errors for r in results)
    with transaction.atomic():
        outcome = subdepartment_users_import(
            actor=actor,
            subdepartment=subdepartment,
            rows=[c for _i, c in candidates],
            dry_run=dry_run or not file_ok,
            user_import=user_import,
            progress=progress,
        )
        for (index, _c), errors, known in zip(candidates, outcome.errors, outcome.known, strict=True):
            result = results[index]
            # The file's check and the service's may both name a missing address: say it once.
            result.errors.extend(e for e in errors if e not in result.errors)
            if known:
                result.outcome = Outcome.KNOWN
        for result in results:
            if result.errors:
                result.outcome = Outcome.ERROR
        report = ImportReport(rows=results, committed=outcome.written)
        if outcome.written and user_import is not None:
            UserImport.objects.filter(pk=user_import.pk).update(report=report.as_json())
    return report
