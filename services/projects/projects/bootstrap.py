"""Composition root of the projects service: ``uvicorn projects.bootstrap:create_app --factory``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI

from projects import api, domain, projections, tables
from projects.domain.raid import RAID
from projects.settings import Settings
from shared.auth import AccessPolicy, Role
from shared.authz import PERSONAL_DATA_READERS
from shared.commands import Aggregate
from shared.contracts import projects as contracts
from shared.service import ServiceSpec, build_app

CONTACT_READERS = PERSONAL_DATA_READERS | {Role.PMO}
"""Who reads partners' contact details: those who read personal data anywhere (resource managers, finance, the
director) and the PMO, who records them (as resource managers do people's). Erasing them is the PMO's."""
ACCESS = AccessPolicy(
    writers=frozenset({Role.PMO, Role.SERVICE}),
    routes={
        "POST /portfolios": frozenset({Role.PMO}),
        "POST /portfolios/{portfolio_id}/programmes": frozenset({Role.PMO}),
        "POST /projects/{project_id}/approve": frozenset(),  # the director only
        "POST /projects/{project_id}/terminate": frozenset(),
        "POST /projects/{project_id}/gate-decisions": frozenset(),
        "POST /projects/{project_id}/baselines": frozenset({Role.PMO, Role.SERVICE}),
        "POST /projects/{project_id}/baselines/{version}/approve": frozenset(),  # the director only
        "POST /projects/{project_id}/baselines/{version}/reject": frozenset(),
        "POST /portfolios/{portfolio_id}/rename": frozenset({Role.PMO}),
        "POST /portfolios/{portfolio_id}/close": frozenset({Role.PMO}),
        "POST /programmes/{programme_id}/rename": frozenset({Role.PMO}),
        "POST /programmes/{programme_id}/close": frozenset({Role.PMO}),
        "POST /projects/{project_id}/move": frozenset({Role.PMO}),
        "POST /projects/{project_id}/value-changes/{change_id}/approve": frozenset({Role.PMO}),
        "POST /projects/{project_id}/value-changes/{change_id}/reject": frozenset({Role.PMO}),  # or withdrawn
        "GET /projects/{project_id}/partners/{partner_id}/personal-data": CONTACT_READERS,
        "DELETE /projects/{project_id}/partners/{partner_id}/personal-data": frozenset({Role.PMO}),
    },
)

SPEC = ServiceSpec(
    name="projects",
    topic=contracts.TOPIC,
    version="0.1.0",
    description="Portfolio, projects and their lifecycle, milestones. Publishes on pmo.projects.v1.",
    registry=contracts.REGISTRY,
    routers=[api.router],
    ddl=tables.DDL,
    projector=projections.project,
    access=ACCESS,
)


AGGREGATES: Mapping[str, Aggregate[Any, Any]] = {
    aggregate.stream_type: aggregate for aggregate in (domain.PROJECT, domain.GROUPING, RAID)
}
"""Every aggregate by stream type, as ``CommandExecutor.rebuild`` needs them."""


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_app(SPEC, settings or Settings())
