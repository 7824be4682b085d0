"""The write-side projector of the projects service's query tables (:mod:`projects.tables`), run in the command's
transaction from the new state: folding the event table again gives the same rows (``CommandExecutor.rebuild``).

The service consumes no other service's topic.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from projects import domain
from projects.views import project_view
from shared.contracts.projects import PortfolioCreated, ProgrammeCreated
from shared.db import driver
from shared.errors import DuplicateError
from shared.events import RecordedEvent


async def project(conn: AsyncConnection, state: Any, version: int, events: Sequence[RecordedEvent]) -> None:
    """Apply a command's outcome to the query tables (inside the command's transaction)."""
    if isinstance(state, domain.Project):
        await _upsert_project(conn, state, version, events[0], events[-1])
    for recorded in events:
        match recorded.event:
            case PortfolioCreated() as e:
                await _insert_grouping(
                    conn, "portfolio", e.portfolio_id, e.portfolio_id, e.name, e.description, recorded
                )
            case ProgrammeCreated() as e:
                await _insert_grouping(
                    conn, "programme", e.programme_id, e.portfolio_id, e.name, e.description, recorded
                )


async def _upsert_project(
    conn: AsyncConnection, state: domain.Project, version: int, first: RecordedEvent, last: RecordedEvent
) -> None:
    try:
        await (await driver(conn)).execute(
            "INSERT INTO projects (project_id, portfolio_id, programme_id, code, name, status, manager, currency, "
            "planned_start, planned_end, version, registered_at, updated_at, doc) VALUES ($1, $2, $3, $4, $5, $6, $7, "
            "$8, $9, $10, $11, $12, $13, $14) "
            "ON CONFLICT (project_id) DO UPDATE SET status = excluded.status, version = excluded.version, "
            "updated_at = excluded.updated_at, doc = excluded.doc",
            state.project_id,
            state.portfolio_id or "",
            state.programme_id,
            state.code,
            state.name,
            state.status.value,
            state.manager,
            state.currency,
            state.planned_start,
            state.planned_end,
            version,
            first.recorded_at,
            last.recorded_at,
            json.dumps(project_view(state, version)),
        )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "projects_portfolio_code_key":
            raise DuplicateError(f"code {state.code} is already used in this portfolio", field="code") from exc
        raise


async def _insert_grouping(
    conn: AsyncConnection,
    kind: str,
    grouping_id: str,
    portfolio_id: str,
    name: str,
    description: str,
    recorded: RecordedEvent,
) -> None:
    await conn.execute(
        text(
            "INSERT INTO groupings (kind, grouping_id, portfolio_id, name, description, created_at) "
            "VALUES (:k, :g, :p, :n, :d, :t)"
        ),
        {"k": kind, "g": grouping_id, "p": portfolio_id, "n": name, "d": description, "t": recorded.recorded_at},
    )
