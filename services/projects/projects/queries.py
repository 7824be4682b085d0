"""The facts the projects service's handlers read (:class:`projects.handlers.GroupingFacts`), over its own query
tables."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from projects.handlers import GroupingKind
from shared.commands import command_connection
from shared.pg import driver, fetch_alone

MEMO_LIMIT = 100_000
"""Groupings remembered per process at most; past it, every lookup asks the database."""


class Groupings:
    """Portfolios and programmes as the ``groupings`` table knows them.

    Portfolios and programmes are never deleted or moved, so a grouping seen once is remembered in ``memo`` (the
    runtime's, for the process's life); a miss always asks the database."""

    def __init__(self, engine: AsyncEngine, memo: dict[Any, Any]) -> None:
        self.engine = engine
        self.memo = memo

    async def portfolio_of(self, kind: GroupingKind, grouping_id: str) -> str | None:
        known = self.memo.get(("grouping", kind, grouping_id))
        if known is not None:
            return str(known)
        async with self.engine.connect() as conn:
            portfolio = (
                await conn.execute(
                    text("SELECT portfolio_id FROM groupings WHERE kind = :k AND grouping_id = :g"),
                    {"k": kind, "g": grouping_id},
                )
            ).scalar()
        if portfolio is None:
            return None
        if len(self.memo) < MEMO_LIMIT:
            self.memo[("grouping", kind, grouping_id)] = str(portfolio)
        return str(portfolio)

    async def closed(self, kind: GroupingKind, grouping_id: str) -> bool:
        """Whether the grouping is closed (read every time: closing is the one change a grouping sees)."""
        sql = "SELECT closed_on FROM groupings WHERE kind = $1 AND grouping_id = $2"
        conn = command_connection()  # in a command's check: its transaction's connection
        rows = (
            await (await driver(conn)).fetch(sql, kind, grouping_id)
            if conn
            else await fetch_alone(self.engine, sql, kind, grouping_id)
        )
        return bool(rows) and rows[0]["closed_on"] is not None

    async def open_members(self, kind: GroupingKind, grouping_id: str) -> tuple[str, ...]:
        """The open projects (by code) of a portfolio or programme, then a portfolio's open programmes."""
        column = "portfolio_id" if kind == "portfolio" else "programme_id"
        async with self.engine.connect() as conn:
            projects = (
                await conn.execute(
                    text(
                        f"SELECT code FROM projects WHERE {column} = :g "
                        "AND status NOT IN ('completed', 'terminated') ORDER BY code LIMIT 50"
                    ),
                    {"g": grouping_id},
                )
            ).scalars()
            members = [f"project {code}" for code in projects]
            if kind == "portfolio":
                programmes = await conn.execute(
                    text(
                        "SELECT grouping_id FROM groupings WHERE kind = 'programme' AND portfolio_id = :g "
                        "AND closed_on IS NULL ORDER BY grouping_id LIMIT 50"
                    ),
                    {"g": grouping_id},
                )
                members += [f"programme {p}" for p in programmes.scalars()]
        return tuple(members)
