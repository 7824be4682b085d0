"""Request and response bodies of a project's RAID log, with their limits."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from projects.api.models.fields import Text200, Text4000
from shared.bounds import RequestBody
from shared.contracts.raid import DependencyOutcome, IssueSeverity, RiskClosure, RiskStrategy
from shared.money import Money

Scale = Annotated[int, Field(ge=1, le=5, description="1 (lowest) to 5 (highest)", examples=[3])]
Owner = Annotated[str, Field(min_length=1, max_length=200, examples=["j.doe"])]

_ASSESSMENT_EXAMPLE: dict[str, Any] = {
    "probability": 3,
    "impact": 4,
    "money_impact": {"amount": "50000.00", "currency": "EUR"},
    "owner": "j.doe",
    "strategy": "mitigate",
    "review_date": "2027-04-01",
}


class AssessmentRequest(RequestBody):
    probability: Scale
    impact: Scale
    money_impact: Money = Field(
        description="what the risk would cost if it happened, in the project's currency (not negative)",
        examples=[{"amount": "50000.00", "currency": "EUR"}],
    )
    owner: Owner
    strategy: RiskStrategy
    review_date: date


class RaiseRiskRequest(AssessmentRequest):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "Vendor capacity",
                    "cause": "The vendor staffs two other programmes",
                    "event": "Key developers are not available in Q2",
                    "effect": "Integration slips by a month",
                    **_ASSESSMENT_EXAMPLE,
                    "raised_on": "2027-03-01",
                }
            ]
        }
    )

    title: Text200
    cause: Text4000 = ""
    event: Text4000 = ""
    effect: Text4000 = ""
    raised_on: date | None = None


class ReviewRiskRequest(AssessmentRequest):
    model_config = ConfigDict(json_schema_extra={"examples": [{**_ASSESSMENT_EXAMPLE, "note": "vendor confirmed"}]})

    reviewed_on: date | None = None
    note: Text4000 = ""


class RiskResponseRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"description": "Book a second vendor team", "owner": "j.doe", "due_date": "2027-03-20"}]
        }
    )

    description: Annotated[str, Field(min_length=1, max_length=4000)]
    owner: Owner
    due_date: date


class CompleteResponseRequest(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"completed_on": "2027-03-18", "note": "done"}]})

    completed_on: date | None = None
    note: Text4000 = ""


class CloseRiskRequest(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"closure": "retired", "note": "vendor staffed"}]})

    closure: RiskClosure
    closed_on: date | None = None
    note: Text4000 = ""


class RaiseIssueRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "Test environment down",
                    "description": "No environment since Monday",
                    "severity": "high",
                    "owner": "ops",
                    "due_date": "2027-03-05",
                }
            ]
        }
    )

    title: Text200
    description: Text4000 = ""
    severity: IssueSeverity
    owner: Owner
    due_date: date
    raised_on: date | None = None
    risk_id: uuid.UUID | None = Field(None, description="the risk of this log that occurred, when the issue is one")


class ResolveIssueRequest(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"resolution": "Environment rebuilt"}]})

    resolution: Annotated[str, Field(min_length=1, max_length=4000)]
    resolved_on: date | None = None


class AssumptionRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"description": "The API stays backwards compatible", "owner": "arch"}]}
    )

    description: Annotated[str, Field(min_length=1, max_length=4000)]
    owner: Owner
    recorded_on: date | None = None


class ValidateAssumptionRequest(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"holds": True, "note": "confirmed by the vendor"}]})

    holds: bool
    validated_on: date | None = None
    note: Text4000 = ""


class DecisionRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "Cloud provider",
                    "decision": "Host on the group's cloud",
                    "rationale": "Existing contract and security approval",
                    "decided_by": "steering committee",
                    "decided_on": "2027-03-01",
                }
            ]
        }
    )

    title: Text200
    decision: Annotated[str, Field(min_length=1, max_length=4000)]
    rationale: Annotated[str, Field(min_length=1, max_length=4000)]
    decided_by: Annotated[str | None, Field(min_length=1, max_length=200, description="default: the caller")] = None
    decided_on: date | None = None


class DependencyRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "provider_project_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
                    "needs": "Customer API in production",
                    "needed_by": "2027-05-01",
                    "owner": "j.doe",
                }
            ]
        }
    )

    provider_project_id: uuid.UUID
    provider_milestone_id: uuid.UUID | None = Field(
        None, description="the provider's milestone that delivers it (its due date tells whether the provider is late)"
    )
    needs: Annotated[str, Field(min_length=1, max_length=4000)]
    needed_by: date
    owner: Owner
    declared_on: date | None = None


class CloseDependencyRequest(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"outcome": "met", "note": "API live"}]})

    outcome: DependencyOutcome
    closed_on: date | None = None
    note: Text4000 = ""


class RiskActionView(BaseModel):
    action_id: uuid.UUID
    description: str
    owner: str
    due_date: date
    completed_on: date | None
    note: str


class RiskView(BaseModel):
    """A risk (:func:`projects.raid_views.risk_view`): its assessment (``score`` = probability x impact), its
    response actions by due date, and how it was closed."""

    kind: Literal["risk"]
    item_id: uuid.UUID
    risk_id: uuid.UUID
    title: str
    cause: str
    event: str
    effect: str
    probability: int
    impact: int
    score: int
    money_impact: Money | None
    owner: str
    strategy: RiskStrategy
    review_date: date
    raised_on: date
    last_reviewed_on: date | None
    status: str
    closed_on: date | None
    closure: RiskClosure | None
    closing_note: str
    actions: list[RiskActionView]


class IssueView(BaseModel):
    """An issue (:func:`projects.raid_views.issue_view`)."""

    kind: Literal["issue"]
    item_id: uuid.UUID
    issue_id: uuid.UUID
    title: str
    description: str
    severity: IssueSeverity
    owner: str
    raised_on: date
    due_date: date
    risk_id: uuid.UUID | None
    status: str
    resolved_on: date | None
    resolution: str


class AssumptionView(BaseModel):
    """An assumption (:func:`projects.raid_views.assumption_view`): ``status`` open, confirmed or invalid."""

    kind: Literal["assumption"]
    item_id: uuid.UUID
    assumption_id: uuid.UUID
    description: str
    owner: str
    recorded_on: date
    status: Literal["open", "confirmed", "invalid"]
    holds: bool | None
    validated_on: date | None
    note: str


class DecisionView(BaseModel):
    """A decision (:func:`projects.raid_views.decision_view`)."""

    kind: Literal["decision"]
    item_id: uuid.UUID
    decision_id: uuid.UUID
    title: str
    decision: str
    decided_by: str
    decided_on: date
    rationale: str
    status: Literal["logged"]


class DependencyView(BaseModel):
    """A dependency on another project (:func:`projects.raid_views.dependency_view`): ``status`` open or its
    outcome."""

    kind: Literal["dependency"]
    item_id: uuid.UUID
    dependency_id: uuid.UUID
    provider_project_id: uuid.UUID
    provider_milestone_id: uuid.UUID | None
    needs: str
    needed_by: date
    owner: str
    declared_on: date
    status: str
    closed_on: date | None
    note: str


RaidItemView = Annotated[
    RiskView | IssueView | AssumptionView | DecisionView | DependencyView, Field(discriminator="kind")
]
"""An item of any kind: ``kind`` says which."""


class RaidLogView(BaseModel):
    project_id: uuid.UUID | None
    version: int
    risks: list[RiskView]
    issues: list[IssueView]
    assumptions: list[AssumptionView]
    decisions: list[DecisionView]
    dependencies: list[DependencyView]
