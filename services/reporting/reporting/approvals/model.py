"""The ``approvals`` read model: every decision waiting across the services, fed from their topics by
:class:`ApprovalsProjection` (exactly once through the consumer's inbox), as :mod:`reporting.approvals.rules` says.

``approval_items``: one row per open item (``pending`` false: known but not waiting for a decision now, e.g. a
matched invoice); ``excluded``: the skeletons (:func:`shared.identity.skeleton`) of the people who may never decide it
(its requester; a project's manager). ``approval_projects``: who registered and who manages each project (excluded
from its gate decisions). ``approval_resources``: whose work a resource's sheets are (excluded from approving them;
read when the inbox is asked, since a resource's events and its sheets' come on different partitions).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from reporting.approvals import rules
from shared.contracts import budget, invoicing, projects, resources
from shared.events import EventRegistry
from shared.identity import skeleton
from shared.kafka import ConsumedEvent

TABLES = ("approval_items", "approval_projects", "approval_resources")

DDL = [
    """
    CREATE TABLE IF NOT EXISTS approval_items (
        item_key      text PRIMARY KEY,
        kind          text NOT NULL,
        project_id    uuid NOT NULL,
        resource_id   uuid,
        version       integer,
        what          text NOT NULL,
        detail        text,
        amount        numeric,
        currency      text,
        requested_by  text NOT NULL,
        requested_at  timestamptz NOT NULL,
        excluded      text[] NOT NULL,
        params        jsonb NOT NULL,
        pending       boolean NOT NULL,
        event_id      uuid NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS approval_items_waiting ON approval_items (requested_at, item_key) WHERE pending",
    """
    CREATE TABLE IF NOT EXISTS approval_projects (
        project_id  uuid PRIMARY KEY,
        people      text[] NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS approval_resources (
        resource_id  uuid PRIMARY KEY,
        subject_key  text NOT NULL
    )
    """,
]

REGISTRIES: dict[str, EventRegistry] = {
    "projects": projects.REGISTRY,
    "budget": budget.REGISTRY,
    "resources": resources.REGISTRY,
    "invoicing": invoicing.REGISTRY,
}


class ApprovalsProjection:
    """The approvals inbox's read model (the four services' topics)."""

    name = "reporting.approvals"
    topics = (projects.TOPIC, budget.TOPIC, resources.TOPIC, invoicing.TOPIC)
    tables = TABLES

    async def apply(self, conn: AsyncConnection, event: ConsumedEvent) -> None:
        await self.apply_batch(conn, [event])

    async def apply_batch(self, conn: AsyncConnection, events: Sequence[ConsumedEvent]) -> None:
        """The batch's events the inbox reads, in order: one statement per change, but the decisions that close
        items (every approved work sheet, most of a catch-up's changes) one statement per run of them between other
        changes (closes commute: each deletes its item unless a later version of it is open). The other facts are
        skipped undecoded."""
        changes: list[tuple[rules.Change, uuid.UUID]] = []
        for event in events:
            names = rules.EVENTS.get(event.service)
            if names is None or event.name not in names:
                continue
            registry = REGISTRIES[event.service]
            if (event.name, event.version) not in registry:
                continue
            decoded = event.contract(registry)
            changes.extend(
                (change, event.event_id) for change in rules.changes(decoded, event.metadata.actor, event.time)
            )
        await apply_changes(conn, changes)


async def apply_changes(conn: AsyncConnection, changes: Sequence[tuple[rules.Change, uuid.UUID]]) -> None:
    """Each change (with the id of the event it comes from) in order, a run of closes in one statement: what
    applying them one by one gives."""
    closing: list[rules.Close] = []
    for change, event_id in changes:
        if isinstance(change, rules.Close):
            closing.append(change)
            continue
        await _close(conn, closing)
        closing = []
        await _apply(conn, change, event_id)
    await _close(conn, closing)


async def _close(conn: AsyncConnection, closing: Sequence[rules.Close]) -> None:
    """Delete each item unless it is open at a later version than the one decided (in one statement)."""
    if not closing:
        return
    await conn.execute(
        text(
            "DELETE FROM approval_items a USING unnest(CAST(:k AS text[]), CAST(:v AS integer[])) AS c(k, v) "
            "WHERE a.item_key = c.k AND (c.v IS NULL OR a.version IS NULL OR a.version <= c.v)"
        ),
        {"k": [c.key for c in closing], "v": [c.version for c in closing]},
    )


async def _apply(conn: AsyncConnection, change: rules.Change, event_id: uuid.UUID) -> None:
    match change:
        case rules.Open():
            await _open(conn, change, event_id)
        case rules.Close():
            await _close(conn, [change])
        case rules.Park():
            await conn.execute(
                text(
                    "UPDATE approval_items SET pending = :p, detail = COALESCE(:d, detail), "
                    "amount = COALESCE(CAST(:a AS numeric), amount), currency = COALESCE(:c, currency) "
                    "WHERE item_key = :k"
                ),
                {
                    "k": change.key,
                    "p": change.pending,
                    "d": change.detail if change.pending else None,
                    "a": None if change.amount is None else change.amount.amount,
                    "c": None if change.amount is None else change.amount.currency,
                },
            )
        case rules.ProjectPeople():
            await conn.execute(
                text(
                    "INSERT INTO approval_projects (project_id, people) VALUES (:p, :k) "
                    "ON CONFLICT (project_id) DO NOTHING"
                ),
                {"p": change.project_id, "k": sorted({skeleton(x) for x in change.people})},
            )
        case rules.ResourceSubject():
            await conn.execute(
                text(
                    "INSERT INTO approval_resources (resource_id, subject_key) VALUES (:r, :s) "
                    "ON CONFLICT (resource_id) DO UPDATE SET subject_key = excluded.subject_key"
                ),
                {"r": change.resource_id, "s": skeleton(change.subject)},
            )


async def _open(conn: AsyncConnection, item: rules.Open, event_id: uuid.UUID) -> None:
    """Insert (or replace) the item; a gate's excluded people include the project's registrant and manager (known
    from its registration, earlier on the same partition)."""
    excluded = sorted({skeleton(x) for x in (item.requested_by, *item.excluded)})
    people = "(SELECT people FROM approval_projects WHERE project_id = :p)" if item.project_people else "NULL"
    conflict = (
        "DO UPDATE SET kind = excluded.kind, project_id = excluded.project_id, resource_id = excluded.resource_id, "
        "version = excluded.version, what = excluded.what, detail = NULL, amount = excluded.amount, "
        "currency = excluded.currency, requested_by = excluded.requested_by, requested_at = excluded.requested_at, "
        "excluded = excluded.excluded, params = excluded.params, pending = excluded.pending, "
        "event_id = excluded.event_id"
        if item.replace
        else "DO NOTHING"
    )
    await conn.execute(
        text(
            "INSERT INTO approval_items (item_key, kind, project_id, resource_id, version, what, amount, currency, "
            "requested_by, requested_at, excluded, params, pending, event_id) VALUES (:k, :kind, :p, :r, :v, :w, "
            f"CAST(:a AS numeric), :c, :by, :at, ARRAY(SELECT DISTINCT unnest(CAST(:x AS text[]) || "
            f"COALESCE({people}, CAST('{{}}' AS text[]))) ORDER BY 1), CAST(:params AS jsonb), :pending, :e) "
            f"ON CONFLICT (item_key) {conflict}"
        ),
        {
            "k": item.key,
            "kind": item.kind.value,
            "p": item.project_id,
            "r": item.resource_id,
            "v": item.version,
            "w": item.what,
            "a": None if item.amount is None else item.amount.amount,
            "c": None if item.amount is None else item.amount.currency,
            "by": item.requested_by,
            "at": item.requested_at,
            "x": excluded,
            "params": json.dumps(item.params, sort_keys=True),
            "pending": item.pending,
            "e": event_id,
        },
    )
