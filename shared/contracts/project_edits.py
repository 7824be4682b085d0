"""The edits people make to what the projects service already holds, on ``pmo.projects.v1``: a project renamed or
re-described, moved to another portfolio or programme; a portfolio or programme renamed or closed; a milestone's
planned value changed through an approved change request; a KPI's target or review date revised.

Part of the projects service's contract (``shared.contracts.projects`` registers :data:`EVENTS`). A project's edits
are keyed by the project id like every other event of the project (they are in its audit trail); a portfolio's or
programme's by ``portfolio:<id>`` / ``programme:<id>`` like their creation.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from shared.events import DomainEvent
from shared.money import DecimalStr, Money

# --- projects -----------------------------------------------------------------------------------------------


class ProjectDetailsChanged(DomainEvent):
    """A project's name and objectives as they read from now on (both given; the previous ones beside)."""

    event_name = "project-details-changed"
    project_id: UUID
    name: str
    objectives: str
    previous_name: str
    previous_objectives: str
    reason: str


class ProjectMoved(DomainEvent):
    """A project now belongs to ``portfolio_id`` and ``programme_id`` (None: none), which were open when it moved;
    every service's scope of the project follows (a member of the new portfolio reaches it, one of the old no
    longer does)."""

    event_name = "project-moved"
    project_id: UUID
    portfolio_id: str | None
    programme_id: str | None
    previous_portfolio_id: str | None
    previous_programme_id: str | None
    reason: str


# --- portfolios and programmes ------------------------------------------------------------------------------


class PortfolioRenamed(DomainEvent):
    event_name = "portfolio-renamed"
    portfolio_id: str
    name: str
    description: str
    previous_name: str

    @property
    def partition_key(self) -> str:
        return f"portfolio:{self.portfolio_id}"


class PortfolioClosed(DomainEvent):
    """No project or programme may be placed in the portfolio any more; it had no open project nor programme."""

    event_name = "portfolio-closed"
    portfolio_id: str
    closed_on: date
    reason: str

    @property
    def partition_key(self) -> str:
        return f"portfolio:{self.portfolio_id}"


class ProgrammeRenamed(DomainEvent):
    event_name = "programme-renamed"
    programme_id: str
    portfolio_id: str
    name: str
    description: str
    previous_name: str

    @property
    def partition_key(self) -> str:
        return f"programme:{self.programme_id}"


class ProgrammeClosed(DomainEvent):
    """No project may be placed in the programme any more; it had no open project."""

    event_name = "programme-closed"
    programme_id: str
    portfolio_id: str
    closed_on: date
    reason: str

    @property
    def partition_key(self) -> str:
        return f"programme:{self.programme_id}"


# --- a milestone's planned value, through change control ----------------------------------------------------


class MilestoneValueChangeRequested(DomainEvent):
    """Someone asks for a milestone's planned value to become ``planned_value``, with a reason; nothing changes
    until another person approves it."""

    event_name = "milestone-value-change-requested"
    project_id: UUID
    change_id: UUID
    milestone_id: UUID
    planned_value: Money
    previous_value: Money
    reason: str
    requested_by: str
    requested_on: date


class MilestoneValueChangeApproved(DomainEvent):
    """The change is approved by someone other than its requester: the milestone's planned value is
    ``planned_value`` from ``approved_on`` on (before it, the previous value still counts). Only on a project
    without an approved performance measurement baseline: with one, PV is the baseline's and changes by a
    re-baseline."""

    event_name = "milestone-value-change-approved"
    project_id: UUID
    change_id: UUID
    milestone_id: UUID
    planned_value: Money
    previous_value: Money
    approved_by: str
    approved_on: date


class MilestoneValueChangeRejected(DomainEvent):
    event_name = "milestone-value-change-rejected"
    project_id: UUID
    change_id: UUID
    milestone_id: UUID
    rejected_by: str
    reason: str


# --- KPIs ---------------------------------------------------------------------------------------------------


class KpiRevised(DomainEvent):
    """A KPI's target and review date from now on (both given; the previous ones beside), with the KPI's name, unit
    and direction so consumers need no other event. Measurements already taken keep the target they were
    measured against."""

    event_name = "kpi-revised"
    project_id: UUID
    kpi_id: UUID
    name: str
    unit: str
    direction: str
    target: DecimalStr
    review_date: date
    previous_target: DecimalStr
    previous_review_date: date
    reason: str


EVENTS: tuple[type[DomainEvent], ...] = (
    ProjectDetailsChanged,
    ProjectMoved,
    PortfolioRenamed,
    PortfolioClosed,
    ProgrammeRenamed,
    ProgrammeClosed,
    MilestoneValueChangeRequested,
    MilestoneValueChangeApproved,
    MilestoneValueChangeRejected,
    KpiRevised,
)
"""Every event of this module, as the projects topic's registry lists them."""
