"""Composition root of the budget service: ``uvicorn budget.bootstrap:create_app --factory``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI

from budget import api, domain, projections, tables
from budget.settings import Settings
from shared.auth import AccessPolicy, Role
from shared.commands import Aggregate
from shared.contracts import budget as contracts
from shared.service import ServiceSpec, build_app

FINANCE = frozenset({Role.FINANCE})
RATES = frozenset({Role.FINANCE, Role.PMO})
ESTIMATORS = frozenset({Role.PMO, Role.FINANCE, Role.RESOURCE_MANAGER})
ACCESS = AccessPolicy(
    writers=frozenset({Role.FINANCE, Role.SERVICE}),
    routes={
        "PUT /exchange-rates/{base}/{quote_currency}/{effective_on}": RATES,
        "POST /budgets/{project_id}/estimates": ESTIMATORS,
        "POST /budgets/{project_id}/change-requests/{change_id}/approve": FINANCE,
        "POST /budgets/{project_id}/change-requests/{change_id}/reject": FINANCE,
        "POST /budgets/{project_id}/commitments/{commitment_id}/approve": FINANCE,
        "POST /budgets/{project_id}/commitments/{commitment_id}/refuse": FINANCE,
        "PUT /budgets/{project_id}/overrun-policy": FINANCE,
        "POST /budgets/{project_id}/overrun-policy/approve": FINANCE,
    },
)
"""Finance (and machine clients) write budgets, funding and commitments; finance and the PMO keep the exchange
rates; an estimate to complete is submitted by the project's manager, whatever their role but viewer (checked by the
handler), or by the PMO; approvals are finance's. The director may do all."""

SPEC = ServiceSpec(
    name="budget",
    topic=contracts.TOPIC,
    version="0.1.0",
    description="Budgets (baseline, change requests), funding tranches (planned and secured), commitments, "
    "estimates to complete and exchange rates. Publishes on pmo.budget.v1; consumes pmo.projects.v1 for the projects "
    "and milestones it may budget.",
    registry=contracts.REGISTRY,
    routers=[api.router],
    ddl=tables.DDL,
    projector=projections.project,
    projections=[projections.ProjectsReference()],
    access=ACCESS,
)


AGGREGATES: Mapping[str, Aggregate[Any, Any]] = {
    aggregate.stream_type: aggregate for aggregate in (domain.BUDGET, domain.EXCHANGE_RATE)
}
"""Every aggregate by stream type, as ``CommandExecutor.rebuild`` needs them."""


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_app(SPEC, settings or Settings())
