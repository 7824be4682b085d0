"""The SQL behind the RAID handlers' reading interface (:class:`projects.handlers.raid.RaidFacts`) and the RAID
log's list routes, over the service's own query tables (``projects``, ``raid_items``, ``raid_logs``)."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from projects.domain.raid_state import DependencyGraph, ProjectFacts
from shared.errors import NotFoundError
from shared.immutable import frozen


class RaidTables:
    """The facts a RAID command needs, as the query tables hold them when the command starts."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def project(self, project_id: uuid.UUID) -> ProjectFacts:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT status, currency, ARRAY(SELECT (m->>'milestone_id')::uuid FROM "
                        "jsonb_array_elements(doc->'milestones') AS m) AS milestones "
                        "FROM projects WHERE project_id = :p"
                    ),
                    {"p": project_id},
                )
            ).first()
        if row is None:
            return ProjectFacts(project_id, None)
        return ProjectFacts(project_id, row.status, row.currency, frozenset(row.milestones or ()))

    async def item_kinds(self, project_id: uuid.UUID, item_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The kind of each of ``item_ids`` that is an item of the project's log (what a status report refers to)."""
        if not item_ids:
            return {}
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT item_id, kind FROM raid_items WHERE project_id = :p AND item_id = ANY(CAST(:i AS uuid[]))"
                ),
                {"p": project_id, "i": list(item_ids)},
            )
            return {r.item_id: r.kind for r in rows}

    async def dependency_graph(self) -> DependencyGraph:
        """Every open dependency between projects (consumer -> providers)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT project_id, array_agg(DISTINCT provider_project_id) AS providers FROM raid_items "
                    "WHERE kind = 'dependency' AND status = 'open' GROUP BY project_id"
                )
            )
            edges = {r.project_id: frozenset(r.providers) for r in rows}
        return DependencyGraph(frozen(edges))


async def raid_log(engine: AsyncEngine, project_id: uuid.UUID) -> tuple[dict[str, Any], int]:
    """The project's whole log by kind and its version (0: nothing entered yet); NotFoundError for an unknown
    project."""
    async with engine.connect() as conn:
        exists = (await conn.execute(text("SELECT 1 FROM projects WHERE project_id = :p"), {"p": project_id})).scalar()
        if exists is None:
            raise NotFoundError(f"project {project_id} does not exist")
        version = (
            await conn.execute(text("SELECT version FROM raid_logs WHERE project_id = :p"), {"p": project_id})
        ).scalar() or 0
        rows = await conn.execute(
            text("SELECT kind, doc FROM raid_items WHERE project_id = :p ORDER BY updated_at, item_id"),
            {"p": project_id},
        )
        log: dict[str, Any] = {
            "project_id": str(project_id),
            "version": version,
            "risks": [],
            "issues": [],
            "assumptions": [],
            "decisions": [],
            "dependencies": [],
        }
        for r in rows:
            log[f"{r.kind}s" if r.kind != "dependency" else "dependencies"].append(dict(r.doc))
    return log, version


async def raid_items(
    engine: AsyncEngine,
    project_id: uuid.UUID,
    kind: str | None,
    status: str | None,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    """A page of the project's items (of one kind, in one status), oldest change first."""
    await raid_log(engine, project_id)  # 404 for an unknown project
    where = ["project_id = :p"]
    params: dict[str, Any] = {"p": project_id, "limit": limit, "offset": offset}
    if kind is not None:
        where.append("kind = :k")
        params["k"] = kind
    if status is not None:
        where.append("status = :s")
        params["s"] = status
    clause = " AND ".join(where)
    async with engine.connect() as conn:
        total = (await conn.execute(text(f"SELECT count(*) FROM raid_items WHERE {clause}"), params)).scalar_one()
        rows = await conn.execute(
            text(f"SELECT doc FROM raid_items WHERE {clause} ORDER BY updated_at, item_id LIMIT :limit OFFSET :offset"),
            params,
        )
        items = [dict(r.doc) for r in rows]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


async def raid_item(engine: AsyncEngine, project_id: uuid.UUID, item_id: uuid.UUID) -> dict[str, Any]:
    async with engine.connect() as conn:
        doc = (
            await conn.execute(
                text("SELECT doc FROM raid_items WHERE project_id = :p AND item_id = :i"),
                {"p": project_id, "i": item_id},
            )
        ).scalar()
    if doc is None:
        raise NotFoundError(f"item {item_id} is not in the RAID log of project {project_id}")
    return dict(doc)
