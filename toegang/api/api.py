"""The authorization API for relying parties (issue 5), on django-ninja, mounted at ``/api/``.

Transports only: every decision is ``authz.facilities_for`` / ``authz.may_use``, the functions behind
the OpenID Connect ``access`` claim and the portal, so an access ended in the portal is refused here
by the very next request (nothing is cached). A client sees only its own secured application: the
application comes from the token (``auth.ClientCredentials``), never from the request.

Names (quality) follow the request's Accept-Language (nl, fr, de, en; Dutch by default).
The OpenAPI document is ``/api/openapi.json``; the interactive docs ``/api/docs`` load Swagger UI
from django-ninja's bundled static files (``ninja`` is in INSTALLED_APPS), never from a CDN.
"""

from __future__ import annotations

from typing import Annotated, cast

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Body, NinjaAPI, Path, Router, Swagger
from ninja.errors import ValidationError

from toegang.accounts.models import User
from toegang.api.auth import ApiClient, BearerError, ClientCredentials
from toegang.api.schemas import (
    MAX_ID,
    CheckBatch,
    CheckOut,
    Decision,
    Error,
    Facility,
    ValidationErrors,
    ssin_normalise,
)
from toegang.delegation import authz

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
ERRORS: dict[int, type] = {401: Error, 403: Error, 422: ValidationErrors}


@api.exception_handler(BearerError)
def _bearer_error(request: HttpRequest, exc: BearerError) -> HttpResponse:
    response = api.create_response(request, exc.body(), status=exc.status)
    response["WWW-Authenticate"] = exc.www_authenticate()
    return response


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    # Django refuses bodies over DATA_UPLOAD_MAX_MEMORY_SIZE; say so in JSON rather than its HTML 400.
    body = {"error": "request_too_large", "error_description": _("The request body is too large.")}
    return api.create_response(request, body, status=413)


def _client(request: HttpRequest) -> ApiClient:
    return cast(ApiClient, request.auth)  # type: ignore[attr-defined]


def _ssin(value: str) -> str:
    try:
        return ssin_normalise(value)
    except ValueError as exc:
        raise ValidationError([{"loc": ["path", "ssin"], "msg": str(exc), "type": "ssin_invalid"}]) from exc


def _person_id(ssin: str) -> int | None:
    """The person with this INSZ, or None: an unknown person simply has no facilities."""
    return User.objects.filter(ssin=_ssin(ssin)).values_list("pk", flat=True).first()


@v1.get("/persons/{ssin}/facilities", response={200: list[Facility], **ERRORS}, summary="A person's facilities")
def person_facilities(request: HttpRequest, ssin: str) -> list[Facility]:
    """The facilities where the person may use the client's application now (the `access` claim's items).

    The INSZ may be written in any formatting (`85.07.30-033.28`, `85073003328`). A person unknown to
    toegang, or without access, gets an empty list.
    """
    person_id = _person_id(ssin)
    if person_id is None:
        return []
    return [Facility.from_grant(g) for g in authz.facilities_for(person_id, _client(request).application_id)]


@v1.get(
    "/persons/{ssin}/facilities/{subdepartment_id}",
    response={200: Decision, **ERRORS},
    summary="Check one person and facility",
)
def person_facility_check(
    request: HttpRequest, ssin: str, subdepartment_id: Annotated[int, Path(gt=0, le=MAX_ID)]
) -> Decision:
    """May the person use the client's application for this facility (subdepartment id) now?"""
    person_id = _person_id(ssin)
    allowed = person_id is not None and authz.may_use(person_id, _client(request).application_id, subdepartment_id)
    return Decision(allowed=allowed)


@v1.post("/checks", response={200: list[CheckOut], **ERRORS}, summary="Check many pairs at once")
def checks(request: HttpRequest, pairs: Body[CheckBatch]) -> list[CheckOut]:
    """Up to 1,000 (INSZ, facility) pairs; the answers come in the order of the question.

    One query finds the people, then one query per distinct person reads their facilities for the
    application (``authz.facilities_for``): a batch about one person costs two queries.
    """
    application_id = _client(request).application_id
    wanted = {p.ssin for p in pairs}
    people = dict(User.objects.filter(ssin__in=wanted).values_list("ssin", "pk"))
    facilities = {
        ssin: set(authz.facilities_for(pk, application_id).values_list("subdepartment_id", flat=True))
        for ssin, pk in people.items()
        if ssin is not None
    }
    return [
        CheckOut(
            ssin=p.ssin, subdepartment_id=p.subdepartment_id, allowed=p.subdepartment_id in facilities.get(p.ssin, ())
        )
        for p in pairs
    ]


api.add_router("/v1", v1)
