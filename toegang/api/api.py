"""The authorization API for relying parties (issue 5), on django-ninja, mounted at ``/api/``.

Transports only: every decision is ``authz.may_use_ssin`` / ``authz.facilities_for_ssin`` /
``authz.facilities_for_many``, built on the same active-grant query as ``authz.facilities_for`` behind
the OpenID Connect ``access`` claim and the portal, so an access ended in the portal is refused here
by the very next request (the decision is never cached; only a validated token is, see
``auth``). A client sees only its own secured application: the
application comes from the token (``auth.ClientCredentials``), never from the request.

Names (quality) follow the request's Accept-Language (nl, fr, de, en; Dutch by default).
The OpenAPI document is ``/api/openapi.json``; the interactive docs ``/api/docs`` load Swagger UI
from django-ninja's bundled static files (``ninja`` is in INSTALLED_APPS), never from a CDN.
"""

from __future__ import annotations

from typing import Annotated, cast

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Body, NinjaAPI, Path, Router, Swagger
from ninja.errors import HttpError, ValidationError
from pydantic import WithJsonSchema

from toegang.api.auth import ApiClient, BearerError, ClientCredentials
from toegang.api.schemas import (
    MAX_ID,
    SSIN_PATH_PATTERN,
    CheckBatch,
    CheckOut,
    Decision,
    Error,
    Facility,
    ValidationErrors,
    ssin_normalise,
    ssin_schema,
)
from toegang.delegation import authz
from toegang.locks import ConcurrentChange, is_lost_race, lost_race_message

api = NinjaAPI(
    title="toegang authorization API",
    version="1",
    description=(
        "Which facilities (subdepartments) a person may use the client's application for. "
        "Authenticate with an OAuth2 client-credentials token with scope `authz` from `/oauth/token/`; "
        "a client sees only the secured application it is registered for."
    ),
    urls_namespace="api",
    auth=ClientCredentials(),
    # Swagger UI would otherwise send the document's URL to validator.swagger.io for a badge: offline
    # that is a failed request, online a leak of an internal address.
    docs=Swagger(settings={"validatorUrl": None}),
)
v1 = Router(tags=["authorization"])
# 400: a NUL byte (or invalid text) anywhere in the request, refused before the API (toegang/input_guard.py).
ERRORS: dict[int, type] = {400: Error, 401: Error, 403: Error, 409: Error, 422: ValidationErrors}
# The document says what an INSZ looks like; the check is _ssin's, with translated messages.
SsinPath = Annotated[
    str,
    WithJsonSchema({"type": "string", **ssin_schema(SSIN_PATH_PATTERN, "INSZ: 11 digits, in any formatting (no /)")}),
    Path(),
]


@api.exception_handler(BearerError)
def _bearer_error(request: HttpRequest, exc: BearerError) -> HttpResponse:
    response = api.create_response(request, exc.body(), status=exc.status)
    response["WWW-Authenticate"] = exc.www_authenticate()
    for name, value in exc.headers.items():
        response[name] = value
    return response


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # django-ninja's own errors (a body that is not JSON: "Cannot parse request body") in the API's
    # documented error shape rather than ninja's {"detail": ...}.
    if exc.status_code == 400:
        body = {"error": "invalid_request", "error_description": _("The request body is not valid JSON.")}
    else:
        body = {"error": "error", "error_description": str(exc.message)}
    return api.create_response(request, body, status=exc.status_code)


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    # Django refuses bodies over DATA_UPLOAD_MAX_MEMORY_SIZE; say so in JSON rather than its HTML 400.
    body = {"error": "request_too_large", "error_description": _("The request body is too large.")}
    return api.create_response(request, body, status=413)


def _conflict(request: HttpRequest) -> HttpResponse:
    # A lost race (toegang.locks): 409 with the portal's message, never a 500.
    body = {"error": "conflict", "error_description": lost_race_message()}
    return api.create_response(request, body, status=409)


@api.exception_handler(ConcurrentChange)
def _concurrent_change(request: HttpRequest, exc: ConcurrentChange) -> HttpResponse:
    return _conflict(request)


@api.exception_handler(DatabaseError)
def _database_error(request: HttpRequest, exc: DatabaseError) -> HttpResponse:
    if not is_lost_race(exc):
        raise exc  # a bug is not a race: Django's 500, logged
    return _conflict(request)


def _client(request: HttpRequest) -> ApiClient:
    return cast(ApiClient, request.auth)  # type: ignore[attr-defined]


def _ssin(value: str) -> str:
    try:
        return ssin_normalise(value)
    except ValueError as exc:
        raise ValidationError([{"loc": ["path", "ssin"], "msg": str(exc), "type": "ssin_invalid"}]) from exc


@v1.get("/persons/{ssin}/facilities", response={200: list[Facility], **ERRORS}, summary="A person's facilities")
def person_facilities(request: HttpRequest, ssin: SsinPath) -> list[Facility]:
    """The facilities where the person may use the client's application now (the `access` claim's items).

    The INSZ may be written in any formatting (`85.07.30-033.28`, `85073003328`). A person unknown to
    toegang, or without access, gets an empty list.
    """
    return [Facility.from_grant(g) for g in authz.facilities_for_ssin(_ssin(ssin), _client(request).application_id)]


_JSON = api.get_content_type()
_DECISIONS = {
    allowed: api.renderer.render(None, Decision(allowed=allowed).model_dump(), response_status=200)  # type: ignore[arg-type]
    for allowed in (False, True)
}


@v1.get(
    "/persons/{ssin}/facilities/{subdepartment_id}",
    response={200: Decision, **ERRORS},
    summary="Check one person and facility",
)
def person_facility_check(
    request: HttpRequest, ssin: SsinPath, subdepartment_id: Annotated[int, Path(gt=0, le=MAX_ID)]
) -> HttpResponse:
    """May the person use the client's application for this facility (subdepartment id) now?"""
    allowed = authz.may_use_ssin(_ssin(ssin), _client(request).application_id, subdepartment_id)
    # The two possible bodies of ``Decision`` as ninja's renderer writes them, made once: its validation
    # and rendering of the result cost about a tenth of a check (bench/authz_api.py). The document still
    # says ``Decision`` (``response=``); tests/test_api.py compares the two.
    return HttpResponse(_DECISIONS[allowed], content_type=_JSON)


@v1.post("/checks", response={200: list[CheckOut], 413: Error, **ERRORS}, summary="Check many pairs at once")
def checks(request: HttpRequest, pairs: Body[CheckBatch]) -> list[CheckOut]:
    """Up to 1,000 (INSZ, facility) pairs; the answers come in the order of the question.

    One statement for the whole batch (``authz.facilities_for_many``), however many people it names.
    """
    facilities = authz.facilities_for_many((p.ssin for p in pairs), _client(request).application_id)
    return [
        CheckOut(
            ssin=p.ssin, subdepartment_id=p.subdepartment_id, allowed=p.subdepartment_id in facilities.get(p.ssin, ())
        )
        for p in pairs
    ]


api.add_router("/v1", v1)
