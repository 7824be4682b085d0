"""The read side of the projects service: the JSON views of its aggregates and the queries over its query tables
(:mod:`projects.tables`) and its event table.

Views are exact: decimals as strings, dates as ISO strings. A project's view is stored whole in ``projects.doc`` by
the projector, so what a command answers and what a query reads are the same document.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from projects import domain
from shared.errors import NotFoundError
from shared.jsonable import jsonable

View = Callable[[domain.Project, int], dict[str, Any]]
"""A view of a project's state at a version: what a command on the project answers."""

# --- command answers ----------------------------------------------------------------------------------------


def project_view(state: domain.Project, version: int) -> dict[str, Any]:
    """The JSON view of a project that the API serves (exact decimals as strings)."""
    view = jsonable(state)
    view["version"] = version
    view["planned_value"] = jsonable(state.planned_value)
    view["earned_value"] = jsonable(state.earned_value)
    view["milestones"] = sorted(view["milestones"].values(), key=lambda m: (m["due_date"], m["name"]))
    view["kpis"] = sorted(view["kpis"].values(), key=lambda k: k["name"])
    view["partners"] = sorted(view["partners"].values(), key=lambda p: p["partner_id"])  # names are not here
    view["communications"] = sorted(view["communications"].values(), key=lambda c: c["on"])
    view["value_changes"] = sorted(view["value_changes"].values(), key=lambda c: (c["requested_on"], c["change_id"]))
    view["baselines"] = [
        {k: v for k, v in b.items() if k in ("version", "status", "effective_on", "total", "management_reserve")}
        for b in view["baselines"]
    ]
    return dict(view)


def baseline_view(baseline: domain.Baseline) -> dict[str, Any]:
    """A version of the performance measurement baseline: its items, total (BAC), reserve, status and who proposed
    and approved or rejected it (a query adds when: ``proposed_at`` and ``decided_at``)."""
    return dict(jsonable(baseline))


def part_view(key: str, item_id: uuid.UUID, id_field: str) -> View:
    """A view of one item of the project view (a milestone, a KPI, ...): ``key`` is the list, ``id_field`` the
    item's id."""

    def view(state: domain.Project, version: int) -> dict[str, Any]:
        items = project_view(state, version)[key]
        return next(i for i in items if i[id_field] == str(item_id))

    return view


def gate_decision_view(decision_id: uuid.UUID) -> View:
    """A gate decision with the project's status after it."""

    def view(state: domain.Project, version: int) -> dict[str, Any]:
        doc = project_view(state, version)
        decision = next(d for d in doc["gate_decisions"] if d["decision_id"] == str(decision_id))
        return {**decision, "project_status": doc["status"]}

    return view


def portfolio_view(portfolio_id: str, name: str, description: str) -> dict[str, Any]:
    return {
        "kind": "portfolio",
        "grouping_id": portfolio_id,
        "portfolio_id": portfolio_id,
        "name": name,
        "description": description,
    }


def grouping_state_view(state: domain.Grouping) -> dict[str, Any]:
    """A portfolio or programme as its events leave it (what its commands answer and ``GET`` reads)."""
    return {
        "kind": state.kind,
        "grouping_id": state.grouping_id,
        "portfolio_id": state.portfolio_id,
        "name": state.name,
        "description": state.description,
        "closed_on": state.closed_on.isoformat() if state.closed_on else None,
    }


def programme_view(programme_id: str, portfolio_id: str, name: str, description: str) -> dict[str, Any]:
    return {
        "kind": "programme",
        "grouping_id": programme_id,
        "portfolio_id": portfolio_id,
        "name": name,
        "description": description,
    }


# --- queries ------------------------------------------------------------------------------------------------


def page(items: Sequence[Any], total: int, limit: int, offset: int) -> dict[str, Any]:
    """A page of a list, as ``shared.web.Page`` describes it."""
    return {"items": list(items), "total": total, "limit": limit, "offset": offset}


def page_of(items: Sequence[Any], limit: int, offset: int) -> dict[str, Any]:
    """The page at ``offset`` of a whole list held in memory."""
    return page(items[offset : offset + limit], len(items), limit, offset)


async def groupings(
    engine: AsyncEngine,
    kind: str,
    portfolio_id: str | None,
    limit: int,
    offset: int,
    only: frozenset[str] | None = None,
) -> dict[str, Any]:
    """A page of the portfolios or programmes (of ``portfolio_id`` if given; with the ids in ``only`` when given),
    by id."""
    params: dict[str, Any] = {"k": kind, "p": portfolio_id, "limit": limit, "offset": offset}
    where = "kind = :k AND (CAST(:p AS text) IS NULL OR portfolio_id = :p)"
    if only is not None:
        where, params["only"] = f"{where} AND grouping_id = ANY(:only)", sorted(only)
    async with engine.connect() as conn:
        total = (await conn.execute(text(f"SELECT count(*) FROM groupings WHERE {where}"), params)).scalar_one()
        rows = (
            await conn.execute(
                text(
                    "SELECT kind, grouping_id, portfolio_id, name, description, closed_on FROM groupings "
                    f"WHERE {where} ORDER BY grouping_id LIMIT :limit OFFSET :offset"
                ),
                params,
            )
        ).mappings()
        return page([_grouping(r) for r in rows], total, limit, offset)


def _grouping(row: Any) -> dict[str, Any]:
    return {**dict(row), "closed_on": row["closed_on"].isoformat() if row["closed_on"] else None}


async def grouping(engine: AsyncEngine, kind: str, grouping_id: str) -> dict[str, Any]:
    """One portfolio or programme with its stream's ``version`` (its ETag); NotFoundError if there is none."""
    async with engine.connect() as conn:
        row = (
            (
                await conn.execute(
                    text(
                        "SELECT kind, grouping_id, portfolio_id, name, description, closed_on FROM groupings "
                        "WHERE kind = :k AND grouping_id = :g"
                    ),
                    {"k": kind, "g": grouping_id},
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFoundError(f"{kind} {grouping_id} does not exist")
        version = (
            await conn.execute(
                text("SELECT max(version) FROM events WHERE stream_id = :s"), {"s": f"{kind}-{grouping_id}"}
            )
        ).scalar()
    return {**_grouping(row), "version": version or 0}


async def projects(
    engine: AsyncEngine,
    filters: dict[str, str | None],
    limit: int,
    offset: int,
    scope: tuple[str, dict[str, Any]] = ("TRUE", {}),
) -> dict[str, Any]:
    """A page of project views, newest first; ``filters`` maps a column of ``projects`` to the value it must have
    (None: any); ``scope``: the caller's (:func:`shared.authz.scope_filter`)."""
    where = " AND ".join([scope[0], *(f"{column} = :{column}" for column, v in filters.items() if v is not None)])
    params: dict[str, Any] = {k: v for k, v in filters.items() if v is not None} | scope[1]
    params |= {"limit": limit, "offset": offset}
    async with engine.connect() as conn:
        total = (await conn.execute(text(f"SELECT count(*) FROM projects WHERE {where}"), params)).scalar_one()
        rows = await conn.execute(
            text(
                f"SELECT doc FROM projects WHERE {where} ORDER BY registered_at DESC, project_id "
                "LIMIT :limit OFFSET :offset"
            ),
            params,
        )
        return page([r.doc for r in rows], total, limit, offset)


async def project_doc(engine: AsyncEngine, project_id: uuid.UUID) -> dict[str, Any]:
    """The stored view of a project; NotFoundError if there is none."""
    async with engine.connect() as conn:
        doc = (await conn.execute(text("SELECT doc FROM projects WHERE project_id = :id"), {"id": project_id})).scalar()
    if doc is None:
        raise NotFoundError(f"project {project_id} does not exist")
    return dict(doc)


async def baselines(engine: AsyncEngine, project_id: uuid.UUID, limit: int, offset: int) -> dict[str, Any]:
    """A page of the project's baseline versions, oldest first, each with when it was proposed and decided;
    NotFoundError for an unknown project."""
    await project_doc(engine, project_id)
    params = {"p": project_id, "limit": limit, "offset": offset}
    async with engine.connect() as conn:
        total = (await conn.execute(text("SELECT count(*) FROM baselines WHERE project_id = :p"), params)).scalar_one()
        rows = await conn.execute(
            text(
                "SELECT doc, proposed_at, decided_at FROM baselines WHERE project_id = :p ORDER BY version "
                "LIMIT :limit OFFSET :offset"
            ),
            params,
        )
        return page([_timed(r) for r in rows], total, limit, offset)


async def baseline(engine: AsyncEngine, project_id: uuid.UUID, version: int) -> dict[str, Any]:
    """One baseline version with when it was proposed and decided; NotFoundError if the project or the version is
    unknown."""
    await project_doc(engine, project_id)
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT doc, proposed_at, decided_at FROM baselines WHERE project_id = :p AND version = :v"),
                {"p": project_id, "v": version},
            )
        ).first()
    if row is None:
        raise NotFoundError(f"baseline version {version} does not exist on project {project_id}")
    return _timed(row)


def _timed(row: Any) -> dict[str, Any]:
    decided = row.decided_at.isoformat() if row.decided_at else None
    return {**row.doc, "proposed_at": row.proposed_at.isoformat(), "decided_at": decided}


async def milestone_doc(engine: AsyncEngine, project_id: uuid.UUID, milestone_id: uuid.UUID) -> dict[str, Any]:
    """One milestone of the stored project view; NotFoundError if the project or the milestone is unknown."""
    for milestone in (await project_doc(engine, project_id))["milestones"]:
        if milestone["milestone_id"] == str(milestone_id):
            return dict(milestone)
    raise NotFoundError(f"milestone {milestone_id} is not planned on project {project_id}")


async def communications(
    engine: AsyncEngine, project_id: uuid.UUID, follow_up_overdue_on: date | None
) -> list[dict[str, Any]]:
    """The project's communications by date; with ``follow_up_overdue_on``, only the open follow-ups due before it."""
    items = list((await project_doc(engine, project_id))["communications"])
    if follow_up_overdue_on is None:
        return items
    cutoff = follow_up_overdue_on.isoformat()
    return [c for c in items if c["follow_up_due"] and not c["follow_up_closed_on"] and c["follow_up_due"] < cutoff]


async def project_events(engine: AsyncEngine, project_id: uuid.UUID, limit: int, offset: int) -> dict[str, Any]:
    """A page of the project's events, oldest first, with who recorded them (the audit trail); NotFoundError for an
    unknown project."""
    await project_doc(engine, project_id)
    params = {"pk": str(project_id), "limit": limit, "offset": offset}
    async with engine.connect() as conn:
        total = (await conn.execute(text("SELECT count(*) FROM events WHERE partition_key = :pk"), params)).scalar_one()
        rows = await conn.execute(
            text(
                "SELECT event_id, name, version, recorded_at, metadata, data FROM events WHERE partition_key = :pk "
                "ORDER BY position LIMIT :limit OFFSET :offset"
            ),
            params,
        )
        items = [
            {
                "event_id": r.event_id,
                "type": r.name,
                "version": r.version,
                "recorded_at": r.recorded_at.isoformat(),
                "actor": r.metadata.get("actor", ""),
                "correlation_id": r.metadata.get("correlation_id", ""),
                "data": r.data,
            }
            for r in rows
        ]
        await _mask_erased_names(conn, str(project_id), items)
    return page(items, total, limit, offset)


async def _mask_erased_names(conn: AsyncConnection, project_id: str, items: list[dict[str, Any]]) -> None:
    """The inline name of a ``partner-registered`` version-1 entry shown as null once the partner's personal data
    was erased (the stored event keeps it: events are immutable)."""
    if not any(i["type"] == "partner-registered" for i in items):
        return
    masked = set(
        (
            await conn.execute(
                text(
                    "SELECT r.event_id FROM events r JOIN events e ON e.partition_key = r.partition_key "
                    "AND e.name = 'partner-personal-data-erased' AND e.data->>'partner_id' = r.data->>'partner_id' "
                    "WHERE r.partition_key = :pk AND r.name = 'partner-registered' AND r.schema_version = 1"
                ),
                {"pk": project_id},
            )
        ).scalars()
    )
    for item in items:
        if item["event_id"] in masked:
            item["data"] = {**item["data"], "name": None}
