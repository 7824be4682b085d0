"""The project aggregate: pure ``decide`` and ``evolve`` over frozen dataclasses.

Imports only the standard library and the shared kernel's contracts; time and ids come in with the command.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import NewType, assert_never
from uuid import UUID

from shared.contracts.projects import MilestonePlanned, ProjectRegistered
from shared.errors import InvalidCommandError, NotFoundError, RuleViolationError
from shared.events import DomainEvent
from shared.money import Money

ProjectId = NewType("ProjectId", UUID)
MilestoneId = NewType("MilestoneId", UUID)


class ProjectStatus(StrEnum):
    NEW = "new"  # no event yet
    PROPOSED = "proposed"


@dataclass(frozen=True)
class Milestone:
    milestone_id: UUID
    name: str
    due_date: date
    planned_value: Money


@dataclass(frozen=True)
class Project:
    project_id: UUID | None = None
    status: ProjectStatus = ProjectStatus.NEW
    code: str = ""
    currency: str = ""
    planned_start: date | None = None
    planned_end: date | None = None
    milestones: Mapping[UUID, Milestone] = field(default_factory=lambda: MappingProxyType({}))


# --- commands -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterProject:
    project_id: ProjectId
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


@dataclass(frozen=True)
class PlanMilestone:
    milestone_id: MilestoneId
    name: str
    due_date: date
    planned_value: Money
    acceptance_criteria: str


Command = RegisterProject | PlanMilestone


def decide(state: Project, command: Command, now: datetime) -> Sequence[DomainEvent]:
    """The events ``command`` causes on ``state``, or an error saying why it is refused."""
    match command:
        case RegisterProject():
            if state.status is not ProjectStatus.NEW:
                raise RuleViolationError(f"project {state.project_id} is already registered")
            if command.planned_end < command.planned_start:
                raise InvalidCommandError("planned_end must not be before planned_start", field="planned_end")
            return [
                ProjectRegistered(
                    project_id=command.project_id,
                    portfolio_id=command.portfolio_id,
                    programme_id=command.programme_id,
                    code=command.code,
                    name=command.name,
                    objectives=command.objectives,
                    sponsor=command.sponsor,
                    manager=command.manager,
                    planned_start=command.planned_start,
                    planned_end=command.planned_end,
                    currency=command.currency,
                )
            ]
        case PlanMilestone():
            project_id = _existing(state)
            if command.planned_value.currency != state.currency:
                raise InvalidCommandError(
                    f"planned_value must be in the project's currency {state.currency}",
                    field="planned_value.currency",
                )
            if command.planned_value.amount < 0:
                raise InvalidCommandError("planned_value must not be negative", field="planned_value.amount")
            if command.milestone_id in state.milestones:
                raise RuleViolationError(f"milestone {command.milestone_id} is already planned")
            return [
                MilestonePlanned(
                    project_id=project_id,
                    milestone_id=command.milestone_id,
                    name=command.name,
                    due_date=command.due_date,
                    planned_value=command.planned_value,
                    acceptance_criteria=command.acceptance_criteria,
                )
            ]
        case _:
            assert_never(command)


def evolve(state: Project, event: DomainEvent) -> Project:
    """The state after ``event``; events of other types leave it unchanged."""
    match event:
        case ProjectRegistered():
            return replace(
                state,
                project_id=event.project_id,
                status=ProjectStatus.PROPOSED,
                code=event.code,
                currency=event.currency,
                planned_start=event.planned_start,
                planned_end=event.planned_end,
            )
        case MilestonePlanned():
            milestone = Milestone(event.milestone_id, event.name, event.due_date, event.planned_value)
            return replace(state, milestones=MappingProxyType({**state.milestones, event.milestone_id: milestone}))
    return state


def _existing(state: Project) -> UUID:
    if state.project_id is None:
        raise NotFoundError("the project does not exist")
    return state.project_id


class ProjectAggregate:
    """The aggregate as the command executor sees it."""

    stream_type = "project"

    def initial_state(self) -> Project:
        return Project()

    def evolve(self, state: Project, event: DomainEvent) -> Project:
        return evolve(state, event)

    def decide(self, state: Project, command: Command, now: datetime) -> Sequence[DomainEvent]:
        return decide(state, command, now)


def stream_id(project_id: UUID) -> str:
    return f"project-{project_id}"
