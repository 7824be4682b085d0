"""The projects service's aggregates: pure ``decide`` and ``evolve`` over frozen dataclasses.

Imports only the standard library and the shared kernel; time and ids come in with the command. The project
aggregate holds its lifecycle, gate decisions, milestones, weekly status reports, KPIs and partners: every rule
about a project's milestones depends on the project's state, so they change together.

Lifecycle::

    proposed --approve--> approved --start--> active --complete--> completed
                                               |  ^
                                          hold |  | resume
                                               v  |
                                             on_hold
    any state but completed/terminated --terminate--> terminated

Completed and terminated projects accept no change at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import NewType, assert_never
from uuid import UUID

from shared.contracts.projects import (
    Channel,
    CommunicationLogged,
    FollowUpClosed,
    GateDecided,
    GateOutcome,
    GateSnapshot,
    KpiDefined,
    KpiDirection,
    KpiMeasured,
    MilestoneMissed,
    MilestonePlanned,
    MilestoneProgressReported,
    MilestoneReached,
    MilestoneRescheduled,
    PartnerKind,
    PartnerRegistered,
    PortfolioCreated,
    ProgrammeCreated,
    ProjectApproved,
    ProjectCompleted,
    ProjectPutOnHold,
    ProjectRegistered,
    ProjectResumed,
    ProjectStarted,
    ProjectTerminated,
    Rag,
    StatusReported,
)
from shared.decider import Decider
from shared.errors import InvalidCommandError, NotFoundError, RuleViolationError, SeparationOfDutiesError
from shared.events import DomainEvent
from shared.identity import same_person
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


class MilestoneStatus(StrEnum):
    PLANNED = "planned"
    REACHED = "reached"
    MISSED = "missed"


RAG_ORDER = {Rag.GREEN: 0, Rag.AMBER: 1, Rag.RED: 2}

# --- state --------------------------------------------------------------------------------------------------


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
    partner_id: UUID
    name: str
    kind: PartnerKind
    organisation: str
    role: str


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
class GateDecision:
    decision_id: UUID
    gate: str
    decision: GateOutcome
    rationale: str
    decided_by: str
    decided_on: date
    snapshot: GateSnapshot


@dataclass(frozen=True)
class Project:
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
    kpis: Mapping[UUID, Kpi] = field(default_factory=lambda: frozen({}))
    partners: Mapping[UUID, Partner] = field(default_factory=lambda: frozen({}))
    communications: Mapping[UUID, Communication] = field(default_factory=lambda: frozen({}))

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


@dataclass(frozen=True)
class PlanMilestone:
    milestone_id: MilestoneId
    name: str
    due_date: date
    planned_value: Money
    acceptance_criteria: str


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


@dataclass(frozen=True)
class FileStatusReport:
    report_id: UUID
    meeting_date: date
    schedule: Rag
    cost: Rag
    scope: Rag
    quality: Rag
    resources: Rag
    narrative: str
    decisions: tuple[str, ...] = ()
    risks: tuple[str, ...] = ()
    next_steps: tuple[str, ...] = ()
    overall: Rag | None = None
    override_reason: str | None = None


@dataclass(frozen=True)
class DefineKpi:
    kpi_id: UUID
    name: str
    unit: str
    target: Decimal
    direction: KpiDirection
    review_date: date


@dataclass(frozen=True)
class MeasureKpi:
    kpi_id: UUID
    value: Decimal
    measured_on: date
    note: str = ""


@dataclass(frozen=True)
class RegisterPartner:
    partner_id: UUID
    name: str
    kind: PartnerKind
    organisation: str
    role: str


@dataclass(frozen=True)
class LogCommunication:
    communication_id: UUID
    partner_id: UUID
    on: date
    channel: Channel
    summary: str
    follow_up_due: date | None = None


@dataclass(frozen=True)
class CloseFollowUp:
    communication_id: UUID
    closed_on: date
    note: str = ""


Command = (
    RegisterProject
    | ApproveProject
    | StartProject
    | PutProjectOnHold
    | ResumeProject
    | CompleteProject
    | TerminateProject
    | RecordGateDecision
    | PlanMilestone
    | RescheduleMilestone
    | ReportMilestoneProgress
    | MarkMilestoneReached
    | MarkMilestoneMissed
    | FileStatusReport
    | DefineKpi
    | MeasureKpi
    | RegisterPartner
    | LogCommunication
    | CloseFollowUp
)

# --- decide -------------------------------------------------------------------------------------------------


def decide(state: Project, command: Command, now: datetime) -> Sequence[DomainEvent]:
    """The events ``command`` causes on ``state``, or an error saying why it is refused."""
    today = now.date()
    if isinstance(command, RegisterProject):
        return [_register(state, command)]
    pid = _changeable(state)
    match command:
        case ApproveProject():
            _require(state, {ProjectStatus.PROPOSED}, "approve")
            _not_future(command.approved_on, today, "approved_on")
            _independent(state, command.approved_by, "approves it")
            return [
                ProjectApproved(
                    project_id=pid, approved_by=command.approved_by, approved_on=command.approved_on, note=command.note
                )
            ]
        case StartProject():
            _require(state, {ProjectStatus.APPROVED}, "start")
            _not_future(command.started_on, today, "started_on")
            return [ProjectStarted(project_id=pid, started_on=command.started_on)]
        case PutProjectOnHold():
            _require(state, {ProjectStatus.ACTIVE}, "put on hold")
            return [ProjectPutOnHold(project_id=pid, reason=command.reason, on=command.on)]
        case ResumeProject():
            _require(state, {ProjectStatus.ON_HOLD}, "resume")
            return [ProjectResumed(project_id=pid, note=command.note, on=command.on)]
        case CompleteProject():
            _require(state, {ProjectStatus.ACTIVE}, "complete")
            _not_future(command.completed_on, today, "completed_on")
            still_open = sorted(m.name for m in state.milestones.values() if m.status is MilestoneStatus.PLANNED)
            if still_open:
                raise RuleViolationError(
                    "a project completes once every milestone is reached or missed; still open: "
                    + ", ".join(still_open)
                )
            return [ProjectCompleted(project_id=pid, completed_on=command.completed_on, note=command.note)]
        case TerminateProject():
            return [ProjectTerminated(project_id=pid, reason=command.reason, on=command.on)]
        case RecordGateDecision():
            return _gate(state, pid, command, today)
        case PlanMilestone():
            _money_in_project_currency(state, command.planned_value, "planned_value")
            if command.milestone_id in state.milestones:
                raise RuleViolationError(f"milestone {command.milestone_id} is already planned")
            if state.planned_start and command.due_date < state.planned_start:
                raise InvalidCommandError("due_date must not be before the project's planned start", field="due_date")
            return [
                MilestonePlanned(
                    project_id=pid,
                    milestone_id=command.milestone_id,
                    name=command.name,
                    due_date=command.due_date,
                    planned_value=command.planned_value,
                    acceptance_criteria=command.acceptance_criteria,
                )
            ]
        case RescheduleMilestone():
            m = _milestone(state, command.milestone_id)
            if m.status is MilestoneStatus.REACHED:
                raise RuleViolationError(f"milestone {m.name} is reached; it cannot be rescheduled")
            if command.due_date == m.due_date:
                raise InvalidCommandError("due_date is the milestone's current due date", field="due_date")
            return [
                MilestoneRescheduled(
                    project_id=pid,
                    milestone_id=m.milestone_id,
                    previous_due_date=m.due_date,
                    due_date=command.due_date,
                    reason=command.reason,
                )
            ]
        case ReportMilestoneProgress():
            m = _milestone(state, command.milestone_id)
            if m.status is not MilestoneStatus.PLANNED:
                raise RuleViolationError(f"milestone {m.name} is {m.status}; its progress is final")
            if not Decimal(0) <= command.percent_complete <= Decimal(100):
                raise InvalidCommandError("percent_complete must be between 0 and 100", field="percent_complete")
            _not_future(command.as_of, today, "as_of")
            if command.percent_complete < m.percent_complete and not command.correction_reason:
                raise InvalidCommandError(
                    f"progress may only go backwards ({m.percent_complete} -> {command.percent_complete}) "
                    "with a correction_reason",
                    field="correction_reason",
                )
            return [
                MilestoneProgressReported(
                    project_id=pid,
                    milestone_id=m.milestone_id,
                    percent_complete=command.percent_complete,
                    previous_percent_complete=m.percent_complete,
                    as_of=command.as_of,
                    correction_reason=command.correction_reason,
                )
            ]
        case MarkMilestoneReached():
            m = _milestone(state, command.milestone_id)
            if m.status is MilestoneStatus.REACHED:
                raise RuleViolationError(f"milestone {m.name} is already reached")
            if not command.accepted_by.strip():
                raise InvalidCommandError(
                    "a milestone is reached only once accepted: accepted_by is required", field="accepted_by"
                )
            _not_future(command.reached_on, today, "reached_on")
            return [
                MilestoneReached(
                    project_id=pid,
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
            m = _milestone(state, command.milestone_id)
            if m.status is not MilestoneStatus.PLANNED:
                raise RuleViolationError(f"milestone {m.name} is already {m.status}")
            if m.due_date >= today:
                raise RuleViolationError(f"milestone {m.name} is due {m.due_date}; it cannot be missed before then")
            return [
                MilestoneMissed(project_id=pid, milestone_id=m.milestone_id, due_date=m.due_date, reason=command.reason)
            ]
        case FileStatusReport():
            return [_status_report(state, pid, command, today)]
        case DefineKpi():
            if command.kpi_id in state.kpis:
                raise RuleViolationError(f"KPI {command.kpi_id} is already defined")
            if any(k.name.casefold() == command.name.casefold() for k in state.kpis.values()):
                raise RuleViolationError(f"a KPI named {command.name} already exists on this project")
            return [
                KpiDefined(
                    project_id=pid,
                    kpi_id=command.kpi_id,
                    name=command.name,
                    unit=command.unit,
                    target=command.target,
                    direction=command.direction,
                    review_date=command.review_date,
                )
            ]
        case MeasureKpi():
            kpi = state.kpis.get(command.kpi_id)
            if kpi is None:
                raise NotFoundError(f"KPI {command.kpi_id} is not defined on this project")
            _not_future(command.measured_on, today, "measured_on")
            met = command.value >= kpi.target if kpi.direction is KpiDirection.AT_LEAST else command.value <= kpi.target
            return [
                KpiMeasured(
                    project_id=pid,
                    kpi_id=kpi.kpi_id,
                    name=kpi.name,
                    unit=kpi.unit,
                    value=command.value,
                    target=kpi.target,
                    direction=kpi.direction,
                    review_date=kpi.review_date,
                    measured_on=command.measured_on,
                    target_met=met,
                    note=command.note,
                )
            ]
        case RegisterPartner():
            if command.partner_id in state.partners:
                raise RuleViolationError(f"partner {command.partner_id} is already registered")
            return [
                PartnerRegistered(
                    project_id=pid,
                    partner_id=command.partner_id,
                    name=command.name,
                    kind=command.kind,
                    organisation=command.organisation,
                    role=command.role,
                )
            ]
        case LogCommunication():
            if command.partner_id not in state.partners:
                raise NotFoundError(f"partner {command.partner_id} is not registered on this project")
            _not_future(command.on, today, "on")
            if command.follow_up_due is not None and command.follow_up_due < command.on:
                raise InvalidCommandError("follow_up_due must not be before the communication", field="follow_up_due")
            return [
                CommunicationLogged(
                    project_id=pid,
                    communication_id=command.communication_id,
                    partner_id=command.partner_id,
                    on=command.on,
                    channel=command.channel,
                    summary=command.summary,
                    follow_up_due=command.follow_up_due,
                )
            ]
        case CloseFollowUp():
            communication = state.communications.get(command.communication_id)
            if communication is None:
                raise NotFoundError(f"communication {command.communication_id} is not logged on this project")
            if communication.follow_up_due is None:
                raise RuleViolationError("this communication has no follow-up to close")
            if communication.follow_up_closed_on is not None:
                raise RuleViolationError(f"the follow-up was already closed on {communication.follow_up_closed_on}")
            _not_future(command.closed_on, today, "closed_on")
            return [
                FollowUpClosed(
                    project_id=pid,
                    communication_id=command.communication_id,
                    closed_on=command.closed_on,
                    note=command.note,
                )
            ]
        case _:
            assert_never(command)


def _register(state: Project, command: RegisterProject) -> ProjectRegistered:
    if state.status is not ProjectStatus.NEW:
        raise RuleViolationError(f"project {state.project_id} is already registered")
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


def _independent(state: Project, actor: str, action: str) -> None:
    """Approval and gate decisions are independent of the project: never by whoever registered it nor by its manager
    (the sponsor, accountable for the business case, may decide)."""
    if same_person(actor, state.registered_by):
        raise SeparationOfDutiesError(f"{actor} registered project {state.code}; someone else {action}")
    if same_person(actor, state.manager):
        raise SeparationOfDutiesError(f"{actor} manages project {state.code}; someone else {action}")


def _gate(state: Project, pid: UUID, command: RecordGateDecision, today: date) -> list[DomainEvent]:
    _not_future(command.decided_on, today, "decided_on")
    _independent(state, command.decided_by, f"decides gate {command.gate}")
    if any(d.decision_id == command.decision_id for d in state.gate_decisions):
        raise RuleViolationError(f"gate decision {command.decision_id} is already recorded")
    if command.decision is GateOutcome.HOLD and state.status not in (ProjectStatus.ACTIVE, ProjectStatus.ON_HOLD):
        raise RuleViolationError(f"a {state.status} project cannot be put on hold; only an active one")
    last = state.status_reports[-1] if state.status_reports else None
    snapshot = GateSnapshot(
        status=state.status.value,
        milestones_planned=len(state.milestones),
        milestones_reached=sum(m.status is MilestoneStatus.REACHED for m in state.milestones.values()),
        milestones_missed=sum(m.status is MilestoneStatus.MISSED for m in state.milestones.values()),
        planned_value=state.planned_value,
        earned_value=state.earned_value,
        last_status_report_on=last.meeting_date if last else None,
        last_overall_rag=last.overall if last else None,
    )
    events: list[DomainEvent] = [
        GateDecided(
            project_id=pid,
            decision_id=command.decision_id,
            gate=command.gate,
            decision=command.decision,
            rationale=command.rationale,
            decided_by=command.decided_by,
            decided_on=command.decided_on,
            snapshot=snapshot,
        )
    ]
    reason = f"gate {command.gate}: {command.rationale}"
    match command.decision:
        case GateOutcome.CONTINUE:
            if state.status is ProjectStatus.ON_HOLD:
                events.append(ProjectResumed(project_id=pid, note=reason, on=command.decided_on))
        case GateOutcome.HOLD:
            if state.status is ProjectStatus.ACTIVE:
                events.append(ProjectPutOnHold(project_id=pid, reason=reason, on=command.decided_on))
        case GateOutcome.TERMINATE:
            events.append(ProjectTerminated(project_id=pid, reason=reason, on=command.decided_on))
        case _:
            assert_never(command.decision)
    return events


def overall_rag(*rags: Rag) -> Rag:
    """The worst of the dimensions: red if any is red, else amber if any is amber, else green."""
    return max(rags, key=RAG_ORDER.__getitem__)


def _status_report(state: Project, pid: UUID, command: FileStatusReport, today: date) -> StatusReported:
    if state.status not in (ProjectStatus.APPROVED, ProjectStatus.ACTIVE, ProjectStatus.ON_HOLD):
        raise RuleViolationError(f"a {state.status} project files no status report; approve it first")
    _not_future(command.meeting_date, today, "meeting_date")
    if any(r.report_id == command.report_id for r in state.status_reports):
        raise RuleViolationError(f"status report {command.report_id} is already filed")
    computed = overall_rag(command.schedule, command.cost, command.scope, command.quality, command.resources)
    overall = command.overall or computed
    overridden = overall is not computed
    if overridden and not (command.override_reason and command.override_reason.strip()):
        raise InvalidCommandError(
            f"overall is {computed.value} from the dimensions; overriding it to {overall.value} needs an "
            "override_reason",
            field="override_reason",
        )
    return StatusReported(
        project_id=pid,
        report_id=command.report_id,
        meeting_date=command.meeting_date,
        schedule=command.schedule,
        cost=command.cost,
        scope=command.scope,
        quality=command.quality,
        resources=command.resources,
        overall=overall,
        overall_overridden=overridden,
        override_reason=command.override_reason if overridden else None,
        narrative=command.narrative,
        decisions=list(command.decisions),
        risks=list(command.risks),
        next_steps=list(command.next_steps),
    )


def _changeable(state: Project) -> UUID:
    if state.project_id is None:
        raise NotFoundError("the project does not exist")
    if state.status in FINAL:
        raise RuleViolationError(f"the project is {state.status.value}; it accepts no change")
    return state.project_id


def _require(state: Project, allowed: set[ProjectStatus], action: str) -> None:
    if state.status not in allowed:
        expected = " or ".join(sorted(s.value for s in allowed))
        raise RuleViolationError(f"cannot {action} a {state.status.value} project; it must be {expected}")


def _not_future(day: date, today: date, name: str) -> None:
    if day > today:
        raise InvalidCommandError(f"{name} {day} is in the future", field=name)


def _money_in_project_currency(state: Project, amount: Money, name: str) -> None:
    if amount.currency != state.currency:
        raise InvalidCommandError(
            f"{name} must be in the project's currency {state.currency}", field=f"{name}.currency"
        )
    if amount.amount < 0:
        raise InvalidCommandError(f"{name} must not be negative", field=f"{name}.amount")


def _milestone(state: Project, milestone_id: UUID) -> Milestone:
    milestone = state.milestones.get(milestone_id)
    if milestone is None:
        raise NotFoundError(f"milestone {milestone_id} is not planned on this project")
    return milestone


# --- evolve -------------------------------------------------------------------------------------------------


def evolve(state: Project, event: DomainEvent) -> Project:
    """The state after ``event``; events this aggregate does not own leave it unchanged."""
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
            )
            return replace(state, gate_decisions=(*state.gate_decisions, decision))
        case MilestonePlanned():
            milestone = Milestone(
                event.milestone_id, event.name, event.due_date, event.planned_value, event.acceptance_criteria
            )
            return _with_milestone(state, milestone)
        case MilestoneRescheduled():
            m = state.milestones[event.milestone_id]
            entry = Reschedule(event.previous_due_date, event.due_date, event.reason)
            status = MilestoneStatus.PLANNED if m.status is MilestoneStatus.MISSED else m.status
            return _with_milestone(
                state,
                replace(
                    m, due_date=event.due_date, status=status, missed_reason=None, reschedules=(*m.reschedules, entry)
                ),
            )
        case MilestoneProgressReported():
            m = state.milestones[event.milestone_id]
            return _with_milestone(
                state, replace(m, percent_complete=event.percent_complete, progress_as_of=event.as_of)
            )
        case MilestoneReached():
            m = state.milestones[event.milestone_id]
            return _with_milestone(
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
            return _with_milestone(state, replace(m, status=MilestoneStatus.MISSED, missed_reason=event.reason))
        case StatusReported():
            report = StatusReport(
                event.report_id,
                event.meeting_date,
                event.schedule,
                event.cost,
                event.scope,
                event.quality,
                event.resources,
                event.overall,
                event.overall_overridden,
                event.override_reason,
                event.narrative,
                tuple(event.decisions),
                tuple(event.risks),
                tuple(event.next_steps),
            )
            reports = sorted((*state.status_reports, report), key=lambda r: r.meeting_date)
            return replace(state, status_reports=tuple(reports))
        case KpiDefined():
            kpi = Kpi(event.kpi_id, event.name, event.unit, event.target, event.direction, event.review_date)
            return replace(state, kpis=frozen({**state.kpis, kpi.kpi_id: kpi}))
        case KpiMeasured():
            kpi = state.kpis[event.kpi_id]
            measurement = Measurement(event.value, event.measured_on, event.target_met, event.note)
            updated = replace(kpi, measurements=(*kpi.measurements, measurement))
            return replace(state, kpis=frozen({**state.kpis, kpi.kpi_id: updated}))
        case PartnerRegistered():
            partner = Partner(event.partner_id, event.name, event.kind, event.organisation, event.role)
            return replace(state, partners=frozen({**state.partners, partner.partner_id: partner}))
        case CommunicationLogged():
            c = Communication(
                event.communication_id, event.partner_id, event.on, event.channel, event.summary, event.follow_up_due
            )
            return replace(state, communications=frozen({**state.communications, c.communication_id: c}))
        case FollowUpClosed():
            c = replace(state.communications[event.communication_id], follow_up_closed_on=event.closed_on)
            return replace(state, communications=frozen({**state.communications, c.communication_id: c}))
    return state


def _with_milestone(state: Project, milestone: Milestone) -> Project:
    return replace(state, milestones=frozen({**state.milestones, milestone.milestone_id: milestone}))


PROJECT: Decider[Project, Command] = Decider("project", Project, evolve, decide)
"""The project aggregate as the command executor sees it."""


def stream_id(project_id: UUID) -> str:
    return f"project-{project_id}"


# --- portfolio and programme --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grouping:
    """A portfolio or a programme: created once, named."""

    grouping_id: str | None = None
    portfolio_id: str | None = None
    name: str = ""


@dataclass(frozen=True)
class CreatePortfolio:
    portfolio_id: str
    name: str
    description: str = ""


@dataclass(frozen=True)
class CreateProgramme:
    programme_id: str
    portfolio_id: str
    name: str
    description: str = ""


GroupingCommand = CreatePortfolio | CreateProgramme


def _evolve_grouping(state: Grouping, event: DomainEvent) -> Grouping:
    match event:
        case PortfolioCreated():
            return Grouping(event.portfolio_id, event.portfolio_id, event.name)
        case ProgrammeCreated():
            return Grouping(event.programme_id, event.portfolio_id, event.name)
    return state


def _decide_grouping(state: Grouping, command: GroupingCommand, now: datetime) -> Sequence[DomainEvent]:
    match command:
        case CreatePortfolio():
            if state.grouping_id is not None:
                raise RuleViolationError(f"portfolio {command.portfolio_id} already exists")
            return [
                PortfolioCreated(portfolio_id=command.portfolio_id, name=command.name, description=command.description)
            ]
        case CreateProgramme():
            if state.grouping_id is not None:
                raise RuleViolationError(f"programme {command.programme_id} already exists")
            return [
                ProgrammeCreated(
                    programme_id=command.programme_id,
                    portfolio_id=command.portfolio_id,
                    name=command.name,
                    description=command.description,
                )
            ]
        case _:
            assert_never(command)


GROUPING: Decider[Grouping, GroupingCommand] = Decider("grouping", Grouping, _evolve_grouping, _decide_grouping)
"""Portfolios and programmes: they only need to exist once, with a name."""


def portfolio_stream(portfolio_id: str) -> str:
    return f"portfolio-{portfolio_id}"


def programme_stream(programme_id: str) -> str:
    return f"programme-{programme_id}"
