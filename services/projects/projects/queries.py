"""The facts the projects service's handlers read (:class:`projects.handlers.GroupingFacts`), over its own query
tables."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from projects.handlers import GroupingKind

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
