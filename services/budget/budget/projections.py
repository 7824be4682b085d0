"""The budget service's projections (tables in :mod:`budget.tables`).

* :func:`project`: the query tables ``budgets``, ``commitments`` and ``estimates``, written from the budget's state
  and events, and ``exchange_rates`` from an exchange-rate stream's events, in the command's transaction;
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
from budget.views import budget_view, commitment_json, estimate_document
from shared.authz import record_project_move, record_project_scope
from shared.contracts import projects
from shared.contracts.budget import EstimateToCompleteSubmitted, ExchangeRateRecorded
from shared.contracts.project_edits import ProjectMoved
from shared.events import RecordedEvent
from shared.kafka import ConsumedEvent
from shared.pg import driver


async def project(conn: AsyncConnection, state: Any, version: int, events: Sequence[RecordedEvent]) -> None:
    """Write the query rows of a command's aggregate from its new state and events (inside the command's
    transaction)."""
    match state:
        case domain.Budget():
            await _project_budget(conn, state, version, events)
        case domain.ExchangeRatePair():
            await _project_rates(conn, events)


async def _project_rates(conn: AsyncConnection, events: Sequence[RecordedEvent]) -> None:
    for recorded in events:
        event = recorded.event
        if not isinstance(event, ExchangeRateRecorded):
            continue
        await conn.execute(
            text(
                "INSERT INTO exchange_rates (base, quote, effective_on, rate, source, recorded_by, recorded_at, "
                "replaces_rate) VALUES (:b, :q, :on, :r, :s, :by, :t, :replaces) ON CONFLICT (base, quote, "
                "effective_on) DO UPDATE SET rate = excluded.rate, source = excluded.source, recorded_by = "
                "excluded.recorded_by, recorded_at = excluded.recorded_at, replaces_rate = excluded.replaces_rate"
            ),
            {
                "b": event.base,
                "q": event.quote,
                "on": event.effective_on,
                "r": event.rate,
                "s": event.source,
                "by": event.recorded_by,
                "t": recorded.recorded_at,
                "replaces": event.replaces_rate,
            },
        )


async def _project_budget(
    conn: AsyncConnection, state: domain.Budget, version: int, events: Sequence[RecordedEvent]
) -> None:
    view = budget_view(state, version)
    db = await driver(conn)  # every budget command: asyncpg's prepared statements
    await db.execute(
        "INSERT INTO budgets (project_id, currency, version, updated_at, doc) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (project_id) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at, "
        "doc = excluded.doc",
        state.project_id,
        state.currency,
        version,
        events[-1].recorded_at,
        json.dumps(view),
    )
    touched = {getattr(r.event, "commitment_id", None) for r in events} - {None}
    for commitment_id in touched:
        c = state.commitments[commitment_id]  # type: ignore[index]
        await db.execute(
            "INSERT INTO commitments (commitment_id, project_id, kind, vendor, reference, category, milestone_id, "
            "status, amount, currency, doc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
            "ON CONFLICT (commitment_id) DO UPDATE SET status = excluded.status, amount = excluded.amount, "
            "doc = excluded.doc",
            c.commitment_id,
            state.project_id,
            c.kind.value,
            c.vendor,
            c.reference,
            c.category.value,
            c.milestone_id,
            c.status.value,
            c.amount.amount,
            c.amount.currency,
            json.dumps(commitment_json(state, c)),
        )
    for recorded in events:
        if isinstance(recorded.event, EstimateToCompleteSubmitted):
            estimate = recorded.event
            await conn.execute(
                text(
                    "INSERT INTO estimates (estimate_id, project_id, as_of, recorded_at, doc) VALUES (:id, :p, :a, "
                    ":t, :d) ON CONFLICT (estimate_id) DO NOTHING"
                ),
                {
                    "id": estimate.estimate_id,
                    "p": estimate.project_id,
                    "a": estimate.as_of,
                    "t": recorded.recorded_at,
                    "d": json.dumps(estimate_document(estimate, recorded.recorded_at)),
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
                        "INSERT INTO known_projects (project_id, code, currency, status, manager) VALUES (:p, :c, "
                        ":cur, 'proposed', :m) ON CONFLICT (project_id) DO UPDATE SET manager = "
                        "coalesce(known_projects.manager, excluded.manager)"
                    ),
                    {"p": decoded.project_id, "c": decoded.code, "cur": decoded.currency, "m": decoded.manager},
                )
                await record_project_scope(conn, decoded)
            case ProjectMoved():
                await record_project_move(conn, decoded)
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
