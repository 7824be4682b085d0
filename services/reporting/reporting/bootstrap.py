"""Composition root of the reporting service: ``uvicorn reporting.bootstrap:create_app --factory``."""

from __future__ import annotations

from fastapi import FastAPI

from reporting import (
    api,
    approvals,
    dashboard,
    dashboard_inbox,
    dashboard_raid,
    evaluation,
    notifications,
    projections,
    queries,
    raid_model,
    tables,
)
from reporting.settings import Settings
from shared.auth import AccessPolicy, Role
from shared.contracts import alerts as contracts
from shared.service import ServiceSpec, build_app

ACKNOWLEDGERS = frozenset({Role.PMO, Role.FINANCE, Role.RESOURCE_MANAGER})

SPEC = ServiceSpec(
    name="reporting",
    topic=contracts.TOPIC,
    version="0.1.0",
    description="Read models over the portfolio, fed from the other services' topics. Publishes alerts on "
    "pmo.alerts.v1.",
    registry=contracts.REGISTRY,
    routers=[
        api.router,
        dashboard.router,
        dashboard_raid.router,
        dashboard_inbox.router,
        approvals.router,
        notifications.router,
    ],
    public_routers=[dashboard.public],
    session_cookie=True,
    ddl=[*tables.DDL, *notifications.DDL],
    projector=projections.project,
    projections=[
        projections.PortfolioProjection(),
        projections.FactsProjection(),
        raid_model.RaidProjection(),
        approvals.ApprovalsProjection(),
        notifications.NotificationProjection(),
    ],
    access=AccessPolicy(
        writers=frozenset({Role.PMO}),
        routes={
            "POST /alerts/{alert_id}/acknowledge": ACKNOWLEDGERS,
            "PUT /portfolios/{portfolio_id}/alert-thresholds": frozenset({Role.PMO}),
            "POST /portfolios/{portfolio_id}/alert-thresholds/approve": frozenset({Role.PMO}),
            **notifications.ACCESS,
        },
    ),
    object_owners=queries.OBJECT_OWNERS,
    background=[evaluation.evaluator, notifications.sender],
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_app(SPEC, settings or Settings())
