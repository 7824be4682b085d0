"""Composition root of the resources service: ``uvicorn resources.bootstrap:create_app --factory``.

Its domain is not built yet: the service runs its event store, relay and operational endpoints only.
"""

from __future__ import annotations

from fastapi import FastAPI

from resources.settings import Settings
from shared.events import EventRegistry
from shared.service import ServiceSpec, build_app

SPEC = ServiceSpec(
    name="resources",
    topic="pmo.resources.v1",
    version="0.1.0",
    description="People and subcontractors, rates, allocations and work sheets. Publishes on pmo.resources.v1.",
    registry=EventRegistry(),
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_app(SPEC, settings or Settings())
