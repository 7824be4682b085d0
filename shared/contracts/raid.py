"""RAID log events (risks, assumptions, issues, decisions, dependencies) on ``pmo.projects.v1``.

Part of the projects service's contract (``shared.contracts.projects`` registers them and re-exports every name);
keyed by the project id like every other event of a project.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.events import DomainEvent
from shared.money import Money

# --- RAID log: risks, assumptions, issues, dependencies (and decisions) ---------------------------------------


class RiskStrategy(StrEnum):
    AVOID = "avoid"
    MITIGATE = "mitigate"
    TRANSFER = "transfer"
    ACCEPT = "accept"


class RiskClosure(StrEnum):
    OCCURRED = "occurred"
    """The risk happened (an issue usually follows)."""
    RETIRED = "retired"
    """It can no longer happen, or is no longer worth tracking."""


class IssueSeverity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class DependencyOutcome(StrEnum):
    MET = "met"
    CANCELLED = "cancelled"


class RiskAssessment(BaseModel):
    """How likely a risk is and what it would cost: ``probability`` and ``impact`` on a 1-5 scale, the money
    impact in the project's currency (never negative), the owner, the response strategy and the next review."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    probability: int = Field(ge=1, le=5)
    impact: int = Field(ge=1, le=5)
    money_impact: Money
    owner: str
    strategy: RiskStrategy
    review_date: date


class RiskRaised(DomainEvent):
    """A risk entered the project's RAID log (cause, event, effect) with its first assessment."""

    event_name = "risk-raised"
    project_id: UUID
    risk_id: UUID
    title: str
    cause: str
    event: str
    effect: str
    assessment: RiskAssessment
    raised_on: date


class RiskReviewed(DomainEvent):
    """A risk's review: its assessment as it stands after it (the whole of it, not a difference)."""

    event_name = "risk-reviewed"
    project_id: UUID
    risk_id: UUID
    reviewed_on: date
    assessment: RiskAssessment
    note: str


class RiskResponsePlanned(DomainEvent):
    """A response action on a risk, due on ``due_date`` (never before the risk was raised)."""

    event_name = "risk-response-planned"
    project_id: UUID
    risk_id: UUID
    action_id: UUID
    description: str
    owner: str
    due_date: date


class RiskResponseCompleted(DomainEvent):
    event_name = "risk-response-completed"
    project_id: UUID
    risk_id: UUID
    action_id: UUID
    completed_on: date
    note: str


class RiskClosed(DomainEvent):
    event_name = "risk-closed"
    project_id: UUID
    risk_id: UUID
    closed_on: date
    closure: RiskClosure
    note: str


class IssueRaised(DomainEvent):
    event_name = "issue-raised"
    project_id: UUID
    issue_id: UUID
    title: str
    description: str
    severity: IssueSeverity
    owner: str
    raised_on: date
    due_date: date
    risk_id: UUID | None = None
    """The risk that occurred, when the issue is one."""


class IssueResolved(DomainEvent):
    event_name = "issue-resolved"
    project_id: UUID
    issue_id: UUID
    resolved_on: date
    resolution: str


class AssumptionRecorded(DomainEvent):
    event_name = "assumption-recorded"
    project_id: UUID
    assumption_id: UUID
    description: str
    owner: str
    recorded_on: date


class AssumptionValidated(DomainEvent):
    """An assumption checked: ``holds`` true (confirmed) or false (proved wrong)."""

    event_name = "assumption-validated"
    project_id: UUID
    assumption_id: UUID
    holds: bool
    validated_on: date
    note: str


class DecisionLogged(DomainEvent):
    """A project decision in the RAID log: who took it, when and why (stage-gate decisions are ``gate-decided``)."""

    event_name = "decision-logged"
    project_id: UUID
    decision_id: UUID
    title: str
    decision: str
    decided_by: str
    decided_on: date
    rationale: str


class DependencyDeclared(DomainEvent):
    """The project (the consumer) needs ``needs`` from ``provider_project_id`` by ``needed_by``, optionally tied to
    one of the provider's milestones (whose due date then tells whether the provider is late)."""

    event_name = "dependency-declared"
    project_id: UUID
    dependency_id: UUID
    provider_project_id: UUID
    provider_milestone_id: UUID | None
    needs: str
    needed_by: date
    owner: str
    declared_on: date


class DependencyClosed(DomainEvent):
    event_name = "dependency-closed"
    project_id: UUID
    dependency_id: UUID
    provider_project_id: UUID
    outcome: DependencyOutcome
    closed_on: date
    note: str


EVENTS: tuple[type[DomainEvent], ...] = (
    RiskRaised,
    RiskReviewed,
    RiskResponsePlanned,
    RiskResponseCompleted,
    RiskClosed,
    IssueRaised,
    IssueResolved,
    AssumptionRecorded,
    AssumptionValidated,
    DecisionLogged,
    DependencyDeclared,
    DependencyClosed,
)
"""Every event of a RAID log, in the projects topic's registry (``shared.contracts.projects.REGISTRY``)."""
