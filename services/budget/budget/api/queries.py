"""Query routes of the budget service: parse, read (:mod:`budget.views`, :mod:`budget.handlers`), answer."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from budget import handlers, views
from budget.api.commands import CurrencyPath, Facts
from budget.api.models import (
    BudgetView,
    CommitmentView,
    EstimateListed,
    ExchangeRateInForceView,
    ExchangeRateView,
    FundingOnView,
)
from shared.bounds import CurrencyCode, Day
from shared.contracts.budget import CommitmentKind, CostCategory
from shared.service import Runtime
from shared.web import COMMAND_RESPONSES, Page, Paging

router = APIRouter(responses={404: COMMAND_RESPONSES[404]}, tags=["budget"])
ProjectIdPath = Annotated[uuid.UUID, Path(description="Project id")]


@router.get("/budgets/{project_id}", operation_id="getBudget", response_model=BudgetView)
async def get_budget(project_id: ProjectIdPath, rt: Runtime) -> JSONResponse:
    """Baseline, BAC, and per category: budget vs committed vs remaining; change requests, funding, commitments."""
    doc = await views.budget_document(rt.engine, project_id)
    return JSONResponse(doc, headers={"ETag": f'"{doc["version"]}"'})


@router.get(
    "/budgets/{project_id}/funding",
    operation_id="getFundingAvailable",
    response_model=None,
    responses={200: {"model": FundingOnView}},
)
async def funding_available(
    project_id: ProjectIdPath,
    rt: Runtime,
    on: Annotated[Day | None, Query(description="the date to look at; defaults to today")] = None,
) -> dict[str, Any]:
    """Funding on a date, planned and secured apart (totals booked in the project's currency): ``available``
    (secured tranches available by then and not withdrawn by then), ``secured_later`` and ``planned``."""
    return await handlers.funding_on(rt.executor, rt.executor.clock, project_id, on)


@router.get(
    "/budgets/{project_id}/commitments",
    operation_id="listCommitments",
    response_model=None,
    responses={200: {"model": Page[CommitmentView]}},
)
async def list_commitments(
    project_id: ProjectIdPath,
    rt: Runtime,
    paging: Paging,
    status: Annotated[str | None, Query(max_length=32)] = None,
    category: CostCategory | None = None,
    kind: CommitmentKind | None = None,
    vendor: Annotated[str | None, Query(max_length=200)] = None,
    milestone_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """Commitments of the project, filtered by status, category, kind, vendor and milestone."""
    return await views.commitments_page(
        rt.engine,
        project_id,
        limit=paging.limit,
        offset=paging.offset,
        status=status,
        category=category,
        kind=kind,
        vendor=vendor,
        milestone_id=milestone_id,
    )


@router.get(
    "/budgets/{project_id}/estimates",
    operation_id="listEstimates",
    response_model=None,
    responses={200: {"model": Page[EstimateListed]}},
)
async def list_estimates(project_id: ProjectIdPath, rt: Runtime, paging: Paging) -> dict[str, Any]:
    """The project's estimates to complete, the latest submitted first."""
    return await views.estimates_page(rt.engine, project_id, limit=paging.limit, offset=paging.offset)


@router.get(
    "/exchange-rates",
    operation_id="getExchangeRateInForce",
    response_model=None,
    responses={200: {"model": ExchangeRateInForceView}},
)
async def exchange_rate_in_force(
    base: Annotated[CurrencyCode, Query(description="convert from this currency")],
    quote: Annotated[CurrencyCode, Query(description="into this one")],
    rt: Runtime,
    facts: Facts,
    on: Annotated[Day | None, Query(description="the date to look at; defaults to today")] = None,
) -> dict[str, Any]:
    """The rate converting ``base`` into ``quote`` on a date: the latest recorded with ``effective_on`` on or before
    it, with its source and date; when only ``quote``->``base`` is recorded, its inverse (1 / rate, 80 significant
    digits, ``inverse_of``). 404 when there is none."""
    return await handlers.exchange_rate_on(facts, rt.executor.clock, base, quote, on)


@router.get(
    "/exchange-rates/{base}/{quote_currency}",
    operation_id="listExchangeRates",
    response_model=None,
    responses={200: {"model": Page[ExchangeRateView]}},
)
async def exchange_rate_history(
    base: CurrencyPath, quote_currency: CurrencyPath, rt: Runtime, paging: Paging
) -> dict[str, Any]:
    """The ``base``->``quote_currency`` rates recorded, latest effective date first."""
    return await views.exchange_rates_page(rt.engine, base, quote_currency, limit=paging.limit, offset=paging.offset)
