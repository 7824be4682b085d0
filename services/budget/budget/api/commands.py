"""Command routes of the budget service; each appends to the project's budget stream in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from sqlalchemy import text

from budget import domain
from budget.api import models as m
from budget.projections import budget_view
from shared.commands import CommandContext
from shared.contracts.budget import CategoryAmount, InvoiceExpectation, PhaseAmount
from shared.errors import NotFoundError, RuleViolationError
from shared.ids import new_id
from shared.service import Runtime, ServiceRuntime
from shared.web import COMMAND_RESPONSES, Command, respond

router = APIRouter(responses=COMMAND_RESPONSES, tags=["budget"])
ProjectIdPath = Annotated[uuid.UUID, Path(description="Project id")]
BUDGET = domain.BUDGET
View = Callable[[domain.Budget, int], dict[str, Any]]


async def known_project(rt: ServiceRuntime, project_id: uuid.UUID) -> tuple[str, frozenset[uuid.UUID]]:
    """The project's currency and planned milestones, as consumed from ``pmo.projects.v1``."""
    async with rt.engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT currency, status FROM known_projects WHERE project_id = :p"), {"p": project_id}
            )
        ).first()
        if row is None:
            raise NotFoundError(
                f"project {project_id} is not known to the budget service: it was never registered, or its "
                "registration has not arrived yet"
            )
        if row.status in ("completed", "terminated"):
            raise RuleViolationError(f"project {project_id} is {row.status}; its budget accepts no change")
        milestones = await conn.execute(
            text("SELECT milestone_id FROM known_milestones WHERE project_id = :p"), {"p": project_id}
        )
        return str(row.currency), frozenset(r.milestone_id for r in milestones)


async def _run(
    rt: ServiceRuntime,
    ctx: CommandContext,
    project_id: uuid.UUID,
    command: domain.Command,
    view: View = budget_view,
    status_code: int = 200,
) -> JSONResponse:
    outcome = await rt.executor.execute(
        ctx,
        aggregate=BUDGET,
        stream_id=domain.stream_id(project_id),
        command=command,
        respond=lambda state, events, version: view(state, version),
        status_code=status_code,
    )
    return respond(outcome, location=f"/budgets/{project_id}" if status_code == 201 else None)


def _item(key: str, id_field: str, item_id: uuid.UUID) -> View:
    def view(state: domain.Budget, version: int) -> dict[str, Any]:
        item: dict[str, Any] = next(i for i in budget_view(state, version)[key] if i[id_field] == str(item_id))
        return item | {"version": version}

    return view


@router.post("/budgets/{project_id}/baseline", status_code=201)
async def baseline(project_id: ProjectIdPath, body: m.BaselineRequest, ctx: Command, rt: Runtime) -> JSONResponse:
    """Baseline the project's budget: total (BAC), split by category and optionally phased by milestone or month.
    Both splits must add up to the total. Only for a project this service has seen registered."""
    currency, milestones = await known_project(rt, project_id)
    command = domain.BaselineBudget(
        project_id=project_id,
        project_currency=currency,
        known_milestones=milestones,
        total=body.total,
        categories=tuple(CategoryAmount(category=c.category, amount=c.amount) for c in body.categories),
        phasing=tuple(PhaseAmount(milestone_id=p.milestone_id, month=p.month, amount=p.amount) for p in body.phasing),
        baselined_by=ctx.metadata.actor,
    )
    return await _run(rt, ctx, project_id, command, status_code=201)


@router.post("/budgets/{project_id}/change-requests", status_code=201)
async def request_change(
    project_id: ProjectIdPath, body: m.ChangeRequestBody, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Request a budget change for a category (approved changes move BAC)."""
    await known_project(rt, project_id)
    change_id = new_id()
    command = domain.RequestChange(change_id, body.category, body.amount, body.reason, ctx.metadata.actor)
    return await _run(rt, ctx, project_id, command, _item("change_requests", "change_id", change_id), 201)


@router.post("/budgets/{project_id}/change-requests/{change_id}/approve")
async def approve_change(
    project_id: ProjectIdPath, change_id: uuid.UUID, body: m.DecideChange, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Approve a change request (by someone other than its requester): ``budget-change-approved``."""
    await known_project(rt, project_id)
    command = domain.ApproveChange(change_id, ctx.metadata.actor)
    return await _run(rt, ctx, project_id, command, _item("change_requests", "change_id", change_id))


@router.post("/budgets/{project_id}/change-requests/{change_id}/reject")
async def reject_change(
    project_id: ProjectIdPath, change_id: uuid.UUID, body: m.DecideChange, ctx: Command, rt: Runtime
) -> JSONResponse:
    await known_project(rt, project_id)
    command = domain.RejectChange(change_id, ctx.metadata.actor, body.reason)
    return await _run(rt, ctx, project_id, command, _item("change_requests", "change_id", change_id))


@router.post("/budgets/{project_id}/funding-sources", status_code=201)
async def add_funding_source(
    project_id: ProjectIdPath, body: m.FundingSourceBody, ctx: Command, rt: Runtime
) -> JSONResponse:
    await known_project(rt, project_id)
    source_id = new_id()
    command = domain.AddFundingSource(source_id, body.name, body.kind)
    return await _run(rt, ctx, project_id, command, _item("funding_sources", "source_id", source_id), 201)


@router.post("/budgets/{project_id}/funding-sources/{source_id}/tranches", status_code=201)
async def secure_funding(
    project_id: ProjectIdPath, source_id: uuid.UUID, body: m.TrancheBody, ctx: Command, rt: Runtime
) -> JSONResponse:
    """A tranche secured from a source, with the date it becomes available (``funding-secured``)."""
    await known_project(rt, project_id)
    tranche_id = new_id()
    command = domain.SecureFunding(source_id, tranche_id, body.amount, body.available_on)
    return await _run(rt, ctx, project_id, command, _item("tranches", "tranche_id", tranche_id), 201)


@router.post("/budgets/{project_id}/tranches/{tranche_id}/withdraw")
async def withdraw_funding(
    project_id: ProjectIdPath, tranche_id: uuid.UUID, body: m.WithdrawBody, ctx: Command, rt: Runtime
) -> JSONResponse:
    await known_project(rt, project_id)
    command = domain.WithdrawFunding(tranche_id, body.withdrawn_on, body.reason)
    return await _run(rt, ctx, project_id, command, _item("tranches", "tranche_id", tranche_id))


@router.post("/budgets/{project_id}/tranches/{tranche_id}/reschedule")
async def reschedule_funding(
    project_id: ProjectIdPath, tranche_id: uuid.UUID, body: m.RescheduleTrancheBody, ctx: Command, rt: Runtime
) -> JSONResponse:
    await known_project(rt, project_id)
    command = domain.RescheduleFunding(tranche_id, body.available_on, body.reason)
    return await _run(rt, ctx, project_id, command, _item("tranches", "tranche_id", tranche_id))


def _expected(lines: list[m.InvoiceExpectationBody]) -> tuple[InvoiceExpectation, ...]:
    return tuple(InvoiceExpectation(on=e.on, amount=e.amount) for e in lines)


@router.post("/budgets/{project_id}/commitments", status_code=201)
async def commit(project_id: ProjectIdPath, body: m.CommitmentBody, ctx: Command, rt: Runtime) -> JSONResponse:
    """Commit a purchase order or subcontract against a category (and optionally a milestone). An overrun of the
    category follows the project's policy: warn (default), block (409) or require approval."""
    _, milestones = await known_project(rt, project_id)
    commitment_id = new_id()
    command = domain.Commit(
        commitment_id,
        body.kind,
        body.vendor,
        body.reference,
        body.category,
        body.milestone_id,
        milestones,
        body.amount,
        _expected(body.expected_invoices),
        ctx.metadata.actor,
    )
    return await _run(rt, ctx, project_id, command, _item("commitments", "commitment_id", commitment_id), 201)


@router.post("/budgets/{project_id}/commitments/{commitment_id}/approve")
async def approve_commitment(
    project_id: ProjectIdPath, commitment_id: uuid.UUID, body: m.DecideCommitment, ctx: Command, rt: Runtime
) -> JSONResponse:
    await known_project(rt, project_id)
    command = domain.ApproveCommitment(commitment_id, ctx.metadata.actor)
    return await _run(rt, ctx, project_id, command, _item("commitments", "commitment_id", commitment_id))


@router.post("/budgets/{project_id}/commitments/{commitment_id}/refuse")
async def refuse_commitment(
    project_id: ProjectIdPath, commitment_id: uuid.UUID, body: m.DecideCommitment, ctx: Command, rt: Runtime
) -> JSONResponse:
    await known_project(rt, project_id)
    command = domain.RefuseCommitment(commitment_id, ctx.metadata.actor, body.reason)
    return await _run(rt, ctx, project_id, command, _item("commitments", "commitment_id", commitment_id))


@router.post("/budgets/{project_id}/commitments/{commitment_id}/adjust")
async def adjust_commitment(
    project_id: ProjectIdPath, commitment_id: uuid.UUID, body: m.AdjustCommitmentBody, ctx: Command, rt: Runtime
) -> JSONResponse:
    await known_project(rt, project_id)
    command = domain.AdjustCommitment(commitment_id, body.amount, _expected(body.expected_invoices), body.reason)
    return await _run(rt, ctx, project_id, command, _item("commitments", "commitment_id", commitment_id))


@router.post("/budgets/{project_id}/commitments/{commitment_id}/cancel")
async def cancel_commitment(
    project_id: ProjectIdPath, commitment_id: uuid.UUID, body: m.CancelCommitmentBody, ctx: Command, rt: Runtime
) -> JSONResponse:
    await known_project(rt, project_id)
    command = domain.CancelCommitment(commitment_id, body.reason)
    return await _run(rt, ctx, project_id, command, _item("commitments", "commitment_id", commitment_id))


@router.put("/budgets/{project_id}/overrun-policy")
async def set_policy(project_id: ProjectIdPath, body: m.PolicyBody, ctx: Command, rt: Runtime) -> JSONResponse:
    """What happens when a commitment would take a category past its budget: warn, block or require_approval. A
    stricter policy applies at once; a looser one (block > require_approval > warn) is only requested
    (``overrun-policy-change-requested``, shown as ``policy_change_requested``) until another finance user approves
    it with ``POST /budgets/{project_id}/overrun-policy/approve``."""
    await known_project(rt, project_id)
    return await _run(rt, ctx, project_id, domain.SetOverrunPolicy(body.policy, ctx.metadata.actor))


@router.post("/budgets/{project_id}/overrun-policy/approve")
async def approve_policy(project_id: ProjectIdPath, body: m.DecideChange, ctx: Command, rt: Runtime) -> JSONResponse:
    """Approve the looser overrun policy requested (finance): never by whoever requested it (409)."""
    await known_project(rt, project_id)
    return await _run(rt, ctx, project_id, domain.ApproveOverrunPolicy(ctx.metadata.actor))
