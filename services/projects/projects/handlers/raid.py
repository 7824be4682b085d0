"""A project's RAID log: risks with their assessments and response actions, issues, assumptions, decisions and
dependencies on other projects. Each use case reads the facts its command needs through :class:`RaidFacts` (the
project, and for a dependency its provider and the open dependencies between projects), builds the command and
runs it on the log's own stream (``raid-<project id>``: its ``ETag`` is the log's version)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Protocol

from projects.domain import raid
from projects.domain.raid_state import (
    Assess,
    Change,
    CloseDependency,
    CloseRisk,
    CompleteRiskResponse,
    DeclareDependency,
    DependencyGraph,
    LogDecision,
    PlanRiskResponse,
    ProjectFacts,
    RaidCommand,
    RaiseIssue,
    RaiseRisk,
    RecordAssumption,
    ResolveIssue,
    ReviewRisk,
    ValidateAssumption,
)
from projects.handlers.running import Outcome, today
from projects.raid_views import item_answer
from shared.authz import TRUSTED, CallerScope
from shared.commands import CommandContext, Executor, by_state, run_on
from shared.contracts.raid import DependencyOutcome, IssueSeverity, RiskClosure
from shared.ids import new_id


class RaidFacts(Protocol):
    """What RAID commands read besides the log (:class:`projects.raid_queries.RaidTables`)."""

    async def project(self, project_id: uuid.UUID) -> ProjectFacts: ...

    async def dependency_graph(self) -> DependencyGraph: ...


async def _run(
    executor: Executor,
    facts: RaidFacts,
    ctx: CommandContext,
    project_id: uuid.UUID,
    change: Change,
    item_id: uuid.UUID,
    *,
    status_code: int = 200,
) -> Outcome:
    command = RaidCommand(await facts.project(project_id), change)
    return await run_on(
        executor,
        ctx,
        raid.RAID,
        raid.stream_id(project_id),
        command,
        by_state(item_answer(item_id)),
        status_code=status_code,
    )


async def raise_risk(
    executor: Executor,
    facts: RaidFacts,
    ctx: CommandContext,
    project_id: uuid.UUID,
    *,
    title: str,
    cause: str,
    event: str,
    effect: str,
    assessment: Assess,
    raised_on: date | None,
) -> Outcome:
    """Enter a risk in the log (201), answered with the risk."""
    risk_id = new_id()
    change = RaiseRisk(risk_id, title, cause, event, effect, assessment, today(executor, raised_on))
    return await _run(executor, facts, ctx, project_id, change, risk_id, status_code=201)


async def review_risk(
    executor: Executor,
    facts: RaidFacts,
    ctx: CommandContext,
    project_id: uuid.UUID,
    risk_id: uuid.UUID,
    *,
    assessment: Assess,
    reviewed_on: date | None,
    note: str,
) -> Outcome:
    """Review a risk: its assessment after the review (all of it) and the next review date."""
    change = ReviewRisk(risk_id, today(executor, reviewed_on), assessment, note)
    return await _run(executor, facts, ctx, project_id, change, risk_id)


async def plan_risk_response(
    executor: Executor,
    facts: RaidFacts,
    ctx: CommandContext,
    project_id: uuid.UUID,
    risk_id: uuid.UUID,
    *,
    description: str,
    owner: str,
    due_date: date,
) -> Outcome:
    """Plan a response action on a risk (201), answered with the risk."""
    change = PlanRiskResponse(risk_id, new_id(), description, owner, due_date)
    return await _run(executor, facts, ctx, project_id, change, risk_id, status_code=201)


async def complete_risk_response(
    executor: Executor,
    facts: RaidFacts,
    ctx: CommandContext,
    project_id: uuid.UUID,
    risk_id: uuid.UUID,
    action_id: uuid.UUID,
    *,
    completed_on: date | None,
    note: str,
) -> Outcome:
    change = CompleteRiskResponse(risk_id, action_id, today(executor, completed_on), note)
    return await _run(executor, facts, ctx, project_id, change, risk_id)


async def close_risk(
    executor: Executor,
    facts: RaidFacts,
    ctx: CommandContext,
    project_id: uuid.UUID,
    risk_id: uuid.UUID,
    *,
    closure: RiskClosure,
    closed_on: date | None,
    note: str,
) -> Outcome:
    change = CloseRisk(risk_id, today(executor, closed_on), closure, note)
    return await _run(executor, facts, ctx, project_id, change, risk_id)


async def raise_issue(
    executor: Executor,
    facts: RaidFacts,
    ctx: CommandContext,
    project_id: uuid.UUID,
    *,
    title: str,
    description: str,
    severity: IssueSeverity,
    owner: str,
    due_date: date,
    raised_on: date | None,
    risk_id: uuid.UUID | None,
) -> Outcome:
    """Enter an issue (201); ``risk_id``: the risk of the log that occurred, when it is one."""
    issue_id = new_id()
    change = RaiseIssue(issue_id, title, description, severity, owner, today(executor, raised_on), due_date, risk_id)
    return await _run(executor, facts, ctx, project_id, change, issue_id, status_code=201)


async def resolve_issue(
    executor: Executor,
    facts: RaidFacts,
    ctx: CommandContext,
    project_id: uuid.UUID,
    issue_id: uuid.UUID,
    *,
    resolution: str,
    resolved_on: date | None,
) -> Outcome:
    change = ResolveIssue(issue_id, today(executor, resolved_on), resolution)
    return await _run(executor, facts, ctx, project_id, change, issue_id)


async def record_assumption(
    executor: Executor,
    facts: RaidFacts,
    ctx: CommandContext,
    project_id: uuid.UUID,
    *,
    description: str,
    owner: str,
    recorded_on: date | None,
) -> Outcome:
    assumption_id = new_id()
    change = RecordAssumption(assumption_id, description, owner, today(executor, recorded_on))
    return await _run(executor, facts, ctx, project_id, change, assumption_id, status_code=201)


async def validate_assumption(
    executor: Executor,
    facts: RaidFacts,
    ctx: CommandContext,
    project_id: uuid.UUID,
    assumption_id: uuid.UUID,
    *,
    holds: bool,
    validated_on: date | None,
    note: str,
) -> Outcome:
    change = ValidateAssumption(assumption_id, holds, today(executor, validated_on), note)
    return await _run(executor, facts, ctx, project_id, change, assumption_id)


async def log_decision(
    executor: Executor,
    facts: RaidFacts,
    ctx: CommandContext,
    project_id: uuid.UUID,
    *,
    title: str,
    decision: str,
    rationale: str,
    decided_by: str | None,
    decided_on: date | None,
) -> Outcome:
    """Log a decision (201): who took it (default: the caller), when (default: today) and why."""
    decision_id = new_id()
    change = LogDecision(
        decision_id, title, decision, decided_by or ctx.metadata.actor, today(executor, decided_on), rationale
    )
    return await _run(executor, facts, ctx, project_id, change, decision_id, status_code=201)


async def declare_dependency(
    executor: Executor,
    facts: RaidFacts,
    ctx: CommandContext,
    project_id: uuid.UUID,
    *,
    provider_project_id: uuid.UUID,
    provider_milestone_id: uuid.UUID | None,
    needs: str,
    needed_by: date,
    owner: str,
    declared_on: date | None,
    scope: CallerScope = TRUSTED,
) -> Outcome:
    """Declare that the project needs ``needs`` from another project by ``needed_by`` (201). The open dependencies
    between projects are read when the command starts: two declarations racing on different logs could together
    close a cycle (the cycle then shows in the next one's refusal; closing either dependency breaks it). A provider
    outside the caller's scope is a project that does not exist to her (422 naming ``provider_project_id``)."""
    dependency_id = new_id()
    provider = (
        await facts.project(provider_project_id)
        if await scope.admits(provider_project_id)
        else ProjectFacts(provider_project_id, None)
    )
    change = DeclareDependency(
        dependency_id,
        provider,
        provider_milestone_id,
        needs,
        needed_by,
        owner,
        today(executor, declared_on),
        await facts.dependency_graph(),
    )
    return await _run(executor, facts, ctx, project_id, change, dependency_id, status_code=201)


async def close_dependency(
    executor: Executor,
    facts: RaidFacts,
    ctx: CommandContext,
    project_id: uuid.UUID,
    dependency_id: uuid.UUID,
    *,
    outcome: DependencyOutcome,
    closed_on: date | None,
    note: str,
) -> Outcome:
    change = CloseDependency(dependency_id, outcome, today(executor, closed_on), note)
    return await _run(executor, facts, ctx, project_id, change, dependency_id)
