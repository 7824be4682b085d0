"""The edits of a project after its registration: its name and objectives, its portfolio and programme, a
milestone's planned value through change control, a KPI's target and review date. Commands, errors, ``decide`` and
``evolve``.

Rules (docs/edits.md):

* an edit that changes nothing is refused (422 naming the field): the audit trail holds only real changes;
* a move names where the project goes; the target's existence, openness and the caller's scope over both ends are
  facts the handler checks before (:mod:`projects.handlers.edits`);
* a milestone's planned value changes only through a change request (who, why, new value) approved by another
  person (:func:`shared.identity.same_person`); never on a reached milestone; one open request per milestone; and
  never while an approved performance measurement baseline exists: PV is then the baseline's, changed by proposing
  and approving a new baseline version (422 naming ``planned_value``, at request and again at approval);
* a KPI's revision keeps its measurements (each was judged against the target in force then).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import assert_never
from uuid import UUID

from projects.domain.milestones import MilestoneClosedError, milestone
from projects.domain.rules import not_future
from projects.domain.state import BaselineStatus, Milestone, MilestoneStatus, Project, ValueChange
from projects.domain.status import UnknownKpiError
from shared.contracts.project_edits import (
    KpiRevised,
    MilestoneValueChangeApproved,
    MilestoneValueChangeRejected,
    MilestoneValueChangeRequested,
    ProjectDetailsChanged,
    ProjectMoved,
)
from shared.errors import InvalidCommandError, NotFoundError, RuleViolationError, SeparationOfDutiesError
from shared.events import DomainEvent
from shared.identity import same_person
from shared.immutable import frozen
from shared.money import Money

# --- commands -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangeProjectDetails:
    """New name and/or objectives (None: unchanged)."""

    name: str | None
    objectives: str | None
    reason: str = ""


@dataclass(frozen=True)
class MoveProject:
    """Where the project goes (checked by the handler: existing, open, programme inside the portfolio)."""

    portfolio_id: str | None
    programme_id: str | None
    reason: str


@dataclass(frozen=True)
class RequestMilestoneValueChange:
    change_id: UUID
    milestone_id: UUID
    planned_value: Money
    reason: str
    requested_by: str
    requested_on: date


@dataclass(frozen=True)
class ApproveMilestoneValueChange:
    change_id: UUID
    approved_by: str
    approved_on: date


@dataclass(frozen=True)
class RejectMilestoneValueChange:
    change_id: UUID
    rejected_by: str
    reason: str


@dataclass(frozen=True)
class ReviseKpi:
    """A KPI's new target and/or review date (None: unchanged)."""

    kpi_id: UUID
    target: Decimal | None
    review_date: date | None
    reason: str


EditCommand = (
    ChangeProjectDetails
    | MoveProject
    | RequestMilestoneValueChange
    | ApproveMilestoneValueChange
    | RejectMilestoneValueChange
    | ReviseKpi
)
EditEvent = (
    ProjectDetailsChanged
    | ProjectMoved
    | MilestoneValueChangeRequested
    | MilestoneValueChangeApproved
    | MilestoneValueChangeRejected
    | KpiRevised
)


class UnknownValueChangeError(NotFoundError):
    """No such change request on this project."""


class ValueChangeDecidedError(RuleViolationError):
    """The change request was already approved or rejected."""


class BaselineInForceError(InvalidCommandError):
    """An approved performance measurement baseline gives the project's PV: a milestone's planned value changes by a
    re-baseline, not by a value change."""


# --- decide -------------------------------------------------------------------------------------------------


def decide(state: Project, project_id: UUID, command: EditCommand, today: date) -> list[DomainEvent]:
    """The events an edit causes on the open project ``state``, or an error naming the field that refuses it."""
    match command:
        case ChangeProjectDetails():
            name = state.name if command.name is None else command.name.strip()
            objectives = state.objectives if command.objectives is None else command.objectives
            if not name:
                raise InvalidCommandError("name must not be blank", field="name")
            if name == state.name and objectives == state.objectives:
                raise InvalidCommandError("the name and objectives are already these", field="name")
            return [
                ProjectDetailsChanged(
                    project_id=project_id,
                    name=name,
                    objectives=objectives,
                    previous_name=state.name,
                    previous_objectives=state.objectives,
                    reason=command.reason,
                )
            ]
        case MoveProject():
            if command.portfolio_id is None and command.programme_id is None:
                raise InvalidCommandError("name the portfolio or programme to move to", field="portfolio_id")
            if (command.portfolio_id, command.programme_id) == (state.portfolio_id, state.programme_id):
                raise InvalidCommandError("the project is already there", field="portfolio_id")
            return [
                ProjectMoved(
                    project_id=project_id,
                    portfolio_id=command.portfolio_id,
                    programme_id=command.programme_id,
                    previous_portfolio_id=state.portfolio_id,
                    previous_programme_id=state.programme_id,
                    reason=command.reason,
                )
            ]
        case RequestMilestoneValueChange():
            return [_request(state, project_id, command, today)]
        case ApproveMilestoneValueChange():
            change = _pending(state, command.change_id)
            if same_person(command.approved_by, change.requested_by):
                raise SeparationOfDutiesError(
                    f"{command.approved_by} requested this change; someone else approves it", field="approved_by"
                )
            not_future(command.approved_on, today, "approved_on")
            if command.approved_on < change.requested_on:
                raise InvalidCommandError("approved_on must not be before the request", field="approved_on")
            _changeable(state, change.milestone_id)
            return [
                MilestoneValueChangeApproved(
                    project_id=project_id,
                    change_id=change.change_id,
                    milestone_id=change.milestone_id,
                    planned_value=change.planned_value,
                    previous_value=milestone(state, change.milestone_id).planned_value,
                    approved_by=command.approved_by,
                    approved_on=command.approved_on,
                )
            ]
        case RejectMilestoneValueChange():
            change = _pending(state, command.change_id)
            return [
                MilestoneValueChangeRejected(
                    project_id=project_id,
                    change_id=change.change_id,
                    milestone_id=change.milestone_id,
                    rejected_by=command.rejected_by,
                    reason=command.reason,
                )
            ]
        case ReviseKpi():
            return [_revision(state, project_id, command)]
        case _:
            assert_never(command)


def _request(
    state: Project, project_id: UUID, command: RequestMilestoneValueChange, today: date
) -> MilestoneValueChangeRequested:
    m = _changeable(state, command.milestone_id)
    value = command.planned_value
    if value.currency != state.currency:
        raise InvalidCommandError(
            f"planned_value must be in the project's currency {state.currency}", field="planned_value.currency"
        )
    if value.amount < 0:
        raise InvalidCommandError("planned_value must not be negative", field="planned_value.amount")
    if value.amount == m.planned_value.amount:
        raise InvalidCommandError("planned_value is the milestone's current planned value", field="planned_value")
    not_future(command.requested_on, today, "requested_on")
    if any(c.milestone_id == m.milestone_id and c.status == "pending" for c in state.value_changes.values()):
        raise RuleViolationError(f"milestone {m.name} already has a value change awaiting a decision")
    if command.change_id in state.value_changes:
        raise RuleViolationError(f"change {command.change_id} is already requested")
    return MilestoneValueChangeRequested(
        project_id=project_id,
        change_id=command.change_id,
        milestone_id=m.milestone_id,
        planned_value=value,
        previous_value=m.planned_value,
        reason=command.reason,
        requested_by=command.requested_by,
        requested_on=command.requested_on,
    )


def _changeable(state: Project, milestone_id: UUID) -> Milestone:
    """The milestone whose planned value may change: planned on the project, not reached, no PMB in force."""
    m = milestone(state, milestone_id)
    if m.status is MilestoneStatus.REACHED:
        raise MilestoneClosedError(f"milestone {m.name} is reached; its planned value is final", field="milestone_id")
    if any(b.status is BaselineStatus.APPROVED for b in state.baselines):
        raise BaselineInForceError(
            "an approved performance measurement baseline gives this project's planned value: propose a new "
            "baseline version instead",
            field="planned_value",
        )
    return m


def _pending(state: Project, change_id: UUID) -> ValueChange:
    change = state.value_changes.get(change_id)
    if change is None:
        raise UnknownValueChangeError(f"value change {change_id} does not exist on this project")
    if change.status != "pending":
        raise ValueChangeDecidedError(f"value change {change_id} is already {change.status}")
    return change


def _revision(state: Project, project_id: UUID, command: ReviseKpi) -> KpiRevised:
    kpi = state.kpis.get(command.kpi_id)
    if kpi is None:
        raise UnknownKpiError(f"KPI {command.kpi_id} is not defined on this project")
    target = kpi.target if command.target is None else command.target
    review_date = kpi.review_date if command.review_date is None else command.review_date
    if target == kpi.target and review_date == kpi.review_date:
        raise InvalidCommandError("the target and review date are already these", field="target")
    return KpiRevised(
        project_id=project_id,
        kpi_id=kpi.kpi_id,
        name=kpi.name,
        unit=kpi.unit,
        direction=kpi.direction.value,
        target=target,
        review_date=review_date,
        previous_target=kpi.target,
        previous_review_date=kpi.review_date,
        reason=command.reason,
    )


# --- evolve -------------------------------------------------------------------------------------------------


def evolve(state: Project, event: EditEvent) -> Project:
    """The project after an edit."""
    match event:
        case ProjectDetailsChanged():
            return replace(state, name=event.name, objectives=event.objectives)
        case ProjectMoved():
            return replace(state, portfolio_id=event.portfolio_id, programme_id=event.programme_id)
        case MilestoneValueChangeRequested():
            change = ValueChange(
                event.change_id,
                event.milestone_id,
                event.planned_value,
                event.previous_value,
                event.reason,
                event.requested_by,
                event.requested_on,
            )
            return replace(state, value_changes=frozen({**state.value_changes, change.change_id: change}))
        case MilestoneValueChangeApproved():
            change = replace(
                state.value_changes[event.change_id],
                status="approved",
                decided_by=event.approved_by,
                decided_on=event.approved_on,
            )
            m = replace(state.milestones[event.milestone_id], planned_value=event.planned_value)
            return replace(
                state,
                milestones=frozen({**state.milestones, m.milestone_id: m}),
                value_changes=frozen({**state.value_changes, change.change_id: change}),
            )
        case MilestoneValueChangeRejected():
            change = replace(
                state.value_changes[event.change_id],
                status="rejected",
                decided_by=event.rejected_by,
                rejection_reason=event.reason,
            )
            return replace(state, value_changes=frozen({**state.value_changes, change.change_id: change}))
        case KpiRevised():
            kpi = replace(state.kpis[event.kpi_id], target=event.target, review_date=event.review_date)
            return replace(state, kpis=frozen({**state.kpis, kpi.kpi_id: kpi}))
        case _:
            assert_never(event)
