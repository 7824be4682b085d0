"""Composition root of the reporting service: ``uvicorn reporting.bootstrap:create_app --factory``."""

from __future__ import annotations

from fastapi import FastAPI

from reporting import api, projections
from reporting.settings import Settings
from shared.auth import AccessPolicy, Role
from shared.events import EventRegistry
from shared.service import ServiceSpec, build_app

ALERTS_TOPIC = "pmo.alerts.v1"

SPEC = ServiceSpec(
    name="reporting",
    topic=ALERTS_TOPIC,
    version="0.1.0",
    description="Read models over the portfolio, fed from the other services' topics. Publishes alerts on "
    "pmo.alerts.v1.",
    registry=EventRegistry(),
    routers=[api.router],
    ddl=projections.DDL,
    projections=[projections.PortfolioProjection()],
    access=AccessPolicy(writers=frozenset({Role.PMO})),
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_app(SPEC, settings or Settings())
