"""A project's lifecycle and its stage-gate decisions: commands, errors, ``decide`` and ``evolve``.

Lifecycle::

    proposed --approve--> approved --start--> active --complete--> completed
                                               |  ^
                                          hold |  | resume
                                               v  |
                                             on_hold
    any state but completed/terminated --terminate--> terminated

Approval and gate decisions are independent of the project: never by whoever registered it nor by its manager.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import assert_never
from uuid import UUID

from projects.domain.rules import not_future
from projects.domain.state import GateDecision, MilestoneStatus, Project, ProjectId, ProjectStatus
from shared.contracts.projects import (
    GateDecided,
    GateFigures,
    GateOutcome,
    GateSnapshot,
    ProjectApproved,
    ProjectCompleted,
    ProjectPutOnHold,
    ProjectRegistered,
    ProjectResumed,
    ProjectStarted,
    ProjectTerminated,
)
from shared.errors import InvalidCommandError, RuleViolationError, SeparationOfDutiesError
from shared.events import DomainEvent
from shared.identity import same_person

# --- commands -----------------------------------------------------------------------------------------------


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
    registered_by: str


@dataclass(frozen=True)
class ApproveProject:
    approved_by: str
    approved_on: date
    note: str = ""


@dataclass(frozen=True)
class StartProject:
    started_on: date


@dataclass(frozen=True)
class PutProjectOnHold:
    reason: str
    on: date


@dataclass(frozen=True)
class ResumeProject:
    on: date
    note: str = ""


@dataclass(frozen=True)
class CompleteProject:
    completed_on: date
    note: str = ""


@dataclass(frozen=True)
class TerminateProject:
    reason: str
    on: date


@dataclass(frozen=True)
class RecordGateDecision:
    decision_id: UUID
    gate: str
    decision: GateOutcome
    rationale: str
    decided_by: str
    decided_on: date
    figures: GateFigures | None = None
    """The reporting service's figures as of ``decided_on`` (or why there are none), gathered by the handler."""


LifecycleCommand = (
    ApproveProject
    | StartProject
    | PutProjectOnHold
    | ResumeProject
    | CompleteProject
    | TerminateProject
    | RecordGateDecision
)
"""The lifecycle commands on a registered project (registration itself is :func:`register`)."""

LifecycleEvent = (
    ProjectRegistered
    | ProjectApproved
    | ProjectStarted
    | ProjectPutOnHold
    | ProjectResumed
    | ProjectCompleted
    | ProjectTerminated
    | GateDecided
)

# --- errors -------------------------------------------------------------------------------------------------


class ProjectAlreadyRegisteredError(RuleViolationError):
    """A registration for a project id that is already taken."""


class IllegalTransitionError(RuleViolationError):
    """The project's status does not allow this step (e.g. completing a proposed project)."""


# --- decide -------------------------------------------------------------------------------------------------


def register(state: Project, command: RegisterProject) -> ProjectRegistered:
    """The registration of a new project (status ``proposed``)."""
    if state.status is not ProjectStatus.NEW:
        raise ProjectAlreadyRegisteredError(f"project {state.project_id} is already registered")
    if command.planned_end < command.planned_start:
        raise InvalidCommandError("planned_end must not be before planned_start", field="planned_end")
    return ProjectRegistered(
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
        registered_by=command.registered_by,
    )


def decide(state: Project, project_id: UUID, command: LifecycleCommand, today: date) -> list[DomainEvent]:
    """The events a lifecycle command causes on the open project ``state``, or an error saying why not."""
    match command:
        case ApproveProject():
            _require(state, {ProjectStatus.PROPOSED}, "approve")
            not_future(command.approved_on, today, "approved_on")
            _independent(state, command.approved_by, "approves it")
            return [
                ProjectApproved(
                    project_id=project_id,
                    approved_by=command.approved_by,
                    approved_on=command.approved_on,
                    note=command.note,
                )
            ]
        case StartProject():
            _require(state, {ProjectStatus.APPROVED}, "start")
            not_future(command.started_on, today, "started_on")
            return [ProjectStarted(project_id=project_id, started_on=command.started_on)]
        case PutProjectOnHold():
            _require(state, {ProjectStatus.ACTIVE}, "put on hold")
            return [ProjectPutOnHold(project_id=project_id, reason=command.reason, on=command.on)]
        case ResumeProject():
            _require(state, {ProjectStatus.ON_HOLD}, "resume")
            return [ProjectResumed(project_id=project_id, note=command.note, on=command.on)]
        case CompleteProject():
            _require(state, {ProjectStatus.ACTIVE}, "complete")
            not_future(command.completed_on, today, "completed_on")
            still_open = sorted(m.name for m in state.milestones.values() if m.status is MilestoneStatus.PLANNED)
            if still_open:
                raise IllegalTransitionError(
                    "a project completes once every milestone is reached or missed; still open: "
                    + ", ".join(still_open)
                )
            return [ProjectCompleted(project_id=project_id, completed_on=command.completed_on, note=command.note)]
        case TerminateProject():
            return [ProjectTerminated(project_id=project_id, reason=command.reason, on=command.on)]
        case RecordGateDecision():
            return _gate(state, project_id, command, today)
        case _:
            assert_never(command)


def _require(state: Project, allowed: set[ProjectStatus], action: str) -> None:
    if state.status not in allowed:
        expected = " or ".join(sorted(s.value for s in allowed))
        raise IllegalTransitionError(f"cannot {action} a {state.status.value} project; it must be {expected}")


def _independent(state: Project, actor: str, action: str) -> None:
    """Approval and gate decisions are independent of the project: never by whoever registered it nor by its manager
    (the sponsor, accountable for the business case, may decide)."""
    if same_person(actor, state.registered_by):
        raise SeparationOfDutiesError(f"{actor} registered project {state.code}; someone else {action}")
    if same_person(actor, state.manager):
        raise SeparationOfDutiesError(f"{actor} manages project {state.code}; someone else {action}")


def _gate(state: Project, project_id: UUID, command: RecordGateDecision, today: date) -> list[DomainEvent]:
    """The decision with the figures known now; hold and terminate change the status, continue resumes."""
    not_future(command.decided_on, today, "decided_on")
    _independent(state, command.decided_by, f"decides gate {command.gate}")
    if any(d.decision_id == command.decision_id for d in state.gate_decisions):
        raise RuleViolationError(f"gate decision {command.decision_id} is already recorded")
    if command.decision is GateOutcome.HOLD and state.status not in (ProjectStatus.ACTIVE, ProjectStatus.ON_HOLD):
        raise IllegalTransitionError(f"a {state.status} project cannot be put on hold; only an active one")
    events: list[DomainEvent] = [
        GateDecided(
            project_id=project_id,
            decision_id=command.decision_id,
            gate=command.gate,
            decision=command.decision,
            rationale=command.rationale,
            decided_by=command.decided_by,
            decided_on=command.decided_on,
            snapshot=_snapshot(state),
            figures=command.figures,
        )
    ]
    reason = f"gate {command.gate}: {command.rationale}"
    match command.decision:
        case GateOutcome.CONTINUE:
            if state.status is ProjectStatus.ON_HOLD:
                events.append(ProjectResumed(project_id=project_id, note=reason, on=command.decided_on))
        case GateOutcome.HOLD:
            if state.status is ProjectStatus.ACTIVE:
                events.append(ProjectPutOnHold(project_id=project_id, reason=reason, on=command.decided_on))
        case GateOutcome.TERMINATE:
            events.append(ProjectTerminated(project_id=project_id, reason=reason, on=command.decided_on))
        case _:
            assert_never(command.decision)
    return events


def _snapshot(state: Project) -> GateSnapshot:
    """The figures a gate decision keeps: what the deciders saw at that moment."""
    last = state.status_reports[-1] if state.status_reports else None
    return GateSnapshot(
        status=state.status.value,
        milestones_planned=len(state.milestones),
        milestones_reached=sum(m.status is MilestoneStatus.REACHED for m in state.milestones.values()),
        milestones_missed=sum(m.status is MilestoneStatus.MISSED for m in state.milestones.values()),
        planned_value=state.planned_value,
        earned_value=state.earned_value,
        last_status_report_on=last.meeting_date if last else None,
        last_overall_rag=last.overall if last else None,
    )


# --- evolve -------------------------------------------------------------------------------------------------


def evolve(state: Project, event: LifecycleEvent) -> Project:
    """The project after a lifecycle event."""
    match event:
        case ProjectRegistered():
            return replace(
                state,
                project_id=event.project_id,
                status=ProjectStatus.PROPOSED,
                portfolio_id=event.portfolio_id,
                programme_id=event.programme_id,
                code=event.code,
                name=event.name,
                objectives=event.objectives,
                sponsor=event.sponsor,
                manager=event.manager,
                registered_by=event.registered_by,
                currency=event.currency,
                planned_start=event.planned_start,
                planned_end=event.planned_end,
            )
        case ProjectApproved():
            return replace(state, status=ProjectStatus.APPROVED, status_reason=event.note or None)
        case ProjectStarted():
            return replace(state, status=ProjectStatus.ACTIVE, actual_start=event.started_on, status_reason=None)
        case ProjectPutOnHold():
            return replace(state, status=ProjectStatus.ON_HOLD, status_reason=event.reason)
        case ProjectResumed():
            return replace(state, status=ProjectStatus.ACTIVE, status_reason=None)
        case ProjectCompleted():
            return replace(
                state, status=ProjectStatus.COMPLETED, actual_end=event.completed_on, status_reason=event.note or None
            )
        case ProjectTerminated():
            return replace(state, status=ProjectStatus.TERMINATED, actual_end=event.on, status_reason=event.reason)
        case GateDecided():
            decision = GateDecision(
                event.decision_id,
                event.gate,
                event.decision,
                event.rationale,
                event.decided_by,
                event.decided_on,
                event.snapshot,
                event.figures,
            )
            return replace(state, gate_decisions=(*state.gate_decisions, decision))
        case _:
            assert_never(event)
