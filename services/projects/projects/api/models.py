"""Request and response bodies of the projects API, with their limits."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

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
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"portfolio_id": "digital", "name": "Digital transformation"}]}
    )

    portfolio_id: Slug
    name: Text200 = Field(examples=["Digital transformation"])
    description: Text4000 = ""


class CreateProgrammeRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"programme_id": "customer-experience", "name": "Customer experience"}]}
    )

    programme_id: Slug = Field(examples=["customer-experience"])
    name: Text200 = Field(examples=["Customer experience"])
    description: Text4000 = ""


class RegisterProjectRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "CRM-2027",
                    "name": "CRM replacement",
                    "sponsor": "dora.director",
                    "manager": "max.manager",
                    "planned_start": "2027-03-01",
                    "planned_end": "2027-12-31",
                    "currency": "EUR",
                    "portfolio_id": "digital",
                    "programme_id": "customer-experience",
                    "objectives": "Replace the CRM before the licence ends",
                }
            ]
        }
    )

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

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "effective_on": "2027-03-01",
                    "items": [
                        {
                            "milestone_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
                            "budget": {"amount": "120000.00", "currency": "EUR"},
                            "start": "2027-03-01",
                            "due": "2027-06-30",
                            "technique": "0/100",
                        }
                    ],
                    "management_reserve": {"amount": "10000.00", "currency": "EUR"},
                    "reason": "Initial baseline",
                }
            ]
        }
    )

    effective_on: date = Field(description="PV is read from this version from this date on, until a later one")
    items: Annotated[list[BaselineItemRequest], Field(min_length=1, max_length=MAX_BASELINE_ITEMS)]
    management_reserve: Money = Field(examples=[{"amount": "20000.00", "currency": "EUR"}])
    reason: Reason = Field(examples=["Initial baseline"])


class RejectBaselineRequest(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "Reserve too high for the risk register"}]})

    reason: Reason


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


class StatusReportRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "meeting_date": "2027-03-01",
                    "schedule": "green",
                    "cost": "green",
                    "scope": "green",
                    "quality": "green",
                    "resources": "green",
                    "overall": "green",
                    "narrative": "On track; design review passed",
                }
            ]
        }
    )

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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Campaign reach",
                    "unit": "%",
                    "target": "80",
                    "direction": "at_least",
                    "review_date": "2027-03-01",
                }
            ]
        }
    )

    name: Text200 = Field(examples=["Campaign reach"])
    unit: Annotated[str, Field(min_length=1, max_length=32, examples=["%"])]
    target: ExactDecimal = Field(max_digits=20, decimal_places=6, examples=["80"])
    direction: KpiDirection
    review_date: date


class MeasurementRequest(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"value": "76.5", "measured_on": "2027-03-01"}]})

    value: ExactDecimal = Field(max_digits=20, decimal_places=6, examples=["76.5"])
    measured_on: date | None = None
    note: Text4000 = ""


class PartnerRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "Acme Consulting Ltd", "kind": "external_partner", "role": "developer"}]
        }
    )

    name: Text200
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


class GateDecisionView(BaseModel):
    """A gate decision with the project's status after it."""

    decision_id: uuid.UUID
    gate: str
    decision: GateOutcome
    rationale: str
    decided_by: str
    decided_on: date
    snapshot: dict[str, Any]
    figures: dict[str, Any] | None
    project_status: str


class StatusReportView(BaseModel):
    report_id: uuid.UUID
    meeting_date: date
    schedule: Rag
    cost: Rag
    scope: Rag
    quality: Rag
    resources: Rag
    overall: Rag
    overall_overridden: bool
    override_reason: str | None
    narrative: str
    decisions: list[str]
    risks: list[str]
    next_steps: list[str]


class MeasurementView(BaseModel):
    value: str = Field(description="an exact decimal")
    measured_on: date
    target_met: bool
    note: str


class KpiView(BaseModel):
    kpi_id: uuid.UUID
    name: str
    unit: str
    target: str = Field(description="an exact decimal")
    direction: KpiDirection
    review_date: date
    measurements: list[MeasurementView]


class PartnerView(BaseModel):
    partner_id: uuid.UUID
    name: str
    kind: PartnerKind
    organisation: str
    role: str


class CommunicationView(BaseModel):
    communication_id: uuid.UUID
    partner_id: uuid.UUID
    on: date
    channel: Channel
    summary: str
    follow_up_due: date | None
    follow_up_closed_on: date | None
