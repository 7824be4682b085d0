"""Explanations of every reported figure besides the EVM ones (``/reports/projects/{id}/explain/{figure}``): thin
routes over :mod:`reporting.explanations`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from reporting import explanations
from reporting.api import explain_models as em
from reporting.api.reports import AsOf, KnownAt, ProjectIdPath
from reporting.queries import reading
from shared.bounds import WEEK_PATTERN
from shared.service import Runtime
from shared.web import COMMAND_RESPONSES

router = APIRouter(tags=["reports"], responses={404: COMMAND_RESPONSES[404]})


@router.get(
    "/reports/projects/{project_id}/explain/risk/{milestone_id}",
    operation_id="explainMilestoneRisk",
    response_model=None,
    responses={200: {"model": em.MilestoneRiskExplained}},
)
async def explain_risk(
    project_id: ProjectIdPath,
    milestone_id: Annotated[uuid.UUID, Path(description="An open milestone")],
    rt: Runtime,
    as_of: AsOf = None,
    known_at: KnownAt = None,
) -> dict[str, Any]:
    """An open milestone's underfunding risk: cost needed by its date (actual cost, commitments' expected invoices,
    remaining planned value at the cost performance seen), funding available by then, the spread, and the events."""
    return await explanations.explain_risk(*reading(rt), project_id, milestone_id, as_of, known_at)


@router.get(
    "/reports/projects/{project_id}/explain/categories/{category}",
    operation_id="explainCategory",
    response_model=None,
    responses={200: {"model": em.CategoryExplained}},
)
async def explain_category(
    project_id: ProjectIdPath,
    category: Annotated[str, Path(pattern="^[a-z_]{1,32}$")],
    rt: Runtime,
    as_of: AsOf = None,
    known_at: KnownAt = None,
) -> dict[str, Any]:
    """A row of the category table: budget (baseline and approved changes), committed, actual, remaining."""
    return await explanations.explain_category(*reading(rt), project_id, category, as_of, known_at)


@router.get(
    "/reports/projects/{project_id}/explain/invoice-backing",
    operation_id="explainInvoiceBacking",
    response_model=None,
    responses={200: {"model": em.InvoiceBackingExplained}},
)
async def explain_invoice_backing(
    project_id: ProjectIdPath, rt: Runtime, as_of: AsOf = None, known_at: KnownAt = None
) -> dict[str, Any]:
    """Invoice backing: the invoiced amount backed by approved work, invoice by invoice, against the target."""
    return await explanations.explain_invoice_backing(*reading(rt), project_id, as_of, known_at)


@router.get(
    "/reports/projects/{project_id}/explain/kpis/{kpi_id}",
    operation_id="explainKpi",
    response_model=None,
    responses={200: {"model": em.KpiExplained}},
)
async def explain_kpi(
    project_id: ProjectIdPath,
    kpi_id: Annotated[uuid.UUID, Path()],
    rt: Runtime,
    as_of: AsOf = None,
    known_at: KnownAt = None,
) -> dict[str, Any]:
    """A KPI's attainment: its target and direction, and every measurement up to the date with its event."""
    return await explanations.explain_kpi(*reading(rt), project_id, kpi_id, as_of, known_at)


@router.get(
    "/reports/utilisation/explain",
    operation_id="explainUtilisation",
    response_model=None,
    responses={200: {"model": em.UtilisationExplained}},
)
async def explain_utilisation(
    rt: Runtime,
    resource_id: Annotated[uuid.UUID, Query()],
    week: Annotated[str, Query(pattern=WEEK_PATTERN, examples=["2027-W05"])],
    known_at: KnownAt = None,
) -> dict[str, Any]:
    """One person's week of utilisation: capacity, allocated and approved hours, and the events behind them."""
    return await explanations.explain_utilisation(*reading(rt), resource_id, week, known_at)


@router.get(
    "/reports/projects/{project_id}/explain/pv/by-item",
    operation_id="explainPlannedValueByItem",
    response_model=None,
    responses={200: {"model": em.PlannedValueExplained}},
)
async def explain_planned_value(
    project_id: ProjectIdPath, rt: Runtime, as_of: AsOf = None, known_at: KnownAt = None
) -> dict[str, Any]:
    """PV item by item: the performance baseline version in force, each item's technique, budget, span, planned and
    earned value, and the milestones no version includes."""
    return await explanations.explain_planned_value(*reading(rt), project_id, as_of, known_at)


@router.get(
    "/reports/projects/{project_id}/explain/ac/by-kind",
    operation_id="explainActualCostByKind",
    response_model=None,
    responses={200: {"model": em.ActualCostExplained}},
)
async def explain_actual_cost(
    project_id: ProjectIdPath, rt: Runtime, as_of: AsOf = None, known_at: KnownAt = None
) -> dict[str, Any]:
    """AC by kind of cost (work sheets, expenses, goods received, invoices beyond their backing) on the accrual
    basis, the cash view beside it, and the amounts left unconverted."""
    return await explanations.explain_actual_cost(*reading(rt), project_id, as_of, known_at)
