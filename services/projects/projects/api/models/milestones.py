"""Milestones: planning, rescheduling, progress, reached or missed, and the milestone view."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from projects.api.models.fields import Reason, Text200, Text4000
from projects.domain.state import Reschedule
from shared.bounds import RequestBody
from shared.money import ExactDecimal, Money


class PlanMilestoneRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Design approved",
                    "due_date": "2027-06-30",
                    "planned_value": {"amount": "12000.00", "currency": "EUR"},
                    "start_date": "2027-03-01",
                    "acceptance_criteria": "Design signed off by the sponsor",
                }
            ]
        }
    )

    name: Text200 = Field(examples=["Design approved"])
    due_date: date
    planned_value: Money = Field(examples=[{"amount": "120000.00", "currency": "EUR"}])
    acceptance_criteria: Text4000 = ""
    start_date: date | None = Field(
        None,
        description="when work toward the milestone starts (on or before due_date); default: the project's "
        "planned start, else the due date",
    )


class RescheduleRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"due_date": "2027-07-31", "reason": "Vendor delivery slipped four weeks"}]}
    )

    due_date: date
    reason: Reason


class ProgressRequest(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"percent_complete": "40", "as_of": "2027-03-01"}]})

    percent_complete: ExactDecimal = Field(ge=0, le=100, max_digits=6, decimal_places=2, examples=["40"])
    as_of: date | None = None
    correction_reason: Annotated[str | None, Field(min_length=1, max_length=2000)] = None


class ReachedRequest(RequestBody):
    """Who accepted the milestone is the caller (the token's subject), recorded as ``accepted_by``."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"reached_on": "2027-03-01"}]})

    reached_on: date | None = None
    acceptance_note: Text4000 = ""


class MissedRequest(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "Vendor could not deliver in time"}]})

    reason: Reason


class MilestoneView(BaseModel):
    milestone_id: uuid.UUID
    name: str
    due_date: date
    planned_value: Money
    acceptance_criteria: str
    status: str
    percent_complete: str
    progress_as_of: date | None
    reached_on: date | None
    accepted_by: str | None
    missed_reason: str | None
    reschedules: list[Reschedule]
