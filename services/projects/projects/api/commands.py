"""Command routes: each appends events to one aggregate in one transaction (see ``shared.commands``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from sqlalchemy import text

from projects import domain
from projects.api import models as m
from projects.projections import project_view
from shared.commands import CommandContext
from shared.errors import InvalidCommandError, NotFoundError
from shared.ids import new_id
from shared.service import Runtime, ServiceRuntime
from shared.web import COMMAND_RESPONSES, Command, respond

router = APIRouter(responses=COMMAND_RESPONSES)
ProjectIdPath = Annotated[uuid.UUID, Path(description="Project id")]
MilestoneIdPath = Annotated[uuid.UUID, Path(description="Milestone id")]
PROJECT = domain.PROJECT
GROUPING = domain.GROUPING

View = Callable[[domain.Project, int], dict[str, Any]]


def _today(rt: ServiceRuntime, day: date | None) -> date:
    return day or rt.executor.clock.now().date()


async def _run(
    rt: ServiceRuntime,
    ctx: CommandContext,
    project_id: uuid.UUID,
    command: domain.Command,
    view: View = project_view,
    *,
    status_code: int = 200,
    location: str | None = None,
    new_stream: bool = False,
) -> JSONResponse:
    outcome = await rt.executor.execute(
        ctx,
        aggregate=PROJECT,
        stream_id=domain.stream_id(project_id),
        command=command,
        respond=lambda state, events, version: view(state, version),
        status_code=status_code,
        new_stream=new_stream,
    )
    return respond(outcome, location=location)


def _part(key: str, item_id: uuid.UUID, id_field: str) -> View:
    """A view of one item of the project view (a milestone, a KPI, ...)."""

    def view(state: domain.Project, version: int) -> dict[str, Any]:
        items = project_view(state, version)[key]
        return next(i for i in items if i[id_field] == str(item_id))

    return view


# --- portfolios and programmes ------------------------------------------------------------------------------


@router.post("/portfolios", status_code=201, response_model=m.GroupingView, tags=["portfolios"])
async def create_portfolio(body: m.CreatePortfolioRequest, ctx: Command, rt: Runtime) -> JSONResponse:
    """Create a portfolio; its id is a lowercase slug chosen by the caller."""
    outcome = await rt.executor.execute(
        ctx,
        aggregate=GROUPING,
        stream_id=domain.portfolio_stream(body.portfolio_id),
        command=domain.CreatePortfolio(body.portfolio_id, body.name, body.description),
        respond=lambda s, e, v: {
            "kind": "portfolio",
            "grouping_id": body.portfolio_id,
            **body.model_dump(),
            "portfolio_id": body.portfolio_id,
        },
        status_code=201,
    )
    return respond(outcome, location=f"/portfolios/{body.portfolio_id}")


@router.post(
    "/portfolios/{portfolio_id}/programmes", status_code=201, response_model=m.GroupingView, tags=["portfolios"]
)
async def create_programme(
    portfolio_id: Annotated[str, Path(max_length=64)], body: m.CreateProgrammeRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Create a programme inside a portfolio."""
    await _grouping_exists(rt, "portfolio", portfolio_id)
    outcome = await rt.executor.execute(
        ctx,
        aggregate=GROUPING,
        stream_id=domain.programme_stream(body.programme_id),
        command=domain.CreateProgramme(body.programme_id, portfolio_id, body.name, body.description),
        respond=lambda s, e, v: {
            "kind": "programme",
            "grouping_id": body.programme_id,
            "portfolio_id": portfolio_id,
            "name": body.name,
            "description": body.description,
        },
        status_code=201,
    )
    return respond(outcome, location=f"/programmes/{body.programme_id}")


async def _grouping_exists(rt: ServiceRuntime, kind: str, grouping_id: str, field: str | None = None) -> str:
    """The portfolio of the grouping; NotFoundError naming ``field`` if it does not exist.

    Portfolios and programmes are never deleted or moved, so a grouping seen once is remembered for the process's
    life (a miss always asks the database)."""
    known = rt.memo.get(("grouping", kind, grouping_id))
    if known is not None:
        return str(known)
    async with rt.engine.connect() as conn:
        portfolio = (
            await conn.execute(
                text("SELECT portfolio_id FROM groupings WHERE kind = :k AND grouping_id = :g"),
                {"k": kind, "g": grouping_id},
            )
        ).scalar()
    if portfolio is None:
        raise NotFoundError(f"{kind} {grouping_id} does not exist", field=field)
    if len(rt.memo) < 100_000:
        rt.memo[("grouping", kind, grouping_id)] = str(portfolio)
    return str(portfolio)


# --- projects -----------------------------------------------------------------------------------------------


@router.post("/projects", status_code=201, response_model=m.ProjectView, tags=["projects"])
async def register_project(body: m.RegisterProjectRequest, ctx: Command, rt: Runtime) -> JSONResponse:
    """Register a project (status ``proposed``). Its code is unique within its portfolio; a programme given must
    belong to the portfolio given (the portfolio defaults to the programme's)."""
    portfolio_id = body.portfolio_id
    if body.portfolio_id is not None:
        await _grouping_exists(rt, "portfolio", body.portfolio_id, field="portfolio_id")
    if body.programme_id is not None:
        owner = await _grouping_exists(rt, "programme", body.programme_id, field="programme_id")
        if portfolio_id is not None and owner != portfolio_id:
            raise InvalidCommandError(
                f"programme {body.programme_id} belongs to portfolio {owner}, not {portfolio_id}", field="programme_id"
            )
        portfolio_id = owner
    project_id = domain.ProjectId(new_id())
    fields = body.model_dump() | {"portfolio_id": portfolio_id}
    command = domain.RegisterProject(project_id=project_id, registered_by=ctx.metadata.actor, **fields)
    return await _run(
        rt, ctx, project_id, command, status_code=201, location=f"/projects/{project_id}", new_stream=True
    )


@router.post("/projects/{project_id}/approve", response_model=m.ProjectView, tags=["lifecycle"])
async def approve(project_id: ProjectIdPath, body: m.ApproveRequest, ctx: Command, rt: Runtime) -> JSONResponse:
    """proposed -> approved."""
    command = domain.ApproveProject(ctx.metadata.actor, _today(rt, body.approved_on), body.note)
    return await _run(rt, ctx, project_id, command)


@router.post("/projects/{project_id}/start", response_model=m.ProjectView, tags=["lifecycle"])
async def start(project_id: ProjectIdPath, body: m.StartRequest, ctx: Command, rt: Runtime) -> JSONResponse:
    """approved -> active."""
    return await _run(rt, ctx, project_id, domain.StartProject(_today(rt, body.started_on)))


@router.post("/projects/{project_id}/hold", response_model=m.ProjectView, tags=["lifecycle"])
async def hold(project_id: ProjectIdPath, body: m.HoldRequest, ctx: Command, rt: Runtime) -> JSONResponse:
    """active -> on_hold, with a reason."""
    return await _run(rt, ctx, project_id, domain.PutProjectOnHold(body.reason, _today(rt, body.on)))


@router.post("/projects/{project_id}/resume", response_model=m.ProjectView, tags=["lifecycle"])
async def resume(project_id: ProjectIdPath, body: m.ResumeRequest, ctx: Command, rt: Runtime) -> JSONResponse:
    """on_hold -> active."""
    return await _run(rt, ctx, project_id, domain.ResumeProject(_today(rt, body.on), body.note))


@router.post("/projects/{project_id}/complete", response_model=m.ProjectView, tags=["lifecycle"])
async def complete(project_id: ProjectIdPath, body: m.CompleteRequest, ctx: Command, rt: Runtime) -> JSONResponse:
    """active -> completed, once every milestone is reached or missed."""
    return await _run(rt, ctx, project_id, domain.CompleteProject(_today(rt, body.completed_on), body.note))


@router.post("/projects/{project_id}/terminate", response_model=m.ProjectView, tags=["lifecycle"])
async def terminate(project_id: ProjectIdPath, body: m.TerminateRequest, ctx: Command, rt: Runtime) -> JSONResponse:
    """Any open state -> terminated (final), with a reason."""
    return await _run(rt, ctx, project_id, domain.TerminateProject(body.reason, _today(rt, body.on)))


@router.post("/projects/{project_id}/gate-decisions", status_code=201, tags=["lifecycle"])
async def gate_decision(
    project_id: ProjectIdPath, body: m.GateDecisionRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Record a stage-gate decision (continue, hold, terminate) with its rationale; hold and terminate change the
    project's status, continue resumes a project on hold. The figures known at that moment are kept with it."""
    decision_id = new_id()
    command = domain.RecordGateDecision(
        decision_id, body.gate, body.decision, body.rationale, ctx.metadata.actor, _today(rt, body.decided_on)
    )

    def view(state: domain.Project, version: int) -> dict[str, Any]:
        doc = project_view(state, version)
        decision = next(d for d in doc["gate_decisions"] if d["decision_id"] == str(decision_id))
        return {**decision, "project_status": doc["status"]}

    return await _run(
        rt, ctx, project_id, command, view, status_code=201, location=f"/projects/{project_id}/gate-decisions"
    )


# --- milestones ---------------------------------------------------------------------------------------------


@router.post("/projects/{project_id}/milestones", status_code=201, response_model=m.MilestoneView, tags=["milestones"])
async def plan_milestone(
    project_id: ProjectIdPath, body: m.PlanMilestoneRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Plan a milestone with its due date and planned value (in the project's currency)."""
    milestone_id = domain.MilestoneId(new_id())
    command = domain.PlanMilestone(milestone_id, body.name, body.due_date, body.planned_value, body.acceptance_criteria)
    return await _run(
        rt,
        ctx,
        project_id,
        command,
        _part("milestones", milestone_id, "milestone_id"),
        status_code=201,
        location=f"/projects/{project_id}/milestones/{milestone_id}",
    )


@router.post(
    "/projects/{project_id}/milestones/{milestone_id}/reschedule", response_model=m.MilestoneView, tags=["milestones"]
)
async def reschedule_milestone(
    project_id: ProjectIdPath, milestone_id: MilestoneIdPath, body: m.RescheduleRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Move a milestone's due date; the previous date and the reason are kept in its history."""
    command = domain.RescheduleMilestone(milestone_id, body.due_date, body.reason)
    return await _run(rt, ctx, project_id, command, _part("milestones", milestone_id, "milestone_id"))


@router.post(
    "/projects/{project_id}/milestones/{milestone_id}/progress", response_model=m.MilestoneView, tags=["milestones"]
)
async def report_progress(
    project_id: ProjectIdPath, milestone_id: MilestoneIdPath, body: m.ProgressRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Report percent complete (0-100); going backwards needs a correction_reason."""
    command = domain.ReportMilestoneProgress(
        milestone_id, body.percent_complete, _today(rt, body.as_of), body.correction_reason
    )
    return await _run(rt, ctx, project_id, command, _part("milestones", milestone_id, "milestone_id"))


@router.post(
    "/projects/{project_id}/milestones/{milestone_id}/reached", response_model=m.MilestoneView, tags=["milestones"]
)
async def mark_reached(
    project_id: ProjectIdPath, milestone_id: MilestoneIdPath, body: m.ReachedRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Mark a milestone reached on a date, accepted by the caller (``milestone-reached``; ``accepted_by`` is the
    token's subject)."""
    command = domain.MarkMilestoneReached(
        milestone_id, _today(rt, body.reached_on), ctx.metadata.actor, body.acceptance_note
    )
    return await _run(rt, ctx, project_id, command, _part("milestones", milestone_id, "milestone_id"))


@router.post(
    "/projects/{project_id}/milestones/{milestone_id}/missed", response_model=m.MilestoneView, tags=["milestones"]
)
async def mark_missed(
    project_id: ProjectIdPath, milestone_id: MilestoneIdPath, body: m.MissedRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Mark a milestone whose due date has passed as missed (rescheduling reopens it)."""
    command = domain.MarkMilestoneMissed(milestone_id, body.reason)
    return await _run(rt, ctx, project_id, command, _part("milestones", milestone_id, "milestone_id"))


# --- status reports, KPIs, partners --------------------------------------------------------------------------


@router.post("/projects/{project_id}/status-reports", status_code=201, tags=["status"])
async def file_status_report(
    project_id: ProjectIdPath, body: m.StatusReportRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """File the weekly progress meeting's report. Overall RAG is the worst dimension unless overridden with a
    reason."""
    report_id = new_id()
    command = domain.FileStatusReport(
        report_id,
        body.meeting_date,
        body.schedule,
        body.cost,
        body.scope,
        body.quality,
        body.resources,
        body.narrative,
        tuple(body.decisions),
        tuple(body.risks),
        tuple(body.next_steps),
        body.overall,
        body.override_reason,
    )
    return await _run(
        rt,
        ctx,
        project_id,
        command,
        _part("status_reports", report_id, "report_id"),
        status_code=201,
        location=f"/projects/{project_id}/status-reports",
    )


@router.post("/projects/{project_id}/kpis", status_code=201, tags=["kpis"])
async def define_kpi(project_id: ProjectIdPath, body: m.KpiRequest, ctx: Command, rt: Runtime) -> JSONResponse:
    """Define a KPI with its target and direction (at least / at most) and review date."""
    kpi_id = new_id()
    command = domain.DefineKpi(kpi_id, body.name, body.unit, body.target, body.direction, body.review_date)
    return await _run(
        rt,
        ctx,
        project_id,
        command,
        _part("kpis", kpi_id, "kpi_id"),
        status_code=201,
        location=f"/projects/{project_id}/kpis/{kpi_id}",
    )


@router.post("/projects/{project_id}/kpis/{kpi_id}/measurements", status_code=201, tags=["kpis"])
async def measure_kpi(
    project_id: ProjectIdPath, kpi_id: uuid.UUID, body: m.MeasurementRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Record a measurement of a KPI (``kpi-measured``, with whether the target is met)."""
    command = domain.MeasureKpi(kpi_id, body.value, _today(rt, body.measured_on), body.note)
    return await _run(rt, ctx, project_id, command, _part("kpis", kpi_id, "kpi_id"), status_code=201)


@router.post("/projects/{project_id}/partners", status_code=201, tags=["partners"])
async def register_partner(
    project_id: ProjectIdPath, body: m.PartnerRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Register an external partner or an internal stakeholder with their role."""
    partner_id = new_id()
    command = domain.RegisterPartner(partner_id, body.name, body.kind, body.organisation, body.role)
    return await _run(rt, ctx, project_id, command, _part("partners", partner_id, "partner_id"), status_code=201)


@router.post("/projects/{project_id}/communications", status_code=201, tags=["partners"])
async def log_communication(
    project_id: ProjectIdPath, body: m.CommunicationRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Log a communication with a partner, optionally with a follow-up due date."""
    communication_id = new_id()
    command = domain.LogCommunication(
        communication_id, body.partner_id, body.on, body.channel, body.summary, body.follow_up_due
    )
    view = _part("communications", communication_id, "communication_id")
    return await _run(rt, ctx, project_id, command, view, status_code=201)


@router.post("/projects/{project_id}/communications/{communication_id}/close-follow-up", tags=["partners"])
async def close_follow_up(
    project_id: ProjectIdPath, communication_id: uuid.UUID, body: m.CloseFollowUpRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Close a communication's follow-up."""
    command = domain.CloseFollowUp(communication_id, _today(rt, body.closed_on), body.note)
    return await _run(rt, ctx, project_id, command, _part("communications", communication_id, "communication_id"))
