"""The RAID log aggregate: ``decide`` and ``evolve`` over :class:`~projects.domain.raid_state.RaidLog`.

Rules (each refusal names its field; nothing is appended):

* the project exists (404) and is open: a completed or terminated project's log accepts no change (409), as the
  project itself;
* no fact is dated after today (``raised_on``, ``reviewed_on``, ``completed_on``, ...);
* a risk's ``probability`` and ``impact`` are 1 to 5; its ``money_impact`` is in the project's currency and not
  negative; its ``review_date`` is not before it was raised (nor before the review that sets it);
* a response action is not due before its risk was raised (``due_date``); an issue is not due before it was raised;
* a closed risk takes no review or new response; a completed action, a resolved issue, a validated assumption and a
  closed dependency are not closed again (409);
* a dependency's provider is another project that exists (``provider_project_id``), the milestone it names is one
  of the provider's (``provider_milestone_id``), and it closes no cycle among the open dependencies between projects
  (``provider_project_id``: the cycle is in the message).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import assert_never
from uuid import UUID

from projects.domain.raid_state import (
    Assess,
    Assumption,
    CloseDependency,
    CloseRisk,
    CompleteRiskResponse,
    Decision,
    DeclareDependency,
    Dependency,
    Issue,
    ItemStatus,
    LogDecision,
    PlanRiskResponse,
    ProjectFacts,
    RaidCommand,
    RaidLog,
    RaiseIssue,
    RaiseRisk,
    RecordAssumption,
    ResolveIssue,
    ResponseAction,
    ReviewRisk,
    Risk,
    ValidateAssumption,
)
from projects.domain.rules import ProjectClosedError, ProjectNotFoundError, not_future
from projects.domain.state import FINAL
from shared.contracts.raid import (
    AssumptionRecorded,
    AssumptionValidated,
    DecisionLogged,
    DependencyClosed,
    DependencyDeclared,
    IssueRaised,
    IssueResolved,
    RiskAssessment,
    RiskClosed,
    RiskRaised,
    RiskResponseCompleted,
    RiskResponsePlanned,
    RiskReviewed,
)
from shared.decider import Decider
from shared.errors import InvalidCommandError, NotFoundError, RuleViolationError
from shared.events import DomainEvent
from shared.immutable import frozen

SCALE = range(1, 6)
"""Probability and impact are rated 1 (lowest) to 5 (highest)."""

RaidEvent = (
    RiskRaised
    | RiskReviewed
    | RiskResponsePlanned
    | RiskResponseCompleted
    | RiskClosed
    | IssueRaised
    | IssueResolved
    | AssumptionRecorded
    | AssumptionValidated
    | DecisionLogged
    | DependencyDeclared
    | DependencyClosed
)


class UnknownRaidItemError(NotFoundError):
    """The command names a risk, action, issue, assumption or dependency the log does not hold."""


class DependencyCycleError(InvalidCommandError):
    """The dependency would close a cycle among the open dependencies between projects."""


def stream_id(project_id: UUID) -> str:
    return f"raid-{project_id}"


# --- decide -------------------------------------------------------------------------------------------------


def decide(state: RaidLog, command: RaidCommand, now: datetime) -> Sequence[DomainEvent]:
    """The events ``command`` causes on the log ``state``, or an error saying why it is refused."""
    today = now.date()
    pid = _open(command.project)
    change = command.change
    match change:
        case RaiseRisk():
            if change.risk_id in state.risks:
                raise RuleViolationError(f"risk {change.risk_id} is already in the log")
            not_future(change.raised_on, today, "raised_on")
            assessment = _assessment(change.assessment, command.project, not_before=change.raised_on)
            return [
                RiskRaised(
                    project_id=pid,
                    risk_id=change.risk_id,
                    title=change.title,
                    cause=change.cause,
                    event=change.event,
                    effect=change.effect,
                    assessment=assessment,
                    raised_on=change.raised_on,
                )
            ]
        case ReviewRisk():
            risk = _open_risk(state, change.risk_id)
            not_future(change.reviewed_on, today, "reviewed_on")
            _not_before(change.reviewed_on, risk.raised_on, "reviewed_on", "the risk was raised")
            assessment = _assessment(change.assessment, command.project, not_before=change.reviewed_on)
            return [
                RiskReviewed(
                    project_id=pid,
                    risk_id=risk.risk_id,
                    reviewed_on=change.reviewed_on,
                    assessment=assessment,
                    note=change.note,
                )
            ]
        case PlanRiskResponse():
            risk = _open_risk(state, change.risk_id)
            if change.action_id in risk.actions:
                raise RuleViolationError(f"action {change.action_id} is already planned")
            _not_before(change.due_date, risk.raised_on, "due_date", "the risk was raised")
            return [
                RiskResponsePlanned(
                    project_id=pid,
                    risk_id=risk.risk_id,
                    action_id=change.action_id,
                    description=change.description,
                    owner=change.owner,
                    due_date=change.due_date,
                )
            ]
        case CompleteRiskResponse():
            risk = _risk(state, change.risk_id)
            action = risk.actions.get(change.action_id)
            if action is None:
                raise UnknownRaidItemError(f"risk {risk.risk_id} has no response action {change.action_id}")
            if action.completed_on is not None:
                raise RuleViolationError(f"the action was already completed on {action.completed_on}")
            not_future(change.completed_on, today, "completed_on")
            _not_before(change.completed_on, risk.raised_on, "completed_on", "the risk was raised")
            return [
                RiskResponseCompleted(
                    project_id=pid,
                    risk_id=risk.risk_id,
                    action_id=action.action_id,
                    completed_on=change.completed_on,
                    note=change.note,
                )
            ]
        case CloseRisk():
            risk = _open_risk(state, change.risk_id)
            not_future(change.closed_on, today, "closed_on")
            _not_before(change.closed_on, risk.raised_on, "closed_on", "the risk was raised")
            return [
                RiskClosed(
                    project_id=pid,
                    risk_id=risk.risk_id,
                    closed_on=change.closed_on,
                    closure=change.closure,
                    note=change.note,
                )
            ]
        case RaiseIssue():
            if change.issue_id in state.issues:
                raise RuleViolationError(f"issue {change.issue_id} is already in the log")
            not_future(change.raised_on, today, "raised_on")
            _not_before(change.due_date, change.raised_on, "due_date", "the issue was raised")
            if change.risk_id is not None and change.risk_id not in state.risks:
                raise InvalidCommandError(f"risk {change.risk_id} is not in this log", field="risk_id")
            return [
                IssueRaised(
                    project_id=pid,
                    issue_id=change.issue_id,
                    title=change.title,
                    description=change.description,
                    severity=change.severity,
                    owner=change.owner,
                    raised_on=change.raised_on,
                    due_date=change.due_date,
                    risk_id=change.risk_id,
                )
            ]
        case ResolveIssue():
            issue = state.issues.get(change.issue_id)
            if issue is None:
                raise UnknownRaidItemError(f"issue {change.issue_id} is not in this log")
            if issue.status is ItemStatus.CLOSED:
                raise RuleViolationError(f"the issue was already resolved on {issue.resolved_on}")
            not_future(change.resolved_on, today, "resolved_on")
            _not_before(change.resolved_on, issue.raised_on, "resolved_on", "the issue was raised")
            return [
                IssueResolved(
                    project_id=pid,
                    issue_id=issue.issue_id,
                    resolved_on=change.resolved_on,
                    resolution=change.resolution,
                )
            ]
        case RecordAssumption():
            if change.assumption_id in state.assumptions:
                raise RuleViolationError(f"assumption {change.assumption_id} is already in the log")
            not_future(change.recorded_on, today, "recorded_on")
            return [
                AssumptionRecorded(
                    project_id=pid,
                    assumption_id=change.assumption_id,
                    description=change.description,
                    owner=change.owner,
                    recorded_on=change.recorded_on,
                )
            ]
        case ValidateAssumption():
            assumption = state.assumptions.get(change.assumption_id)
            if assumption is None:
                raise UnknownRaidItemError(f"assumption {change.assumption_id} is not in this log")
            if assumption.holds is not None:
                raise RuleViolationError(f"the assumption was already validated on {assumption.validated_on}")
            not_future(change.validated_on, today, "validated_on")
            _not_before(change.validated_on, assumption.recorded_on, "validated_on", "it was recorded")
            return [
                AssumptionValidated(
                    project_id=pid,
                    assumption_id=assumption.assumption_id,
                    holds=change.holds,
                    validated_on=change.validated_on,
                    note=change.note,
                )
            ]
        case LogDecision():
            if change.decision_id in state.decisions:
                raise RuleViolationError(f"decision {change.decision_id} is already in the log")
            not_future(change.decided_on, today, "decided_on")
            return [
                DecisionLogged(
                    project_id=pid,
                    decision_id=change.decision_id,
                    title=change.title,
                    decision=change.decision,
                    decided_by=change.decided_by,
                    decided_on=change.decided_on,
                    rationale=change.rationale,
                )
            ]
        case DeclareDependency():
            if change.dependency_id in state.dependencies:
                raise RuleViolationError(f"dependency {change.dependency_id} is already in the log")
            not_future(change.declared_on, today, "declared_on")
            _provider(pid, change)
            return [
                DependencyDeclared(
                    project_id=pid,
                    dependency_id=change.dependency_id,
                    provider_project_id=change.provider.project_id,
                    provider_milestone_id=change.provider_milestone_id,
                    needs=change.needs,
                    needed_by=change.needed_by,
                    owner=change.owner,
                    declared_on=change.declared_on,
                )
            ]
        case CloseDependency():
            dependency = state.dependencies.get(change.dependency_id)
            if dependency is None:
                raise UnknownRaidItemError(f"dependency {change.dependency_id} is not in this log")
            if dependency.outcome is not None:
                raise RuleViolationError(f"the dependency was already closed ({dependency.outcome.value})")
            not_future(change.closed_on, today, "closed_on")
            _not_before(change.closed_on, dependency.declared_on, "closed_on", "it was declared")
            return [
                DependencyClosed(
                    project_id=pid,
                    dependency_id=dependency.dependency_id,
                    provider_project_id=dependency.provider_project_id,
                    outcome=change.outcome,
                    closed_on=change.closed_on,
                    note=change.note,
                )
            ]
        case _:
            assert_never(change)


def _open(project: ProjectFacts) -> UUID:
    if project.status is None:
        raise ProjectNotFoundError("the project does not exist")
    if project.status in {s.value for s in FINAL}:
        raise ProjectClosedError(f"the project is {project.status}; its RAID log accepts no change")
    return project.project_id


def _not_before(day: date, earliest: date, name: str, what: str) -> None:
    if day < earliest:
        raise InvalidCommandError(f"{name} {day} is before {what} ({earliest})", field=name)


def _assessment(assess: Assess, project: ProjectFacts, *, not_before: date) -> RiskAssessment:
    """The assessment as the contract carries it, once every part of it is checked."""
    for name, value in (("probability", assess.probability), ("impact", assess.impact)):
        if value not in SCALE:
            raise InvalidCommandError(f"{name} must be 1 to 5, not {value}", field=name)
    money = assess.money_impact
    if money.amount < 0:
        raise InvalidCommandError("money_impact must not be negative", field="money_impact")
    if money.currency != project.currency:
        raise InvalidCommandError(
            f"money_impact must be in the project's currency {project.currency}, not {money.currency}",
            field="money_impact",
        )
    _not_before(assess.review_date, not_before, "review_date", str(not_before))
    return RiskAssessment(
        probability=assess.probability,
        impact=assess.impact,
        money_impact=money,
        owner=assess.owner,
        strategy=assess.strategy,
        review_date=assess.review_date,
    )


def _risk(state: RaidLog, risk_id: UUID) -> Risk:
    risk = state.risks.get(risk_id)
    if risk is None:
        raise UnknownRaidItemError(f"risk {risk_id} is not in this log")
    return risk


def _open_risk(state: RaidLog, risk_id: UUID) -> Risk:
    risk = _risk(state, risk_id)
    if risk.status is ItemStatus.CLOSED:
        raise RuleViolationError(f"the risk was closed on {risk.closed_on}; raise a new one")
    return risk


def _provider(consumer: UUID, change: DeclareDependency) -> None:
    provider = change.provider
    if provider.project_id == consumer:
        raise InvalidCommandError("a project cannot depend on itself", field="provider_project_id")
    if provider.status is None:
        raise InvalidCommandError(f"project {provider.project_id} does not exist", field="provider_project_id")
    if change.provider_milestone_id is not None and change.provider_milestone_id not in provider.milestone_ids:
        raise InvalidCommandError(
            f"milestone {change.provider_milestone_id} is not one of the provider's", field="provider_milestone_id"
        )
    path = cycle_path(change.graph.edges, start=provider.project_id, target=consumer)
    if path is not None:
        chain = " -> ".join(str(p) for p in (consumer, *path))
        raise DependencyCycleError(f"the dependency would close a cycle: {chain}", field="provider_project_id")


def cycle_path(edges: Mapping[UUID, frozenset[UUID]], *, start: UUID, target: UUID) -> list[UUID] | None:
    """The projects from ``start`` to ``target`` following the open dependencies (consumer -> providers), or None
    when ``target`` cannot be reached: a new dependency target -> start closes a cycle exactly when there is one."""
    previous: dict[UUID, UUID | None] = {start: None}
    frontier = [start]
    while frontier:
        node = frontier.pop()
        if node == target:
            path = [node]
            while (before := previous[path[-1]]) is not None:
                path.append(before)
            return list(reversed(path))
        for nxt in sorted(edges.get(node, frozenset())):
            if nxt not in previous:
                previous[nxt] = node
                frontier.append(nxt)
    return None


# --- evolve -------------------------------------------------------------------------------------------------


def evolve(state: RaidLog, event: DomainEvent) -> RaidLog:
    """The log after ``event``; events of other aggregates leave it unchanged."""
    if not isinstance(event, RaidEvent):
        return state
    match event:
        case RiskRaised():
            risk = Risk(
                event.risk_id, event.title, event.cause, event.event, event.effect, event.assessment, event.raised_on
            )
            return _with_risk(replace(state, project_id=event.project_id), risk)
        case RiskReviewed():
            risk = state.risks[event.risk_id]
            return _with_risk(state, replace(risk, assessment=event.assessment, last_reviewed_on=event.reviewed_on))
        case RiskResponsePlanned():
            risk = state.risks[event.risk_id]
            action = ResponseAction(event.action_id, event.description, event.owner, event.due_date)
            return _with_risk(state, replace(risk, actions=frozen({**risk.actions, action.action_id: action})))
        case RiskResponseCompleted():
            risk = state.risks[event.risk_id]
            action = replace(risk.actions[event.action_id], completed_on=event.completed_on, note=event.note)
            return _with_risk(state, replace(risk, actions=frozen({**risk.actions, action.action_id: action})))
        case RiskClosed():
            risk = replace(
                state.risks[event.risk_id],
                status=ItemStatus.CLOSED,
                closed_on=event.closed_on,
                closure=event.closure,
                closing_note=event.note,
            )
            return _with_risk(state, risk)
        case IssueRaised():
            issue = Issue(
                event.issue_id,
                event.title,
                event.description,
                event.severity,
                event.owner,
                event.raised_on,
                event.due_date,
                event.risk_id,
            )
            return replace(state, project_id=event.project_id, issues=frozen({**state.issues, issue.issue_id: issue}))
        case IssueResolved():
            issue = replace(
                state.issues[event.issue_id],
                status=ItemStatus.CLOSED,
                resolved_on=event.resolved_on,
                resolution=event.resolution,
            )
            return replace(state, issues=frozen({**state.issues, issue.issue_id: issue}))
        case AssumptionRecorded():
            assumption = Assumption(event.assumption_id, event.description, event.owner, event.recorded_on)
            assumptions = frozen({**state.assumptions, assumption.assumption_id: assumption})
            return replace(state, project_id=event.project_id, assumptions=assumptions)
        case AssumptionValidated():
            assumption = replace(
                state.assumptions[event.assumption_id],
                holds=event.holds,
                validated_on=event.validated_on,
                note=event.note,
            )
            return replace(state, assumptions=frozen({**state.assumptions, assumption.assumption_id: assumption}))
        case DecisionLogged():
            decision = Decision(
                event.decision_id, event.title, event.decision, event.decided_by, event.decided_on, event.rationale
            )
            decisions = frozen({**state.decisions, decision.decision_id: decision})
            return replace(state, project_id=event.project_id, decisions=decisions)
        case DependencyDeclared():
            dependency = Dependency(
                event.dependency_id,
                event.provider_project_id,
                event.provider_milestone_id,
                event.needs,
                event.needed_by,
                event.owner,
                event.declared_on,
            )
            dependencies = frozen({**state.dependencies, dependency.dependency_id: dependency})
            return replace(state, project_id=event.project_id, dependencies=dependencies)
        case DependencyClosed():
            dependency = replace(
                state.dependencies[event.dependency_id],
                outcome=event.outcome,
                closed_on=event.closed_on,
                note=event.note,
            )
            return replace(state, dependencies=frozen({**state.dependencies, dependency.dependency_id: dependency}))
        case _:
            assert_never(event)


def _with_risk(state: RaidLog, risk: Risk) -> RaidLog:
    return replace(state, risks=frozen({**state.risks, risk.risk_id: risk}))


RAID: Decider[RaidLog, RaidCommand] = Decider("raid", RaidLog, evolve, decide)
"""The RAID log aggregate as the command executor sees it."""
