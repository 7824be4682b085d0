"""Composition root of the budget service: ``uvicorn budget.bootstrap:create_app --factory``."""

from __future__ import annotations

from fastapi import FastAPI

from budget import api, projections
from budget.settings import Settings
from shared.contracts import budget as contracts
from shared.service import ServiceSpec, build_app

SPEC = ServiceSpec(
    name="budget",
    topic=contracts.TOPIC,
    version="0.1.0",
    description="Budgets (baseline, change requests), funding tranches and commitments. Publishes on "
    "pmo.budget.v1; consumes pmo.projects.v1 for the projects and milestones it may budget.",
    registry=contracts.REGISTRY,
    routers=[api.router],
    ddl=projections.DDL,
    projector=projections.project,
    projections=[projections.ProjectsReference()],
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_app(SPEC, settings or Settings())
