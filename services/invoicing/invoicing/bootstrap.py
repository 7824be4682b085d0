"""Composition root of the invoicing service: ``uvicorn invoicing.bootstrap:create_app --factory``.

Its domain is not built yet: the service runs its event store, relay and operational endpoints only.
"""

from __future__ import annotations

from fastapi import FastAPI

from invoicing.settings import Settings
from shared.auth import AccessPolicy, Role
from shared.events import EventRegistry
from shared.service import ServiceSpec, build_app

SPEC = ServiceSpec(
    name="invoicing",
    topic="pmo.invoicing.v1",
    version="0.1.0",
    description="Supplier invoices matched to work done, approved and paid. Publishes on pmo.invoicing.v1.",
    registry=EventRegistry(),
    access=AccessPolicy(writers=frozenset({Role.FINANCE, Role.SERVICE})),
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_app(SPEC, settings or Settings())
