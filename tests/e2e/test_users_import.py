"""The CSV import of users in Chromium: the template, upload, check, Importeren, the progress bar, the report.

sb logs in once; then per language (nl, fr, de) a file of 300 new users for the facility Campus
Noord: the preview's summary, the job run by the db_worker beside gunicorn (conftest.server), the
progress page's bar at its end, the summary and the downloaded per-row report. Every page goes
through axe-core and is photographed at 1280 and 390 px wide.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.utils import translation
from django.utils.translation import ngettext

from tests.e2e.conftest import Walk, ntr, tr
from toegang.identifiers import ssin_make

FACILITY = "Campus Noord"
ROWS = 300
LANGS = ["nl", "fr", "de"]


def _file(lang: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["insz", "naam", "voornaam", "e-mailadres", "taalkeuze", "beveiligde toepassingen"])
    offset = 1000 * LANGS.index(lang)
    for i in range(offset, offset + ROWS):
        ssin = ssin_make(1960 + i % 40, 1 + (i // 40) % 12, 1 + (i // 480) % 28, 601 + i % 300)
        writer.writerow([ssin, f"Importé{i}", f"Personne{i}", f"import{i}@example.test", lang, "cirro"])
    return out.getvalue().encode("utf-8-sig")


@pytest.fixture(scope="module")
def sb(walk_factory: Any) -> Iterator[Walk]:
    walk = walk_factory("users-import", "nl")
    walk.login("nl", "sb")
    yield walk


def _narrow(walk: Walk, step: str) -> None:
    """The same page at a phone's width (390 px), checked and photographed, then wide again."""
    walk.page.set_viewport_size({"width": 390, "height": 844})
    walk.check(f"{step}-390")
    walk.page.set_viewport_size({"width": 1280, "height": 900})


@pytest.mark.parametrize("lang", LANGS)
def test_import_300_users_with_progress_and_report(sb: Walk, lang: str) -> None:
    page = sb.page
    sb.goto(f"/{lang}/", f"{lang}-home")
    page.get_by_role("link", name=FACILITY, exact=False).first.click()
    page.get_by_role("link", name=tr(lang, "Users"), exact=True).click()
    page.get_by_role("link", name=tr(lang, "Import users (CSV)")).click()
    sb.check(f"{lang}-import")
    _narrow(sb, f"{lang}-import")

    # The template, in the manager's language and Belgian Excel's dialect.
    with page.expect_download() as template_info:
        page.get_by_role("link", name=tr(lang, "Download the template (CSV)")).click()
    template = Path(template_info.value.path()).read_bytes()
    assert template.startswith(b"\xef\xbb\xbf")
    assert template.decode("utf-8-sig").split(";")[0] == tr(lang, "INSZ")

    page.locator("#id_file").set_input_files({"name": "users.csv", "mimeType": "text/csv", "buffer": _file(lang)})
    with translation.override(lang):
        check = translation.pgettext("the CSV file, before importing", "Check")
    page.get_by_role("button", name=check, exact=True).click()
    ready = ntr(
        lang,
        "The file holds one user and can be imported.",
        "The file holds %(counter)s users and can be imported.",
        ROWS,
    )
    page.get_by_text(ready).wait_for()
    sb.check(f"{lang}-preview")
    _narrow(sb, f"{lang}-preview")

    page.get_by_role("button", name=tr(lang, "Import"), exact=True).click()
    page.wait_for_url(re.compile(r"/users/import/\d+/$"))
    bar = page.get_by_role("progressbar", name=tr(lang, "Rows imported"))
    bar.wait_for()
    sb.check(f"{lang}-progress")
    # The worker imports the file; the script follows it and loads the summary at the end.
    with translation.override(lang):
        done = ngettext("One user was imported.", "%(shown)s users were imported.", ROWS) % {"shown": ROWS}
    page.get_by_text(done).wait_for(timeout=60_000)
    assert bar.get_attribute("value") == str(ROWS) and bar.get_attribute("max") == str(ROWS)
    sb.check(f"{lang}-done")
    _narrow(sb, f"{lang}-done")

    with page.expect_download() as download_info:
        page.get_by_role("link", name=tr(lang, "Download the report (CSV)")).click()
    report = download_info.value
    lines = Path(report.path()).read_text(encoding="utf-8-sig").splitlines()
    assert len(lines) == ROWS + 1
    header = [tr(lang, "Row"), tr(lang, "INSZ")]
    assert lines[0].startswith(";".join(header))
    assert lines[1].endswith(f";{tr(lang, 'New person')}")
