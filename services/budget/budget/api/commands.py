"""Command routes of the budget service: parse, call the handler, answer; each command appends to the project's
budget stream in one transaction (:mod:`budget.handlers`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse

from budget import handlers
from budget.api import models as m
from budget.queries import SqlBudgetFacts
from shared.contracts.budget import CategoryAmount, InvoiceExpectation, PhaseAmount
from shared.service import Runtime
from shared.web import COMMAND_RESPONSES, Command, respond

router = APIRouter(responses=COMMAND_RESPONSES, tags=["budget"])
ProjectIdPath = Annotated[uuid.UUID, Path(description="Project id")]


async def budget_facts(rt: Runtime) -> handlers.BudgetFacts:
    return SqlBudgetFacts(rt.engine)


Facts = Annotated[handlers.BudgetFacts, Depends(budget_facts)]


def _created(outcome: handlers.Outcome, project_id: uuid.UUID) -> JSONResponse:
    return respond(outcome, location=f"/budgets/{project_id}")


def _expected(lines: list[m.InvoiceExpectationBody]) -> tuple[InvoiceExpectation, ...]:
    return tuple(InvoiceExpectation(on=e.on, amount=e.amount) for e in lines)


@router.post("/budgets/{project_id}/baseline", status_code=201)
async def baseline(
    project_id: ProjectIdPath, body: m.BaselineRequest, ctx: Command, rt: Runtime, facts: Facts
) -> JSONResponse:
    """Baseline the project's budget: total (BAC), split by category and optionally phased by milestone or month.
    Both splits must add up to the total. Only for a project this service has seen registered."""
    outcome = await handlers.baseline_budget(
        rt.executor,
        facts,
        ctx,
        project_id,
        total=body.total,
        categories=[CategoryAmount(category=c.category, amount=c.amount) for c in body.categories],
        phasing=[PhaseAmount(milestone_id=p.milestone_id, month=p.month, amount=p.amount) for p in body.phasing],
    )
    return _created(outcome, project_id)


@router.post("/budgets/{project_id}/change-requests", status_code=201)
async def request_change(
    project_id: ProjectIdPath, body: m.ChangeRequestBody, ctx: Command, rt: Runtime, facts: Facts
) -> JSONResponse:
    """Request a budget change for a category (approved changes move BAC)."""
    outcome = await handlers.request_change(
        rt.executor, facts, ctx, project_id, category=body.category, amount=body.amount, reason=body.reason
    )
    return _created(outcome, project_id)


@router.post("/budgets/{project_id}/change-requests/{change_id}/approve")
async def approve_change(
    project_id: ProjectIdPath, change_id: uuid.UUID, body: m.DecideChange, ctx: Command, rt: Runtime, facts: Facts
) -> JSONResponse:
    """Approve a change request (by someone other than its requester): ``budget-change-approved``."""
    return respond(await handlers.approve_change(rt.executor, facts, ctx, project_id, change_id))


@router.post("/budgets/{project_id}/change-requests/{change_id}/reject")
async def reject_change(
    project_id: ProjectIdPath, change_id: uuid.UUID, body: m.DecideChange, ctx: Command, rt: Runtime, facts: Facts
) -> JSONResponse:
    return respond(await handlers.reject_change(rt.executor, facts, ctx, project_id, change_id, body.reason))


@router.post("/budgets/{project_id}/funding-sources", status_code=201)
async def add_funding_source(
    project_id: ProjectIdPath, body: m.FundingSourceBody, ctx: Command, rt: Runtime, facts: Facts
) -> JSONResponse:
    outcome = await handlers.add_funding_source(rt.executor, facts, ctx, project_id, name=body.name, kind=body.kind)
    return _created(outcome, project_id)


@router.post("/budgets/{project_id}/funding-sources/{source_id}/tranches", status_code=201)
async def secure_funding(
    project_id: ProjectIdPath, source_id: uuid.UUID, body: m.TrancheBody, ctx: Command, rt: Runtime, facts: Facts
) -> JSONResponse:
    """A tranche secured from a source, with the date it becomes available (``funding-secured``)."""
    outcome = await handlers.secure_funding(
        rt.executor, facts, ctx, project_id, source_id, amount=body.amount, available_on=body.available_on
    )
    return _created(outcome, project_id)


@router.post("/budgets/{project_id}/tranches/{tranche_id}/withdraw")
async def withdraw_funding(
    project_id: ProjectIdPath, tranche_id: uuid.UUID, body: m.WithdrawBody, ctx: Command, rt: Runtime, facts: Facts
) -> JSONResponse:
    outcome = await handlers.withdraw_funding(
        rt.executor, facts, ctx, project_id, tranche_id, withdrawn_on=body.withdrawn_on, reason=body.reason
    )
    return respond(outcome)


@router.post("/budgets/{project_id}/tranches/{tranche_id}/reschedule")
async def reschedule_funding(
    project_id: ProjectIdPath,
    tranche_id: uuid.UUID,
    body: m.RescheduleTrancheBody,
    ctx: Command,
    rt: Runtime,
    facts: Facts,
) -> JSONResponse:
    outcome = await handlers.reschedule_funding(
        rt.executor, facts, ctx, project_id, tranche_id, available_on=body.available_on, reason=body.reason
    )
    return respond(outcome)


@router.post("/budgets/{project_id}/commitments", status_code=201)
async def commit(
    project_id: ProjectIdPath, body: m.CommitmentBody, ctx: Command, rt: Runtime, facts: Facts
) -> JSONResponse:
    """Commit a purchase order or subcontract against a category (and optionally a milestone). An overrun of the
    category follows the project's policy: warn (default), block (409) or require approval."""
    outcome = await handlers.commit(
        rt.executor,
        facts,
        ctx,
        project_id,
        kind=body.kind,
        vendor=body.vendor,
        reference=body.reference,
        category=body.category,
        milestone_id=body.milestone_id,
        amount=body.amount,
        expected_invoices=_expected(body.expected_invoices),
    )
    return _created(outcome, project_id)


@router.post("/budgets/{project_id}/commitments/{commitment_id}/approve")
async def approve_commitment(
    project_id: ProjectIdPath,
    commitment_id: uuid.UUID,
    body: m.DecideCommitment,
    ctx: Command,
    rt: Runtime,
    facts: Facts,
) -> JSONResponse:
    return respond(await handlers.approve_commitment(rt.executor, facts, ctx, project_id, commitment_id))


@router.post("/budgets/{project_id}/commitments/{commitment_id}/refuse")
async def refuse_commitment(
    project_id: ProjectIdPath,
    commitment_id: uuid.UUID,
    body: m.DecideCommitment,
    ctx: Command,
    rt: Runtime,
    facts: Facts,
) -> JSONResponse:
    outcome = await handlers.refuse_commitment(rt.executor, facts, ctx, project_id, commitment_id, body.reason)
    return respond(outcome)


@router.post("/budgets/{project_id}/commitments/{commitment_id}/adjust")
async def adjust_commitment(
    project_id: ProjectIdPath,
    commitment_id: uuid.UUID,
    body: m.AdjustCommitmentBody,
    ctx: Command,
    rt: Runtime,
    facts: Facts,
) -> JSONResponse:
    outcome = await handlers.adjust_commitment(
        rt.executor,
        facts,
        ctx,
        project_id,
        commitment_id,
        amount=body.amount,
        expected_invoices=_expected(body.expected_invoices),
        reason=body.reason,
    )
    return respond(outcome)


@router.post("/budgets/{project_id}/commitments/{commitment_id}/cancel")
async def cancel_commitment(
    project_id: ProjectIdPath,
    commitment_id: uuid.UUID,
    body: m.CancelCommitmentBody,
    ctx: Command,
    rt: Runtime,
    facts: Facts,
) -> JSONResponse:
    outcome = await handlers.cancel_commitment(rt.executor, facts, ctx, project_id, commitment_id, body.reason)
    return respond(outcome)


@router.put("/budgets/{project_id}/overrun-policy")
async def set_policy(
    project_id: ProjectIdPath, body: m.PolicyBody, ctx: Command, rt: Runtime, facts: Facts
) -> JSONResponse:
    """What happens when a commitment would take a category past its budget: warn, block or require_approval. A
    stricter policy applies at once; a looser one (block > require_approval > warn) is only requested
    (``overrun-policy-change-requested``, shown as ``policy_change_requested``) until another finance user approves
    it with ``POST /budgets/{project_id}/overrun-policy/approve``."""
    return respond(await handlers.set_overrun_policy(rt.executor, facts, ctx, project_id, body.policy))


@router.post("/budgets/{project_id}/overrun-policy/approve")
async def approve_policy(
    project_id: ProjectIdPath, body: m.DecideChange, ctx: Command, rt: Runtime, facts: Facts
) -> JSONResponse:
    """Approve the looser overrun policy requested (finance): never by whoever requested it (409)."""
    return respond(await handlers.approve_overrun_policy(rt.executor, facts, ctx, project_id))
