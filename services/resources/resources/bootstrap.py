"""Composition root of the resources service: ``uvicorn resources.bootstrap:create_app --factory``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI

from resources import api, domain, projections, tables, views
from resources.settings import Settings
from shared.auth import AccessPolicy, Role
from shared.authz import PERSONAL_DATA_READERS
from shared.commands import Aggregate
from shared.contracts import resources as contracts
from shared.reference_rates import RatesReference
from shared.service import ServiceSpec, build_app

MANAGERS = frozenset({Role.RESOURCE_MANAGER})
ACCESS = AccessPolicy(
    writers=frozenset({Role.RESOURCE_MANAGER, Role.SERVICE}),
    routes={
        "POST /resources/{resource_id}/work-sheets/{sheet_id}/approve": MANAGERS,
        "POST /resources/{resource_id}/work-sheets/{sheet_id}/reject": MANAGERS,
        "PUT /departments/{department}/over-allocation-policy": MANAGERS,
        "GET /resources/{resource_id}/personal-data": PERSONAL_DATA_READERS,
        "GET /roles/{role}/rates": frozenset({Role.RESOURCE_MANAGER, Role.FINANCE}),
        "DELETE /resources/{resource_id}/personal-data": MANAGERS,
    },
)
"""Resource managers (and machine clients such as a timesheet or HR system) write; only resource managers approve
or reject work sheets, set a department's policy and erase contact details, which they and finance read
(:data:`shared.authz.PERSONAL_DATA_READERS`). The director may do all."""

SPEC = ServiceSpec(
    name="resources",
    topic=contracts.TOPIC,
    version="0.1.0",
    description=(
        "People and subcontractors, skills, rates, allocations and work sheets. Publishes on pmo.resources.v1; "
        "consumes pmo.projects.v1 for the projects and milestones work sheets and allocations may name, and the "
        "exchange rates of pmo.budget.v1 that book a cost in another currency than the project's."
    ),
    registry=contracts.REGISTRY,
    routers=[api.router],
    ddl=tables.DDL,
    projector=projections.project,
    projections=[projections.ProjectsReference(), RatesReference("resources")],
    access=ACCESS,
    object_owners=views.OBJECT_OWNERS,
)

AGGREGATES: Mapping[str, Aggregate[Any, Any]] = {
    aggregate.stream_type: aggregate for aggregate in (domain.RESOURCE, domain.ROLE_RATE, domain.DEPARTMENT_POLICY)
}
"""Every aggregate by stream type, as ``CommandExecutor.rebuild`` needs them."""


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_app(SPEC, settings or Settings())
