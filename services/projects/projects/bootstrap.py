"""Composition root of the projects service: ``uvicorn projects.bootstrap:create_app --factory``."""

from __future__ import annotations

from fastapi import FastAPI

from projects import api, projections
from projects.settings import Settings
from shared.contracts import projects as contracts
from shared.service import ServiceSpec, build_app

SPEC = ServiceSpec(
    name="projects",
    topic=contracts.TOPIC,
    version="0.1.0",
    description="Portfolio, projects and their lifecycle, milestones. Publishes on pmo.projects.v1.",
    registry=contracts.REGISTRY,
    routers=[api.router],
    ddl=projections.DDL,
    projector=projections.project,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_app(SPEC, settings or Settings())
