"""The facts the budget's commands need, read from this service's reference tables (fed from ``pmo.projects.v1``
by :class:`budget.projections.ProjectsReference`): the implementation of :class:`budget.handlers.BudgetFacts`."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from budget.domain import KnownProject


class SqlBudgetFacts:
    """:class:`budget.handlers.BudgetFacts` over ``known_projects`` and ``known_milestones``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def known_project(self, project_id: UUID) -> KnownProject | None:
        """The project's currency, status and planned milestones; None for a project this service never saw."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    text("SELECT currency, status FROM known_projects WHERE project_id = :p"), {"p": project_id}
                )
            ).first()
            if row is None:
                return None
            milestones = await conn.execute(
                text("SELECT milestone_id FROM known_milestones WHERE project_id = :p"), {"p": project_id}
            )
            return KnownProject(str(row.currency), str(row.status), frozenset(r.milestone_id for r in milestones))
