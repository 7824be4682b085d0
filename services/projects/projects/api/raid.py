"""Routes of a project's RAID log: commands (parse, call :mod:`projects.handlers.raid`, answer with the item) and
the log's reads (served from the ``raid_items`` query table). Every command's ``ETag`` is the log's version; send it
back as ``If-Match`` to refuse a change made meanwhile (412)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from projects import raid_queries
from projects.api import raid_models as m
from projects.domain.raid_state import Assess
from projects.handlers import raid as handlers
from projects.raid_queries import RaidTables
from shared.authz import InScope
from shared.service import Runtime
from shared.web import COMMAND_RESPONSES, Command, Page, Paging, respond

router = APIRouter(responses=COMMAND_RESPONSES, tags=["raid"])
ProjectIdPath = Annotated[uuid.UUID, Path(description="Project id")]
ItemIdPath = Annotated[uuid.UUID, Path(description="Item id")]
Kind = Literal["risk", "issue", "assumption", "decision", "dependency"]
Status = Literal["open", "closed", "confirmed", "invalid", "logged", "met", "cancelled"]


async def _facts(rt: Runtime) -> RaidTables:  # async: a sync dependency costs a thread hop
    return RaidTables(rt.engine)


Facts = Annotated[RaidTables, Depends(_facts)]


def _assess(body: m.AssessmentRequest) -> Assess:
    return Assess(body.probability, body.impact, body.money_impact, body.owner, body.strategy, body.review_date)


def _raid(project_id: uuid.UUID, what: str, item_id: Any) -> str:
    return f"/projects/{project_id}/raid/{what}/{item_id}"


# --- risks --------------------------------------------------------------------------------------------------


@router.post(
    "/projects/{project_id}/raid/risks", operation_id="raiseRisk", status_code=201, response_model=m.RaidItemView
)
async def raise_risk(
    project_id: ProjectIdPath, body: m.RaiseRiskRequest, ctx: Command, rt: Runtime, facts: Facts
) -> JSONResponse:
    """Enter a risk (cause, event, effect) with its assessment: probability and impact 1-5, money impact in the
    project's currency, owner, response strategy and review date."""
    outcome = await handlers.raise_risk(
        rt.executor,
        facts,
        ctx,
        project_id,
        title=body.title,
        cause=body.cause,
        event=body.event,
        effect=body.effect,
        assessment=_assess(body),
        raised_on=body.raised_on,
    )
    return respond(outcome, location=_raid(project_id, "items", outcome.body.get("item_id")))


@router.post(
    "/projects/{project_id}/raid/risks/{risk_id}/review", operation_id="reviewRisk", response_model=m.RaidItemView
)
async def review_risk(
    project_id: ProjectIdPath,
    risk_id: ItemIdPath,
    body: m.ReviewRiskRequest,
    ctx: Command,
    rt: Runtime,
    facts: Facts,
) -> JSONResponse:
    """Review a risk: its whole assessment after the review, with the next review date."""
    outcome = await handlers.review_risk(
        rt.executor,
        facts,
        ctx,
        project_id,
        risk_id,
        assessment=_assess(body),
        reviewed_on=body.reviewed_on,
        note=body.note,
    )
    return respond(outcome)


@router.post(
    "/projects/{project_id}/raid/risks/{risk_id}/responses",
    operation_id="planRiskResponse",
    status_code=201,
    response_model=m.RaidItemView,
)
async def plan_risk_response(
    project_id: ProjectIdPath,
    risk_id: ItemIdPath,
    body: m.RiskResponseRequest,
    ctx: Command,
    rt: Runtime,
    facts: Facts,
) -> JSONResponse:
    """Plan a response action (never due before the risk was raised); answered with the risk."""
    outcome = await handlers.plan_risk_response(
        rt.executor,
        facts,
        ctx,
        project_id,
        risk_id,
        description=body.description,
        owner=body.owner,
        due_date=body.due_date,
    )
    return respond(outcome, location=_raid(project_id, "items", risk_id))


@router.post(
    "/projects/{project_id}/raid/risks/{risk_id}/responses/{action_id}/complete",
    operation_id="completeRiskResponse",
    response_model=m.RaidItemView,
)
async def complete_risk_response(
    project_id: ProjectIdPath,
    risk_id: ItemIdPath,
    action_id: Annotated[uuid.UUID, Path(description="Response action id")],
    body: m.CompleteResponseRequest,
    ctx: Command,
    rt: Runtime,
    facts: Facts,
) -> JSONResponse:
    outcome = await handlers.complete_risk_response(
        rt.executor, facts, ctx, project_id, risk_id, action_id, completed_on=body.completed_on, note=body.note
    )
    return respond(outcome)


@router.post(
    "/projects/{project_id}/raid/risks/{risk_id}/close", operation_id="closeRisk", response_model=m.RaidItemView
)
async def close_risk(
    project_id: ProjectIdPath,
    risk_id: ItemIdPath,
    body: m.CloseRiskRequest,
    ctx: Command,
    rt: Runtime,
    facts: Facts,
) -> JSONResponse:
    """Close a risk: it occurred, or it was retired."""
    outcome = await handlers.close_risk(
        rt.executor, facts, ctx, project_id, risk_id, closure=body.closure, closed_on=body.closed_on, note=body.note
    )
    return respond(outcome)


# --- issues, assumptions, decisions -------------------------------------------------------------------------


@router.post(
    "/projects/{project_id}/raid/issues", operation_id="raiseIssue", status_code=201, response_model=m.RaidItemView
)
async def raise_issue(
    project_id: ProjectIdPath, body: m.RaiseIssueRequest, ctx: Command, rt: Runtime, facts: Facts
) -> JSONResponse:
    outcome = await handlers.raise_issue(
        rt.executor,
        facts,
        ctx,
        project_id,
        title=body.title,
        description=body.description,
        severity=body.severity,
        owner=body.owner,
        due_date=body.due_date,
        raised_on=body.raised_on,
        risk_id=body.risk_id,
    )
    return respond(outcome, location=_raid(project_id, "items", outcome.body.get("item_id")))


@router.post(
    "/projects/{project_id}/raid/issues/{issue_id}/resolve", operation_id="resolveIssue", response_model=m.RaidItemView
)
async def resolve_issue(
    project_id: ProjectIdPath,
    issue_id: ItemIdPath,
    body: m.ResolveIssueRequest,
    ctx: Command,
    rt: Runtime,
    facts: Facts,
) -> JSONResponse:
    outcome = await handlers.resolve_issue(
        rt.executor, facts, ctx, project_id, issue_id, resolution=body.resolution, resolved_on=body.resolved_on
    )
    return respond(outcome)


@router.post(
    "/projects/{project_id}/raid/assumptions",
    operation_id="recordAssumption",
    status_code=201,
    response_model=m.RaidItemView,
)
async def record_assumption(
    project_id: ProjectIdPath, body: m.AssumptionRequest, ctx: Command, rt: Runtime, facts: Facts
) -> JSONResponse:
    outcome = await handlers.record_assumption(
        rt.executor,
        facts,
        ctx,
        project_id,
        description=body.description,
        owner=body.owner,
        recorded_on=body.recorded_on,
    )
    return respond(outcome, location=_raid(project_id, "items", outcome.body.get("item_id")))


@router.post(
    "/projects/{project_id}/raid/assumptions/{assumption_id}/validate",
    operation_id="validateAssumption",
    response_model=m.RaidItemView,
)
async def validate_assumption(
    project_id: ProjectIdPath,
    assumption_id: ItemIdPath,
    body: m.ValidateAssumptionRequest,
    ctx: Command,
    rt: Runtime,
    facts: Facts,
) -> JSONResponse:
    """Confirm an assumption (``holds``: true) or record that it proved wrong (false)."""
    outcome = await handlers.validate_assumption(
        rt.executor,
        facts,
        ctx,
        project_id,
        assumption_id,
        holds=body.holds,
        validated_on=body.validated_on,
        note=body.note,
    )
    return respond(outcome)


@router.post(
    "/projects/{project_id}/raid/decisions",
    operation_id="logDecision",
    status_code=201,
    response_model=m.RaidItemView,
)
async def log_decision(
    project_id: ProjectIdPath, body: m.DecisionRequest, ctx: Command, rt: Runtime, facts: Facts
) -> JSONResponse:
    """Log a decision: who took it (default: the caller), when (default: today) and its rationale."""
    outcome = await handlers.log_decision(
        rt.executor,
        facts,
        ctx,
        project_id,
        title=body.title,
        decision=body.decision,
        rationale=body.rationale,
        decided_by=body.decided_by,
        decided_on=body.decided_on,
    )
    return respond(outcome, location=_raid(project_id, "items", outcome.body.get("item_id")))


# --- dependencies -------------------------------------------------------------------------------------------


@router.post(
    "/projects/{project_id}/raid/dependencies",
    operation_id="declareDependency",
    status_code=201,
    response_model=m.RaidItemView,
)
async def declare_dependency(
    project_id: ProjectIdPath, body: m.DependencyRequest, ctx: Command, rt: Runtime, facts: Facts, scope: InScope
) -> JSONResponse:
    """Declare what this project needs from another project by when (not itself; no cycle of open dependencies
    between projects: 422 naming ``provider_project_id``)."""
    outcome = await handlers.declare_dependency(
        rt.executor,
        facts,
        ctx,
        project_id,
        provider_project_id=body.provider_project_id,
        provider_milestone_id=body.provider_milestone_id,
        needs=body.needs,
        needed_by=body.needed_by,
        owner=body.owner,
        declared_on=body.declared_on,
        scope=scope,
    )
    return respond(outcome, location=_raid(project_id, "items", outcome.body.get("item_id")))


@router.post(
    "/projects/{project_id}/raid/dependencies/{dependency_id}/close",
    operation_id="closeDependency",
    response_model=m.RaidItemView,
)
async def close_dependency(
    project_id: ProjectIdPath,
    dependency_id: ItemIdPath,
    body: m.CloseDependencyRequest,
    ctx: Command,
    rt: Runtime,
    facts: Facts,
) -> JSONResponse:
    """Close a dependency: met, or cancelled."""
    outcome = await handlers.close_dependency(
        rt.executor,
        facts,
        ctx,
        project_id,
        dependency_id,
        outcome=body.outcome,
        closed_on=body.closed_on,
        note=body.note,
    )
    return respond(outcome)


# --- reads --------------------------------------------------------------------------------------------------


@router.get("/projects/{project_id}/raid", operation_id="getRaidLog", response_model=m.RaidLogView)
async def get_raid_log(project_id: ProjectIdPath, rt: Runtime) -> JSONResponse:
    """The project's whole RAID log by kind. ``ETag`` = the log's version (``"0"`` before its first item)."""
    log, version = await raid_queries.raid_log(rt.engine, project_id)
    return JSONResponse(log, headers={"ETag": f'"{version}"'})


@router.get(
    "/projects/{project_id}/raid/items",
    operation_id="listRaidItems",
    response_model=None,
    responses={200: {"model": Page[m.RaidItemView]}},
)
async def list_raid_items(
    project_id: ProjectIdPath,
    rt: Runtime,
    paging: Paging,
    kind: Annotated[Kind | None, Query()] = None,
    status: Annotated[Status | None, Query()] = None,
) -> dict[str, Any]:
    """A page of the log's items, of one kind and in one status if asked."""
    return await raid_queries.raid_items(rt.engine, project_id, kind, status, paging.limit, paging.offset)


@router.get(
    "/projects/{project_id}/raid/items/{item_id}",
    operation_id="getRaidItem",
    response_model=None,
    responses={200: {"model": m.RaidItemView}},
)
async def get_raid_item(project_id: ProjectIdPath, item_id: ItemIdPath, rt: Runtime) -> dict[str, Any]:
    return await raid_queries.raid_item(rt.engine, project_id, item_id)
