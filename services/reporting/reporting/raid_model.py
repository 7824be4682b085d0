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
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from reporting.domain.raid import RaidBook
from shared.contracts import projects
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


class RaidProjection:
    """Projects' RAID logs (``pmo.projects.v1``); exactly once through the consumer's inbox."""

    name = "reporting.raid"
    topics = (projects.TOPIC,)
    tables = TABLES

    async def apply(self, conn: AsyncConnection, event: ConsumedEvent) -> None:
        if event.service != "projects" or (event.name, event.version) not in projects.REGISTRY:
            return
        decoded = event.contract(projects.REGISTRY)
        project_id = getattr(decoded, "project_id", None)
        if not isinstance(project_id, uuid.UUID):
            return
        raw = (
            await conn.execute(
                text("SELECT book::text FROM raid_books WHERE project_id = :p FOR UPDATE"), {"p": project_id}
            )
        ).scalar()
        book = RaidBook(str(project_id)) if raw is None else RaidBook.from_json(raw)
        if not book.apply(decoded, event.event_id):
            return
        await conn.execute(
            text(
                "INSERT INTO raid_books (project_id, book, updated_at) VALUES (:p, CAST(:b AS jsonb), :t) "
                "ON CONFLICT (project_id) DO UPDATE SET book = excluded.book, updated_at = excluded.updated_at"
            ),
            {"p": project_id, "b": book.to_json(), "t": event.time},
        )
        if isinstance(decoded, projects.DependencyDeclared):
            await conn.execute(
                text(
                    "INSERT INTO raid_providers (provider_project_id, project_id) VALUES (:q, :p) "
                    "ON CONFLICT DO NOTHING"
                ),
                {"q": decoded.provider_project_id, "p": project_id},
            )
        await conn.execute(
            text("INSERT INTO dirty_projects (project_id) VALUES (:p) ON CONFLICT DO NOTHING"), {"p": project_id}
        )


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
