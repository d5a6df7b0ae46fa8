"""CSV import of users into a subdepartment: upload → preview → Importeren → progress → report.

The preview runs every check of the import without writing (``csv_import.rows_import`` with
``dry_run``), so what the manager sees is what the import will do. The confirmation does not trust
the browser: the decoded file is kept server-side in the session (compressed, at most 5 MB of text,
for 30 minutes, for this subdepartment only); Importeren stores it in a ``UserImport`` and enqueues
the job (``delegation.imports``), which checks the file again from scratch inside the import's
transaction. The confirm form only carries the digest of the previewed file, so a preview opened in
another tab cannot be confirmed by mistake. The progress page polls a JSON status (a static script;
without script the page refreshes itself) and ends with the summary and the per-row report (CSV).

Size: the view refuses a body larger than the limit from its Content-Length, *before* Django parses
it. Django's CSRF middleware would read ``request.POST`` first, which parses the whole multipart
body (a 50 MB upload would be streamed to a temporary file), so the view is ``csrf_exempt`` and runs
the CSRF check itself right after the size check (``csrf_protect``), as Django's documentation on
upload handlers prescribes. The refusal changes nothing, so it needs no CSRF token. A reverse proxy
in front should have its own body limit (nginx ``client_max_body_size``) a little above 5 MB.
"""

from __future__ import annotations

import base64
import hashlib
import io
import time
import zlib
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from toegang.accounts.models import User
from toegang.applications.selectors import subdepartment_applications
from toegang.delegation import authz, selectors
from toegang.delegation.csv_import import (
    APPLICATION_SEPARATOR,
    COLUMNS,
    MAX_BYTES,
    REQUIRED,
    ImportReport,
    Row,
    column_label,
    csv_line,
    parse,
    read_upload,
    rows_import,
    template_text,
    too_large_error,
)
from toegang.delegation.imports import user_import_start
from toegang.delegation.models import ImportStatus, Role, UserImport
from toegang.organisations.models import Subdepartment
from toegang.portal.common import crumbs, csv_cell, request_actor

SESSION_KEY = "users_import"
SESSION_MAX_AGE = 30 * 60
# The file plus the multipart envelope and the other fields of the form.
MAX_REQUEST_BYTES = MAX_BYTES + 64 * 1024


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        help_text=gettext_lazy(
            "As the template or the export of the users list: separated by ';' (or ','), "
            "UTF-8 or Windows-1252, at most 5 MB."
        ),
    )

    rows: list[Row]

    def clean_file(self) -> str:
        upload = self.cleaned_data["file"]
        text = read_upload(upload)
        self.rows = parse(text)
        return text


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _users_url(sd: Subdepartment) -> str:
    return reverse("portal:users", args=[sd.pk])


def _remember(request: HttpRequest, sd: Subdepartment, text: str) -> str:
    digest = hashlib.sha256(text.encode()).hexdigest()
    request.session[SESSION_KEY] = {
        "sd": sd.pk,
        "digest": digest,
        "at": time.time(),
        "data": base64.b64encode(zlib.compress(text.encode(), 6)).decode("ascii"),
    }
    return digest


def _recall(request: HttpRequest, sd: Subdepartment, digest: str) -> str | None:
    """The previewed text, if it belongs to this subdepartment and digest and is recent; used once."""
    stored: Any = request.session.pop(SESSION_KEY, None)
    if not isinstance(stored, dict) or stored.get("sd") != sd.pk or stored.get("digest") != digest:
        return None
    if time.time() - float(stored.get("at", 0)) > SESSION_MAX_AGE:
        return None
    try:
        text = zlib.decompress(base64.b64decode(stored["data"]), bufsize=MAX_BYTES).decode()
    except (KeyError, ValueError, zlib.error):
        return None
    if len(text.encode()) > MAX_BYTES or hashlib.sha256(text.encode()).hexdigest() != digest:
        return None
    return text


def _render(
    request: HttpRequest,
    sd: Subdepartment,
    *,
    form: ImportUploadForm,
    report: ImportReport | None = None,
    digest: str = "",
    upload_errors: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "portal/users/import.html",
        {
            "sd": sd,
            "enterprise": sd.enterprise,
            "form": form,
            "report": report,
            "digest": digest,
            "upload_errors": upload_errors or [],
            "columns": [
                (c, column_label(c), c in REQUIRED) for c in (*REQUIRED, *(c for c in COLUMNS if c not in REQUIRED))
            ],
            "applications": subdepartment_applications(sd),
            "separator": APPLICATION_SEPARATOR,
            "users_url": _users_url(sd),
            "crumbs": crumbs(sd.enterprise, sd.enterprise_quality, sd),
        },
        status=status,
    )


@csrf_exempt  # the CSRF check runs in _users_import, after the size check: see the module docstring
@login_required
@require_http_methods(["GET", "POST"])
def users_import(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    sd = selectors.subdepartment_for_actor(actor, pk)
    authz.require(authz.may_appoint(actor, Role.USER, sd))
    if request.method == "POST" and _declared_length(request) > MAX_REQUEST_BYTES:
        return _render(request, sd, form=ImportUploadForm(), upload_errors=too_large_error().messages, status=413)
    return _users_import(request, actor, sd)


@csrf_protect
def _users_import(request: HttpRequest, actor: User, sd: Subdepartment) -> HttpResponse:
    action = request.POST.get("action") if request.method == "POST" else None
    if action == "import":
        text = _recall(request, sd, request.POST.get("digest", ""))
        if text is None:
            messages.error(request, _("The preview has expired or was already used: upload the file again."))
            return redirect("portal:users_import", pk=sd.pk)
        try:
            rows = parse(text)
        except ValidationError as exc:  # the same text parsed at preview; kept for safety
            return _render(request, sd, form=ImportUploadForm(), upload_errors=exc.messages)
        user_import = user_import_start(actor=actor, subdepartment=sd, text=text, rows_total=len(rows))
        return redirect("portal:users_import_progress", pk=sd.pk, import_pk=user_import.pk)
    if action == "preview":
        form = ImportUploadForm(request.POST, request.FILES)
        if form.is_valid():
            report = rows_import(actor=actor, subdepartment=sd, rows=form.rows, dry_run=True)
            digest = _remember(request, sd, form.cleaned_data["file"]) if report.ok else ""
            if not report.ok:
                request.session.pop(SESSION_KEY, None)
            return _render(request, sd, form=ImportUploadForm(), report=report, digest=digest)
        return _render(request, sd, form=form)
    return _render(request, sd, form=ImportUploadForm())


# --- The import running as a job: its progress and its report ----------------------------------


def _import_context(user_import: UserImport) -> dict[str, Any]:
    report = ImportReport.from_json(user_import.report or [], committed=user_import.status == ImportStatus.DONE)
    return {
        "status": user_import.status,
        "status_label": user_import.get_status_display(),
        "processed": user_import.rows_processed if not user_import.is_finished else user_import.rows_total,
        "total": user_import.rows_total,
        "percent": user_import.percent,
        "finished": user_import.is_finished,
        "report": report if user_import.report else None,
        "error": _(user_import.error) if user_import.error else "",
        "progress_text": _progress_text(user_import),
    }


def _scoped_import(request: HttpRequest, pk: int, import_pk: int) -> tuple[Subdepartment, UserImport]:
    actor = request_actor(request)
    sd = selectors.subdepartment_for_actor(actor, pk)
    return sd, selectors.user_import_for_actor(actor, sd, import_pk)


@login_required
@require_GET
def users_import_progress(request: HttpRequest, pk: int, import_pk: int) -> HttpResponse:
    """The running import: a progress bar that a script refreshes (or, without script, the page itself)."""
    sd, user_import = _scoped_import(request, pk, import_pk)
    return render(
        request,
        "portal/users/import_progress.html",
        {
            "sd": sd,
            "enterprise": sd.enterprise,
            "user_import": user_import,
            **_import_context(user_import),
            "status_url": reverse("portal:users_import_status", args=[sd.pk, user_import.pk]),
            "report_url": reverse("portal:users_import_report", args=[sd.pk, user_import.pk]),
            "users_url": _users_url(sd),
            "crumbs": crumbs(sd.enterprise, sd.enterprise_quality, sd),
        },
    )


@login_required
@require_GET
def users_import_status(request: HttpRequest, pk: int, import_pk: int) -> JsonResponse:
    _sd, user_import = _scoped_import(request, pk, import_pk)
    context = _import_context(user_import)
    del context["report"]
    return JsonResponse(context, headers={"Cache-Control": "no-store"})


def _progress_text(user_import: UserImport) -> str:
    processed = user_import.rows_total if user_import.is_finished else user_import.rows_processed
    return _("%(status)s: %(processed)s of %(total)s rows") % {
        "status": user_import.get_status_display(),
        "processed": number_format(processed, force_grouping=True),
        "total": number_format(user_import.rows_total, force_grouping=True),
    }


@login_required
@require_GET
def users_import_report(request: HttpRequest, pk: int, import_pk: int) -> HttpResponse:
    """The per-row result as CSV (row, INSZ, name, result), in the reader's language, for Excel."""
    _sd, user_import = _scoped_import(request, pk, import_pk)
    if not user_import.report:
        raise Http404
    report = ImportReport.from_json(user_import.report, committed=user_import.status == ImportStatus.DONE)
    out = io.StringIO()
    out.write("\ufeff")  # Excel reads UTF-8 only with the BOM
    out.write(csv_line([_("Row"), _("INSZ"), pgettext("person", "Name"), _("Result")]))
    for row in report.rows:
        result = " ".join(row.errors) if row.errors else row.outcome_label
        out.write(csv_line([row.number, row.ssin_display, csv_cell(row.name), csv_cell(result)]))
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    disposition = content_disposition_header(as_attachment=True, filename=f"import-{user_import.pk}-report.csv")
    assert disposition is not None
    response["Content-Disposition"] = disposition
    return response


@login_required
@require_GET
def users_import_template(request: HttpRequest, pk: int) -> HttpResponse:
    """The import's template: the header row in the reader's language, ';', UTF-8 with BOM (Belgian Excel)."""
    actor = request_actor(request)
    sd = selectors.subdepartment_for_actor(actor, pk)
    authz.require(authz.may_appoint(actor, Role.USER, sd))
    response = HttpResponse(template_text(), content_type="text/csv; charset=utf-8")
    disposition = content_disposition_header(as_attachment=True, filename=f"users-import-template-{sd.pk}.csv")
    assert disposition is not None
    response["Content-Disposition"] = disposition
    return response
