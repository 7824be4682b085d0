"""Composition root of the invoicing service: ``uvicorn invoicing.bootstrap:create_app --factory``."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI

from invoicing import api, domain, projections, tables, views
from invoicing.matcher import CHANNEL_PREFIX, Rematcher
from invoicing.settings import Settings
from shared.auth import AccessPolicy, Role
from shared.commands import Aggregate
from shared.contracts import invoicing as contracts
from shared.reference_rates import RatesReference
from shared.service import ServiceRuntime, ServiceSpec, build_app

FINANCE = frozenset({Role.FINANCE})
STEWARDS = frozenset({Role.PMO, Role.FINANCE, Role.RESOURCE_MANAGER})
"""Who reaches the goods-receipt and expense-decision routes: the handler then lets through pmo, finance and the
project's own manager (whatever their role but viewer and service), and refuses the others with 403."""
PEOPLE = frozenset({Role.PMO, Role.FINANCE, Role.RESOURCE_MANAGER})
"""Who claims expenses: every person (viewers only read; machine clients incur no expenses)."""


async def _matcher(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
    """Re-match invoices when the facts they wait for arrive (:mod:`invoicing.matcher`)."""
    interval = float(getattr(runtime.settings, "matcher_poll_interval", 30))
    await Rematcher(runtime, poll_interval=interval).run(stop)


ACCESS = AccessPolicy(
    writers=frozenset({Role.FINANCE, Role.SERVICE}),
    routes={
        "POST /invoices/{invoice_id}/approve": FINANCE,
        "POST /invoices/{invoice_id}/dispute": FINANCE,
        "POST /invoices/{invoice_id}/reject": FINANCE,
        "PUT /projects/{project_id}/invoicing-tolerance": FINANCE,
        "POST /projects/{project_id}/receipts": STEWARDS,
        "POST /projects/{project_id}/receipts/{receipt_id}/reverse": STEWARDS,
        "POST /projects/{project_id}/expenses": PEOPLE,
        "POST /projects/{project_id}/expenses/{expense_id}/approve": STEWARDS,
        "POST /projects/{project_id}/expenses/{expense_id}/reject": STEWARDS,
        "POST /projects/{project_id}/expenses/{expense_id}/reimburse": FINANCE,
    },
)

SPEC = ServiceSpec(
    name="invoicing",
    topic=contracts.TOPIC,
    version="0.1.0",
    description="Supplier invoices matched to the work done (approved work sheets and deliverables) or the goods "
    "received and to their commitment, approved, credited and paid; goods receipts; expense claims. Publishes on "
    "pmo.invoicing.v1; consumes pmo.resources.v1, pmo.budget.v1 (commitments, exchange rates) and pmo.projects.v1 "
    "(projects, milestones) for the facts it matches and books against.",
    registry=contracts.REGISTRY,
    routers=[api.router],
    ddl=tables.DDL,
    projector=projections.project,
    projections=[
        projections.ResourcesReference(),
        projections.BudgetReference(),
        RatesReference("invoicing"),
        projections.ProjectsReference(),
    ],
    access=ACCESS,
    object_owners=views.OBJECT_OWNERS,
    background=[_matcher],
    woken_by_commands=[CHANNEL_PREFIX],
)

AGGREGATES: Mapping[str, Aggregate[Any, Any]] = {
    aggregate.stream_type: aggregate
    for aggregate in (domain.INVOICE, domain.MATCHING_POLICY, domain.GOODS_RECEIPT, domain.EXPENSE)
}
"""Every aggregate by stream type, as ``CommandExecutor.rebuild`` needs them."""


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_app(SPEC, settings or Settings())
