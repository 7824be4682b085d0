"""A project's milestones: due date, planned value, progress, reached or missed; commands, errors, ``decide`` and
``evolve``.

A milestone's planned value is in the project's currency. Progress moves forward unless corrected with a reason;
a reached milestone is final; a missed one reopens when rescheduled.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import assert_never
from uuid import UUID

from projects.domain.rules import not_future
from projects.domain.state import Milestone, MilestoneId, MilestoneStatus, Project, Reschedule
from shared.contracts.projects import (
    MilestoneMissed,
    MilestonePlanned,
    MilestonePlannedV2,
    MilestoneProgressReported,
    MilestoneReached,
    MilestoneRescheduled,
)
from shared.errors import InvalidCommandError, NotFoundError, RuleViolationError
from shared.events import DomainEvent
from shared.immutable import frozen
from shared.money import Money

# --- commands -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanMilestone:
    milestone_id: MilestoneId
    name: str
    due_date: date
    planned_value: Money
    acceptance_criteria: str
    start_date: date | None = None
    """When work toward it starts; none: the project's planned start, else the due date."""


@dataclass(frozen=True)
class RescheduleMilestone:
    milestone_id: UUID
    due_date: date
    reason: str


@dataclass(frozen=True)
class ReportMilestoneProgress:
    milestone_id: UUID
    percent_complete: Decimal
    as_of: date
    correction_reason: str | None = None


@dataclass(frozen=True)
class MarkMilestoneReached:
    milestone_id: UUID
    reached_on: date
    accepted_by: str
    acceptance_note: str = ""


@dataclass(frozen=True)
class MarkMilestoneMissed:
    milestone_id: UUID
    reason: str


MilestoneCommand = (
    PlanMilestone | RescheduleMilestone | ReportMilestoneProgress | MarkMilestoneReached | MarkMilestoneMissed
)
MilestoneEvent = (
    MilestonePlanned | MilestoneRescheduled | MilestoneProgressReported | MilestoneReached | MilestoneMissed
)

# --- errors -------------------------------------------------------------------------------------------------


class UnknownMilestoneError(NotFoundError):
    """The command names a milestone that is not planned on the project."""


class MilestoneClosedError(RuleViolationError):
    """The milestone is already reached (or missed): this step no longer applies."""


# --- decide -------------------------------------------------------------------------------------------------


def decide(state: Project, project_id: UUID, command: MilestoneCommand, today: date) -> list[DomainEvent]:
    """The events a milestone command causes on the open project ``state``, or an error saying why not."""
    match command:
        case PlanMilestone():
            _in_project_currency(state, command.planned_value, "planned_value")
            if command.milestone_id in state.milestones:
                raise RuleViolationError(f"milestone {command.milestone_id} is already planned")
            if state.planned_start and command.due_date < state.planned_start:
                raise InvalidCommandError("due_date must not be before the project's planned start", field="due_date")
            start = command.start_date or state.planned_start or command.due_date
            if start > command.due_date:
                raise InvalidCommandError("start_date must not be after the due date", field="start_date")
            if state.planned_start and start < state.planned_start:
                raise InvalidCommandError(
                    "start_date must not be before the project's planned start", field="start_date"
                )
            return [
                MilestonePlannedV2(
                    project_id=project_id,
                    milestone_id=command.milestone_id,
                    name=command.name,
                    due_date=command.due_date,
                    planned_value=command.planned_value,
                    acceptance_criteria=command.acceptance_criteria,
                    start_date=start,
                )
            ]
        case RescheduleMilestone():
            m = milestone(state, command.milestone_id)
            if m.status is MilestoneStatus.REACHED:
                raise MilestoneClosedError(f"milestone {m.name} is reached; it cannot be rescheduled")
            if command.due_date == m.due_date:
                raise InvalidCommandError("due_date is the milestone's current due date", field="due_date")
            return [
                MilestoneRescheduled(
                    project_id=project_id,
                    milestone_id=m.milestone_id,
                    previous_due_date=m.due_date,
                    due_date=command.due_date,
                    reason=command.reason,
                )
            ]
        case ReportMilestoneProgress():
            return [_progress(state, project_id, command, today)]
        case MarkMilestoneReached():
            m = milestone(state, command.milestone_id)
            if m.status is MilestoneStatus.REACHED:
                raise MilestoneClosedError(f"milestone {m.name} is already reached")
            if not command.accepted_by.strip():
                raise InvalidCommandError(
                    "a milestone is reached only once accepted: accepted_by is required", field="accepted_by"
                )
            not_future(command.reached_on, today, "reached_on")
            return [
                MilestoneReached(
                    project_id=project_id,
                    milestone_id=m.milestone_id,
                    name=m.name,
                    planned_value=m.planned_value,
                    due_date=m.due_date,
                    reached_on=command.reached_on,
                    accepted_by=command.accepted_by,
                    acceptance_note=command.acceptance_note,
                )
            ]
        case MarkMilestoneMissed():
            m = milestone(state, command.milestone_id)
            if m.status is not MilestoneStatus.PLANNED:
                raise MilestoneClosedError(f"milestone {m.name} is already {m.status}")
            if m.due_date >= today:
                raise RuleViolationError(f"milestone {m.name} is due {m.due_date}; it cannot be missed before then")
            return [
                MilestoneMissed(
                    project_id=project_id, milestone_id=m.milestone_id, due_date=m.due_date, reason=command.reason
                )
            ]
        case _:
            assert_never(command)


def _progress(
    state: Project, project_id: UUID, command: ReportMilestoneProgress, today: date
) -> MilestoneProgressReported:
    m = milestone(state, command.milestone_id)
    if m.status is not MilestoneStatus.PLANNED:
        raise MilestoneClosedError(f"milestone {m.name} is {m.status}; its progress is final")
    if not Decimal(0) <= command.percent_complete <= Decimal(100):
        raise InvalidCommandError("percent_complete must be between 0 and 100", field="percent_complete")
    not_future(command.as_of, today, "as_of")
    if command.percent_complete < m.percent_complete and not command.correction_reason:
        raise InvalidCommandError(
            f"progress may only go backwards ({m.percent_complete} -> {command.percent_complete}) "
            "with a correction_reason",
            field="correction_reason",
        )
    return MilestoneProgressReported(
        project_id=project_id,
        milestone_id=m.milestone_id,
        percent_complete=command.percent_complete,
        previous_percent_complete=m.percent_complete,
        as_of=command.as_of,
        correction_reason=command.correction_reason,
    )


def milestone(state: Project, milestone_id: UUID) -> Milestone:
    """The milestone ``milestone_id`` of the project; UnknownMilestoneError if it is not planned there."""
    found = state.milestones.get(milestone_id)
    if found is None:
        raise UnknownMilestoneError(f"milestone {milestone_id} is not planned on this project")
    return found


def _in_project_currency(state: Project, amount: Money, name: str) -> None:
    if amount.currency != state.currency:
        raise InvalidCommandError(
            f"{name} must be in the project's currency {state.currency}", field=f"{name}.currency"
        )
    if amount.amount < 0:
        raise InvalidCommandError(f"{name} must not be negative", field=f"{name}.amount")


# --- evolve -------------------------------------------------------------------------------------------------


def evolve(state: Project, event: MilestoneEvent) -> Project:
    """The project after a milestone event."""
    match event:
        case MilestonePlanned():
            planned = Milestone(
                event.milestone_id, event.name, event.due_date, event.planned_value, event.acceptance_criteria
            )
            return _with(state, planned)
        case MilestoneRescheduled():
            m = state.milestones[event.milestone_id]
            entry = Reschedule(event.previous_due_date, event.due_date, event.reason)
            status = MilestoneStatus.PLANNED if m.status is MilestoneStatus.MISSED else m.status
            return _with(
                state,
                replace(
                    m, due_date=event.due_date, status=status, missed_reason=None, reschedules=(*m.reschedules, entry)
                ),
            )
        case MilestoneProgressReported():
            m = state.milestones[event.milestone_id]
            return _with(state, replace(m, percent_complete=event.percent_complete, progress_as_of=event.as_of))
        case MilestoneReached():
            m = state.milestones[event.milestone_id]
            return _with(
                state,
                replace(
                    m,
                    status=MilestoneStatus.REACHED,
                    percent_complete=Decimal(100),
                    reached_on=event.reached_on,
                    accepted_by=event.accepted_by,
                ),
            )
        case MilestoneMissed():
            m = state.milestones[event.milestone_id]
            return _with(state, replace(m, status=MilestoneStatus.MISSED, missed_reason=event.reason))
        case _:
            assert_never(event)


def _with(state: Project, milestone: Milestone) -> Project:
    return replace(state, milestones=frozen({**state.milestones, milestone.milestone_id: milestone}))
