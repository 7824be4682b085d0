"""The edits after the fact: their request bodies (every field bounded; a field left out is unchanged) and the views
they answer with that no other module describes (a milestone value change; a portfolio or programme with its
closing date)."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from projects.api.models.fields import Reason, Slug, Text200, Text4000
from shared.bounds import RequestBody
from shared.money import ExactDecimal, Money


class ChangeProjectDetailsRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "CRM replacement (phase 2)", "reason": "scope split in two"}]}
    )

    name: Text200 | None = Field(default=None, description="the new name; left out: unchanged")
    objectives: Text4000 | None = Field(default=None, description="the new objectives; left out: unchanged")
    reason: Text4000 = ""


class MoveProjectRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"portfolio_id": "digital", "programme_id": "customer-experience", "reason": "reorganisation"}]
        }
    )

    portfolio_id: Slug | None = Field(default=None, description="defaults to the programme's portfolio")
    programme_id: Slug | None = Field(default=None, description="left out: the project belongs to no programme")
    reason: Reason


class RenameGroupingRequest(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Digital and data"}]})

    name: Text200 | None = Field(default=None, description="the new name; left out: unchanged")
    description: Text4000 | None = Field(default=None, description="the new description; left out: unchanged")


class CloseGroupingRequest(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "every project delivered"}]})

    closed_on: date | None = Field(default=None, description="default: today")
    reason: Reason


class ValueChangeRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"planned_value": {"amount": "15000.00", "currency": "EUR"}, "reason": "scope added"}]
        }
    )

    planned_value: Money = Field(examples=[{"amount": "15000.00", "currency": "EUR"}])
    reason: Reason
    requested_on: date | None = Field(default=None, description="default: today")


class ApproveValueChangeRequest(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"approved_on": "2027-03-10"}]})

    approved_on: date | None = Field(default=None, description="default: today; the new value counts from it")


class RejectValueChangeRequest(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "not funded"}]})

    reason: Reason


class ReviseKpiRequest(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"target": "85", "reason": "board raised the bar"}]})

    target: ExactDecimal | None = Field(default=None, max_digits=20, decimal_places=6, examples=["85"])
    review_date: date | None = None
    reason: Reason


class ValueChangeView(BaseModel):
    """A request to change a milestone's planned value and its decision."""

    change_id: uuid.UUID
    milestone_id: uuid.UUID
    planned_value: Money
    previous_value: Money
    reason: str
    requested_by: str
    requested_on: date
    status: str = Field(description="pending, approved or rejected")
    decided_by: str | None
    decided_on: date | None
    rejection_reason: str | None


class GroupingDetailView(BaseModel):
    """A portfolio or programme with its closing date (null while open)."""

    kind: str
    grouping_id: str
    portfolio_id: str
    name: str
    description: str
    closed_on: date | None
