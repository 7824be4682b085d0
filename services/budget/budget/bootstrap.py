"""Composition root of the budget service: ``uvicorn budget.bootstrap:create_app --factory``.

Its domain is not built yet: the service runs its event store, relay and operational endpoints only.
"""

from __future__ import annotations

from fastapi import FastAPI

from budget.settings import Settings
from shared.events import EventRegistry
from shared.service import ServiceSpec, build_app

SPEC = ServiceSpec(
    name="budget",
    topic="pmo.budget.v1",
    version="0.1.0",
    description="Budgets, change requests, funding tranches and commitments. Publishes on pmo.budget.v1.",
    registry=EventRegistry(),
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_app(SPEC, settings or Settings())
