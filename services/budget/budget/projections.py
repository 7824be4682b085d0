"""The budget service's tables.

* ``known_projects`` / ``known_milestones``: reference data consumed from ``pmo.projects.v1`` (a budget is only
  baselined for a project this service has seen registered);
* ``budgets`` and ``commitments``: query tables written from the budget's state in the command's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from budget import domain
from shared.contracts import projects
from shared.contracts.budget import CostCategory
from shared.events import RecordedEvent
from shared.jsonable import jsonable
from shared.kafka import ConsumedEvent

TABLES = ("budgets", "commitments")

DDL = [
    """
    CREATE TABLE IF NOT EXISTS known_projects (
        project_id  uuid PRIMARY KEY,
        code        text NOT NULL,
        currency    text NOT NULL,
        status      text NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS known_milestones (
        milestone_id uuid PRIMARY KEY,
        project_id   uuid NOT NULL,
        name         text NOT NULL,
        due_date     date NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS known_milestones_project ON known_milestones (project_id)",
    """
    CREATE TABLE IF NOT EXISTS budgets (
        project_id  uuid PRIMARY KEY,
        currency    text NOT NULL,
        version     integer NOT NULL,
        updated_at  timestamptz NOT NULL,
        doc         jsonb NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS commitments (
        commitment_id uuid PRIMARY KEY,
        project_id    uuid NOT NULL,
        kind          text NOT NULL,
        vendor        text NOT NULL,
        reference     text NOT NULL,
        category      text NOT NULL,
        milestone_id  uuid,
        status        text NOT NULL,
        amount        numeric NOT NULL,
        currency      text NOT NULL,
        doc           jsonb NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS commitments_project ON commitments (project_id, status)",
]


def budget_view(state: domain.Budget, version: int) -> dict[str, Any]:
    """The budget as the API serves it: baseline vs changes vs committed vs remaining per category."""
    categories = []
    for category in CostCategory:
        budget = state.category_budget(category)
        committed = state.committed(category)
        categories.append(
            {
                "category": category.value,
                "baseline": jsonable(state.baseline.get(category)),
                "budget": jsonable(budget),
                "committed": jsonable(committed),
                "remaining": jsonable(budget - committed),
            }
        )
    return {
        "project_id": str(state.project_id),
        "currency": state.currency,
        "version": version,
        "policy": state.policy.value,
        "policy_change_requested": (
            {"policy": state.policy_requested[0].value, "requested_by": state.policy_requested[1]}
            if state.policy_requested
            else None
        ),
        "baseline_total": jsonable(state.baseline_total),
        "bac": jsonable(state.bac),
        "committed": jsonable(state.committed_total),
        "categories": categories,
        "phasing": jsonable(state.phasing),
        "change_requests": jsonable(list(state.changes.values())),
        "funding_sources": jsonable(list(state.sources.values())),
        "tranches": sorted(jsonable(list(state.tranches.values())), key=lambda t: t["available_on"]),
        "commitments": jsonable(list(state.commitments.values())),
    }


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
