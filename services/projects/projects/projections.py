"""The projects service's own query tables, written in the same transaction as the events they reflect."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.contracts.projects import MilestonePlanned, ProjectRegistered
from shared.errors import DuplicateError
from shared.events import RecordedEvent

DDL = [
    """
    CREATE TABLE IF NOT EXISTS projects (
        project_id    uuid PRIMARY KEY,
        portfolio_id  text NOT NULL DEFAULT '',
        programme_id  text,
        code          text NOT NULL,
        name          text NOT NULL,
        objectives    text NOT NULL,
        sponsor       text NOT NULL,
        manager       text NOT NULL,
        status        text NOT NULL,
        currency      text NOT NULL,
        planned_start date NOT NULL,
        planned_end   date NOT NULL,
        version       integer NOT NULL,
        registered_at timestamptz NOT NULL,
        updated_at    timestamptz NOT NULL,
        CONSTRAINT projects_portfolio_code_key UNIQUE (portfolio_id, code)
    )
    """,
    "CREATE INDEX IF NOT EXISTS projects_status ON projects (status)",
    """
    CREATE TABLE IF NOT EXISTS milestones (
        milestone_id        uuid PRIMARY KEY,
        project_id          uuid NOT NULL REFERENCES projects (project_id),
        name                text NOT NULL,
        due_date            date NOT NULL,
        planned_value       numeric NOT NULL,
        currency            text NOT NULL,
        acceptance_criteria text NOT NULL,
        status              text NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS milestones_project ON milestones (project_id, due_date)",
]


async def project(conn: AsyncConnection, events: Sequence[RecordedEvent]) -> None:
    """Apply freshly appended events to the query tables (called inside the command's transaction)."""
    for recorded in events:
        event = recorded.event
        match event:
            case ProjectRegistered():
                try:
                    await conn.execute(
                        text(
                            "INSERT INTO projects (project_id, portfolio_id, programme_id, code, name, objectives, "
                            "sponsor, manager, status, currency, planned_start, planned_end, version, "
                            "registered_at, updated_at) VALUES (:id, :pf, :pg, :code, :name, :obj, :sp, :mg, "
                            "'proposed', :cur, :ps, :pe, :v, :t, :t)"
                        ),
                        {
                            "id": event.project_id,
                            "pf": event.portfolio_id or "",
                            "pg": event.programme_id,
                            "code": event.code,
                            "name": event.name,
                            "obj": event.objectives,
                            "sp": event.sponsor,
                            "mg": event.manager,
                            "cur": event.currency,
                            "ps": event.planned_start,
                            "pe": event.planned_end,
                            "v": recorded.version,
                            "t": recorded.recorded_at,
                        },
                    )
                except IntegrityError as exc:
                    if "projects_portfolio_code_key" in str(exc.orig):
                        raise DuplicateError(
                            f"code {event.code} is already used in this portfolio", field="code"
                        ) from exc
                    raise
            case MilestonePlanned():
                await conn.execute(
                    text(
                        "INSERT INTO milestones (milestone_id, project_id, name, due_date, planned_value, currency, "
                        "acceptance_criteria, status) VALUES (:id, :p, :n, :d, :pv, :cur, :ac, 'planned')"
                    ),
                    {
                        "id": event.milestone_id,
                        "p": event.project_id,
                        "n": event.name,
                        "d": event.due_date,
                        "pv": event.planned_value.amount,
                        "cur": event.planned_value.currency,
                        "ac": event.acceptance_criteria,
                    },
                )
        await conn.execute(
            text("UPDATE projects SET version = :v, updated_at = :t WHERE project_id = :id"),
            {"v": recorded.version, "t": recorded.recorded_at, "id": _project_id(recorded)},
        )


def _project_id(recorded: RecordedEvent) -> str:
    return recorded.partition_key
