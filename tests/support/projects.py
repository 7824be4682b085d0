"""Tests of the projects service: one given / when / then harness for its aggregate with its builders, and the
request bodies and helpers of its HTTP tests."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import httpx
from sqlalchemy import text

from projects import domain
from shared.events import DomainEvent

# --- the project aggregate: given commands (or events), when a command, then events or an error -------------------

NOW = datetime(2027, 6, 15, 9, 0, tzinfo=UTC)
PID = domain.ProjectId(uuid.UUID(int=1))


class Scenario:
    """given(commands...).when(command) -> events, with the state folded along the way and every event kept in
    ``history`` (the events a handler test gives its executor)."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now
        self.state = domain.Project()
        self.history: list[DomainEvent] = []

    def given(self, *commands: domain.Command) -> Scenario:
        for command in commands:
            self.when(command)
        return self

    def given_events(self, *events: DomainEvent) -> Scenario:
        for event in events:
            self._apply(event)
        return self

    def when(self, command: domain.Command) -> Sequence[DomainEvent]:
        events = domain.decide(self.state, command, self.now)
        for event in events:
            self._apply(event)
        return events

    def _apply(self, event: DomainEvent) -> None:
        self.state = domain.evolve(self.state, event)
        self.history.append(event)


REGISTER = domain.RegisterProject(
    project_id=PID,
    portfolio_id="digital",
    programme_id=None,
    code="CRM",
    name="CRM",
    objectives="",
    sponsor="dora",
    manager="max",
    planned_start=date(2027, 1, 4),
    planned_end=date(2027, 12, 17),
    currency="EUR",
    registered_by="pat.pmo",
)
"""Project CRM in EUR, sponsored by dora, managed by max, registered by pat.pmo."""
APPROVE = domain.ApproveProject("dora", date(2027, 1, 5))
START = domain.StartProject(date(2027, 1, 6))


def registration(**overrides: Any) -> domain.RegisterProject:
    """:data:`REGISTER` with ``overrides``."""
    return replace(REGISTER, **overrides)


# --- HTTP ---------------------------------------------------------------------------------------------------------


def project_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "code": f"P-{uuid.uuid4().hex[:8]}",
        "name": "CRM replacement",
        "objectives": "Replace the legacy CRM",
        "sponsor": "dora.director",
        "manager": "max.manager",
        "planned_start": "2027-01-04",
        "planned_end": "2027-12-17",
        "currency": "EUR",
    }
    body.update(overrides)
    return body


async def portfolio(client: httpx.AsyncClient) -> str:
    slug = f"pf-{uuid.uuid4().hex[:8]}"
    created = await client.post("/portfolios", json={"portfolio_id": slug, "name": "Portfolio " + slug})
    assert created.status_code == 201, created.text
    return slug


def milestone_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "name": "Design approved",
        "due_date": "2027-03-31",
        "planned_value": {"amount": "120000.00", "currency": "EUR"},
        "acceptance_criteria": "Signed by the sponsor",
    }
    body.update(overrides)
    return body


async def event_count(client: httpx.AsyncClient) -> int:
    async with client.app.state.runtime.engine.connect() as conn:  # type: ignore[attr-defined]
        return int((await conn.execute(text("SELECT count(*) FROM events"))).scalar_one())


REGISTRANT = "pat.pmo"
"""Registers the projects of the tests: never their approver nor a gate's decider (the client's director)."""


async def register(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    """A project registered by the PMO (``pat.pmo``), so that the client's director may approve it."""
    from tests.support import auth_header

    response = await client.post("/projects", json=project_body(**overrides), headers=auth_header(REGISTRANT, "pmo"))
    assert response.status_code == 201, response.text
    return dict(response.json())
