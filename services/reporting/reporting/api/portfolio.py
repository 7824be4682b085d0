"""HTTP API of the reporting service: read models only."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel
from sqlalchemy import text

from shared.errors import NotFoundError
from shared.money import Money, quantize
from shared.service import Runtime
from shared.web import COMMAND_RESPONSES, Page, Paging

router = APIRouter(tags=["portfolio"])


class MilestoneLine(BaseModel):
    milestone_id: uuid.UUID
    name: str
    due_date: date
    planned_value: Money


class PortfolioProject(BaseModel):
    project_id: uuid.UUID
    portfolio_id: str | None
    programme_id: str | None
    code: str
    name: str
    status: str
    planned_start: date
    planned_end: date
    milestones: int
    planned_value: Money
    last_event_id: uuid.UUID
    last_event_at: datetime


class PortfolioProjectDetail(PortfolioProject):
    milestone_plan: list[MilestoneLine]


def _project(row: Any) -> dict[str, Any]:
    view = {k: row[k] for k in PortfolioProject.model_fields if k != "planned_value"}
    view["planned_value"] = Money(
        amount=quantize(Decimal(row["planned_value"]), row["currency"]), currency=row["currency"]
    )
    return view


@router.get("/portfolio/projects", response_model=Page[PortfolioProject])
async def portfolio_projects(
    rt: Runtime, paging: Paging, portfolio_id: Annotated[str | None, Query(max_length=64)] = None
) -> dict[str, Any]:
    """Projects of the portfolio as the reporting read model knows them, by code."""
    params: dict[str, Any] = {"limit": paging.limit, "offset": paging.offset}
    clause = "TRUE"
    if portfolio_id:
        clause, params["pf"] = "portfolio_id = :pf", portfolio_id
    async with rt.engine.connect() as conn:
        total = (
            await conn.execute(text(f"SELECT count(*) FROM portfolio_projects WHERE {clause}"), params)
        ).scalar_one()
        rows = (
            await conn.execute(
                text(
                    f"SELECT * FROM portfolio_projects WHERE {clause} ORDER BY code, project_id "
                    "LIMIT :limit OFFSET :offset"
                ),
                params,
            )
        ).mappings()
        return {"items": [_project(r) for r in rows], "total": total, "limit": paging.limit, "offset": paging.offset}


@router.get(
    "/portfolio/projects/{project_id}",
    response_model=PortfolioProjectDetail,
    responses={404: COMMAND_RESPONSES[404]},
)
async def portfolio_project(project_id: Annotated[uuid.UUID, Path()], rt: Runtime) -> dict[str, Any]:
    """One project with its milestone plan."""
    async with rt.engine.connect() as conn:
        row = (
            (await conn.execute(text("SELECT * FROM portfolio_projects WHERE project_id = :id"), {"id": project_id}))
            .mappings()
            .first()
        )
        if row is None:
            raise NotFoundError(f"project {project_id} is not in the portfolio read model")
        milestones = (
            await conn.execute(
                text("SELECT * FROM portfolio_milestones WHERE project_id = :id ORDER BY due_date, name"),
                {"id": project_id},
            )
        ).mappings()
        plan = [
            {
                "milestone_id": m["milestone_id"],
                "name": m["name"],
                "due_date": m["due_date"],
                "planned_value": Money(
                    amount=quantize(Decimal(m["planned_value"]), m["currency"]), currency=m["currency"]
                ),
            }
            for m in milestones
        ]
    return {**_project(row), "milestone_plan": plan}
