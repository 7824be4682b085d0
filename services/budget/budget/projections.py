"""The budget service's projections (tables in :mod:`budget.tables`).

* :func:`project`: the query tables ``budgets`` and ``commitments``, written from the budget's state in the
  command's transaction;
* :class:`ProjectsReference`: ``known_projects`` / ``known_milestones``, consumed from ``pmo.projects.v1`` (a
  budget is only baselined for a project this service has seen registered).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from budget import domain
from budget.views import budget_view
from shared.contracts import projects
from shared.events import RecordedEvent
from shared.jsonable import jsonable
from shared.kafka import ConsumedEvent


async def project(conn: AsyncConnection, state: Any, version: int, events: Sequence[RecordedEvent]) -> None:
    """Write the budget's query rows from its new state (inside the command's transaction)."""
    assert isinstance(state, domain.Budget)
    view = budget_view(state, version)
    await conn.execute(
        text(
            "INSERT INTO budgets (project_id, currency, version, updated_at, doc) VALUES (:p, :c, :v, :t, :d) "
            "ON CONFLICT (project_id) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at, "
            "doc = excluded.doc"
        ),
        {"p": state.project_id, "c": state.currency, "v": version, "t": events[-1].recorded_at, "d": json.dumps(view)},
    )
    touched = {getattr(r.event, "commitment_id", None) for r in events} - {None}
    for commitment_id in touched:
        c = state.commitments[commitment_id]  # type: ignore[index]
        await conn.execute(
            text(
                "INSERT INTO commitments (commitment_id, project_id, kind, vendor, reference, category, milestone_id, "
                "status, amount, currency, doc) VALUES (:id, :p, :k, :v, :r, :cat, :m, :s, :a, :cur, :d) "
                "ON CONFLICT (commitment_id) DO UPDATE SET status = excluded.status, amount = excluded.amount, "
                "doc = excluded.doc"
            ),
            {
                "id": c.commitment_id,
                "p": state.project_id,
                "k": c.kind.value,
                "v": c.vendor,
                "r": c.reference,
                "cat": c.category.value,
                "m": c.milestone_id,
                "s": c.status.value,
                "a": c.amount.amount,
                "cur": c.amount.currency,
                "d": json.dumps(jsonable(c)),
            },
        )


class ProjectsReference:
    """Consumes ``pmo.projects.v1`` into ``known_projects`` and ``known_milestones``."""

    name = "budget.projects"
    topics = (projects.TOPIC,)
    tables = ("known_projects", "known_milestones")

    async def apply(self, conn: AsyncConnection, event: ConsumedEvent) -> None:
        if (event.name, event.version) not in projects.REGISTRY:
            return
        decoded = projects.REGISTRY.decode(event.name, event.version, event.data)
        match decoded:
            case projects.ProjectRegistered():
                await conn.execute(
                    text(
                        "INSERT INTO known_projects (project_id, code, currency, status) VALUES (:p, :c, :cur, "
                        "'proposed') ON CONFLICT (project_id) DO NOTHING"
                    ),
                    {"p": decoded.project_id, "c": decoded.code, "cur": decoded.currency},
                )
            case projects.ProjectCompleted() | projects.ProjectTerminated():
                status = "completed" if isinstance(decoded, projects.ProjectCompleted) else "terminated"
                await conn.execute(
                    text("UPDATE known_projects SET status = :s WHERE project_id = :p"),
                    {"s": status, "p": decoded.project_id},
                )
            case projects.MilestonePlanned():
                await conn.execute(
                    text(
                        "INSERT INTO known_milestones (milestone_id, project_id, name, due_date) "
                        "VALUES (:m, :p, :n, :d) ON CONFLICT (milestone_id) DO NOTHING"
                    ),
                    {"m": decoded.milestone_id, "p": decoded.project_id, "n": decoded.name, "d": decoded.due_date},
                )
            case projects.MilestoneRescheduled():
                await conn.execute(
                    text("UPDATE known_milestones SET due_date = :d WHERE milestone_id = :m"),
                    {"d": decoded.due_date, "m": decoded.milestone_id},
                )
