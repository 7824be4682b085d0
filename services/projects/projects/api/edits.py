"""Routes of the edits after the fact (:mod:`projects.handlers.edits`) and the reads their ``Location`` headers point
to: a portfolio, a programme, a KPI, a milestone value change. Every command takes ``If-Match`` (the stream's
``ETag``: the project's, or the portfolio's or programme's own) and answers 412 when it is stale."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse

from projects import handlers, views
from projects.api import models as m
from projects.api.models import edits as em
from projects.handlers.groupings import GroupingKind, no_such_grouping
from projects.queries import Groupings
from shared.authz import CallerScope, InScope, member_of_portfolio, principal_of, sees_everything
from shared.commands import CommandContext
from shared.errors import NotFoundError
from shared.service import Runtime, ServiceRuntime
from shared.web import COMMAND_RESPONSES, Command, respond

router = APIRouter(responses=COMMAND_RESPONSES)
ProjectIdPath = Annotated[uuid.UUID, Path(description="Project id")]
PortfolioPath = Annotated[str, Path(max_length=64, description="Portfolio id")]
ProgrammePath = Annotated[str, Path(max_length=64, description="Programme id")]


async def _groupings(rt: Runtime) -> Groupings:  # async: a sync dependency costs a thread hop
    return Groupings(rt.engine, rt.memo)


Facts = Annotated[Groupings, Depends(_groupings)]


# --- projects -----------------------------------------------------------------------------------------------


@router.post(
    "/projects/{project_id}/details",
    operation_id="changeProjectDetails",
    response_model=m.ProjectView,
    tags=["projects"],
)
async def change_details(
    project_id: ProjectIdPath, body: em.ChangeProjectDetailsRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Rename and/or re-describe a project (``project-details-changed``); a field left out is unchanged, a change
    that changes nothing is 422."""
    outcome = await handlers.change_project_details(
        rt.executor, ctx, project_id, name=body.name, objectives=body.objectives, reason=body.reason
    )
    return respond(outcome)


@router.post("/projects/{project_id}/move", operation_id="moveProject", response_model=m.ProjectView, tags=["projects"])
async def move(
    project_id: ProjectIdPath, body: em.MoveProjectRequest, ctx: Command, rt: Runtime, facts: Facts, scope: InScope
) -> JSONResponse:
    """Move a project to another portfolio and/or programme (``project-moved``). The body says where it ends up: a
    programme decides the portfolio (a portfolio given must be the programme's); no programme: in none. The target
    must exist and be open (404 / 409 naming the field); a caller who does not see every project must belong to
    the portfolio or programme the project leaves and to the one it joins. Every service's scope follows."""
    outcome = await handlers.move_project(
        rt.executor,
        facts,
        ctx,
        project_id,
        portfolio_id=body.portfolio_id,
        programme_id=body.programme_id,
        reason=body.reason,
        scope=scope,
    )
    return respond(outcome)


# --- milestone value changes --------------------------------------------------------------------------------


def _change_location(project_id: uuid.UUID, change_id: Any) -> str:
    return f"/projects/{project_id}/value-changes/{change_id}"


@router.post(
    "/projects/{project_id}/milestones/{milestone_id}/value-changes",
    operation_id="requestMilestoneValueChange",
    status_code=201,
    response_model=em.ValueChangeView,
    tags=["milestones"],
)
async def request_value_change(
    project_id: ProjectIdPath, milestone_id: uuid.UUID, body: em.ValueChangeRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Ask for a milestone's planned value to change, with a reason (``milestone-value-change-requested``). Refused
    on a reached milestone (409), while another request of the milestone awaits a decision (409), and on a project
    with an approved performance measurement baseline (422 naming ``planned_value``: propose a new baseline version
    instead)."""
    outcome = await handlers.request_milestone_value_change(
        rt.executor,
        ctx,
        project_id,
        milestone_id,
        planned_value=body.planned_value,
        reason=body.reason,
        requested_on=body.requested_on,
    )
    return respond(outcome, location=_change_location(project_id, outcome.body.get("change_id")))


@router.post(
    "/projects/{project_id}/value-changes/{change_id}/approve",
    operation_id="approveMilestoneValueChange",
    response_model=em.ValueChangeView,
    tags=["milestones"],
)
async def approve_value_change(
    project_id: ProjectIdPath, change_id: uuid.UUID, body: em.ApproveValueChangeRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Approve a value change (``milestone-value-change-approved``): never by its requester (409, separation of
    duties); the milestone's planned value is the new one from ``approved_on``."""
    outcome = await handlers.approve_milestone_value_change(
        rt.executor, ctx, project_id, change_id, approved_on=body.approved_on
    )
    return respond(outcome)


@router.post(
    "/projects/{project_id}/value-changes/{change_id}/reject",
    operation_id="rejectMilestoneValueChange",
    response_model=em.ValueChangeView,
    tags=["milestones"],
)
async def reject_value_change(
    project_id: ProjectIdPath, change_id: uuid.UUID, body: em.RejectValueChangeRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Reject a value change awaiting a decision, with a reason (its requester may withdraw it this way)."""
    outcome = await handlers.reject_milestone_value_change(rt.executor, ctx, project_id, change_id, reason=body.reason)
    return respond(outcome)


@router.get(
    "/projects/{project_id}/value-changes/{change_id}",
    operation_id="getMilestoneValueChange",
    response_model=em.ValueChangeView,
    tags=["milestones"],
)
async def get_value_change(project_id: ProjectIdPath, change_id: uuid.UUID, rt: Runtime) -> JSONResponse:
    """One milestone value change with its decision. ``ETag`` = the project's version."""
    return await _part(rt, project_id, "value_changes", "change_id", change_id, "value change")


# --- KPIs ---------------------------------------------------------------------------------------------------


@router.post(
    "/projects/{project_id}/kpis/{kpi_id}/revise", operation_id="reviseKpi", response_model=m.KpiView, tags=["kpis"]
)
async def revise_kpi(
    project_id: ProjectIdPath, kpi_id: uuid.UUID, body: em.ReviseKpiRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Change a KPI's target and/or review date (``kpi-revised``); measurements already taken keep the target they
    were judged against."""
    outcome = await handlers.revise_kpi(
        rt.executor, ctx, project_id, kpi_id, target=body.target, review_date=body.review_date, reason=body.reason
    )
    return respond(outcome)


@router.get("/projects/{project_id}/kpis/{kpi_id}", operation_id="getKpi", response_model=m.KpiView, tags=["kpis"])
async def get_kpi(project_id: ProjectIdPath, kpi_id: uuid.UUID, rt: Runtime) -> JSONResponse:
    """One KPI with its measurements. ``ETag`` = the project's version."""
    return await _part(rt, project_id, "kpis", "kpi_id", kpi_id, "KPI")


async def _part(
    rt: Runtime, project_id: uuid.UUID, key: str, id_field: str, item_id: uuid.UUID, what: str
) -> JSONResponse:
    doc = await views.project_doc(rt.engine, project_id)
    item = next((i for i in doc.get(key, []) if i[id_field] == str(item_id)), None)
    if item is None:
        raise NotFoundError(f"{what} {item_id} does not exist on project {project_id}")
    return JSONResponse(item, headers={"ETag": f'"{doc["version"]}"'})


# --- portfolios and programmes ------------------------------------------------------------------------------


def _grouping_answer(doc: dict[str, Any]) -> JSONResponse:
    version = doc.pop("version")
    return JSONResponse(doc, headers={"ETag": f'"{version}"'})


@router.get(
    "/portfolios/{portfolio_id}", operation_id="getPortfolio", response_model=em.GroupingDetailView, tags=["portfolios"]
)
async def get_portfolio(portfolio_id: PortfolioPath, rt: Runtime) -> JSONResponse:
    """One portfolio (404 for one the caller does not belong to). ``ETag`` = its version, for ``If-Match``."""
    return _grouping_answer(await views.grouping(rt.engine, "portfolio", portfolio_id))


@router.get(
    "/programmes/{programme_id}", operation_id="getProgramme", response_model=em.GroupingDetailView, tags=["portfolios"]
)
async def get_programme(programme_id: ProgrammePath, request: Request, rt: Runtime) -> JSONResponse:
    """One programme (404 unless the caller belongs to it or to its portfolio). ``ETag`` = its version."""
    doc = await views.grouping(rt.engine, "programme", programme_id)
    principal = principal_of(request)
    if (
        principal is not None
        and not sees_everything(principal)
        and programme_id not in principal.programmes
        and not member_of_portfolio(principal, doc["portfolio_id"])
    ):
        raise no_such_grouping("programme", programme_id)
    return _grouping_answer(doc)


async def _edit_grouping(
    kind: GroupingKind,
    grouping_id: str,
    body: em.RenameGroupingRequest,
    ctx: CommandContext,
    rt: ServiceRuntime,
    facts: Groupings,
    scope: CallerScope,
) -> JSONResponse:
    outcome = await handlers.rename_grouping(
        rt.executor, facts, ctx, kind, grouping_id, name=body.name, description=body.description, scope=scope
    )
    return respond(outcome)


async def _close_grouping(
    kind: GroupingKind,
    grouping_id: str,
    body: em.CloseGroupingRequest,
    ctx: CommandContext,
    rt: ServiceRuntime,
    facts: Groupings,
    scope: CallerScope,
) -> JSONResponse:
    outcome = await handlers.close_grouping(
        rt.executor, facts, ctx, kind, grouping_id, closed_on=body.closed_on, reason=body.reason, scope=scope
    )
    return respond(outcome)


@router.post(
    "/portfolios/{portfolio_id}/rename",
    operation_id="renamePortfolio",
    response_model=em.GroupingDetailView,
    tags=["portfolios"],
)
async def rename_portfolio(
    portfolio_id: PortfolioPath, body: em.RenameGroupingRequest, ctx: Command, rt: Runtime, facts: Facts, scope: InScope
) -> JSONResponse:
    """Rename and/or re-describe an open portfolio (``portfolio-renamed``)."""
    return await _edit_grouping("portfolio", portfolio_id, body, ctx, rt, facts, scope)


@router.post(
    "/portfolios/{portfolio_id}/close",
    operation_id="closePortfolio",
    response_model=em.GroupingDetailView,
    tags=["portfolios"],
)
async def close_portfolio(
    portfolio_id: PortfolioPath, body: em.CloseGroupingRequest, ctx: Command, rt: Runtime, facts: Facts, scope: InScope
) -> JSONResponse:
    """Close a portfolio (``portfolio-closed``): refused (409, listing them) while it holds open projects or open
    programmes; then no project or programme may be placed in it."""
    return await _close_grouping("portfolio", portfolio_id, body, ctx, rt, facts, scope)


@router.post(
    "/programmes/{programme_id}/rename",
    operation_id="renameProgramme",
    response_model=em.GroupingDetailView,
    tags=["portfolios"],
)
async def rename_programme(
    programme_id: ProgrammePath, body: em.RenameGroupingRequest, ctx: Command, rt: Runtime, facts: Facts, scope: InScope
) -> JSONResponse:
    """Rename and/or re-describe an open programme (``programme-renamed``)."""
    return await _edit_grouping("programme", programme_id, body, ctx, rt, facts, scope)


@router.post(
    "/programmes/{programme_id}/close",
    operation_id="closeProgramme",
    response_model=em.GroupingDetailView,
    tags=["portfolios"],
)
async def close_programme(
    programme_id: ProgrammePath, body: em.CloseGroupingRequest, ctx: Command, rt: Runtime, facts: Facts, scope: InScope
) -> JSONResponse:
    """Close a programme (``programme-closed``): refused (409, listing them) while it holds open projects; then no
    project may be placed in it."""
    return await _close_grouping("programme", programme_id, body, ctx, rt, facts, scope)
