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

from projects import domain, people_tables, raid_tables
from projects.domain.raid_state import RaidLog
from projects.views import baseline_view, project_view
from shared.authz import record_project_move, record_project_scope
from shared.commands import rendered_json
from shared.contracts.project_edits import (
    PortfolioClosed,
    PortfolioRenamed,
    ProgrammeClosed,
    ProgrammeRenamed,
    ProjectMoved,
)
from shared.contracts.projects import (
    PerformanceBaselineApproved,
    PerformanceBaselineProposed,
    PerformanceBaselineRejected,
    PortfolioCreated,
    ProgrammeCreated,
    ProjectRegistered,
)
from shared.db import driver
from shared.errors import DuplicateError
from shared.events import RecordedEvent


async def project(conn: AsyncConnection, state: Any, version: int, events: Sequence[RecordedEvent]) -> None:
    """Apply a command's outcome to the query tables (inside the command's transaction)."""
    if isinstance(state, RaidLog):
        await raid_tables.project(conn, state, version, events)
        return
    if isinstance(state, domain.Project):
        await _upsert_project(conn, state, version, events[0], events[-1])
        await people_tables.project(conn, events)
    for recorded in events:
        match recorded.event:
            case ProjectRegistered() as registered:
                await record_project_scope(conn, registered)
            case ProjectMoved() as moved:
                await record_project_move(conn, moved)
            case PortfolioRenamed() | ProgrammeRenamed() | PortfolioClosed() | ProgrammeClosed() as e:
                await _grouping_edit(conn, e)
            case PortfolioCreated() as e:
                await _insert_grouping(
                    conn, "portfolio", e.portfolio_id, e.portfolio_id, e.name, e.description, recorded
                )
            case ProgrammeCreated() as e:
                await _insert_grouping(
                    conn, "programme", e.programme_id, e.portfolio_id, e.name, e.description, recorded
                )
            case PerformanceBaselineProposed() | PerformanceBaselineApproved() | PerformanceBaselineRejected() as e:
                await _baseline(conn, state, e, recorded)


async def _upsert_project(
    conn: AsyncConnection, state: domain.Project, version: int, first: RecordedEvent, last: RecordedEvent
) -> None:
    try:
        await (await driver(conn)).execute(
            "INSERT INTO projects (project_id, portfolio_id, programme_id, code, name, status, manager, currency, "
            "planned_start, planned_end, version, registered_at, updated_at, doc) VALUES ($1, $2, $3, $4, $5, $6, $7, "
            "$8, $9, $10, $11, $12, $13, $14) "
            "ON CONFLICT (project_id) DO UPDATE SET status = excluded.status, version = excluded.version, "
            "updated_at = excluded.updated_at, doc = excluded.doc, name = excluded.name, "
            "portfolio_id = excluded.portfolio_id, programme_id = excluded.programme_id",
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
            rendered_json(project_view, state, version),  # the same text the command answers with
        )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "projects_portfolio_code_key":
            raise DuplicateError(f"code {state.code} is already used in this portfolio", field="code") from exc
        raise


async def _baseline(
    conn: AsyncConnection,
    state: domain.Project,
    event: PerformanceBaselineProposed | PerformanceBaselineApproved | PerformanceBaselineRejected,
    recorded: RecordedEvent,
) -> None:
    """The version's row: inserted when proposed (``proposed_at``), its status and ``decided_at`` set when approved
    or rejected; its document is the version as ``state`` (the state after the command, or after the whole stream
    when rebuilding) holds it."""
    b = state.baselines[event.version - 1]
    params = {
        "p": event.project_id,
        "v": event.version,
        "s": b.status.value,
        "t": recorded.recorded_at,
        "d": json.dumps(baseline_view(b)),
    }
    if isinstance(event, PerformanceBaselineProposed):
        sql = (
            "INSERT INTO baselines (project_id, version, status, proposed_at, doc) "
            "VALUES (:p, :v, :s, :t, CAST(:d AS jsonb)) "
            "ON CONFLICT (project_id, version) DO UPDATE SET status = excluded.status, doc = excluded.doc"
        )
    else:
        sql = (
            "UPDATE baselines SET status = :s, decided_at = :t, doc = CAST(:d AS jsonb) "
            "WHERE project_id = :p AND version = :v"
        )
    await conn.execute(text(sql), params)


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


async def _grouping_edit(
    conn: AsyncConnection, event: PortfolioRenamed | ProgrammeRenamed | PortfolioClosed | ProgrammeClosed
) -> None:
    """A portfolio's or programme's new name and description, or its closing date."""
    kind, gid = (
        ("portfolio", event.portfolio_id)
        if isinstance(event, PortfolioRenamed | PortfolioClosed)
        else ("programme", event.programme_id)
    )
    params: dict[str, object]
    if isinstance(event, PortfolioRenamed | ProgrammeRenamed):
        sql, params = "name = :n, description = :d", {"n": event.name, "d": event.description}
    else:
        sql, params = "closed_on = :c", {"c": event.closed_on}
    await conn.execute(
        text(f"UPDATE groupings SET {sql} WHERE kind = :k AND grouping_id = :g"), {"k": kind, "g": gid, **params}
    )
