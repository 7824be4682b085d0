"""The facts the budget's commands need, read from this service's tables: the projects (fed from
``pmo.projects.v1`` by :class:`budget.projections.ProjectsReference`), the exchange rates (the query table
``exchange_rates``, projected from the ``exchange-rate`` streams) and the day a budget was baselined (its event):
the implementation of :class:`budget.handlers.BudgetFacts`."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from budget.domain import KnownProject, RateInForce, RecordedRate, in_force, stream_id
from shared.pg import fetch_alone


class SqlBudgetFacts:
    """:class:`budget.handlers.BudgetFacts` over ``known_projects``, ``known_milestones``, ``exchange_rates`` and the
    event table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def known_project(self, project_id: UUID) -> KnownProject | None:
        """The project's currency, status, manager and planned milestones; None for a project this service never
        saw. One statement outside a transaction (every command on a budget reads it first)."""
        rows = await fetch_alone(
            self.engine,
            "SELECT currency, status, manager, "
            "ARRAY(SELECT milestone_id FROM known_milestones WHERE project_id = $1) AS milestones "
            "FROM known_projects WHERE project_id = $1",
            project_id,
        )
        if not rows:
            return None
        row = rows[0]
        return KnownProject(
            str(row["currency"]),
            str(row["status"]),
            frozenset(UUID(str(m)) for m in row["milestones"]),
            str(row["manager"]) if row["manager"] is not None else None,
        )

    async def rate_in_force(self, base: str, quote: str, on: date) -> RateInForce | None:
        """The rate converting ``base`` into ``quote`` on ``on`` (:func:`budget.domain.in_force`: the recorded one,
        else the inverse of the recorded ``quote``->``base`` one); None when neither is in force."""
        async with self.engine.connect() as conn:
            direct = await _recorded_on(conn, base, quote, on)
            reverse = None if direct is not None else await _recorded_on(conn, quote, base, on)
        return in_force(base, quote, direct, reverse)

    async def baselined_on(self, project_id: UUID) -> date | None:
        """The day (UTC) the project's budget was baselined; None without a baseline."""
        async with self.engine.connect() as conn:
            recorded = (
                await conn.execute(
                    text("SELECT recorded_at FROM events WHERE stream_id = :s AND name = 'budget-baselined'"),
                    {"s": stream_id(project_id)},
                )
            ).scalar()
        return recorded.date() if recorded is not None else None


async def _recorded_on(conn: AsyncConnection, base: str, quote: str, on: date) -> RecordedRate | None:
    """The ``base``->``quote`` rate recorded with the latest effective date on or before ``on``."""
    row = (
        await conn.execute(
            text(
                "SELECT rate, effective_on, source FROM exchange_rates WHERE base = :b AND quote = :q "
                "AND effective_on <= :on ORDER BY effective_on DESC LIMIT 1"
            ),
            {"b": base, "q": quote, "on": on},
        )
    ).first()
    if row is None:
        return None
    return RecordedRate(base, quote, Decimal(row.rate), row.effective_on, str(row.source))
