"""Query routes, served from the service's own projections (and, for the audit trail, its event table)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from sqlalchemy import text

from projects.api import models as m
from shared.bounds import Day
from shared.errors import NotFoundError
from shared.service import Runtime, ServiceRuntime
from shared.web import COMMAND_RESPONSES, Page, Paging

router = APIRouter(responses={404: COMMAND_RESPONSES[404]})
ProjectIdPath = Annotated[uuid.UUID, Path(description="Project id")]
Filter = Annotated[str | None, Query(max_length=200)]


@router.get("/portfolios", response_model=Page[m.GroupingView], tags=["portfolios"])
async def list_portfolios(rt: Runtime, paging: Paging) -> dict[str, Any]:
    return await _groupings(rt, paging, "portfolio", None)


@router.get("/portfolios/{portfolio_id}/programmes", response_model=Page[m.GroupingView], tags=["portfolios"])
async def list_programmes(
    rt: Runtime, paging: Paging, portfolio_id: Annotated[str, Path(max_length=64)]
) -> dict[str, Any]:
    return await _groupings(rt, paging, "programme", portfolio_id)


async def _groupings(rt: ServiceRuntime, paging: Any, kind: str, portfolio_id: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"k": kind, "p": portfolio_id, "limit": paging.limit, "offset": paging.offset}
    where = "kind = :k AND (CAST(:p AS text) IS NULL OR portfolio_id = :p)"
    async with rt.engine.connect() as conn:
        total = (await conn.execute(text(f"SELECT count(*) FROM groupings WHERE {where}"), params)).scalar_one()
        rows = (
            await conn.execute(
                text(
                    "SELECT kind, grouping_id, portfolio_id, name, description FROM groupings "
                    f"WHERE {where} ORDER BY grouping_id LIMIT :limit OFFSET :offset"
                ),
                params,
            )
        ).mappings()
        return {"items": [dict(r) for r in rows], "total": total, "limit": paging.limit, "offset": paging.offset}


@router.get("/projects", response_model=Page[m.ProjectView], tags=["projects"])
async def list_projects(
    rt: Runtime,
    paging: Paging,
    portfolio_id: Filter = None,
    programme_id: Filter = None,
    status: Filter = None,
    manager: Filter = None,
) -> dict[str, Any]:
    """Projects, newest first, filtered by portfolio, programme, status and manager."""
    filters = {"portfolio_id": portfolio_id, "programme_id": programme_id, "status": status, "manager": manager}
    where = " AND ".join(["TRUE", *(f"{column} = :{column}" for column, v in filters.items() if v is not None)])
    params: dict[str, Any] = {k: v for k, v in filters.items() if v is not None}
    params |= {"limit": paging.limit, "offset": paging.offset}
    async with rt.engine.connect() as conn:
        total = (await conn.execute(text(f"SELECT count(*) FROM projects WHERE {where}"), params)).scalar_one()
        rows = await conn.execute(
            text(
                f"SELECT doc FROM projects WHERE {where} ORDER BY registered_at DESC, project_id "
                "LIMIT :limit OFFSET :offset"
            ),
            params,
        )
        return {"items": [r.doc for r in rows], "total": total, "limit": paging.limit, "offset": paging.offset}


async def project_doc(rt: ServiceRuntime, project_id: uuid.UUID) -> dict[str, Any]:
    async with rt.engine.connect() as conn:
        doc = (await conn.execute(text("SELECT doc FROM projects WHERE project_id = :id"), {"id": project_id})).scalar()
    if doc is None:
        raise NotFoundError(f"project {project_id} does not exist")
    return dict(doc)


@router.get("/projects/{project_id}", response_model=m.ProjectView, tags=["projects"])
async def get_project(project_id: ProjectIdPath, rt: Runtime) -> JSONResponse:
    """One project with its milestones, status reports, gate decisions, KPIs and partners. ``ETag`` = version."""
    doc = await project_doc(rt, project_id)
    return JSONResponse(doc, headers={"ETag": f'"{doc["version"]}"'})


@router.get("/projects/{project_id}/milestones", response_model=list[m.MilestoneView], tags=["milestones"])
async def list_milestones(project_id: ProjectIdPath, rt: Runtime) -> list[dict[str, Any]]:
    """The project's milestones by due date."""
    return list((await project_doc(rt, project_id))["milestones"])


@router.get("/projects/{project_id}/milestones/{milestone_id}", response_model=m.MilestoneView, tags=["milestones"])
async def get_milestone(project_id: ProjectIdPath, milestone_id: uuid.UUID, rt: Runtime) -> dict[str, Any]:
    for milestone in (await project_doc(rt, project_id))["milestones"]:
        if milestone["milestone_id"] == str(milestone_id):
            return dict(milestone)
    raise NotFoundError(f"milestone {milestone_id} is not planned on project {project_id}")


@router.get("/projects/{project_id}/status-reports", tags=["status"])
async def list_status_reports(project_id: ProjectIdPath, rt: Runtime, paging: Paging) -> dict[str, Any]:
    """Status reports, newest meeting first."""
    reports = list(reversed((await project_doc(rt, project_id))["status_reports"]))
    return _page(reports, paging)


@router.get("/projects/{project_id}/gate-decisions", tags=["lifecycle"])
async def list_gate_decisions(project_id: ProjectIdPath, rt: Runtime) -> list[dict[str, Any]]:
    """Gate decisions in the order they were taken, each with the figures known then."""
    return list((await project_doc(rt, project_id))["gate_decisions"])


@router.get("/projects/{project_id}/kpis", tags=["kpis"])
async def list_kpis(project_id: ProjectIdPath, rt: Runtime) -> list[dict[str, Any]]:
    """KPIs with their measurements and whether the latest meets the target."""
    return list((await project_doc(rt, project_id))["kpis"])


@router.get("/projects/{project_id}/partners", tags=["partners"])
async def list_partners(project_id: ProjectIdPath, rt: Runtime) -> list[dict[str, Any]]:
    return list((await project_doc(rt, project_id))["partners"])


@router.get("/projects/{project_id}/communications", tags=["partners"])
async def list_communications(
    project_id: ProjectIdPath,
    rt: Runtime,
    follow_up_overdue_on: Annotated[Day | None, Query(description="only follow-ups still open and due before")] = None,
) -> list[dict[str, Any]]:
    """Communications by date; ``follow_up_overdue_on`` keeps the open follow-ups due before that date."""
    items = list((await project_doc(rt, project_id))["communications"])
    if follow_up_overdue_on is not None:
        cutoff = follow_up_overdue_on.isoformat()
        items = [
            c for c in items if c["follow_up_due"] and not c["follow_up_closed_on"] and c["follow_up_due"] < cutoff
        ]
    return items


@router.get("/projects/{project_id}/events", response_model=Page[m.AuditEntry], tags=["audit"])
async def project_events(project_id: ProjectIdPath, rt: Runtime, paging: Paging) -> dict[str, Any]:
    """The project's events, oldest first: who did what and when (the audit trail)."""
    await project_doc(rt, project_id)
    params = {"pk": str(project_id), "limit": paging.limit, "offset": paging.offset}
    async with rt.engine.connect() as conn:
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
    return {"items": items, "total": total, "limit": paging.limit, "offset": paging.offset}


def _page(items: list[Any], paging: Any) -> dict[str, Any]:
    return {
        "items": items[paging.offset : paging.offset + paging.limit],
        "total": len(items),
        "limit": paging.limit,
        "offset": paging.offset,
    }
