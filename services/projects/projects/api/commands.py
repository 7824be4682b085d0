"""Command routes: parse the request, call the handler (:mod:`projects.handlers`), answer with its outcome."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse

from projects import domain, handlers
from projects.api import models as m
from projects.domain.status import RaidReferences
from projects.people_tables import PartnerContactsTable
from projects.queries import Groupings
from projects.raid_queries import RaidTables
from projects.reporting_client import ReportingOverHttp
from projects.settings import Settings
from shared.authz import InScope
from shared.contracts.common import MonthAmount
from shared.contracts.projects import WeightedStep
from shared.service import Runtime
from shared.web import COMMAND_RESPONSES, Command, respond

router = APIRouter(responses=COMMAND_RESPONSES)
ProjectIdPath = Annotated[uuid.UUID, Path(description="Project id")]
MilestoneIdPath = Annotated[uuid.UUID, Path(description="Milestone id")]


async def _groupings(rt: Runtime) -> Groupings:  # async: a sync dependency costs a thread hop
    return Groupings(rt.engine, rt.memo)


Facts = Annotated[Groupings, Depends(_groupings)]


async def _reporting(rt: Runtime) -> ReportingOverHttp:
    if not isinstance(rt.settings, Settings):  # shared settings alone: no reporting configured
        return ReportingOverHttp(None, None, timeout=handlers.REPORTING_TIMEOUT_SECONDS)
    return ReportingOverHttp.from_settings(rt.settings)


ReportingClient = Annotated[ReportingOverHttp, Depends(_reporting)]

# --- portfolios and programmes ------------------------------------------------------------------------------


@router.post(
    "/portfolios", operation_id="createPortfolio", status_code=201, response_model=m.GroupingView, tags=["portfolios"]
)
async def create_portfolio(body: m.CreatePortfolioRequest, ctx: Command, rt: Runtime) -> JSONResponse:
    """Create a portfolio; its id is a lowercase slug chosen by the caller."""
    outcome = await handlers.create_portfolio(
        rt.executor, ctx, portfolio_id=body.portfolio_id, name=body.name, description=body.description
    )
    return respond(outcome, location=f"/portfolios/{body.portfolio_id}")


@router.post(
    "/portfolios/{portfolio_id}/programmes",
    operation_id="createProgramme",
    status_code=201,
    response_model=m.GroupingView,
    tags=["portfolios"],
)
async def create_programme(
    portfolio_id: Annotated[str, Path(max_length=64)],
    body: m.CreateProgrammeRequest,
    ctx: Command,
    rt: Runtime,
    facts: Facts,
) -> JSONResponse:
    """Create a programme inside a portfolio."""
    outcome = await handlers.create_programme(
        rt.executor,
        facts,
        ctx,
        portfolio_id=portfolio_id,
        programme_id=body.programme_id,
        name=body.name,
        description=body.description,
    )
    return respond(outcome, location=f"/programmes/{body.programme_id}")


# --- projects -----------------------------------------------------------------------------------------------


@router.post(
    "/projects", operation_id="createProject", status_code=201, response_model=m.ProjectView, tags=["projects"]
)
async def register_project(
    body: m.RegisterProjectRequest, ctx: Command, rt: Runtime, facts: Facts, scope: InScope
) -> JSONResponse:
    """Register a project (status ``proposed``). Its code is unique within its portfolio; a programme given must
    belong to the portfolio given (the portfolio defaults to the programme's)."""
    outcome = await handlers.register_project(
        rt.executor,
        facts,
        ctx,
        code=body.code,
        name=body.name,
        objectives=body.objectives,
        sponsor=body.sponsor,
        manager=body.manager,
        planned_start=body.planned_start,
        planned_end=body.planned_end,
        currency=body.currency,
        portfolio_id=body.portfolio_id,
        programme_id=body.programme_id,
        scope=scope,
    )
    return respond(outcome, location=f"/projects/{outcome.body['project_id']}")


@router.post(
    "/projects/{project_id}/approve", operation_id="approveProject", response_model=m.ProjectView, tags=["lifecycle"]
)
async def approve(project_id: ProjectIdPath, body: m.ApproveRequest, ctx: Command, rt: Runtime) -> JSONResponse:
    """proposed -> approved."""
    outcome = await handlers.approve_project(rt.executor, ctx, project_id, approved_on=body.approved_on, note=body.note)
    return respond(outcome)


@router.post(
    "/projects/{project_id}/start", operation_id="startProject", response_model=m.ProjectView, tags=["lifecycle"]
)
async def start(project_id: ProjectIdPath, body: m.StartRequest, ctx: Command, rt: Runtime) -> JSONResponse:
    """approved -> active."""
    return respond(await handlers.start_project(rt.executor, ctx, project_id, started_on=body.started_on))


@router.post(
    "/projects/{project_id}/hold", operation_id="putProjectOnHold", response_model=m.ProjectView, tags=["lifecycle"]
)
async def hold(project_id: ProjectIdPath, body: m.HoldRequest, ctx: Command, rt: Runtime) -> JSONResponse:
    """active -> on_hold, with a reason."""
    return respond(await handlers.put_project_on_hold(rt.executor, ctx, project_id, reason=body.reason, on=body.on))


@router.post(
    "/projects/{project_id}/resume", operation_id="resumeProject", response_model=m.ProjectView, tags=["lifecycle"]
)
async def resume(project_id: ProjectIdPath, body: m.ResumeRequest, ctx: Command, rt: Runtime) -> JSONResponse:
    """on_hold -> active."""
    return respond(await handlers.resume_project(rt.executor, ctx, project_id, on=body.on, note=body.note))


@router.post(
    "/projects/{project_id}/complete", operation_id="completeProject", response_model=m.ProjectView, tags=["lifecycle"]
)
async def complete(project_id: ProjectIdPath, body: m.CompleteRequest, ctx: Command, rt: Runtime) -> JSONResponse:
    """active -> completed, once every milestone is reached or missed."""
    outcome = await handlers.complete_project(
        rt.executor, ctx, project_id, completed_on=body.completed_on, note=body.note
    )
    return respond(outcome)


@router.post(
    "/projects/{project_id}/terminate",
    operation_id="terminateProject",
    response_model=m.ProjectView,
    tags=["lifecycle"],
)
async def terminate(project_id: ProjectIdPath, body: m.TerminateRequest, ctx: Command, rt: Runtime) -> JSONResponse:
    """Any open state -> terminated (final), with a reason."""
    return respond(await handlers.terminate_project(rt.executor, ctx, project_id, reason=body.reason, on=body.on))


@router.post(
    "/projects/{project_id}/gate-decisions",
    operation_id="recordGateDecision",
    response_model=m.GateDecisionView,
    status_code=201,
    tags=["lifecycle"],
)
async def gate_decision(
    project_id: ProjectIdPath, body: m.GateDecisionRequest, ctx: Command, rt: Runtime, reporting: ReportingClient
) -> JSONResponse:
    """Record a stage-gate decision (continue, hold, terminate) with its rationale; hold and terminate change the
    project's status, continue resumes a project on hold. The figures known at that moment are kept with it: the
    project's own (``snapshot``) and the reporting service's as of the decision date (``figures``: AC, BAC, EAC,
    VAC, CPI, SPI, funding available, underfunding risk; ``figures.unavailable`` says why when reporting could not
    answer, which never stops the decision)."""
    outcome = await handlers.record_gate_decision(
        rt.executor,
        reporting,
        ctx,
        project_id,
        gate=body.gate,
        decision=body.decision,
        rationale=body.rationale,
        decided_on=body.decided_on,
        timeout=reporting.timeout,
    )
    return respond(outcome, location=f"/projects/{project_id}/gate-decisions")


# --- milestones ---------------------------------------------------------------------------------------------


@router.post(
    "/projects/{project_id}/milestones",
    operation_id="planMilestone",
    status_code=201,
    response_model=m.MilestoneView,
    tags=["milestones"],
)
async def plan_milestone(
    project_id: ProjectIdPath, body: m.PlanMilestoneRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Plan a milestone with its due date and planned value (in the project's currency)."""
    outcome = await handlers.plan_milestone(
        rt.executor,
        ctx,
        project_id,
        name=body.name,
        due_date=body.due_date,
        planned_value=body.planned_value,
        acceptance_criteria=body.acceptance_criteria,
        start_date=body.start_date,
    )
    return respond(outcome, location=f"/projects/{project_id}/milestones/{outcome.body['milestone_id']}")


@router.post(
    "/projects/{project_id}/milestones/{milestone_id}/reschedule",
    operation_id="rescheduleMilestone",
    response_model=m.MilestoneView,
    tags=["milestones"],
)
async def reschedule_milestone(
    project_id: ProjectIdPath, milestone_id: MilestoneIdPath, body: m.RescheduleRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Move a milestone's due date; the previous date and the reason are kept in its history."""
    outcome = await handlers.reschedule_milestone(
        rt.executor, ctx, project_id, milestone_id, due_date=body.due_date, reason=body.reason
    )
    return respond(outcome)


@router.post(
    "/projects/{project_id}/milestones/{milestone_id}/progress",
    operation_id="reportMilestoneProgress",
    response_model=m.MilestoneView,
    tags=["milestones"],
)
async def report_progress(
    project_id: ProjectIdPath, milestone_id: MilestoneIdPath, body: m.ProgressRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Report percent complete (0-100); going backwards needs a correction_reason."""
    outcome = await handlers.report_milestone_progress(
        rt.executor,
        ctx,
        project_id,
        milestone_id,
        percent_complete=body.percent_complete,
        as_of=body.as_of,
        correction_reason=body.correction_reason,
    )
    return respond(outcome)


@router.post(
    "/projects/{project_id}/milestones/{milestone_id}/reached",
    operation_id="markMilestoneReached",
    response_model=m.MilestoneView,
    tags=["milestones"],
)
async def mark_reached(
    project_id: ProjectIdPath, milestone_id: MilestoneIdPath, body: m.ReachedRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Mark a milestone reached on a date, accepted by the caller (``milestone-reached``; ``accepted_by`` is the
    token's subject)."""
    outcome = await handlers.mark_milestone_reached(
        rt.executor, ctx, project_id, milestone_id, reached_on=body.reached_on, acceptance_note=body.acceptance_note
    )
    return respond(outcome)


@router.post(
    "/projects/{project_id}/milestones/{milestone_id}/missed",
    operation_id="markMilestoneMissed",
    response_model=m.MilestoneView,
    tags=["milestones"],
)
async def mark_missed(
    project_id: ProjectIdPath, milestone_id: MilestoneIdPath, body: m.MissedRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Mark a milestone whose due date has passed as missed (rescheduling reopens it)."""
    outcome = await handlers.mark_milestone_missed(rt.executor, ctx, project_id, milestone_id, reason=body.reason)
    return respond(outcome)


# --- performance measurement baselines ----------------------------------------------------------------------

VersionPath = Annotated[int, Path(ge=1, le=1_000_000, description="Baseline version")]


def _planned(item: m.BaselineItemRequest) -> domain.PlannedItem:
    return domain.PlannedItem(
        milestone_id=item.milestone_id,
        budget=item.budget,
        start=item.start,
        due=item.due,
        technique=item.technique,
        steps=tuple(WeightedStep(name=s.name, weight=s.weight, on=s.on) for s in item.steps),
        months=tuple(MonthAmount(month=x.month, amount=x.amount) for x in item.months),
    )


@router.post(
    "/projects/{project_id}/baselines",
    operation_id="proposeBaseline",
    status_code=201,
    response_model=m.BaselineView,
    tags=["baselines"],
)
async def propose_baseline(
    project_id: ProjectIdPath, body: m.ProposeBaselineRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Propose the next version of the project's performance measurement baseline (``performance-baseline-proposed``):
    one item per milestone with its budget, dates and earned-value technique; the total (BAC) is computed. One
    proposal is open at a time (409 otherwise)."""
    outcome = await handlers.propose_baseline(
        rt.executor,
        ctx,
        project_id,
        effective_on=body.effective_on,
        items=[_planned(item) for item in body.items],
        management_reserve=body.management_reserve,
        reason=body.reason,
    )
    return respond(outcome, location=f"/projects/{project_id}/baselines/{outcome.body['version']}")


@router.post(
    "/projects/{project_id}/baselines/{version}/approve",
    operation_id="approveBaseline",
    response_model=m.BaselineView,
    tags=["baselines"],
)
async def approve_baseline(project_id: ProjectIdPath, version: VersionPath, ctx: Command, rt: Runtime) -> JSONResponse:
    """A director other than the proposer approves a proposed version (``performance-baseline-approved``): PV is
    read from it from its ``effective_on`` on."""
    return respond(await handlers.approve_baseline(rt.executor, ctx, project_id, version))


@router.post(
    "/projects/{project_id}/baselines/{version}/reject",
    operation_id="rejectBaseline",
    response_model=m.BaselineView,
    tags=["baselines"],
)
async def reject_baseline(
    project_id: ProjectIdPath, version: VersionPath, body: m.RejectBaselineRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """A director rejects a proposed version with a reason (``performance-baseline-rejected``)."""
    return respond(await handlers.reject_baseline(rt.executor, ctx, project_id, version, reason=body.reason))


# --- status reports, KPIs, partners --------------------------------------------------------------------------


@router.post(
    "/projects/{project_id}/status-reports",
    operation_id="fileStatusReport",
    response_model=m.StatusReportView,
    status_code=201,
    tags=["status"],
)
async def file_status_report(
    project_id: ProjectIdPath, body: m.StatusReportRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """File the weekly progress meeting's report. Overall RAG is the worst dimension unless overridden with a
    reason. It refers to the project's RAID items by kind (``risk_ids``, ``issue_ids``, ``assumption_ids``,
    ``decision_ids``, ``dependency_ids``): an id that is not an item of that kind in this project's log, or listed
    twice, is 422 naming the list and position; the free-text lists stay accepted."""
    outcome = await handlers.file_status_report(
        rt.executor,
        ctx,
        project_id,
        meeting_date=body.meeting_date,
        schedule=body.schedule,
        cost=body.cost,
        scope=body.scope,
        quality=body.quality,
        resources=body.resources,
        narrative=body.narrative,
        decisions=body.decisions,
        risks=body.risks,
        next_steps=body.next_steps,
        overall=body.overall,
        override_reason=body.override_reason,
        references=RaidReferences(
            tuple(body.risk_ids),
            tuple(body.issue_ids),
            tuple(body.assumption_ids),
            tuple(body.decision_ids),
            tuple(body.dependency_ids),
        ),
        log=RaidTables(rt.engine),
    )
    return respond(outcome, location=f"/projects/{project_id}/status-reports")


@router.post(
    "/projects/{project_id}/kpis", operation_id="defineKpi", response_model=m.KpiView, status_code=201, tags=["kpis"]
)
async def define_kpi(project_id: ProjectIdPath, body: m.KpiRequest, ctx: Command, rt: Runtime) -> JSONResponse:
    """Define a KPI with its target and direction (at least / at most) and review date."""
    outcome = await handlers.define_kpi(
        rt.executor,
        ctx,
        project_id,
        name=body.name,
        unit=body.unit,
        target=body.target,
        direction=body.direction,
        review_date=body.review_date,
    )
    return respond(outcome, location=f"/projects/{project_id}/kpis/{outcome.body['kpi_id']}")


@router.post(
    "/projects/{project_id}/kpis/{kpi_id}/measurements",
    operation_id="measureKpi",
    response_model=m.KpiView,
    status_code=201,
    tags=["kpis"],
)
async def measure_kpi(
    project_id: ProjectIdPath, kpi_id: uuid.UUID, body: m.MeasurementRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Record a measurement of a KPI (``kpi-measured``, with whether the target is met)."""
    outcome = await handlers.measure_kpi(
        rt.executor, ctx, project_id, kpi_id, value=body.value, measured_on=body.measured_on, note=body.note
    )
    return respond(outcome)


@router.post(
    "/projects/{project_id}/partners",
    operation_id="registerPartner",
    response_model=m.PartnerView,
    status_code=201,
    tags=["partners"],
)
async def register_partner(
    project_id: ProjectIdPath, body: m.PartnerRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Register an external partner or an internal stakeholder with their role; the name and contact details are
    kept apart from the event, erasable (``/projects/{id}/partners/{partner_id}/personal-data``)."""
    outcome = await handlers.register_partner(
        rt.executor,
        ctx,
        project_id,
        name=body.name,
        kind=body.kind,
        organisation=body.organisation,
        role=body.role,
        email=body.email,
        phone=body.phone,
        contacts=PartnerContactsTable(rt.engine),
    )
    return respond(outcome, location=f"/projects/{project_id}/partners/{outcome.body['partner_id']}")


@router.post(
    "/projects/{project_id}/communications",
    operation_id="logCommunication",
    response_model=m.CommunicationView,
    status_code=201,
    tags=["partners"],
)
async def log_communication(
    project_id: ProjectIdPath, body: m.CommunicationRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Log a communication with a partner, optionally with a follow-up due date."""
    outcome = await handlers.log_communication(
        rt.executor,
        ctx,
        project_id,
        partner_id=body.partner_id,
        on=body.on,
        channel=body.channel,
        summary=body.summary,
        follow_up_due=body.follow_up_due,
    )
    return respond(outcome)


@router.post(
    "/projects/{project_id}/communications/{communication_id}/close-follow-up",
    operation_id="closeFollowUp",
    response_model=m.CommunicationView,
    tags=["partners"],
)
async def close_follow_up(
    project_id: ProjectIdPath, communication_id: uuid.UUID, body: m.CloseFollowUpRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Close a communication's follow-up."""
    outcome = await handlers.close_follow_up(
        rt.executor, ctx, project_id, communication_id, closed_on=body.closed_on, note=body.note
    )
    return respond(outcome)
