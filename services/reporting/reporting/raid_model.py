"""The ``raid`` read model: each project's RAID log as reporting folds it (:class:`reporting.domain.raid.RaidBook`),
fed from ``pmo.projects.v1``, and the reads the RAID reports, the dashboard's risk map and the evaluator make.

``raid_books``: one row per project with a RAID event (the book as JSON); ``raid_providers``: which projects wait on
which provider (open or closed dependencies), so that a change in a provider's books marks its dependants for
evaluation (:func:`mark_dirty`, called by the facts consumer in the transaction that updates the provider's
books). Applying a RAID event marks its own project for evaluation.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from reporting.domain.raid import RaidBook
from shared import wakeups
from shared.contracts import projects
from shared.contracts import raid as raid_contracts
from shared.contracts.raid import DependencyDeclared
from shared.events import DomainEvent
from shared.kafka import ConsumedEvent

TABLES = ("raid_books", "raid_providers")

DDL = [
    """
    CREATE TABLE IF NOT EXISTS raid_books (
        project_id  uuid PRIMARY KEY,
        book        jsonb NOT NULL,
        updated_at  timestamptz NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS raid_providers (
        provider_project_id uuid NOT NULL,
        project_id          uuid NOT NULL,
        PRIMARY KEY (provider_project_id, project_id)
    )
    """,
]


RAID_EVENTS = frozenset(event.event_name for event in raid_contracts.EVENTS)
"""The events of the RAID logs: every other record of the topic is skipped without being decoded."""


class RaidProjection:
    """Projects' RAID logs (``pmo.projects.v1``); exactly once through the consumer's inbox."""

    name = "reporting.raid"
    topics = (projects.TOPIC,)
    tables = TABLES

    async def apply(self, conn: AsyncConnection, event: ConsumedEvent) -> None:
        await self.apply_batch(conn, [event])

    async def apply_batch(self, conn: AsyncConnection, events: Sequence[ConsumedEvent]) -> None:
        """The RAID events of a batch folded into their projects' books, each book read (locked) and written once."""
        raid: list[tuple[uuid.UUID, ConsumedEvent, DomainEvent]] = []
        for event in events:
            if event.service != "projects" or event.name not in RAID_EVENTS:
                continue
            if (event.name, event.version) not in projects.REGISTRY:
                continue
            decoded = event.contract(projects.REGISTRY)
            project_id = getattr(decoded, "project_id", None)
            if isinstance(project_id, uuid.UUID):
                raid.append((project_id, event, decoded))
        if not raid:
            return
        ids = sorted({p for p, _, _ in raid})
        rows = await conn.execute(
            text(
                "SELECT project_id, book::text AS book FROM raid_books WHERE project_id = ANY(CAST(:p AS uuid[])) "
                "ORDER BY project_id FOR UPDATE"
            ),
            {"p": ids},
        )
        books = {r.project_id: RaidBook.from_json(r.book) for r in rows}
        latest: dict[uuid.UUID, datetime] = {}
        providers: set[tuple[uuid.UUID, uuid.UUID]] = set()
        for project_id, event, decoded in raid:
            book = books.setdefault(project_id, RaidBook(str(project_id)))
            book.apply(decoded, event.event_id)
            latest[project_id] = max(latest.get(project_id, event.time), event.time)
            if isinstance(decoded, DependencyDeclared):
                providers.add((decoded.provider_project_id, project_id))
        await conn.execute(
            text(
                "INSERT INTO raid_books (project_id, book, updated_at) SELECT p, b::jsonb, t FROM "
                "unnest(CAST(:p AS uuid[]), CAST(:b AS text[]), CAST(:t AS timestamptz[])) AS u(p, b, t) "
                "ON CONFLICT (project_id) DO UPDATE SET book = excluded.book, updated_at = excluded.updated_at"
            ),
            {"p": ids, "b": [books[p].to_json() for p in ids], "t": [latest[p] for p in ids]},
        )
        if providers:
            pairs = sorted(providers)
            await conn.execute(
                text(
                    "INSERT INTO raid_providers (provider_project_id, project_id) SELECT q, p FROM "
                    "unnest(CAST(:q AS uuid[]), CAST(:p AS uuid[])) AS u(q, p) ON CONFLICT DO NOTHING"
                ),
                {"q": [q for q, _ in pairs], "p": [p for _, p in pairs]},
            )
        await conn.execute(
            text(
                "INSERT INTO dirty_projects (project_id) SELECT unnest(CAST(:p AS uuid[])) ORDER BY 1 "
                "ON CONFLICT DO NOTHING"
            ),
            {"p": ids},
        )
        await wakeups.notify_once(conn, EVALUATOR_CHANNEL)


EVALUATOR_CHANNEL = wakeups.channel_sql("pmo_evaluator_")
"""The notification channel of the schema's alert evaluator (:mod:`reporting.evaluation`), sent once per consumer
transaction that marks projects for evaluation, delivered at its commit."""


async def mark_dirty(conn: AsyncConnection, project_ids: Sequence[uuid.UUID]) -> None:
    """Mark ``project_ids`` for evaluation, and the projects that depend on any of them (a provider's facts changed:
    its dependants' late-dependency alerts may change too), in one statement and one lock order (by project id)."""
    await conn.execute(
        text(
            "INSERT INTO dirty_projects (project_id) SELECT p FROM (SELECT unnest(CAST(:p AS uuid[])) AS p UNION "
            "SELECT project_id FROM raid_providers WHERE provider_project_id = ANY(CAST(:p AS uuid[]))) AS x "
            "ORDER BY p ON CONFLICT DO NOTHING"
        ),
        {"p": sorted(set(project_ids))},
    )
    await wakeups.notify_once(conn, EVALUATOR_CHANNEL)


async def raid_books_of(engine: AsyncEngine, project_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, RaidBook]:
    """The RAID books of ``project_ids`` that have one."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT project_id, book::text AS book FROM raid_books WHERE project_id = ANY(CAST(:p AS uuid[]))"),
            {"p": list(project_ids)},
        )
        return {r.project_id: RaidBook.from_json(r.book) for r in rows}


async def raid_books_in(
    engine: AsyncEngine,
    portfolio_id: str | None,
    programme_id: str | None,
    scope: tuple[str, dict[str, Any]] | None = None,
    project_id: uuid.UUID | None = None,
) -> list[tuple[dict[str, Any], RaidBook]]:
    """The RAID books of the projects of a portfolio and/or programme (or of one project; nothing given: every
    project), in the caller's ``scope`` (a condition on ``pp.project_id`` and its parameters), each with its
    project's line (code, name, portfolio, programme, currency), by project code."""
    where: list[str] = []
    params: dict[str, Any] = {}
    if portfolio_id is not None:
        where.append("pp.portfolio_id = :pf")
        params["pf"] = portfolio_id
    if programme_id is not None:
        where.append("pp.programme_id = :pg")
        params["pg"] = programme_id
    if project_id is not None:
        where.append("pp.project_id = :pid")
        params["pid"] = project_id
    if scope is not None:
        where.append(scope[0])
        params.update(scope[1])
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT pp.project_id, pp.code, pp.name, pp.portfolio_id, pp.programme_id, pp.currency, "
                "rb.book::text AS book FROM raid_books rb JOIN portfolio_projects pp USING (project_id) "
                f"{clause} ORDER BY pp.code, pp.project_id"
            ),
            params,
        )
        return [
            (
                {
                    "project_id": str(r.project_id),
                    "code": r.code,
                    "name": r.name,
                    "portfolio_id": r.portfolio_id,
                    "programme_id": r.programme_id,
                    "currency": r.currency,
                },
                RaidBook.from_json(r.book),
            )
            for r in rows
        ]
