"""Tests of the projects service: one given / when / then harness for its aggregate with its builders, and the
request bodies and helpers of its HTTP tests."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import httpx

from projects import domain
from tests.support import scenario
from tests.support.fakes import FixedClock, InMemoryExecutor
from tests.support.money import eur

# --- the project aggregate: given commands (or events), when a command, then events or an error -------------------

NOW = datetime(2027, 6, 15, 9, 0, tzinfo=UTC)
PID = domain.ProjectId(uuid.UUID(int=1))


class Scenario(scenario.Scenario[domain.Project, domain.Command]):
    """A project given commands (or events), decided at ``now`` (NOW unless told)."""

    def __init__(self, now: datetime = NOW) -> None:
        super().__init__(domain.PROJECT, now)


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


# --- an active project with two milestones, and an executor holding its stream --------------------------------

TODAY = NOW.date()  # 2027-06-15


DESIGN = domain.MilestoneId(uuid.UUID(int=21))


BUILD = domain.MilestoneId(uuid.UUID(int=22))


def planned(s: Scenario) -> Scenario:
    """An active project CRM (EUR) with two milestones: Design (due 2027-03-31) and Build (due 2027-09-30)."""
    return s.given(
        domain.PlanMilestone(DESIGN, "Design", date(2027, 3, 31), eur("120000.00"), "signed"),
        domain.PlanMilestone(BUILD, "Build", date(2027, 9, 30), eur("80000.00"), "accepted"),
    )


def active() -> Scenario:
    return planned(Scenario().given(REGISTER, APPROVE, START))


STREAM = domain.stream_id(PID)


def executor_after(s: Scenario) -> InMemoryExecutor:
    executor = InMemoryExecutor(clock=FixedClock(NOW))
    executor.given(STREAM, *s.history)
    return executor


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


REGISTRANT = "pat.pmo"
"""Registers the projects of the tests: never their approver nor a gate's decider (the client's director)."""


async def register(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    """A project registered by the PMO (``pat.pmo``), so that the client's director may approve it."""
    from tests.support import auth_header

    response = await client.post("/projects", json=project_body(**overrides), headers=auth_header(REGISTRANT, "pmo"))
    assert response.status_code == 201, response.text
    return dict(response.json())
