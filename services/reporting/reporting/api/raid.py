"""RAID reports: risk exposure per project, programme and portfolio, top risks, the 5 x 5 probability-impact map and
its drill-down (thin routes over :mod:`reporting.raid_model` and :mod:`reporting.views.raid`)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from reporting import raid_model
from reporting.api import raid_models as rm
from reporting.views import raid as views
from shared.authz import InScope
from shared.errors import NotFoundError
from shared.service import Runtime
from shared.web import COMMAND_RESPONSES

router = APIRouter(tags=["raid"], responses={404: COMMAND_RESPONSES[404], 422: COMMAND_RESPONSES[422]})
GroupId = Annotated[str | None, Query(max_length=64)]
Rating = Annotated[int, Path(ge=1, le=5, description="1 to 5")]


@router.get(
    "/reports/raid",
    operation_id="getRaidReport",
    response_model=None,
    responses={200: {"model": rm.RaidReport}},
)
async def raid_report(
    rt: Runtime,
    scope: InScope,
    portfolio_id: GroupId = None,
    programme_id: GroupId = None,
    top: Annotated[int, Query(ge=1, le=100, description="how many top risks")] = 10,
) -> dict[str, Any]:
    """Risk exposure (sum over open risks of probability / 5 x money impact, per currency) per project, programme and
    portfolio of the projects in the caller's scope (filtered by portfolio and programme), the top risks (by score =
    probability x impact, then exposure) and the 5 x 5 map."""
    lines = await raid_model.raid_books_in(rt.engine, portfolio_id, programme_id, scope.where("pp.project_id"))
    return {"portfolio_id": portfolio_id, "programme_id": programme_id, **views.raid_summary(lines, top)}


@router.get(
    "/reports/raid/map/{probability}/{impact}",
    operation_id="getRaidMapCell",
    response_model=None,
    responses={200: {"model": rm.MapCell}},
)
async def raid_map_cell(
    rt: Runtime,
    scope: InScope,
    probability: Rating,
    impact: Rating,
    portfolio_id: GroupId = None,
    programme_id: GroupId = None,
) -> dict[str, Any]:
    """One cell of the probability-impact map with its open risks (the map's drill-down)."""
    lines = await raid_model.raid_books_in(rt.engine, portfolio_id, programme_id, scope.where("pp.project_id"))
    return views.map_cell(lines, probability, impact)


@router.get(
    "/reports/projects/{project_id}/raid",
    operation_id="getProjectRaid",
    response_model=None,
    responses={200: {"model": rm.ProjectRaid}},
)
async def project_raid(
    rt: Runtime, scope: InScope, project_id: Annotated[uuid.UUID, Path(description="Project id")]
) -> dict[str, Any]:
    """A project's RAID figures: exposure, its risks by score, dependencies, open issues by severity, its map."""
    lines = await raid_model.raid_books_in(rt.engine, None, None, scope.where("pp.project_id"), project_id=project_id)
    if not lines:
        raise NotFoundError(f"project {project_id} has no RAID log known to reporting (yet)")
    line, book = lines[0]
    return views.project_raid(line, book)
