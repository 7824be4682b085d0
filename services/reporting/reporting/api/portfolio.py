"""The portfolio read model: projects and their milestone plans (thin routes over :mod:`reporting.queries`)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from reporting import queries, views
from shared.authz import InScope
from shared.errors import NotFoundError
from shared.money import Money
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


class PortfolioGrouping(BaseModel):
    """A portfolio or programme with its name and closing date (null while open)."""

    kind: str
    grouping_id: str
    portfolio_id: str
    name: str
    closed_on: date | None


@router.get("/portfolio/groupings", operation_id="listPortfolioGroupings", response_model=Page[PortfolioGrouping])
async def portfolio_groupings(rt: Runtime, paging: Paging, scope: InScope) -> dict[str, Any]:
    """The portfolios (the caller's) and their programmes, with their current names and, once closed, the date
    (docs/edits.md): portfolios first, by id."""
    programmes = scope.principal.programmes if scope.principal is not None else frozenset()
    total, rows = await queries.portfolio_groupings(
        rt.engine, scope.portfolios, programmes, paging.limit, paging.offset
    )
    return {"items": rows, "total": total, "limit": paging.limit, "offset": paging.offset}


@router.get("/portfolio/projects", operation_id="listPortfolioProjects", response_model=Page[PortfolioProject])
async def portfolio_projects(
    rt: Runtime, paging: Paging, scope: InScope, portfolio_id: Annotated[str | None, Query(max_length=64)] = None
) -> dict[str, Any]:
    """Projects of the portfolio as the reporting read model knows them (those in the caller's scope), by code."""
    total, rows = await queries.portfolio_projects(rt.engine, portfolio_id, paging.limit, paging.offset, scope.where())
    items = [views.portfolio_project(r) for r in rows]
    return {"items": items, "total": total, "limit": paging.limit, "offset": paging.offset}


@router.get(
    "/portfolio/projects/{project_id}",
    operation_id="getPortfolioProject",
    response_model=PortfolioProjectDetail,
    responses={404: COMMAND_RESPONSES[404]},
)
async def portfolio_project(project_id: Annotated[uuid.UUID, Path()], rt: Runtime) -> dict[str, Any]:
    """One project with its milestone plan."""
    found = await queries.portfolio_project(rt.engine, project_id)
    if found is None:
        raise NotFoundError(f"project {project_id} is not in the portfolio read model")
    row, milestones = found
    return {**views.portfolio_project(row), "milestone_plan": [views.milestone_line(m) for m in milestones]}
