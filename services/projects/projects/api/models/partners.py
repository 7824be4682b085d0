"""Partners and the communications with them, with their follow-ups."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from projects.api.models.fields import Text200, Text4000
from shared.bounds import Email, Phone, RequestBody
from shared.contracts.projects import Channel, PartnerKind


class PartnerRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Grace Hopper",
                    "email": "grace.hopper@acme.example",
                    "kind": "external_partner",
                    "organisation": "Acme Consulting Ltd",
                    "role": "integrator",
                }
            ]
        }
    )

    name: Text200 = Field(description="the partner's (contact's) name: personal data, stored apart from the events")
    email: Email | None = None
    phone: Phone | None = None
    kind: PartnerKind
    organisation: Annotated[str, Field(max_length=200)] = ""
    role: Text200


class CommunicationRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "partner_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
                    "on": "2027-03-01",
                    "channel": "email",
                    "summary": "Kick-off call with the vendor",
                    "follow_up_due": "2027-03-15",
                }
            ]
        }
    )

    partner_id: uuid.UUID
    on: date
    channel: Channel
    summary: Annotated[str, Field(min_length=1, max_length=4000)]
    follow_up_due: date | None = None


class CloseFollowUpRequest(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"closed_on": "2027-03-01"}]})

    closed_on: date | None = None
    note: Text4000 = ""


class PartnerView(BaseModel):
    partner_id: uuid.UUID
    name: str | None = Field(description="from the erasable table (null once erased)")
    kind: PartnerKind
    organisation: str
    role: str
    personal_data_erased_on: date | None = None


class CommunicationView(BaseModel):
    communication_id: uuid.UUID
    partner_id: uuid.UUID
    on: date
    channel: Channel
    summary: str
    follow_up_due: date | None
    follow_up_closed_on: date | None
