"""Query routes, served from the service's own projections (and, for the audit trail, its event table) through
:mod:`projects.views`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from projects import views
from projects.api import models as m
from projects.domain.state import Communication, GateDecision, Kpi, Partner, StatusReport
from projects.handlers.people import with_names
from projects.people_tables import PartnerContactsTable
from shared.authz import InScope, principal_of, scope_filter
from shared.bounds import Day
from shared.service import Runtime
from shared.web import COMMAND_RESPONSES, Page, Paging

router = APIRouter(responses={404: COMMAND_RESPONSES[404]})
ProjectIdPath = Annotated[uuid.UUID, Path(description="Project id")]
Filter = Annotated[str | None, Query(max_length=200)]


@router.get("/portfolios", operation_id="listPortfolios", response_model=Page[m.GroupingView], tags=["portfolios"])
async def list_portfolios(rt: Runtime, paging: Paging, scope: InScope) -> dict[str, Any]:
    """The portfolios the caller belongs to (every one for the director, machine clients and ``*`` members)."""
    return await views.groupings(rt.engine, "portfolio", None, paging.limit, paging.offset, scope.portfolios)


@router.get(
    "/portfolios/{portfolio_id}/programmes",
    operation_id="listProgrammes",
    response_model=Page[m.GroupingView],
    tags=["portfolios"],
)
async def list_programmes(
    rt: Runtime, paging: Paging, portfolio_id: Annotated[str, Path(max_length=64)]
) -> dict[str, Any]:
    return await views.groupings(rt.engine, "programme", portfolio_id, paging.limit, paging.offset)


@router.get("/projects", operation_id="listProjects", response_model=Page[m.ProjectView], tags=["projects"])
async def list_projects(
    request: Request,
    rt: Runtime,
    paging: Paging,
    portfolio_id: Filter = None,
    programme_id: Filter = None,
    status: Filter = None,
    manager: Filter = None,
) -> dict[str, Any]:
    """Projects in the caller's scope (her portfolios and programmes, the projects she manages), newest first,
    filtered by portfolio, programme, status and manager."""
    filters = {"portfolio_id": portfolio_id, "programme_id": programme_id, "status": status, "manager": manager}
    return await views.projects(rt.engine, filters, paging.limit, paging.offset, scope_filter(principal_of(request)))


@router.get("/projects/{project_id}", operation_id="getProject", response_model=m.ProjectView, tags=["projects"])
async def get_project(project_id: ProjectIdPath, rt: Runtime) -> JSONResponse:
    """One project with its milestones, status reports, gate decisions, KPIs and partners. ``ETag`` = version."""
    doc = await views.project_doc(rt.engine, project_id)
    doc["partners"] = with_names(doc["partners"], await PartnerContactsTable(rt.engine).contacts(project_id))
    return JSONResponse(doc, headers={"ETag": f'"{doc["version"]}"'})


@router.get(
    "/projects/{project_id}/milestones",
    operation_id="listMilestones",
    response_model=list[m.MilestoneView],
    tags=["milestones"],
)
async def list_milestones(project_id: ProjectIdPath, rt: Runtime) -> list[dict[str, Any]]:
    """The project's milestones by due date."""
    return list((await views.project_doc(rt.engine, project_id))["milestones"])


@router.get(
    "/projects/{project_id}/milestones/{milestone_id}",
    operation_id="getMilestone",
    response_model=m.MilestoneView,
    tags=["milestones"],
)
async def get_milestone(project_id: ProjectIdPath, milestone_id: uuid.UUID, rt: Runtime) -> dict[str, Any]:
    return await views.milestone_doc(rt.engine, project_id, milestone_id)


@router.get(
    "/projects/{project_id}/status-reports",
    operation_id="listStatusReports",
    response_model=None,
    responses={200: {"model": Page[StatusReport]}},
    tags=["status"],
)
async def list_status_reports(project_id: ProjectIdPath, rt: Runtime, paging: Paging) -> dict[str, Any]:
    """Status reports, newest meeting first."""
    reports = list(reversed((await views.project_doc(rt.engine, project_id))["status_reports"]))
    return views.page_of(reports, paging.limit, paging.offset)


@router.get(
    "/projects/{project_id}/gate-decisions",
    operation_id="listGateDecisions",
    response_model=None,
    responses={200: {"model": list[GateDecision]}},
    tags=["lifecycle"],
)
async def list_gate_decisions(project_id: ProjectIdPath, rt: Runtime) -> list[dict[str, Any]]:
    """Gate decisions in the order they were taken, each with the figures known then: the project's own
    (``snapshot``) and the reporting service's as of the decision date (``figures``)."""
    return list((await views.project_doc(rt.engine, project_id))["gate_decisions"])


@router.get(
    "/projects/{project_id}/baselines",
    operation_id="listBaselines",
    response_model=Page[m.BaselineView],
    tags=["baselines"],
)
async def list_baselines(project_id: ProjectIdPath, rt: Runtime, paging: Paging) -> dict[str, Any]:
    """Every version of the project's performance measurement baseline, oldest first: proposed, approved or
    rejected, with who proposed and decided it and when."""
    return await views.baselines(rt.engine, project_id, paging.limit, paging.offset)


@router.get(
    "/projects/{project_id}/baselines/{version}",
    operation_id="getBaseline",
    response_model=m.BaselineView,
    tags=["baselines"],
)
async def get_baseline(
    project_id: ProjectIdPath,
    version: Annotated[int, Path(ge=1, le=1_000_000, description="Baseline version")],
    rt: Runtime,
) -> dict[str, Any]:
    """One version of the project's performance measurement baseline with its items."""
    return await views.baseline(rt.engine, project_id, version)


@router.get(
    "/projects/{project_id}/kpis",
    operation_id="listKpis",
    response_model=None,
    responses={200: {"model": list[Kpi]}},
    tags=["kpis"],
)
async def list_kpis(project_id: ProjectIdPath, rt: Runtime) -> list[dict[str, Any]]:
    """KPIs with their measurements and whether the latest meets the target."""
    return list((await views.project_doc(rt.engine, project_id))["kpis"])


@router.get(
    "/projects/{project_id}/partners",
    operation_id="listPartners",
    response_model=None,
    responses={200: {"model": list[Partner]}},
    tags=["partners"],
)
async def list_partners(project_id: ProjectIdPath, rt: Runtime) -> list[dict[str, Any]]:
    partners = (await views.project_doc(rt.engine, project_id))["partners"]
    return with_names(partners, await PartnerContactsTable(rt.engine).contacts(project_id))


@router.get(
    "/projects/{project_id}/communications",
    operation_id="listCommunications",
    response_model=None,
    responses={200: {"model": list[Communication]}},
    tags=["partners"],
)
async def list_communications(
    project_id: ProjectIdPath,
    rt: Runtime,
    follow_up_overdue_on: Annotated[Day | None, Query(description="only follow-ups still open and due before")] = None,
) -> list[dict[str, Any]]:
    """Communications by date; ``follow_up_overdue_on`` keeps the open follow-ups due before that date."""
    return await views.communications(rt.engine, project_id, follow_up_overdue_on)


@router.get(
    "/projects/{project_id}/events", operation_id="listProjectEvents", response_model=Page[m.AuditEntry], tags=["audit"]
)
async def project_events(project_id: ProjectIdPath, rt: Runtime, paging: Paging) -> dict[str, Any]:
    """The project's events, oldest first: who did what and when (the audit trail)."""
    return await views.project_events(rt.engine, project_id, paging.limit, paging.offset)
