"""CSV import of users into a subdepartment (issue 3, item 6): preview, all-or-nothing import, bad files."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, TestCase
from django.urls import reverse
from django.utils import translation

from tests.conftest import World, login
from toegang.accounts.models import User
from toegang.applications.models import ApplicationGrant
from toegang.applications.selectors import person_applications
from toegang.audit.models import AuditEvent
from toegang.delegation import csv_import
from toegang.delegation.models import Role, RoleAssignment, UserImport
from toegang.delegation.services import subdepartment_user_add
from toegang.identifiers import ssin_format, ssin_make
from toegang.organisations.models import Subdepartment

HEADER = ["ssin", "last_name", "first_name", "email", "language", "applications"]
NEW1 = ssin_make(1985, 7, 30, 501)
NEW2 = ssin_make(1990, 1, 15, 502)
NEW3 = ssin_make(2003, 5, 12, 503)  # born after 2000: other check-digit rule, a leading zero


@pytest.fixture(autouse=True)
def _fast_hasher(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def csv_bytes(
    rows: list[list[str]],
    *,
    header: list[str] = HEADER,
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def url(sd: Subdepartment, lang: str = "en") -> str:
    with translation.override(lang):
        return reverse("portal:users_import", args=[sd.pk])


def preview(client: Client, sd: Subdepartment, data: bytes, lang: str = "en") -> Any:
    upload = SimpleUploadedFile("users.csv", data, content_type="text/csv")
    return client.post(url(sd, lang), {"action": "preview", "file": upload})


def confirm(client: Client, sd: Subdepartment, digest: str, lang: str = "en") -> Any:
    """Importeren, and the job it enqueues run to its end (the on-commit callbacks run)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(url(sd, lang), {"action": "import", "digest": digest})


def import_of(response: Any) -> UserImport:
    """The import a confirmation redirected to."""
    assert response.status_code == 302, response.status_code
    match = re.search(r"/users/import/(\d+)/$", response["Location"])
    assert match, response["Location"]
    return UserImport.objects.get(pk=int(match.group(1)))


def snapshot() -> tuple[int, int, int, int]:
    return (
        User.objects.count(),
        RoleAssignment.objects.count(),
        ApplicationGrant.objects.count(),
        AuditEvent.objects.count(),
    )


def rows_of(response: Any) -> list[tuple[int, str, str, list[str]]]:
    report = response.context["report"]
    return [(r.number, r.ssin, r.outcome.value, r.errors) for r in report.rows]


@pytest.fixture
def sb(world: World, client: Client) -> Client:
    return login(client, world.zon.people["sb"])


def three_rows(world: World) -> list[list[str]]:
    nobody = world.zon.people["nobody"]  # known elsewhere, not a member of sd
    return [
        [ssin_format(NEW1), "Peeters", "An", "an@example.test", "nl", "cirro|eloket"],
        [NEW2, "Dubois", "Luc", "luc@example.test", "fr", "cirro"],
        [nobody.ssin or "", "Whatever", "Typed", "nobody.here@example.test", "de", ""],
    ]


# --- The preview is a dry run: same code, nothing saved, no mail --------------------------------


def test_preview_saves_nothing_and_sends_no_mail(
    world: World, sb: Client, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    before = snapshot()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = preview(sb, world.zon.sd, csv_bytes(three_rows(world)))
    assert response.status_code == 200
    assert rows_of(response) == [
        (2, NEW1, "new", []),
        (3, NEW2, "new", []),
        (4, world.zon.people["nobody"].ssin, "known", []),
    ]
    body = response.content.decode()
    assert "New person" in body and "Known person: membership added" in body
    assert f"<td>{ssin_format(NEW1)}</td>" in body and "<td>Dubois Luc</td>" in body
    assert 'name="action" value="import"' in body
    assert response.context["digest"]
    assert snapshot() == before
    assert callbacks == []
    assert mail.outbox == []


def test_confirm_enqueues_the_import_which_adds_every_row_and_mails_after_commit(world: World, sb: Client) -> None:
    sd = world.zon.sd
    nobody = world.zon.people["nobody"]
    digest = preview(sb, sd, csv_bytes(three_rows(world))).context["digest"]
    with TestCase.captureOnCommitCallbacks(execute=False) as enqueued:
        response = sb.post(url(sd), {"action": "import", "digest": digest})
    user_import = import_of(response)
    assert (user_import.status, user_import.rows_total, user_import.actor) == ("queued", 3, world.zon.people["sb"])
    assert not User.objects.filter(ssin=NEW1).exists()  # the request only enqueued the job
    assert len(enqueued) == 1
    with TestCase.captureOnCommitCallbacks(execute=False) as after_import:
        enqueued[0]()  # the job (immediate backend)
        assert mail.outbox == []  # nothing is sent inside the transaction
    user_import.refresh_from_db()
    assert (user_import.status, user_import.rows_processed, user_import.attempts) == ("done", 3, 1)
    assert user_import.finished_at is not None and user_import.error == ""
    members = RoleAssignment.objects.active().filter(subdepartment=sd, role=Role.USER)
    assert set(members.values_list("person__ssin", flat=True)) == {
        NEW1,
        NEW2,
        nobody.ssin,
        world.zon.people["user"].ssin,
    }
    an = User.objects.get(ssin=NEW1)
    assert (an.last_name, an.first_name, an.language, an.email) == ("Peeters", "An", "nl", "")
    assert RoleAssignment.objects.get(person=an, subdepartment=sd).contact_email == "an@example.test"
    assert an.username == "an.peeters"
    assert not an.has_usable_password()
    assert [a.code for a in person_applications(an, sd)] == ["cirro", "eloket"]
    assert [a.code for a in person_applications(User.objects.get(ssin=NEW2), sd)] == ["cirro"]
    # A known person keeps their own data; only the membership and its contact address are added.
    nobody.refresh_from_db()
    assert (nobody.last_name, nobody.first_name) == ("Test", "Nobody")
    assert members.get(person=nobody).contact_email == "nobody.here@example.test"
    # The single form's events: each membership, then each of its grants.
    first_event = AuditEvent.objects.order_by("-id")[0].pk - 5
    events = list(
        AuditEvent.objects.filter(subdepartment=sd, pk__gte=first_event)
        .order_by("id")
        .values_list("action", "object_repr")
    )
    assert [a for a, _r in events] == ["user.add", "grant.add", "grant.add", "user.add", "grant.add", "user.add"]
    assert events[0][1] == "User: Peeters An"
    assert user_import.report == [
        {"row": 2, "ssin": NEW1, "name": "Peeters An", "outcome": "new", "errors": []},
        {"row": 3, "ssin": NEW2, "name": "Dubois Luc", "outcome": "new", "errors": []},
        {"row": 4, "ssin": nobody.ssin, "name": "Whatever Typed", "outcome": "known", "errors": []},
    ]
    # The mails go out when the transaction commits, one per row, in the person's language.
    for callback in after_import:
        callback()
    assert sorted(m.to[0] for m in mail.outbox) == ["an@example.test", "luc@example.test", "nobody.here@example.test"]
    luc_mail = next(m for m in mail.outbox if m.to == ["luc@example.test"])
    assert "Facility A" in luc_mail.subject
    an_mail = next(m for m in mail.outbox if m.to == ["an@example.test"])
    assert an_mail.body.startswith("Beste Mx An Peeters,") or "An Peeters" in an_mail.body.splitlines()[0]
    # The progress page shows the summary and links the report.
    page = sb.get(response["Location"]).content.decode()
    assert "3 users were imported." in page and 'value="3"' in page and 'max="3"' in page
    assert 'http-equiv="refresh"' not in page
    # The stored preview is used once.
    assert confirm(sb, sd, digest).status_code == 302
    assert members.count() == 4
    assert UserImport.objects.count() == 1


# --- Encodings and delimiters as Excel writes them ------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "cp1252"])
def test_each_encoding_keeps_the_accents(world: World, sb: Client, encoding: str) -> None:
    rows = [[NEW1, "Dupré-Lefèvre", "Émile", "emile@example.test", "fr", "cirro"]]
    data = csv_bytes(rows, encoding=encoding)
    if encoding == "utf-8-sig":
        assert data.startswith(b"\xef\xbb\xbf")
    response = preview(sb, world.zon.sd, data)
    assert rows_of(response) == [(2, NEW1, "new", [])]
    assert "Dupré-Lefèvre Émile" in response.content.decode()
    confirm(sb, world.zon.sd, response.context["digest"])
    person = User.objects.get(ssin=NEW1)
    assert (person.last_name, person.first_name) == ("Dupré-Lefèvre", "Émile")


def test_semicolons_dutch_headers_and_language_names(world: World, sb: Client) -> None:
    header = ["INSZ", "Naam", "Voornaam", "E-mailadres *", "Taalkeuze", "Beveiligde toepassingen", "Type", "Status"]
    rows = [
        [NEW1, "Janssens", "Els", "els@example.test", "Nederlands", "CIRRO", "USE", "active"],
        [NEW2, "Martin", "Chloé", "chloe@example.test", "FR", "eloket | cirro", "USE", "active"],
        # Excel shows an INSZ as a number and drops the leading zero of births in 2000-2009.
        [NEW3.lstrip("0"), "Schmitz", "Jonas", "jonas@example.test", "Duits", "", "", ""],
    ]
    data = csv_bytes(rows, header=header, delimiter=";", encoding="cp1252")
    response = preview(sb, world.zon.sd, data, lang="nl")
    assert [r[2] for r in rows_of(response)] == ["new", "new", "new"]
    assert confirm(sb, world.zon.sd, response.context["digest"], lang="nl").status_code == 302
    assert User.objects.get(ssin=NEW1).language == "nl"
    chloe = User.objects.get(ssin=NEW2)
    assert (chloe.first_name, chloe.language) == ("Chloé", "fr")
    assert [a.code for a in person_applications(chloe, world.zon.sd)] == ["cirro", "eloket"]
    assert User.objects.get(ssin=NEW3).language == "de"


def test_optional_columns_fill_a_new_person(world: World, sb: Client) -> None:
    header = [*HEADER, "title", "local_email", "username"]
    rows = [[NEW1, "'=Peeters", "An", "an@example.test", "en", "cirro", "Ms", "an@local.test", "an.peeters"]]
    response = preview(sb, world.zon.sd, csv_bytes(rows, header=header))
    confirm(sb, world.zon.sd, response.context["digest"])
    an = User.objects.get(ssin=NEW1)
    # The export writes "'=…" to stop Excel evaluating a formula; the import reads it back.
    assert (an.last_name, an.title, an.local_email, an.username) == ("=Peeters", "ms", "an@local.test", "an.peeters")


# --- All or nothing: one bad row and nothing is saved ---------------------------------------------


def test_bad_check_digits_saves_nothing_and_names_the_row(
    world: World, sb: Client, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    bad = NEW3[:-1] + str((int(NEW3[-1]) + 1) % 10)
    rows = [*three_rows(world)[:2], [bad, "Fout", "Rij", "fout@example.test", "nl", "cirro"]]
    before = snapshot()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = preview(sb, world.zon.sd, csv_bytes(rows))
    result = rows_of(response)
    assert [r[:3] for r in result[:2]] == [(2, NEW1, "new"), (3, NEW2, "new")]
    assert result[2][0] == 4 and result[2][2] == "error"
    assert "check digits do not match" in result[2][3][0]
    body = response.content.decode()
    assert "One row has an error. Nothing was saved" in body
    assert 'value="import"' not in body
    assert response.context["digest"] == ""
    assert snapshot() == before and callbacks == [] and mail.outbox == []
    # A forged confirmation finds nothing to import.
    response = confirm(sb, world.zon.sd, "0" * 64)
    assert response.status_code == 302
    assert snapshot() == before


def test_application_not_switched_on_is_a_row_error(world: World, sb: Client) -> None:
    rows = [[NEW1, "Peeters", "An", "an@example.test", "nl", "cirro|raas|nope"]]
    response = preview(sb, world.zon.sd, csv_bytes(rows))
    assert rows_of(response) == [(2, NEW1, "error", ["Not switched on for this subdepartment: raas, nope."])]
    assert not User.objects.filter(ssin=NEW1).exists()


def test_row_checks_are_all_reported(world: World, sb: Client) -> None:
    member = world.zon.people["user"]
    rows = [
        [NEW1, "Peeters", "An", "not-an-email", "xx", "cirro"],
        [NEW2, "", "", "luc@example.test", "nl", ""],  # a new person needs names
        [NEW1, "Peeters", "An", "an@example.test", "nl", ""],  # the same INSZ twice
        [member.ssin or "", "Test", "User", "user@example.test", "nl", ""],  # already a user here
        ["12345", "Kort", "Nummer", "k@example.test", "nl", ""],
        [NEW3, "Extra", "Cel", "e@example.test", "nl", "", "stray"],
    ]
    response = preview(sb, world.zon.sd, csv_bytes(rows))
    errors = {n: " | ".join(e) for n, _s, _o, e in rows_of(response)}
    assert "“not-an-email” is not a valid e-mail address" in errors[2]
    assert "Language: “xx” is not one of nl, fr, de, en." in errors[2]
    assert "enter the first name" in errors[3] and "enter the last name" in errors[3]
    assert errors[4] == "The same INSZ is already on row 2."
    assert errors[5] == "This person is already a user of this subdepartment."
    assert "An INSZ has 11 digits" in errors[6]
    assert "more cells than the header row" in errors[7]
    assert not User.objects.filter(ssin__in=[NEW1, NEW2, NEW3]).exists()


def test_confirm_checks_again_and_rolls_back_everything(world: World, sb: Client) -> None:
    sd = world.zon.sd
    digest = preview(sb, sd, csv_bytes(three_rows(world))).context["digest"]
    # Between preview and confirmation someone adds the third person through the form.
    subdepartment_user_add(
        actor=world.zon.people["sb"],
        subdepartment=sd,
        ssin=world.zon.people["nobody"].ssin or "",
        email="x@example.test",
    )
    before = snapshot()
    response = confirm(sb, sd, digest)
    user_import = import_of(response)
    assert user_import.status == "failed"
    assert snapshot() == before
    assert not User.objects.filter(ssin__in=[NEW1, NEW2]).exists()
    page = sb.get(response["Location"])
    body = page.content.decode()
    assert "Nothing was imported: the data changed since the preview." in body
    assert page.context["report"].rows[2].errors == ["This person is already a user of this subdepartment."]
    # In the reader's language, as the rest of the page.
    with translation.override("nl"):
        nl_page = sb.get(reverse("portal:users_import_progress", args=[sd.pk, user_import.pk])).content.decode()
    assert "Er werd niets geïmporteerd: de gegevens zijn sinds de voorvertoning gewijzigd." in nl_page
    report = sb.get(reverse("portal:users_import_report", args=[sd.pk, user_import.pk]))
    assert report["Content-Disposition"] == f'attachment; filename="import-{user_import.pk}-report.csv"'
    lines = report.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "Row;INSZ;Name;Result"
    assert lines[1] == f"2;{ssin_format(NEW1)};Peeters An;New person"
    assert lines[3].endswith(";Whatever Typed;This person is already a user of this subdepartment.")


def test_expired_preview_must_be_uploaded_again(world: World, sb: Client) -> None:
    digest = preview(sb, world.zon.sd, csv_bytes(three_rows(world)[:1])).context["digest"]
    session = sb.session
    session["users_import"]["at"] -= 31 * 60
    session.save()
    response = confirm(sb, world.zon.sd, digest)
    assert response.status_code == 302
    assert not User.objects.filter(ssin=NEW1).exists()
    page = sb.get(response["Location"])
    assert "The preview has expired" in page.content.decode()


# --- Bad files: one clear message, nothing read further -------------------------------------------


def test_wrong_columns_name_the_columns(world: World, sb: Client) -> None:
    header = ["ssin", "last_name", "first_name", "mail", "language", "applications", "applications"]
    response = preview(sb, world.zon.sd, csv_bytes([[NEW1, "A", "B", "c@example.test", "nl", "", ""]], header=header))
    errors = response.context["form"].errors["file"]
    assert len(errors) == 1
    assert "Missing columns: E-mail address (email)." in errors[0]
    assert "Unknown columns: mail." in errors[0]
    assert "Columns given twice: applications." in errors[0]
    assert response.context["report"] is None
    assert not User.objects.filter(ssin=NEW1).exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (bytes(range(256)) * 20, "not a CSV text file"),
        (b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 100, "not a CSV text file"),  # an .xlsx
        (b"\n \r\n", "The file is empty."),
        (b"", "The submitted file is empty."),
        (",".join(HEADER).encode() + b"\r\n", "The file contains no users"),
        (",".join(HEADER).encode() + b'\r\n"unterminated,x\r\n', "could not be read as CSV"),
    ],
)
def test_malformed_files(world: World, sb: Client, data: bytes, message: str) -> None:
    before = snapshot()
    response = preview(sb, world.zon.sd, data)
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors["file"])
    assert snapshot() == before


def test_file_over_5_mb_is_refused(world: World, sb: Client) -> None:
    line = f"{NEW1},Peeters,An,an@example.test,nl,cirro\r\n".encode()
    data = ",".join(HEADER).encode() + b"\r\n" + line * (csv_import.MAX_BYTES // len(line) + 1)
    assert csv_import.MAX_BYTES < len(data) < csv_import.MAX_BYTES + 64 * 1024
    response = preview(sb, world.zon.sd, data)
    assert "The file is too large: at most 5 MB" in " ".join(response.context["form"].errors["file"])
    assert not User.objects.filter(ssin=NEW1).exists()
    # Larger than the request limit: refused from the Content-Length, with the same message.
    response = preview(sb, world.zon.sd, data + b"x" * 200_000)
    assert response.status_code == 413
    assert "The file is too large: at most 5 MB" in response.content.decode()


def test_more_than_50000_rows_is_refused(monkeypatch: pytest.MonkeyPatch, world: World, sb: Client) -> None:
    monkeypatch.setattr(csv_import, "MAX_ROWS", 3)
    rows = [[ssin_make(1980, 1, 1, n), "A", "B", "c@example.test", "nl", ""] for n in range(1, 5)]
    response = preview(sb, world.zon.sd, csv_bytes(rows))
    assert "The file is too large" in " ".join(response.context["form"].errors["file"])


class _UnreadableBody(io.RawIOBase):
    """A request body the view must not read: it announces 50 MB."""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the body of an oversized upload was read")

    def readinto(self, buffer: Any) -> int:
        raise AssertionError("the body of an oversized upload was read")


def test_50_mb_upload_is_refused_without_reading_it(world: World, sb: Client) -> None:
    before = snapshot()
    environ: dict[str, Any] = {"CONTENT_LENGTH": str(50 * 1024 * 1024), "wsgi.input": _UnreadableBody()}
    response = sb.post(url(world.zon.sd), data=b"", content_type="multipart/form-data; boundary=BoUnDaRy", **environ)
    assert response.status_code == 413
    assert "The file is too large: at most 5 MB and 10,000 users." in response.content.decode()
    assert snapshot() == before


# --- Access ---------------------------------------------------------------------------------------


def test_other_tenant_and_plain_users_get_404(world: World, client: Client) -> None:
    data = csv_bytes(three_rows(world))
    for who in ("ander_sb", "ander_htb", "user", "sb2"):
        login(client, world.person(who))
        assert client.get(url(world.zon.sd)).status_code == 404
        assert preview(client, world.zon.sd, data).status_code == 404
    assert not User.objects.filter(ssin__in=[NEW1, NEW2]).exists()


def test_confirm_is_bound_to_the_previewed_subdepartment(world: World, client: Client) -> None:
    tb = login(client, world.zon.people["tb"])  # manages both sd and sd2
    rows = [[NEW1, "Peeters", "An", "an@example.test", "nl", "cirro"]]
    digest = preview(tb, world.zon.sd, csv_bytes(rows)).context["digest"]
    assert confirm(tb, world.zon.sd2, digest).status_code == 302
    assert not User.objects.filter(ssin=NEW1).exists()


def test_page_lists_the_columns_in_dutch(world: World, sb: Client) -> None:
    response = sb.get(url(world.zon.sd, "nl"))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'enctype="multipart/form-data"' in body
    for name in ("INSZ", "Naam", "Voornaam", "E-mailadres", "Taalkeuze", "Codes van de toepassingen"):
        assert f"<td>{name} *</td>" in body
    assert '<label for="id_file">' in body


# --- Round trip: what the users list exports, the import reads ------------------------------------


def test_round_trip_export_then_import(world: World, client: Client) -> None:
    tb = login(client, world.zon.people["tb"])
    sd, sd2 = world.zon.sd, world.zon.sd2
    rows = [
        [NEW1, "Peeters", "An", "an@example.test", "nl", "cirro"],
        [NEW2, "Dubois", "Luc", "luc@example.test", "fr", "cirro"],
    ]
    confirm(tb, sd, preview(tb, sd, csv_bytes(rows)).context["digest"])
    with translation.override("en"):
        export_url = reverse("portal:users_export", args=[sd.pk])
    export = b"".join(tb.get(export_url).streaming_content)  # type: ignore[attr-defined]
    assert export.splitlines()[0].decode("utf-8-sig").startswith("INSZ;Last name;")
    assert export.startswith(b"\xef\xbb\xbf")
    assert b"Peeters" in export and b"Dubois" in export
    response = preview(tb, sd2, export)
    result = {r[1]: r[2] for r in rows_of(response)}
    assert result[NEW1] == "known" and result[NEW2] == "known"
    assert set(result.values()) == {"known"}
    assert confirm(tb, sd2, response.context["digest"]).status_code == 302
    assert RoleAssignment.objects.active().filter(subdepartment=sd2, role=Role.USER).count() == len(result) == 5
    for ssin in (NEW1, NEW2):
        person = User.objects.get(ssin=ssin)
        assert RoleAssignment.objects.active().filter(person=person, subdepartment=sd2, role=Role.USER).exists()
        assert [a.code for a in person_applications(person, sd2)] == ["cirro"]
