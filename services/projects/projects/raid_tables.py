"""The query tables of the projects' RAID logs and their projector (run in the command's transaction, like
:func:`projects.projections.project`; folding the event table again gives the same rows).

``raid_items``: one row per item of any log (its kind, status, the provider of a dependency and its whole view as a
document), which the log's list routes and the dependency-cycle check read; ``raid_logs``: each log's version (the
``ETag`` of its reads).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from projects.domain.raid import RaidEvent
from projects.domain.raid_state import RaidLog
from projects.raid_views import item_view
from shared.events import RecordedEvent

TABLES = ("raid_items", "raid_logs")

DDL = [
    """
    CREATE TABLE IF NOT EXISTS raid_items (
        project_id          uuid NOT NULL,
        item_id             uuid NOT NULL,
        kind                text NOT NULL,
        status              text NOT NULL,
        provider_project_id uuid,
        updated_at          timestamptz NOT NULL,
        doc                 jsonb NOT NULL,
        PRIMARY KEY (project_id, item_id)
    )
    """,
    "CREATE INDEX IF NOT EXISTS raid_items_provider ON raid_items (provider_project_id) "
    "WHERE provider_project_id IS NOT NULL",
    """
    CREATE TABLE IF NOT EXISTS raid_logs (
        project_id    uuid PRIMARY KEY,
        version       integer NOT NULL,
        updated_at    timestamptz NOT NULL
    )
    """,
]


def _item_id(event: RaidEvent) -> UUID:
    for name in ("risk_id", "issue_id", "assumption_id", "decision_id", "dependency_id"):
        value = getattr(event, name, None)
        if isinstance(value, UUID):
            return value
    raise ValueError(f"{event.event_name} names no RAID item")  # pragma: no cover (every RAID event names one)


async def project(conn: AsyncConnection, state: RaidLog, version: int, events: Sequence[RecordedEvent]) -> None:
    """The rows of the items ``events`` changed, as ``state`` holds them, and the log's version."""
    if state.project_id is None or not events:
        return
    touched: dict[UUID, RecordedEvent] = {}
    for recorded in events:
        if isinstance(recorded.event, RaidEvent):
            # IssueRaised names the risk it comes from besides its own id: the issue is the item.
            event = recorded.event
            item = getattr(event, "issue_id", None) or _item_id(event)
            touched[item] = recorded
    for item_id, recorded in touched.items():
        view = item_view(state, item_id)
        if view is None:  # pragma: no cover (the state holds every item its events made)
            continue
        provider = view.get("provider_project_id")
        await conn.execute(
            text(
                "INSERT INTO raid_items (project_id, item_id, kind, status, provider_project_id, updated_at, doc) "
                "VALUES (:p, :i, :k, :s, CAST(:q AS uuid), :t, CAST(:d AS jsonb)) "
                "ON CONFLICT (project_id, item_id) DO UPDATE SET status = excluded.status, "
                "updated_at = excluded.updated_at, doc = excluded.doc"
            ),
            {
                "p": state.project_id,
                "i": item_id,
                "k": view["kind"],
                "s": view["status"],
                "q": provider,
                "t": recorded.recorded_at,
                "d": json.dumps(view),
            },
        )
    await conn.execute(
        text(
            "INSERT INTO raid_logs (project_id, version, updated_at) VALUES (:p, :v, :t) "
            "ON CONFLICT (project_id) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at"
        ),
        {"p": state.project_id, "v": version, "t": events[-1].recorded_at},
    )
