"""Command routes of the budget service: parse, call the handler, answer; each command appends to the project's
budget stream in one transaction (:mod:`budget.handlers`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse

from budget import handlers
from budget.api import models as m
from budget.queries import SqlBudgetFacts
from shared.auth import Role
from shared.bounds import CurrencyCode, Day
from shared.contracts.budget import CategoryAmount, CategoryEstimate, InvoiceExpectation, PhaseAmount
from shared.contracts.common import MonthAmount
from shared.errors import InvalidCommandError
from shared.service import Runtime
from shared.web import COMMAND_RESPONSES, Command, respond

router = APIRouter(responses=COMMAND_RESPONSES, tags=["budget"])
ProjectIdPath = Annotated[uuid.UUID, Path(description="Project id")]
CurrencyPath = Annotated[CurrencyCode, Path(description="ISO 4217 currency code", examples=["EUR"])]


async def budget_facts(rt: Runtime) -> handlers.BudgetFacts:
    return SqlBudgetFacts(rt.engine)


Facts = Annotated[handlers.BudgetFacts, Depends(budget_facts)]


def _created(outcome: handlers.Outcome, project_id: uuid.UUID) -> JSONResponse:
    return respond(outcome, location=f"/budgets/{project_id}")


def _expected(lines: list[m.InvoiceExpectationBody]) -> tuple[InvoiceExpectation, ...]:
    return tuple(InvoiceExpectation(on=e.on, amount=e.amount) for e in lines)


@router.post(
    "/budgets/{project_id}/baseline", operation_id="baselineBudget", response_model=m.BudgetView, status_code=201
)
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


@router.post(
    "/budgets/{project_id}/change-requests",
    operation_id="requestBudgetChange",
    response_model=m.ChangeRequestView,
    status_code=201,
)
async def request_change(
    project_id: ProjectIdPath, body: m.ChangeRequestBody, ctx: Command, rt: Runtime, facts: Facts
) -> JSONResponse:
    """Request a budget change for a category (approved changes move BAC)."""
    outcome = await handlers.request_change(
        rt.executor, facts, ctx, project_id, category=body.category, amount=body.amount, reason=body.reason
    )
    return _created(outcome, project_id)


@router.post(
    "/budgets/{project_id}/change-requests/{change_id}/approve",
    operation_id="approveBudgetChange",
    response_model=m.ChangeRequestView,
)
async def approve_change(
    project_id: ProjectIdPath, change_id: uuid.UUID, body: m.DecideChange, ctx: Command, rt: Runtime, facts: Facts
) -> JSONResponse:
    """Approve a change request (by someone other than its requester): ``budget-change-approved``."""
    return respond(await handlers.approve_change(rt.executor, facts, ctx, project_id, change_id))


@router.post(
    "/budgets/{project_id}/change-requests/{change_id}/reject",
    operation_id="rejectBudgetChange",
    response_model=m.ChangeRequestView,
)
async def reject_change(
    project_id: ProjectIdPath, change_id: uuid.UUID, body: m.DecideChange, ctx: Command, rt: Runtime, facts: Facts
) -> JSONResponse:
    return respond(await handlers.reject_change(rt.executor, facts, ctx, project_id, change_id, body.reason))


@router.post(
    "/budgets/{project_id}/funding-sources",
    operation_id="addFundingSource",
    response_model=m.FundingSourceView,
    status_code=201,
)
async def add_funding_source(
    project_id: ProjectIdPath, body: m.FundingSourceBody, ctx: Command, rt: Runtime, facts: Facts
) -> JSONResponse:
    outcome = await handlers.add_funding_source(rt.executor, facts, ctx, project_id, name=body.name, kind=body.kind)
    return _created(outcome, project_id)


@router.post(
    "/budgets/{project_id}/funding-sources/{source_id}/tranches",
    operation_id="secureFunding",
    response_model=m.TrancheView,
    status_code=201,
)
async def secure_funding(
    project_id: ProjectIdPath, source_id: uuid.UUID, body: m.TrancheBody, ctx: Command, rt: Runtime, facts: Facts
) -> JSONResponse:
    """A tranche secured from a source, with the date it becomes available (``funding-secured``)."""
    outcome = await handlers.secure_funding(
        rt.executor, facts, ctx, project_id, source_id, amount=body.amount, available_on=body.available_on
    )
    return _created(outcome, project_id)


@router.post(
    "/budgets/{project_id}/funding-sources/{source_id}/planned-tranches",
    operation_id="planFunding",
    response_model=m.TrancheView,
    status_code=201,
)
async def plan_funding(
    project_id: ProjectIdPath,
    source_id: uuid.UUID,
    body: m.PlannedTrancheBody,
    ctx: Command,
    rt: Runtime,
    facts: Facts,
) -> JSONResponse:
    """A tranche expected from a source but not secured yet (``funding-planned``): it never counts as available.
    Secure it with ``POST /budgets/{project_id}/tranches/{tranche_id}/secure``, drop it with ``.../withdraw``."""
    outcome = await handlers.plan_funding(
        rt.executor, facts, ctx, project_id, source_id, amount=body.amount, expected_on=body.expected_on
    )
    return _created(outcome, project_id)


@router.post(
    "/budgets/{project_id}/tranches/{tranche_id}/secure",
    operation_id="securePlannedFunding",
    response_model=m.TrancheView,
)
async def secure_planned_funding(
    project_id: ProjectIdPath,
    tranche_id: uuid.UUID,
    body: m.SecureTrancheBody,
    ctx: Command,
    rt: Runtime,
    facts: Facts,
) -> JSONResponse:
    """Secure a planned tranche for the amount and date actually secured (``funding-secured``, same tranche id)."""
    outcome = await handlers.secure_planned_funding(
        rt.executor, facts, ctx, project_id, tranche_id, amount=body.amount, available_on=body.available_on
    )
    return respond(outcome)


@router.post(
    "/budgets/{project_id}/tranches/{tranche_id}/withdraw", operation_id="withdrawFunding", response_model=m.TrancheView
)
async def withdraw_funding(
    project_id: ProjectIdPath, tranche_id: uuid.UUID, body: m.WithdrawBody, ctx: Command, rt: Runtime, facts: Facts
) -> JSONResponse:
    """Withdraw a tranche whole from ``withdrawn_on`` on (``funding-withdrawn``; a planned one with
    ``was_available=false``)."""
    outcome = await handlers.withdraw_funding(
        rt.executor, facts, ctx, project_id, tranche_id, withdrawn_on=body.withdrawn_on, reason=body.reason
    )
    return respond(outcome)


@router.post(
    "/budgets/{project_id}/tranches/{tranche_id}/reschedule",
    operation_id="rescheduleFunding",
    response_model=m.TrancheView,
)
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


@router.post(
    "/budgets/{project_id}/commitments",
    operation_id="createCommitment",
    response_model=m.CommitmentView,
    status_code=201,
)
async def commit(
    project_id: ProjectIdPath, body: m.CommitmentBody, ctx: Command, rt: Runtime, facts: Facts
) -> JSONResponse:
    """Commit a purchase order or subcontract against a category (and optionally a milestone), in any ISO 4217
    currency: in another one than the project's it is booked (``booked``) at the rate in force today, and 422 naming
    ``amount.currency`` when there is none. An overrun of the category (booked amounts) follows the project's policy:
    warn (default), block (409) or require approval."""
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


@router.post(
    "/budgets/{project_id}/commitments/{commitment_id}/approve",
    operation_id="approveCommitment",
    response_model=m.CommitmentView,
)
async def approve_commitment(
    project_id: ProjectIdPath,
    commitment_id: uuid.UUID,
    body: m.DecideCommitment,
    ctx: Command,
    rt: Runtime,
    facts: Facts,
) -> JSONResponse:
    return respond(await handlers.approve_commitment(rt.executor, facts, ctx, project_id, commitment_id))


@router.post(
    "/budgets/{project_id}/commitments/{commitment_id}/refuse",
    operation_id="refuseCommitment",
    response_model=m.CommitmentView,
)
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


@router.post(
    "/budgets/{project_id}/commitments/{commitment_id}/adjust",
    operation_id="adjustCommitment",
    response_model=m.CommitmentView,
)
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


@router.post(
    "/budgets/{project_id}/commitments/{commitment_id}/cancel",
    operation_id="cancelCommitment",
    response_model=m.CommitmentView,
)
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


@router.put("/budgets/{project_id}/overrun-policy", operation_id="setOverrunPolicy", response_model=m.BudgetView)
async def set_policy(
    project_id: ProjectIdPath, body: m.PolicyBody, ctx: Command, rt: Runtime, facts: Facts
) -> JSONResponse:
    """What happens when a commitment would take a category past its budget: warn, block or require_approval. A
    stricter policy applies at once; a looser one (block > require_approval > warn) is only requested
    (``overrun-policy-change-requested``, shown as ``policy_change_requested``) until another finance user approves
    it with ``POST /budgets/{project_id}/overrun-policy/approve``."""
    return respond(await handlers.set_overrun_policy(rt.executor, facts, ctx, project_id, body.policy))


@router.post(
    "/budgets/{project_id}/overrun-policy/approve", operation_id="approveOverrunPolicy", response_model=m.BudgetView
)
async def approve_policy(
    project_id: ProjectIdPath, body: m.DecideChange, ctx: Command, rt: Runtime, facts: Facts
) -> JSONResponse:
    """Approve the looser overrun policy requested (finance): never by whoever requested it (409)."""
    return respond(await handlers.approve_overrun_policy(rt.executor, facts, ctx, project_id))


def _for_any_project(request: Request) -> bool:
    """The caller may act on every project, not only those it manages (the PMO, the director)."""
    roles: frozenset[Role] = getattr(request.state, "roles", frozenset())
    return Role.PMO in roles or Role.DIRECTOR in roles


@router.post(
    "/budgets/{project_id}/estimates", operation_id="submitEstimate", response_model=m.EstimateView, status_code=201
)
async def submit_estimate(
    project_id: ProjectIdPath, body: m.EstimateBody, request: Request, ctx: Command, rt: Runtime, facts: Facts
) -> JSONResponse:
    """The estimate to complete (``estimate-to-complete-submitted``), by the project's manager or the PMO: per
    category and by month in the project's currency; ``total`` is the categories' sum and the months must add up to
    it (422 naming ``months``). ``as_of`` (default today) is neither in the future nor before the budget's
    baseline."""
    outcome = await handlers.submit_estimate(
        rt.executor,
        facts,
        ctx,
        project_id,
        as_of=body.as_of,
        categories=[CategoryEstimate(category=c.category, amount=c.amount) for c in body.categories],
        months=[MonthAmount(month=mo.month, amount=mo.amount) for mo in body.months],
        note=body.note,
        for_any_project=_for_any_project(request),
    )
    return respond(outcome, location=f"/budgets/{project_id}/estimates")


@router.put(
    "/exchange-rates/{base}/{quote_currency}/{effective_on}",
    operation_id="recordExchangeRate",
    response_model=m.ExchangeRateRecordedView,
)
async def record_exchange_rate(
    base: CurrencyPath,
    quote_currency: CurrencyPath,
    effective_on: Annotated[Day, Path(description="the first day the rate is in force", examples=["2027-03-01"])],
    body: m.ExchangeRateBody,
    ctx: Command,
    rt: Runtime,
) -> JSONResponse:
    """From ``effective_on`` on (until a later date's), 1 ``base`` = ``rate`` ``quote_currency``
    (``exchange-rate-recorded``, key ``fx:<base>-<quote>``; finance and the PMO). Recording the pair and date again
    replaces its rate (``replaces_rate``); the same rate from the same source again appends nothing
    (``recorded: false``)."""
    try:
        outcome = await handlers.record_exchange_rate(
            rt.executor,
            ctx,
            base=base,
            quote=quote_currency,
            effective_on=effective_on,
            rate=body.rate,
            source=body.source,
        )
    except InvalidCommandError as exc:  # the domain's "quote" is this route's path parameter "quote_currency"
        if exc.field == "quote":
            exc.field = "quote_currency"
        raise
    return respond(outcome, location=f"/exchange-rates/{base}/{quote_currency}")
