"""A project's lifecycle: approve, start, hold, resume, complete, terminate, and the gate decisions."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from projects.api.models.fields import Reason, Text200, Text4000
from shared.bounds import RequestBody
from shared.contracts.projects import GateFigures, GateOutcome, GateSnapshot


class ApproveRequest(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"approved_on": "2027-03-01"}]})

    approved_on: date | None = Field(default=None, description="defaults to today")
    note: Text4000 = ""


class StartRequest(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"started_on": "2027-03-01"}]})

    started_on: date | None = Field(default=None, description="defaults to today")


class HoldRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "Waiting for the sponsor's funding decision", "on": "2027-03-01"}]}
    )

    reason: Reason
    on: date | None = None


class ResumeRequest(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"on": "2027-03-01"}]})

    note: Text4000 = ""
    on: date | None = None


class CompleteRequest(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"completed_on": "2027-03-01"}]})

    completed_on: date | None = None
    note: Text4000 = ""


class TerminateRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "The business case no longer holds", "on": "2027-03-01"}]}
    )

    reason: Reason
    on: date | None = None


class GateDecisionRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "gate": "G3 - build",
                    "decision": "continue",
                    "rationale": "Business case still holds",
                    "decided_on": "2027-03-01",
                }
            ]
        }
    )

    gate: Text200 = Field(examples=["G3 - build"])
    decision: GateOutcome
    rationale: Reason
    decided_on: date | None = None


class GateDecisionView(BaseModel):
    """A gate decision with the project's status after it."""

    decision_id: uuid.UUID
    gate: str
    decision: GateOutcome
    rationale: str
    decided_by: str
    decided_on: date
    snapshot: GateSnapshot
    figures: GateFigures | None
    project_status: str
