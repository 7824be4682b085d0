"""Events published by the projects service on ``pmo.projects.v1``.

Key: the project id (portfolio and programme events: their own id). Every event of one project keeps its order.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts import people
from shared.contracts.common import MonthAmount
from shared.contracts.people import PartnerKind as PartnerKind
from shared.contracts.project_edits import EVENTS as EDITS
from shared.contracts.raid import EVENTS as RAID_EVENTS
from shared.events import DomainEvent, EventRegistry
from shared.money import DecimalStr, Money

TOPIC = "pmo.projects.v1"


class Rag(StrEnum):
    GREEN = "green"
    AMBER = "amber"
    RED = "red"


class GateOutcome(StrEnum):
    CONTINUE = "continue"
    HOLD = "hold"
    TERMINATE = "terminate"


class EvTechnique(StrEnum):
    """How a baseline item earns value and how its planned value is phased (ANSI/EIA-748, Primavera P6):

    * ``0/100``: earned whole when reached; planned whole on the due date;
    * ``50/50``: half earned when started (progress above 0), the rest when reached; planned half on the start
      date, half on the due date;
    * ``percent_complete``: earned as reported; planned linearly from start to due (or by ``months``);
    * ``weighted_milestones``: earned step by step, each step's weight once the reported progress reaches the
      step's cumulative weight; planned at each step's date;
    * ``level_of_effort``: earned as planned (EV = PV) whatever the progress; planned linearly (or by ``months``).
    """

    ZERO_HUNDRED = "0/100"
    FIFTY_FIFTY = "50/50"
    PERCENT_COMPLETE = "percent_complete"
    WEIGHTED_MILESTONES = "weighted_milestones"
    LEVEL_OF_EFFORT = "level_of_effort"


class KpiDirection(StrEnum):
    AT_LEAST = "at_least"
    AT_MOST = "at_most"


class Channel(StrEnum):
    EMAIL = "email"
    MEETING = "meeting"
    CALL = "call"
    LETTER = "letter"
    OTHER = "other"


# --- portfolio and programme --------------------------------------------------------------------------------


class PortfolioCreated(DomainEvent):
    event_name = "portfolio-created"
    portfolio_id: str
    name: str
    description: str

    @property
    def partition_key(self) -> str:
        return f"portfolio:{self.portfolio_id}"


class ProgrammeCreated(DomainEvent):
    event_name = "programme-created"
    programme_id: str
    portfolio_id: str
    name: str
    description: str

    @property
    def partition_key(self) -> str:
        return f"programme:{self.programme_id}"


# --- project lifecycle -------------------------------------------------------------------------------------


class ProjectRegistered(DomainEvent):
    """A project entered the portfolio, in status ``proposed``."""

    event_name = "project-registered"
    project_id: UUID
    portfolio_id: str | None
    programme_id: str | None
    code: str
    name: str
    objectives: str
    sponsor: str
    manager: str
    planned_start: date
    planned_end: date
    currency: str
    registered_by: str | None = None
    """Who registered it (the token's subject): never its approver nor a gate's decider. Absent on events recorded
    before it was added."""


class ProjectApproved(DomainEvent):
    event_name = "project-approved"
    project_id: UUID
    approved_by: str
    approved_on: date
    note: str


class ProjectStarted(DomainEvent):
    event_name = "project-started"
    project_id: UUID
    started_on: date


class ProjectPutOnHold(DomainEvent):
    event_name = "project-put-on-hold"
    project_id: UUID
    reason: str
    on: date


class ProjectResumed(DomainEvent):
    event_name = "project-resumed"
    project_id: UUID
    note: str
    on: date


class ProjectCompleted(DomainEvent):
    event_name = "project-completed"
    project_id: UUID
    completed_on: date
    note: str


class ProjectTerminated(DomainEvent):
    event_name = "project-terminated"
    project_id: UUID
    reason: str
    on: date


class GateSnapshot(BaseModel):
    """The figures the decider saw (embedded in ``gate-decided``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: str
    milestones_planned: int
    milestones_reached: int
    milestones_missed: int
    planned_value: Money | None
    earned_value: Money | None
    last_status_report_on: date | None
    last_overall_rag: Rag | None


class GateFigures(BaseModel):
    """The reporting service's figures as of the decision (embedded in ``gate-decided``): what the decision to
    continue or terminate was taken on. ``unavailable`` says why they are missing when reporting could not answer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    as_of: date
    currency: str
    ac: DecimalStr | None = None
    bac: DecimalStr | None = None
    eac: DecimalStr | None = None
    vac: DecimalStr | None = None
    cpi: DecimalStr | None = None
    spi: DecimalStr | None = None
    funding_available: DecimalStr | None = None
    underfunding_risk: DecimalStr | None = None
    """The highest risk (0..1) among the project's upcoming milestones."""
    unavailable: str | None = None


class GateDecided(DomainEvent):
    """A stage-gate decision with its rationale and the figures known at that moment."""

    event_name = "gate-decided"
    project_id: UUID
    decision_id: UUID
    gate: str
    decision: GateOutcome
    rationale: str
    decided_by: str
    decided_on: date
    snapshot: GateSnapshot
    figures: GateFigures | None = None


# --- milestones ---------------------------------------------------------------------------------------------


class MilestonePlanned(DomainEvent):
    """A milestone was added to a project's plan with its due date and planned value.

    Version 1: what the projects service published until 2026-12-06, still read everywhere (decoded as
    :class:`MilestonePlannedV2`, whose ``start_date`` is then the due date). Match on this class to read both."""

    event_name = "milestone-planned"
    project_id: UUID
    milestone_id: UUID
    name: str
    due_date: date
    planned_value: Money
    acceptance_criteria: str


class MilestonePlannedV2(MilestonePlanned):
    """A milestone was added to a project's plan with the span of its work (``start_date`` to ``due_date``) and its
    planned value.

    Version 2 (published since 2026-12-06): ``start_date`` is required; it was missing from version 1, where the
    planned value could only be scheduled on the due date. A version-1 event is read as this one with
    ``start_date = due_date`` (a span of one day: what version 1 said)."""

    event_version = 2
    start_date: date
    """The day work toward the milestone starts (on or before ``due_date``)."""


def _milestone_planned_v2(event: MilestonePlanned) -> MilestonePlannedV2:
    """Version 1 read as version 2: the span it did not state is the due date alone."""
    return MilestonePlannedV2(**dict(event), start_date=event.due_date)  # shallow: the parts are reused as they are


class MilestoneRescheduled(DomainEvent):
    event_name = "milestone-rescheduled"
    project_id: UUID
    milestone_id: UUID
    previous_due_date: date
    due_date: date
    reason: str


class MilestoneProgressReported(DomainEvent):
    """Percent complete of a milestone as of a date; a decrease carries its correction reason."""

    event_name = "milestone-progress-reported"
    project_id: UUID
    milestone_id: UUID
    percent_complete: DecimalStr = Field(ge=0, le=100)
    previous_percent_complete: DecimalStr
    as_of: date
    correction_reason: str | None


class MilestoneReached(DomainEvent):
    """A milestone was reached and accepted: what a finance tool needs to invoice or recognise it."""

    event_name = "milestone-reached"
    project_id: UUID
    milestone_id: UUID
    name: str
    planned_value: Money
    due_date: date
    reached_on: date
    accepted_by: str
    acceptance_note: str


class MilestoneMissed(DomainEvent):
    event_name = "milestone-missed"
    project_id: UUID
    milestone_id: UUID
    due_date: date
    reason: str


# --- performance measurement baseline -------------------------------------------------------------------------


class WeightedStep(BaseModel):
    """A step of a weighted-milestones item: ``weight`` percent of the item's budget, planned on ``on``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    weight: DecimalStr
    on: date


class BaselineItem(BaseModel):
    """One milestone of a performance measurement baseline (PMB): its budget, its dates and how it earns value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    milestone_id: UUID
    name: str
    budget: Money
    start: date
    due: date
    technique: EvTechnique
    steps: list[WeightedStep] = Field(default_factory=list)
    """``weighted_milestones`` only: weights add up to 100, dates within start..due."""
    months: list[MonthAmount] = Field(default_factory=list)
    """Optional for ``percent_complete`` and ``level_of_effort``: the budget phased by month (adds up to it)."""


class _Baseline(DomainEvent):
    project_id: UUID
    baseline_id: UUID
    version: int
    effective_on: date
    """PV is read from this version for every reported date from this one on (until a later approved version)."""
    items: list[BaselineItem]
    total: Money
    """The PMB: the items' budgets added up (BAC)."""
    management_reserve: Money
    """Held beside the PMB; it enters the PMB only through an approved re-baseline."""
    reason: str
    proposed_by: str


class PerformanceBaselineProposed(_Baseline):
    """A version of the PMB put to a director (the first one, or a re-baseline)."""

    event_name = "performance-baseline-proposed"


class PerformanceBaselineApproved(_Baseline):
    """A version of the PMB approved by a director (not its proposer): in force from ``effective_on``; kept for
    ever, as are the versions before it."""

    event_name = "performance-baseline-approved"
    approved_by: str


class PerformanceBaselineRejected(DomainEvent):
    event_name = "performance-baseline-rejected"
    project_id: UUID
    baseline_id: UUID
    version: int
    rejected_by: str
    reason: str


# --- weekly status ------------------------------------------------------------------------------------------


class StatusReported(DomainEvent):
    """The weekly progress meeting's report: its free text (``decisions``, ``risks``, ``next_steps``) and, since the
    RAID log, the ids of the log's items it refers to (optional: older reports have none)."""

    event_name = "status-reported"
    project_id: UUID
    report_id: UUID
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
    risk_ids: list[UUID] = Field(default_factory=list, description="risks of the project's RAID log it refers to")
    issue_ids: list[UUID] = Field(default_factory=list, description="issues of the log it refers to")
    assumption_ids: list[UUID] = Field(default_factory=list, description="assumptions of the log it refers to")
    decision_ids: list[UUID] = Field(default_factory=list, description="decisions of the log it refers to")
    dependency_ids: list[UUID] = Field(default_factory=list, description="dependencies of the log it refers to")


# --- KPIs ---------------------------------------------------------------------------------------------------


class KpiDefined(DomainEvent):
    event_name = "kpi-defined"
    project_id: UUID
    kpi_id: UUID
    name: str
    unit: str
    target: DecimalStr
    direction: KpiDirection
    review_date: date


class KpiMeasured(DomainEvent):
    """A measurement, with the target and direction in force so consumers need no other event."""

    event_name = "kpi-measured"
    project_id: UUID
    kpi_id: UUID
    name: str
    unit: str
    value: DecimalStr
    target: DecimalStr
    direction: KpiDirection
    review_date: date
    measured_on: date
    target_met: bool
    note: str


# --- partners and stakeholders ------------------------------------------------------------------------------


class PartnerRegistered(DomainEvent):
    event_name = "partner-registered"
    project_id: UUID
    partner_id: UUID
    name: str
    kind: PartnerKind
    organisation: str
    role: str


class CommunicationLogged(DomainEvent):
    event_name = "communication-logged"
    project_id: UUID
    communication_id: UUID
    partner_id: UUID
    on: date
    channel: Channel
    summary: str
    follow_up_due: date | None


class FollowUpClosed(DomainEvent):
    event_name = "follow-up-closed"
    project_id: UUID
    communication_id: UUID
    closed_on: date
    note: str


REGISTRY = EventRegistry(
    [
        PortfolioCreated,
        ProgrammeCreated,
        ProjectRegistered,
        ProjectApproved,
        ProjectStarted,
        ProjectPutOnHold,
        ProjectResumed,
        ProjectCompleted,
        ProjectTerminated,
        GateDecided,
        MilestonePlanned,
        MilestoneRescheduled,
        MilestoneProgressReported,
        MilestoneReached,
        MilestoneMissed,
        StatusReported,
        KpiDefined,
        KpiMeasured,
        PartnerRegistered,
        CommunicationLogged,
        FollowUpClosed,
        PerformanceBaselineProposed,
        PerformanceBaselineApproved,
        PerformanceBaselineRejected,
        *RAID_EVENTS,
        *EDITS,
    ]
)
REGISTRY.register_upcaster(MilestonePlanned, MilestonePlannedV2, _milestone_planned_v2)
people.register(REGISTRY, PartnerRegistered)
