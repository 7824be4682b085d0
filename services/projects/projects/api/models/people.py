"""Partners as people: editing a partner, and its name and contact details (personal data, erasable)."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from projects.api.models.fields import Text200
from shared.bounds import Email, Phone, RequestBody
from shared.contracts.people import PartnerKind


class EditPartnerRequest(RequestBody):
    """The parts to change (at least one); a part left out stays as it is."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"organisation": "Acme Consulting Group", "role": "prime contractor"}]}
    )

    kind: PartnerKind | None = None
    organisation: Annotated[str | None, Field(max_length=200)] = None
    role: Text200 | None = None


class PartnerPersonalDataRequest(RequestBody):
    """Name and contact details: stored apart from the events, erasable."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "Grace Hopper", "email": "grace.hopper@acme.example", "phone": "+1 202 555 0100"}]
        }
    )

    name: Text200 = Field(examples=["Grace Hopper"])
    email: Email | None = None
    phone: Phone | None = None


class PartnerPersonalDataView(BaseModel):
    partner_id: uuid.UUID
    name: str | None
    email: str | None
    phone: str | None
