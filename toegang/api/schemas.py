"""Request and response shapes of the authorization API (the OpenAPI document is built from these).

A facility has the shape of one item of the OpenID Connect ``access`` claim (architecture.md), so a
relying party reads the claim and the API with the same code.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from django.core.exceptions import ValidationError as DjangoValidationError
from ninja import Schema
from pydantic import Field, WithJsonSchema, field_validator

from toegang.applications.models import ApplicationGrant
from toegang.delegation import authz
from toegang.identifiers import ssin_clean

MAX_BATCH = 1000
# Ids are 64-bit: a larger number is a 422, not an overflow in the database driver.
MAX_ID = 2**63 - 1


# What an INSZ may be written as, in the OpenAPI document and checked here before its check digits:
# exactly 11 digits, with any of the separators of identifiers.ssin_clean (spaces, ".", "-", "/")
# between them. In a path "/" cannot occur (it would end the segment), so the path's pattern omits it.
SSIN_MAX_LENGTH = 40
SSIN_PATTERN = r"^[\s./-]*(?:[0-9][\s./-]*){11}$"
SSIN_PATH_PATTERN = r"^[\s.-]*(?:[0-9][\s.-]*){11}$"
_SSIN_SHAPE = re.compile(SSIN_PATTERN)


def ssin_schema(pattern: str, description: str) -> dict[str, Any]:
    """The JSON Schema keywords of an INSZ parameter (validation is ``ssin_normalise``'s, translated)."""
    return {
        "pattern": pattern,
        "minLength": 11,
        "maxLength": SSIN_MAX_LENGTH,
        "description": description,
        "examples": ["85.07.30-033.28", "85073003328"],
    }


def ssin_normalise(value: str) -> str:
    """The 11-digit INSZ from any formatting (85.07.30-033.28, 85073003328), or ValueError."""
    try:
        if len(value) > SSIN_MAX_LENGTH or not _SSIN_SHAPE.fullmatch(value):
            # The shape the document promises, with ssin_clean's own (translated) message.
            ssin_clean("")
        return ssin_clean(value)
    except DjangoValidationError as exc:
        raise ValueError(" ".join(str(m) for m in exc.messages)) from exc


class Enterprise(Schema):
    cbe_number: str = Field(description="Enterprise number (KBO/BCE), 10 digits")
    name: str


class Quality(Schema):
    code: str
    name: str


class Subdepartment(Schema):
    id: int
    identification_code: str
    name: str


class Facility(Schema):
    """A facility (subdepartment) where the person may use the client's application now."""

    enterprise: Enterprise
    quality: Quality
    subdepartment: Subdepartment
    application: str = Field(description="Code of the secured application")
    valid_until: datetime | None = Field(description="End of the access if one is planned; null: open-ended")

    @classmethod
    def from_grant(cls, grant: ApplicationGrant) -> Facility:
        sd = grant.subdepartment
        return cls(
            enterprise=Enterprise(cbe_number=sd.enterprise.cbe_number, name=sd.enterprise.name),
            quality=Quality(code=sd.quality.code, name=sd.quality.name),
            subdepartment=Subdepartment(id=sd.pk, identification_code=sd.identification_code, name=sd.name),
            application=grant.application.code,
            valid_until=authz.access_until(grant),
        )


class Decision(Schema):
    allowed: bool


class CheckIn(Schema):
    ssin: Annotated[
        str, WithJsonSchema({"type": "string", **ssin_schema(SSIN_PATTERN, "INSZ: 11 digits, in any formatting")})
    ]
    subdepartment_id: int = Field(gt=0, le=MAX_ID)

    @field_validator("ssin")
    @classmethod
    def _ssin(cls, value: str) -> str:
        return ssin_normalise(value)


class CheckOut(Schema):
    ssin: str = Field(description="INSZ, 11 digits", pattern=r"^[0-9]{11}$")
    subdepartment_id: int
    allowed: bool


CheckBatch = Annotated[list[CheckIn], Field(max_length=MAX_BATCH)]


class Error(Schema):
    error: str
    error_description: str


class ValidationErrorItem(Schema):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrors(Schema):
    detail: list[ValidationErrorItem]
