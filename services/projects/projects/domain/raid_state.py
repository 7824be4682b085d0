"""A project's RAID log (risks, assumptions, issues, dependencies, and the decisions taken): its state and the
commands :mod:`projects.domain.raid` decides.

The log is an aggregate of its own, one stream per project (``raid-<project id>``), so editing the log never races
with the project's own commands; its ``ETag`` is the log's version. What the log needs to know about projects (the
project exists and is open, its currency; the provider of a dependency and the dependencies already declared
between projects) comes in with each command (:class:`ProjectFacts`, :class:`DependencyGraph`), read by the handler
from the service's query tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from uuid import UUID

from shared.contracts.raid import (
    DependencyOutcome,
    IssueSeverity,
    RiskAssessment,
    RiskClosure,
    RiskStrategy,
)
from shared.immutable import frozen
from shared.money import Money

# --- state --------------------------------------------------------------------------------------------------


class ItemStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class ResponseAction:
    action_id: UUID
    description: str
    owner: str
    due_date: date
    completed_on: date | None = None
    note: str = ""


@dataclass(frozen=True)
class Risk:
    risk_id: UUID
    title: str
    cause: str
    event: str
    effect: str
    assessment: RiskAssessment
    raised_on: date
    last_reviewed_on: date | None = None
    actions: Mapping[UUID, ResponseAction] = field(default_factory=lambda: frozen({}))
    status: ItemStatus = ItemStatus.OPEN
    closed_on: date | None = None
    closure: RiskClosure | None = None
    closing_note: str = ""


@dataclass(frozen=True)
class Issue:
    issue_id: UUID
    title: str
    description: str
    severity: IssueSeverity
    owner: str
    raised_on: date
    due_date: date
    risk_id: UUID | None = None
    status: ItemStatus = ItemStatus.OPEN
    resolved_on: date | None = None
    resolution: str = ""


@dataclass(frozen=True)
class Assumption:
    assumption_id: UUID
    description: str
    owner: str
    recorded_on: date
    holds: bool | None = None
    """None until validated."""
    validated_on: date | None = None
    note: str = ""


@dataclass(frozen=True)
class Decision:
    decision_id: UUID
    title: str
    decision: str
    decided_by: str
    decided_on: date
    rationale: str


@dataclass(frozen=True)
class Dependency:
    dependency_id: UUID
    provider_project_id: UUID
    provider_milestone_id: UUID | None
    needs: str
    needed_by: date
    owner: str
    declared_on: date
    outcome: DependencyOutcome | None = None
    closed_on: date | None = None
    note: str = ""


@dataclass(frozen=True)
class RaidLog:
    """A project's RAID log as its events leave it (``project_id`` None before the first one)."""

    project_id: UUID | None = None
    risks: Mapping[UUID, Risk] = field(default_factory=lambda: frozen({}))
    issues: Mapping[UUID, Issue] = field(default_factory=lambda: frozen({}))
    assumptions: Mapping[UUID, Assumption] = field(default_factory=lambda: frozen({}))
    decisions: Mapping[UUID, Decision] = field(default_factory=lambda: frozen({}))
    dependencies: Mapping[UUID, Dependency] = field(default_factory=lambda: frozen({}))


# --- facts a command carries --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectFacts:
    """The project whose log a command changes, as the projects table knows it (None: no such project)."""

    project_id: UUID
    status: str | None
    currency: str = ""
    milestone_ids: frozenset[UUID] = frozenset()


@dataclass(frozen=True)
class DependencyGraph:
    """The open dependencies between projects: ``edges[consumer]`` = the providers it waits on."""

    edges: Mapping[UUID, frozenset[UUID]] = field(default_factory=lambda: frozen({}))


# --- commands -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assess:
    """A risk's assessment as a command states it (validated by the domain, then carried as a contract)."""

    probability: int
    impact: int
    money_impact: Money
    owner: str
    strategy: RiskStrategy
    review_date: date


@dataclass(frozen=True)
class RaiseRisk:
    risk_id: UUID
    title: str
    cause: str
    event: str
    effect: str
    assessment: Assess
    raised_on: date


@dataclass(frozen=True)
class ReviewRisk:
    risk_id: UUID
    reviewed_on: date
    assessment: Assess
    note: str = ""


@dataclass(frozen=True)
class PlanRiskResponse:
    risk_id: UUID
    action_id: UUID
    description: str
    owner: str
    due_date: date


@dataclass(frozen=True)
class CompleteRiskResponse:
    risk_id: UUID
    action_id: UUID
    completed_on: date
    note: str = ""


@dataclass(frozen=True)
class CloseRisk:
    risk_id: UUID
    closed_on: date
    closure: RiskClosure
    note: str = ""


@dataclass(frozen=True)
class RaiseIssue:
    issue_id: UUID
    title: str
    description: str
    severity: IssueSeverity
    owner: str
    raised_on: date
    due_date: date
    risk_id: UUID | None = None


@dataclass(frozen=True)
class ResolveIssue:
    issue_id: UUID
    resolved_on: date
    resolution: str


@dataclass(frozen=True)
class RecordAssumption:
    assumption_id: UUID
    description: str
    owner: str
    recorded_on: date


@dataclass(frozen=True)
class ValidateAssumption:
    assumption_id: UUID
    holds: bool
    validated_on: date
    note: str = ""


@dataclass(frozen=True)
class LogDecision:
    decision_id: UUID
    title: str
    decision: str
    decided_by: str
    decided_on: date
    rationale: str


@dataclass(frozen=True)
class DeclareDependency:
    dependency_id: UUID
    provider: ProjectFacts
    provider_milestone_id: UUID | None
    needs: str
    needed_by: date
    owner: str
    declared_on: date
    graph: DependencyGraph = field(default_factory=DependencyGraph)


@dataclass(frozen=True)
class CloseDependency:
    dependency_id: UUID
    outcome: DependencyOutcome
    closed_on: date
    note: str = ""


Change = (
    RaiseRisk
    | ReviewRisk
    | PlanRiskResponse
    | CompleteRiskResponse
    | CloseRisk
    | RaiseIssue
    | ResolveIssue
    | RecordAssumption
    | ValidateAssumption
    | LogDecision
    | DeclareDependency
    | CloseDependency
)


@dataclass(frozen=True)
class RaidCommand:
    """A change to the log of ``project`` (the facts about it the handler read)."""

    project: ProjectFacts
    change: Change
