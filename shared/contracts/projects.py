"""Events published by the projects service on ``pmo.projects.v1`` (key: project id)."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from shared.events import DomainEvent, EventRegistry
from shared.money import Money

TOPIC = "pmo.projects.v1"


class ProjectRegistered(DomainEvent):
    """A project entered the portfolio, in status ``proposed``."""

    event_name = "project-registered"
    project_id: UUID
    portfolio_id: str | None
    programme_id: str | None
    code: str
    name: str
    objectives: str
    sponsor: str
    manager: str
    planned_start: date
    planned_end: date
    currency: str


class MilestonePlanned(DomainEvent):
    """A milestone was added to a project's plan with its due date and planned value."""

    event_name = "milestone-planned"
    project_id: UUID
    milestone_id: UUID
    name: str
    due_date: date
    planned_value: Money
    acceptance_criteria: str


REGISTRY = EventRegistry([ProjectRegistered, MilestonePlanned])
