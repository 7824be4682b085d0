"""Query routes of the budget service."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from sqlalchemy import text

from budget import domain
from shared.bounds import Day
from shared.contracts.budget import CommitmentKind, CostCategory
from shared.errors import NotFoundError
from shared.jsonable import jsonable
from shared.service import Runtime
from shared.web import COMMAND_RESPONSES, Paging

router = APIRouter(responses={404: COMMAND_RESPONSES[404]}, tags=["budget"])
ProjectIdPath = Annotated[uuid.UUID, Path(description="Project id")]


@router.get("/budgets/{project_id}")
async def get_budget(project_id: ProjectIdPath, rt: Runtime) -> JSONResponse:
    """Baseline, BAC, and per category: budget vs committed vs remaining; change requests, funding, commitments."""
    async with rt.engine.connect() as conn:
        doc = (await conn.execute(text("SELECT doc FROM budgets WHERE project_id = :p"), {"p": project_id})).scalar()
    if doc is None:
        raise NotFoundError(f"project {project_id} has no budget baseline")
    return JSONResponse(doc, headers={"ETag": f'"{doc["version"]}"'})


@router.get("/budgets/{project_id}/funding")
async def funding_available(
    project_id: ProjectIdPath,
    rt: Runtime,
    on: Annotated[Day | None, Query(description="the date to look at; defaults to today")] = None,
) -> dict[str, Any]:
    """Funding available on a date: tranches available by then and not withdrawn by then."""
    state, _ = await rt.executor.state_of(domain.BUDGET, domain.stream_id(project_id))
    day = on or rt.executor.clock.now().date()
    counted = [
        t for t in state.tranches.values() if t.available_on <= day and (t.withdrawn_on is None or t.withdrawn_on > day)
    ]
    return {
        "project_id": str(project_id),
        "on": day.isoformat(),
        "available": jsonable(state.funding_available(day)),
        "tranches": jsonable(sorted(counted, key=lambda t: t.available_on)),
    }


@router.get("/budgets/{project_id}/commitments")
async def list_commitments(
    project_id: ProjectIdPath,
    rt: Runtime,
    paging: Paging,
    status: Annotated[str | None, Query(max_length=32)] = None,
    category: CostCategory | None = None,
    kind: CommitmentKind | None = None,
    vendor: Annotated[str | None, Query(max_length=200)] = None,
    milestone_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """Commitments of the project, filtered by status, category, kind, vendor and milestone."""
    filters: dict[str, Any] = {
        "status": status,
        "category": category.value if category else None,
        "kind": kind.value if kind else None,
        "vendor": vendor,
        "milestone_id": milestone_id,
    }
    used = {k: v for k, v in filters.items() if v is not None}
    where = " AND ".join(["project_id = :project_id", *(f"{k} = :{k}" for k in used)])
    params = {**used, "project_id": project_id, "limit": paging.limit, "offset": paging.offset}
    async with rt.engine.connect() as conn:
        total = (await conn.execute(text(f"SELECT count(*) FROM commitments WHERE {where}"), params)).scalar_one()
        rows = await conn.execute(
            text(f"SELECT doc FROM commitments WHERE {where} ORDER BY vendor, reference LIMIT :limit OFFSET :offset"),
            params,
        )
        return {"items": [r.doc for r in rows], "total": total, "limit": paging.limit, "offset": paging.offset}
