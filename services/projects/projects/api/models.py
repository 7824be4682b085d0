"""Request and response bodies of the projects API, with their limits."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator

from shared.bounds import RequestBody
from shared.contracts.projects import Channel, EvTechnique, GateOutcome, KpiDirection, PartnerKind, Rag
from shared.limits import MAX_BASELINE_ITEMS, MAX_BASELINE_MONTHS, MAX_BASELINE_STEPS
from shared.money import ExactDecimal, Money, minor_unit

Text200 = Annotated[str, Field(min_length=1, max_length=200)]
Text4000 = Annotated[str, Field(max_length=4000)]
Reason = Annotated[str, Field(min_length=1, max_length=2000)]
Slug = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$", examples=["digital"])]
Items = Annotated[list[Annotated[str, Field(min_length=1, max_length=1000)]], Field(max_length=50)]


class CreatePortfolioRequest(RequestBody):
    portfolio_id: Slug
    name: Text200 = Field(examples=["Digital transformation"])
    description: Text4000 = ""


class CreateProgrammeRequest(RequestBody):
    programme_id: Slug = Field(examples=["customer-experience"])
    name: Text200 = Field(examples=["Customer experience"])
    description: Text4000 = ""


class RegisterProjectRequest(RequestBody):
    code: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")] = Field(
        examples=["CRM-2027"]
    )
    name: Text200 = Field(examples=["CRM replacement"])
    objectives: Text4000 = Field(default="", examples=["Replace the legacy CRM by Q4"])
    sponsor: Text200 = Field(examples=["dora.director"])
    manager: Text200 = Field(examples=["max.manager"])
    planned_start: date
    planned_end: date
    currency: Annotated[str, Field(min_length=3, max_length=3, examples=["EUR"])]
    portfolio_id: Slug | None = None
    programme_id: Slug | None = None

    @field_validator("currency")
    @classmethod
    def _iso(cls, value: str) -> str:
        minor_unit(value)
        return value


class ApproveRequest(RequestBody):
    approved_on: date | None = Field(default=None, description="defaults to today")
    note: Text4000 = ""


class StartRequest(RequestBody):
    started_on: date | None = Field(default=None, description="defaults to today")


class HoldRequest(RequestBody):
    reason: Reason
    on: date | None = None


class ResumeRequest(RequestBody):
    note: Text4000 = ""
    on: date | None = None


class CompleteRequest(RequestBody):
    completed_on: date | None = None
    note: Text4000 = ""


class TerminateRequest(RequestBody):
    reason: Reason
    on: date | None = None


class GateDecisionRequest(RequestBody):
    gate: Text200 = Field(examples=["G3 - build"])
    decision: GateOutcome
    rationale: Reason
    decided_on: date | None = None


class WeightedStepRequest(RequestBody):
    name: Text200 = Field(examples=["Design reviewed"])
    weight: ExactDecimal = Field(gt=0, le=100, max_digits=7, decimal_places=4, examples=["40"])
    on: date


class MonthAmountRequest(RequestBody):
    month: Annotated[str, Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", examples=["2027-03"])]
    amount: Money = Field(examples=[{"amount": "30000.00", "currency": "EUR"}])


class BaselineItemRequest(RequestBody):
    """One milestone of the proposed baseline: its budget (in the project's currency, above 0), dates and
    earned-value technique; ``steps`` for weighted_milestones only (weights adding up to 100, dated within
    start..due, in order); ``months`` optionally for percent_complete and level_of_effort (adding up to the
    budget, each month of start..due at most once)."""

    milestone_id: uuid.UUID
    budget: Money = Field(examples=[{"amount": "120000.00", "currency": "EUR"}])
    start: date
    due: date
    technique: EvTechnique
    steps: Annotated[list[WeightedStepRequest], Field(max_length=MAX_BASELINE_STEPS)] = []
    months: Annotated[list[MonthAmountRequest], Field(max_length=MAX_BASELINE_MONTHS)] = []


class ProposeBaselineRequest(RequestBody):
    """The next version of the performance measurement baseline; its total (the BAC) is the items' budgets added
    up."""

    effective_on: date = Field(description="PV is read from this version from this date on, until a later one")
    items: Annotated[list[BaselineItemRequest], Field(min_length=1, max_length=MAX_BASELINE_ITEMS)]
    management_reserve: Money = Field(examples=[{"amount": "20000.00", "currency": "EUR"}])
    reason: Reason = Field(examples=["Initial baseline"])


class RejectBaselineRequest(RequestBody):
    reason: Reason


class PlanMilestoneRequest(RequestBody):
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
    due_date: date
    reason: Reason


class ProgressRequest(RequestBody):
    percent_complete: ExactDecimal = Field(ge=0, le=100, max_digits=6, decimal_places=2, examples=["40"])
    as_of: date | None = None
    correction_reason: Annotated[str | None, Field(min_length=1, max_length=2000)] = None


class ReachedRequest(RequestBody):
    """Who accepted the milestone is the caller (the token's subject), recorded as ``accepted_by``."""

    reached_on: date | None = None
    acceptance_note: Text4000 = ""


class MissedRequest(RequestBody):
    reason: Reason


class StatusReportRequest(RequestBody):
    meeting_date: date
    schedule: Rag
    cost: Rag
    scope: Rag
    quality: Rag
    resources: Rag
    overall: Rag | None = Field(default=None, description="defaults to the worst dimension; otherwise give a reason")
    override_reason: Annotated[str | None, Field(min_length=1, max_length=2000)] = None
    narrative: Annotated[str, Field(max_length=20000)] = ""
    decisions: Items = []
    risks: Items = []
    next_steps: Items = []


class KpiRequest(RequestBody):
    name: Text200 = Field(examples=["Campaign reach"])
    unit: Annotated[str, Field(min_length=1, max_length=32, examples=["%"])]
    target: ExactDecimal = Field(max_digits=20, decimal_places=6, examples=["80"])
    direction: KpiDirection
    review_date: date


class MeasurementRequest(RequestBody):
    value: ExactDecimal = Field(max_digits=20, decimal_places=6, examples=["76.5"])
    measured_on: date | None = None
    note: Text4000 = ""


class PartnerRequest(RequestBody):
    name: Text200
    kind: PartnerKind
    organisation: Annotated[str, Field(max_length=200)] = ""
    role: Text200


class CommunicationRequest(RequestBody):
    partner_id: uuid.UUID
    on: date
    channel: Channel
    summary: Annotated[str, Field(min_length=1, max_length=4000)]
    follow_up_due: date | None = None


class CloseFollowUpRequest(RequestBody):
    closed_on: date | None = None
    note: Text4000 = ""


# --- responses: the project view is a document; these describe it for OpenAPI -------------------------------


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
    reschedules: list[dict[str, Any]]


class BaselineView(BaseModel):
    baseline_id: uuid.UUID
    version: int
    effective_on: date
    items: list[dict[str, Any]]
    total: Money
    management_reserve: Money
    reason: str
    proposed_by: str
    status: str
    approved_by: str | None
    rejected_by: str | None
    rejection_reason: str | None
    proposed_at: str | None = Field(default=None, description="when it was recorded (queries only)")
    decided_at: str | None = Field(default=None, description="when it was approved or rejected (queries only)")


class ProjectView(BaseModel):
    project_id: uuid.UUID
    status: str
    portfolio_id: str | None
    programme_id: str | None
    code: str
    name: str
    objectives: str
    sponsor: str
    manager: str
    currency: str
    planned_start: date
    planned_end: date
    actual_start: date | None
    actual_end: date | None
    status_reason: str | None
    planned_value: Money
    earned_value: Money
    version: int
    milestones: list[MilestoneView]
    status_reports: list[dict[str, Any]]
    gate_decisions: list[dict[str, Any]]
    baselines: list[dict[str, Any]] = Field(default=[], description="each version's number, status, date and total")
    kpis: list[dict[str, Any]]
    partners: list[dict[str, Any]]
    communications: list[dict[str, Any]]


class GroupingView(BaseModel):
    kind: str
    grouping_id: str
    portfolio_id: str
    name: str
    description: str


class AuditEntry(BaseModel):
    event_id: uuid.UUID
    type: str
    version: int
    recorded_at: str
    actor: str
    correlation_id: str
    data: dict[str, Any]
