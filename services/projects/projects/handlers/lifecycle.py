"""A project's lifecycle: registering it, then approving, starting, holding, resuming, completing, terminating it."""

from __future__ import annotations

import uuid
from datetime import date

from projects import domain
from projects.handlers.groupings import GroupingFacts, known_portfolio, no_such_grouping, refuse_closed
from projects.handlers.running import Outcome, on_project, today
from shared.authz import TRUSTED, CallerScope, may_place_project
from shared.commands import CommandContext, Executor
from shared.errors import InvalidCommandError
from shared.ids import new_id


async def register_project(
    executor: Executor,
    facts: GroupingFacts,
    ctx: CommandContext,
    *,
    code: str,
    name: str,
    objectives: str,
    sponsor: str,
    manager: str,
    planned_start: date,
    planned_end: date,
    currency: str,
    portfolio_id: str | None,
    programme_id: str | None,
    scope: CallerScope = TRUSTED,
) -> Outcome:
    """Register a project (201, status ``proposed``), registered by the acting user. A portfolio given must exist;
    a programme given must exist and belong to the portfolio given, which defaults to the programme's. A caller
    who does not see every project registers only within her scope (:func:`shared.authz.may_place_project`): a
    portfolio or programme not hers is one that does not exist (404 naming it), and a project she would not see
    afterwards (no portfolio or programme of hers, managed by someone else) is refused on ``manager``."""
    programme_portfolio = None
    if portfolio_id is not None:
        await known_portfolio(facts, "portfolio", portfolio_id, field="portfolio_id")
    if programme_id is not None:
        programme_portfolio = await known_portfolio(facts, "programme", programme_id, field="programme_id")
    refused = may_place_project(
        scope.principal,
        portfolio_id=portfolio_id,
        programme_id=programme_id,
        programme_portfolio=programme_portfolio,
        manager=manager,
    )
    if refused == "portfolio_id" and portfolio_id is not None:
        raise no_such_grouping("portfolio", portfolio_id, field=refused)
    if refused == "programme_id" and programme_id is not None:
        raise no_such_grouping("programme", programme_id, field=refused)
    if programme_portfolio is not None:
        if portfolio_id is not None and programme_portfolio != portfolio_id:
            raise InvalidCommandError(
                f"programme {programme_id} belongs to portfolio {programme_portfolio}, not {portfolio_id}",
                field="programme_id",
            )
        portfolio_id = programme_portfolio
    if refused is not None:
        raise InvalidCommandError(
            "you would not see this project once registered: name one of your portfolios or programmes, or "
            "manage it yourself",
            field="manager",
        )
    project_id = domain.ProjectId(new_id())
    command = domain.RegisterProject(
        project_id=project_id,
        portfolio_id=portfolio_id,
        programme_id=programme_id,
        code=code,
        name=name,
        objectives=objectives,
        sponsor=sponsor,
        manager=manager,
        planned_start=planned_start,
        planned_end=planned_end,
        currency=currency,
        registered_by=ctx.metadata.actor,
    )

    async def open_groupings() -> None:  # in the registration's transaction: no connection of its own
        if command.portfolio_id is not None:
            await refuse_closed(facts, "portfolio", command.portfolio_id, field="portfolio_id")
        if programme_id is not None:
            await refuse_closed(facts, "programme", programme_id, field="programme_id")

    return await on_project(executor, ctx, project_id, command, status_code=201, new_stream=True, check=open_groupings)


async def approve_project(
    executor: Executor, ctx: CommandContext, project_id: uuid.UUID, *, approved_on: date | None, note: str
) -> Outcome:
    """proposed -> approved, by the acting user."""
    command = domain.ApproveProject(ctx.metadata.actor, today(executor, approved_on), note)
    return await on_project(executor, ctx, project_id, command)


async def start_project(
    executor: Executor, ctx: CommandContext, project_id: uuid.UUID, *, started_on: date | None
) -> Outcome:
    """approved -> active."""
    return await on_project(executor, ctx, project_id, domain.StartProject(today(executor, started_on)))


async def put_project_on_hold(
    executor: Executor, ctx: CommandContext, project_id: uuid.UUID, *, reason: str, on: date | None
) -> Outcome:
    """active -> on_hold, with a reason."""
    return await on_project(executor, ctx, project_id, domain.PutProjectOnHold(reason, today(executor, on)))


async def resume_project(
    executor: Executor, ctx: CommandContext, project_id: uuid.UUID, *, on: date | None, note: str
) -> Outcome:
    """on_hold -> active."""
    return await on_project(executor, ctx, project_id, domain.ResumeProject(today(executor, on), note))


async def complete_project(
    executor: Executor, ctx: CommandContext, project_id: uuid.UUID, *, completed_on: date | None, note: str
) -> Outcome:
    """active -> completed, once every milestone is reached or missed."""
    command = domain.CompleteProject(today(executor, completed_on), note)
    return await on_project(executor, ctx, project_id, command)


async def terminate_project(
    executor: Executor, ctx: CommandContext, project_id: uuid.UUID, *, reason: str, on: date | None
) -> Outcome:
    """Any open state -> terminated (final), with a reason."""
    return await on_project(executor, ctx, project_id, domain.TerminateProject(reason, today(executor, on)))
