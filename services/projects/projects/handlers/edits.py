"""The edits people make after the fact: a project's name and objectives, its portfolio and programme, a milestone's
planned value through change control, a KPI's target and review date; a portfolio's or programme's name, and
closing it. Each is one command on one stream with the stream's ``If-Match`` (412 when stale).

Who may move a project (docs/edits.md, docs/security.md): a caller who does not see every project
must belong to the portfolio (or programme) the project sits in, not merely manage it, and to the portfolio or
programme it goes to; a target outside her scope is answered as one that does not exist (404 naming the field).
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from projects import domain, views
from projects.handlers.groupings import GroupingFacts, GroupingKind, existing_portfolio, no_such_grouping
from projects.handlers.running import Outcome, on_project, today
from shared.auth import Principal
from shared.authz import TRUSTED, CallerScope, sees_everything
from shared.commands import CommandContext, Executor
from shared.errors import InvalidCommandError, RuleViolationError
from shared.ids import new_id
from shared.money import Money


async def change_project_details(
    executor: Executor,
    ctx: CommandContext,
    project_id: uuid.UUID,
    *,
    name: str | None,
    objectives: str | None,
    reason: str,
) -> Outcome:
    """Rename and/or re-describe a project (``project-details-changed``), answered with the project."""
    return await on_project(executor, ctx, project_id, domain.ChangeProjectDetails(name, objectives, reason))


def _reaches(principal: Principal, portfolio_id: str | None, programme_id: str | None) -> bool:
    """Whether the caller belongs to the portfolio or the programme (managing a project is not enough to move it)."""
    return (portfolio_id is not None and portfolio_id in principal.portfolios) or (
        programme_id is not None and programme_id in principal.programmes
    )


async def move_project(
    executor: Executor,
    facts: GroupingFacts,
    ctx: CommandContext,
    project_id: uuid.UUID,
    *,
    portfolio_id: str | None,
    programme_id: str | None,
    reason: str,
    scope: CallerScope = TRUSTED,
) -> Outcome:
    """Move a project to another portfolio and/or programme (``project-moved``): the body says where it ends up (a
    programme given decides the portfolio, which must then match a portfolio given; no programme: in none). The
    target must exist and be open; the caller needs scope over both ends (module docstring)."""
    principal = scope.principal
    if principal is not None and not sees_everything(principal):
        here = await scope.directory.scope_of(project_id) if scope.directory is not None else None
        if here is None or not _reaches(principal, here.portfolio_id, here.programme_id):
            raise RuleViolationError(
                "moving a project takes membership of the portfolio or programme it sits in", field="portfolio_id"
            )
    if programme_id is not None:
        programme_portfolio = await existing_portfolio(facts, "programme", programme_id, field="programme_id")
        if portfolio_id is not None and portfolio_id != programme_portfolio:
            raise InvalidCommandError(
                f"programme {programme_id} belongs to portfolio {programme_portfolio}, not {portfolio_id}",
                field="programme_id",
            )
        if (
            principal is not None
            and not sees_everything(principal)
            and not _reaches(principal, programme_portfolio, programme_id)
        ):
            raise no_such_grouping("programme", programme_id, field="programme_id")
        portfolio_id = programme_portfolio
    elif portfolio_id is not None:
        await existing_portfolio(facts, "portfolio", portfolio_id, field="portfolio_id")
        if principal is not None and not sees_everything(principal) and not _reaches(principal, portfolio_id, None):
            raise no_such_grouping("portfolio", portfolio_id, field="portfolio_id")
    return await on_project(executor, ctx, project_id, domain.MoveProject(portfolio_id, programme_id, reason))


async def rename_grouping(
    executor: Executor,
    facts: GroupingFacts,
    ctx: CommandContext,
    kind: GroupingKind,
    grouping_id: str,
    *,
    name: str | None,
    description: str | None,
    scope: CallerScope = TRUSTED,
) -> Outcome:
    """Rename and/or re-describe an open portfolio or programme, answered with it."""
    await _grouping_in_scope(facts, kind, grouping_id, scope)
    return await _on_grouping(executor, ctx, kind, grouping_id, domain.RenameGrouping(name, description))


async def close_grouping(
    executor: Executor,
    facts: GroupingFacts,
    ctx: CommandContext,
    kind: GroupingKind,
    grouping_id: str,
    *,
    closed_on: date | None,
    reason: str,
    scope: CallerScope = TRUSTED,
) -> Outcome:
    """Close a portfolio or programme: refused (409, listing them) while it holds open projects or, for a
    portfolio, open programmes; from then on nothing is placed in it."""
    await _grouping_in_scope(facts, kind, grouping_id, scope)
    members = await facts.open_members(kind, grouping_id)
    command = domain.CloseGrouping(today(executor, closed_on), reason, members)
    return await _on_grouping(executor, ctx, kind, grouping_id, command)


async def _grouping_in_scope(facts: GroupingFacts, kind: GroupingKind, grouping_id: str, scope: CallerScope) -> None:
    """404 for a grouping that does not exist or whose portfolio the caller does not belong to (a programme's
    members reach it too)."""
    portfolio = await facts.portfolio_of(kind, grouping_id)
    principal = scope.principal
    if portfolio is None or (
        principal is not None
        and not sees_everything(principal)
        and not _reaches(principal, portfolio, grouping_id if kind == "programme" else None)
    ):
        raise no_such_grouping(kind, grouping_id)


async def _on_grouping(
    executor: Executor,
    ctx: CommandContext,
    kind: GroupingKind,
    grouping_id: str,
    command: domain.GroupingCommand,
) -> Outcome:
    stream = domain.portfolio_stream(grouping_id) if kind == "portfolio" else domain.programme_stream(grouping_id)
    return await executor.execute(
        ctx,
        aggregate=domain.GROUPING,
        stream_id=stream,
        command=command,
        respond=lambda s, e, v: views.grouping_state_view(s),
    )


async def request_milestone_value_change(
    executor: Executor,
    ctx: CommandContext,
    project_id: uuid.UUID,
    milestone_id: uuid.UUID,
    *,
    planned_value: Money,
    reason: str,
    requested_on: date | None = None,
) -> Outcome:
    """Ask for a milestone's planned value to change (201, ``milestone-value-change-requested``), requested by the
    acting user; answered with the change request."""
    change_id = new_id()
    command = domain.RequestMilestoneValueChange(
        change_id, milestone_id, planned_value, reason, ctx.metadata.actor, today(executor, requested_on)
    )
    view = views.part_view("value_changes", change_id, "change_id")
    return await on_project(executor, ctx, project_id, command, view, status_code=201)


async def approve_milestone_value_change(
    executor: Executor,
    ctx: CommandContext,
    project_id: uuid.UUID,
    change_id: uuid.UUID,
    *,
    approved_on: date | None = None,
) -> Outcome:
    """Approve a value change (``milestone-value-change-approved``): someone other than its requester; the
    milestone's planned value changes from ``approved_on``."""
    command = domain.ApproveMilestoneValueChange(change_id, ctx.metadata.actor, today(executor, approved_on))
    return await on_project(
        executor, ctx, project_id, command, views.part_view("value_changes", change_id, "change_id")
    )


async def reject_milestone_value_change(
    executor: Executor, ctx: CommandContext, project_id: uuid.UUID, change_id: uuid.UUID, *, reason: str
) -> Outcome:
    """Reject (or, by its requester, withdraw) a value change awaiting a decision."""
    command = domain.RejectMilestoneValueChange(change_id, ctx.metadata.actor, reason)
    return await on_project(
        executor, ctx, project_id, command, views.part_view("value_changes", change_id, "change_id")
    )


async def revise_kpi(
    executor: Executor,
    ctx: CommandContext,
    project_id: uuid.UUID,
    kpi_id: uuid.UUID,
    *,
    target: Decimal | None,
    review_date: date | None,
    reason: str,
) -> Outcome:
    """Change a KPI's target and/or review date (``kpi-revised``), answered with the KPI."""
    command = domain.ReviseKpi(kpi_id, target, review_date, reason)
    return await on_project(executor, ctx, project_id, command, views.part_view("kpis", kpi_id, "kpi_id"))
