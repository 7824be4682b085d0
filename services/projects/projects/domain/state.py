"""The project aggregate's state: one frozen dataclass for the project and one for each of its parts.

The concern modules (``lifecycle``, ``milestones``, ``baselines``, ``status``, ``partners``) decide on this state and
evolve it;
this module holds no rule beyond the two figures every concern reads: planned and earned value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import NewType
from uuid import UUID

from shared.contracts.projects import (
    BaselineItem,
    Channel,
    GateFigures,
    GateOutcome,
    GateSnapshot,
    KpiDirection,
    PartnerKind,
    Rag,
)
from shared.immutable import frozen
from shared.money import Money, quantize

ProjectId = NewType("ProjectId", UUID)
MilestoneId = NewType("MilestoneId", UUID)


class ProjectStatus(StrEnum):
    NEW = "new"  # no event yet
    PROPOSED = "proposed"
    APPROVED = "approved"
    ACTIVE = "active"
    ON_HOLD = "on_hold"
    COMPLETED = "completed"
    TERMINATED = "terminated"


FINAL = frozenset({ProjectStatus.COMPLETED, ProjectStatus.TERMINATED})
"""Statuses in which a project accepts no change at all."""


class MilestoneStatus(StrEnum):
    PLANNED = "planned"
    REACHED = "reached"
    MISSED = "missed"


@dataclass(frozen=True)
class Reschedule:
    previous_due_date: date
    due_date: date
    reason: str


@dataclass(frozen=True)
class Milestone:
    milestone_id: UUID
    name: str
    due_date: date
    planned_value: Money
    acceptance_criteria: str
    status: MilestoneStatus = MilestoneStatus.PLANNED
    percent_complete: Decimal = Decimal(0)
    progress_as_of: date | None = None
    reached_on: date | None = None
    accepted_by: str | None = None
    missed_reason: str | None = None
    reschedules: tuple[Reschedule, ...] = ()


class BaselineStatus(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Baseline:
    """A version of the project's performance measurement baseline (PMB): proposed, then approved or rejected;
    every version is kept."""

    baseline_id: UUID
    version: int
    effective_on: date
    items: tuple[BaselineItem, ...]
    total: Money
    management_reserve: Money
    reason: str
    proposed_by: str
    status: BaselineStatus = BaselineStatus.PROPOSED
    approved_by: str | None = None
    rejected_by: str | None = None
    rejection_reason: str | None = None


@dataclass(frozen=True)
class StatusReport:
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
    decisions: tuple[str, ...]
    risks: tuple[str, ...]
    next_steps: tuple[str, ...]
    risk_ids: tuple[UUID, ...] = ()
    issue_ids: tuple[UUID, ...] = ()
    assumption_ids: tuple[UUID, ...] = ()
    decision_ids: tuple[UUID, ...] = ()
    dependency_ids: tuple[UUID, ...] = ()
    """The RAID log's items the report refers to, by kind."""


@dataclass(frozen=True)
class Measurement:
    value: Decimal
    measured_on: date
    target_met: bool
    note: str


@dataclass(frozen=True)
class Kpi:
    kpi_id: UUID
    name: str
    unit: str
    target: Decimal
    direction: KpiDirection
    review_date: date
    measurements: tuple[Measurement, ...] = ()


@dataclass(frozen=True)
class Partner:
    """A partner or stakeholder. ``name`` is only the one a ``partner-registered`` version-1 event carried (newer
    names and contact details live in the erasable table, :mod:`projects.people_tables`); None once erased."""

    partner_id: UUID
    name: str | None
    kind: PartnerKind
    organisation: str
    role: str
    personal_data_erased_on: date | None = None


@dataclass(frozen=True)
class Communication:
    communication_id: UUID
    partner_id: UUID
    on: date
    channel: Channel
    summary: str
    follow_up_due: date | None
    follow_up_closed_on: date | None = None


@dataclass(frozen=True)
class ValueChange:
    """A request to change a milestone's planned value (:mod:`projects.domain.edits`): pending until approved by
    someone other than its requester, or rejected."""

    change_id: UUID
    milestone_id: UUID
    planned_value: Money
    previous_value: Money
    reason: str
    requested_by: str
    requested_on: date
    status: str = "pending"
    decided_by: str | None = None
    decided_on: date | None = None
    rejection_reason: str | None = None


@dataclass(frozen=True)
class GateDecision:
    decision_id: UUID
    gate: str
    decision: GateOutcome
    rationale: str
    decided_by: str
    decided_on: date
    snapshot: GateSnapshot
    figures: GateFigures | None = None


@dataclass(frozen=True)
class Project:
    """A project as its events leave it. The field order is the order of the API's project view."""

    project_id: UUID | None = None
    status: ProjectStatus = ProjectStatus.NEW
    portfolio_id: str | None = None
    programme_id: str | None = None
    code: str = ""
    name: str = ""
    objectives: str = ""
    sponsor: str = ""
    manager: str = ""
    registered_by: str | None = None
    currency: str = ""
    planned_start: date | None = None
    planned_end: date | None = None
    actual_start: date | None = None
    actual_end: date | None = None
    status_reason: str | None = None
    milestones: Mapping[UUID, Milestone] = field(default_factory=lambda: frozen({}))
    status_reports: tuple[StatusReport, ...] = ()
    gate_decisions: tuple[GateDecision, ...] = ()
    baselines: tuple[Baseline, ...] = ()
    """Every version of the PMB, by version (version N at index N - 1)."""
    kpis: Mapping[UUID, Kpi] = field(default_factory=lambda: frozen({}))
    partners: Mapping[UUID, Partner] = field(default_factory=lambda: frozen({}))
    communications: Mapping[UUID, Communication] = field(default_factory=lambda: frozen({}))
    value_changes: Mapping[UUID, ValueChange] = field(default_factory=lambda: frozen({}))
    """Requests to change a milestone's planned value, by id."""

    @property
    def planned_value(self) -> Money | None:
        """Sum of the milestones' planned values (None before the currency is known)."""
        if not self.currency:
            return None
        total = sum((m.planned_value.amount for m in self.milestones.values()), Decimal(0))
        return Money(amount=total, currency=self.currency)

    @property
    def earned_value(self) -> Money | None:
        """Sum over milestones of planned value x percent complete (100 % once reached), half-even rounded."""
        if not self.currency:
            return None
        total = Decimal(0)
        for m in self.milestones.values():
            share = Decimal(100) if m.status is MilestoneStatus.REACHED else m.percent_complete
            total += m.planned_value.amount * share / Decimal(100)
        return Money(amount=quantize(total, self.currency), currency=self.currency)
