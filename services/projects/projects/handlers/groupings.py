"""Portfolios and programmes: creating them, and the facts about them that registering a project reads."""

from __future__ import annotations

from typing import Literal, Protocol

from projects import domain, views
from projects.handlers.running import Outcome
from shared.commands import CommandContext, Executor
from shared.errors import NotFoundError

GroupingKind = Literal["portfolio", "programme"]


class GroupingFacts(Protocol):
    """What registering a project or creating a programme needs to know about portfolios and programmes."""

    async def portfolio_of(self, kind: GroupingKind, grouping_id: str) -> str | None:
        """The portfolio of the portfolio or programme ``grouping_id`` (a portfolio's is itself); None if it does
        not exist."""
        ...

    async def closed(self, kind: GroupingKind, grouping_id: str) -> bool:
        """Whether the existing portfolio or programme ``grouping_id`` is closed."""
        ...

    async def open_members(self, kind: GroupingKind, grouping_id: str) -> tuple[str, ...]:
        """What the portfolio or programme still holds open: its open projects, a portfolio's open programmes."""
        ...


async def existing_portfolio(
    facts: GroupingFacts, kind: GroupingKind, grouping_id: str, field: str | None = None
) -> str:
    """The portfolio of an existing, open grouping (one that may receive a project or programme); NotFoundError
    naming ``field`` if it does not exist, GroupingClosedError naming it if it is closed."""
    portfolio = await known_portfolio(facts, kind, grouping_id, field)
    await refuse_closed(facts, kind, grouping_id, field)
    return portfolio


async def known_portfolio(facts: GroupingFacts, kind: GroupingKind, grouping_id: str, field: str | None = None) -> str:
    """The portfolio of an existing grouping (open or not: see :func:`refuse_closed`); NotFoundError naming ``field``
    if it does not exist."""
    portfolio = await facts.portfolio_of(kind, grouping_id)
    if portfolio is None:
        raise no_such_grouping(kind, grouping_id, field=field)
    return portfolio


async def refuse_closed(facts: GroupingFacts, kind: GroupingKind, grouping_id: str, field: str | None = None) -> None:
    """GroupingClosedError naming ``field`` if the existing grouping is closed (a :data:`~shared.commands.Check` of
    the command that places something in it, or before it)."""
    if await facts.closed(kind, grouping_id):
        raise domain.GroupingClosedError(f"{kind} {grouping_id} is closed: nothing is placed in it", field=field)


def no_such_grouping(kind: GroupingKind, grouping_id: str, field: str | None = None) -> NotFoundError:
    """The answer for a portfolio or programme that does not exist (or that the caller may not name)."""
    return NotFoundError(f"{kind} {grouping_id} does not exist", field=field)


async def create_portfolio(
    executor: Executor, ctx: CommandContext, *, portfolio_id: str, name: str, description: str
) -> Outcome:
    """Create a portfolio (201); its id is a slug chosen by the caller."""
    return await executor.execute(
        ctx,
        aggregate=domain.GROUPING,
        stream_id=domain.portfolio_stream(portfolio_id),
        command=domain.CreatePortfolio(portfolio_id, name, description),
        respond=lambda s, e, v: views.portfolio_view(portfolio_id, name, description),
        status_code=201,
    )


async def create_programme(
    executor: Executor,
    facts: GroupingFacts,
    ctx: CommandContext,
    *,
    portfolio_id: str,
    programme_id: str,
    name: str,
    description: str,
) -> Outcome:
    """Create a programme inside an existing portfolio (201)."""
    await existing_portfolio(facts, "portfolio", portfolio_id)
    return await executor.execute(
        ctx,
        aggregate=domain.GROUPING,
        stream_id=domain.programme_stream(programme_id),
        command=domain.CreateProgramme(programme_id, portfolio_id, name, description),
        respond=lambda s, e, v: views.programme_view(programme_id, portfolio_id, name, description),
        status_code=201,
    )
