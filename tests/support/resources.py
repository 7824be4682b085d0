"""Helpers for tests of the resources service: a given/when/then scenario over the domain, request bodies, HTTP
helpers, and the facts the service consumes from other topics (a project with its milestones, an exchange rate):
published on Kafka as their services would, or applied straight through the service's consumer."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from resources import domain
from shared.contracts import budget as budget_ev
from shared.contracts import projects as projects_ev
from shared.contracts import resources as ev
from shared.errors import InvalidCommandError
from shared.events import DomainEvent
from shared.kafka import KafkaOptions, from_record, to_record
from shared.money import Money
from tests.support import auth_header, eventually, scenario
from tests.support.clock import TODAY as SESSION_DAY
from tests.support.http import ok
from tests.support.money import eur
from tests.support.publishing import publish, recorded
from tests.support.stored import scalar

# --- domain -------------------------------------------------------------------------------------------------

NOW = datetime(2027, 6, 16, 9, 0, tzinfo=UTC)  # a Wednesday, in ISO week 2027-W24
TODAY = NOW.date()
W23 = date(2027, 6, 7)  # Monday of 2027-W23
W24 = date(2027, 6, 14)
RID = domain.ResourceId(uuid.UUID(int=1))
PROJECT = uuid.UUID(int=100)
OTHER_PROJECT = uuid.UUID(int=200)
M1 = uuid.UUID(int=11)
M2 = uuid.UUID(int=12)
M3 = uuid.UUID(int=21)  # a milestone of OTHER_PROJECT
KNOWN = domain.KnownProject(PROJECT, "EUR", "active", frozenset({M1, M2}))
"""PROJECT as the service knows it from the projects topic: in EUR, active, with milestones M1 and M2."""
KNOWN_PROJECTS = {PROJECT: KNOWN, OTHER_PROJECT: domain.KnownProject(OTHER_PROJECT, "EUR", "active", frozenset({M3}))}
_KNOWN = object()  # a helper's default: the project's facts from KNOWN_PROJECTS
WARN = domain.DepartmentPolicy("engineering", ev.OverAllocationPolicy.WARN)
BLOCK = domain.DepartmentPolicy("engineering", ev.OverAllocationPolicy.BLOCK)
NO_ROLE_RATES = domain.RoleRateCard("developer", ())


def day(monday: date, weekday: int) -> date:
    return monday + timedelta(days=weekday)


def register(
    kind: ev.ResourceKind = ev.ResourceKind.PERSON, vendor_id: str | None = None, capacity: str = "40"
) -> domain.RegisterResource:
    return domain.RegisterResource(
        resource_id=RID,
        kind=kind,
        vendor_id=vendor_id,
        role="developer",
        department="engineering",
        weekly_capacity_hours=Decimal(capacity),
        currency="EUR",
        registered_on=date(2027, 1, 4),
    )


def rate(amount: str, effective_from: date = date(2027, 1, 1)) -> domain.SetRate:
    return domain.SetRate(effective_from, eur(amount), "rm.office")


def allocate(
    hours: str,
    starts_on: date,
    ends_on: date,
    *,
    aid: int = 1,
    project: uuid.UUID = PROJECT,
    policy: domain.DepartmentPolicy = WARN,
    milestone: uuid.UUID | None = None,
    known: Any = _KNOWN,
) -> domain.Allocate:
    return domain.Allocate(
        domain.AllocationId(uuid.UUID(int=1000 + aid)),
        project,
        milestone,
        Decimal(hours),
        starts_on,
        ends_on,
        policy,
        _known(project, known),
    )


def _known(project: uuid.UUID, known: Any) -> domain.KnownProject | None:
    """``known`` as given (``None``: a project the service has not seen), by default KNOWN_PROJECTS'."""
    return KNOWN_PROJECTS.get(project) if known is _KNOWN else known


def allocation_id(aid: int) -> uuid.UUID:
    return uuid.UUID(int=1000 + aid)


def entry(on: date, hours: str, milestone: uuid.UUID | None = None) -> ev.TimeEntry:
    return ev.TimeEntry(day=on, milestone_id=milestone, hours=Decimal(hours))


def week_of_8h(monday: date = W23, days: int = 5, milestone: uuid.UUID | None = None) -> tuple[ev.TimeEntry, ...]:
    return tuple(entry(day(monday, i), "8", milestone) for i in range(days))


def sheet_id(n: int = 1) -> uuid.UUID:
    return uuid.UUID(int=5000 + n)


def submit(
    entries: Sequence[ev.TimeEntry] = (),
    *,
    n: int = 1,
    week: date = W23,
    project: uuid.UUID = PROJECT,
    by: str = "ada",
    deliverables: Sequence[ev.AcceptedDeliverable] = (),
    role_rates: domain.RoleRateCard = NO_ROLE_RATES,
    known: Any = _KNOWN,
) -> domain.SubmitWorkSheet:
    return domain.SubmitWorkSheet(
        domain.SheetId(sheet_id(n)),
        project,
        week,
        tuple(entries or week_of_8h(week)),
        tuple(deliverables),
        by,
        role_rates,
        _known(project, known),
    )


def correct(
    entries: Sequence[ev.TimeEntry],
    *,
    n: int = 1,
    by: str = "ada",
    reason: str = "forgot Friday",
    role_rates: domain.RoleRateCard = NO_ROLE_RATES,
    project: uuid.UUID = PROJECT,
    known: Any = _KNOWN,
    deliverables: Sequence[ev.AcceptedDeliverable] = (),
) -> domain.CorrectWorkSheet:
    """A correction of sheet ``n``, which is on ``project``."""
    return domain.CorrectWorkSheet(
        sheet_id(n), tuple(entries), tuple(deliverables), by, reason, role_rates, _known(project, known)
    )


def approve(
    *,
    n: int = 1,
    by: str = "max",
    role_rates: domain.RoleRateCard = NO_ROLE_RATES,
    version: int | None = None,
    project: uuid.UUID = PROJECT,
    known: Any = _KNOWN,
    rates: Sequence[domain.ExchangeRate] = (),
    on: date = TODAY,
) -> domain.ApproveWorkSheet:
    """An approval of sheet ``n`` (on ``project``) on ``on``, with the exchange rates ``rates`` in force."""
    return domain.ApproveWorkSheet(
        sheet_id(n), by, on, role_rates, version, project=_known(project, known), exchange_rates=tuple(rates)
    )


def reject(*, n: int = 1, by: str = "max", reason: str = "wrong project") -> domain.RejectWorkSheet:
    return domain.RejectWorkSheet(sheet_id(n), by, TODAY, reason)


class Scenario(scenario.Scenario[domain.Resource, domain.Command]):
    """A resource given commands, decided at NOW."""

    def __init__(self) -> None:
        super().__init__(domain.RESOURCE, NOW)


def person(*commands: domain.Command) -> Scenario:
    return Scenario().given(register(), *commands)


ROLE_DEFAULT = domain.RoleRateCard("developer", (domain.Rate(date(2027, 1, 1), eur("60.00")),))


def rated(*commands: domain.Command) -> Scenario:
    """A person costing 80.00 EUR an hour from 2027-01-01."""
    return person(rate("80.00"), *commands)


def field_of(error: pytest.ExceptionInfo[InvalidCommandError]) -> str | None:
    return error.value.field


# --- HTTP ---------------------------------------------------------------------------------------------------

SUBMITTER = "rita.rm"  # the test client's own user, a resource manager
APPROVER = "max.manager"


@asynccontextmanager
async def resources_client(infra: Any, schema: str) -> AsyncIterator[httpx.AsyncClient]:
    """The resources service in process against the real PostgreSQL and Kafka, called as a resource manager."""
    from resources.bootstrap import create_app
    from resources.settings import Settings

    settings = Settings(
        env="development",
        database_url=infra.database_url,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        db_schema=schema,
        kafka_group_prefix=f"test-{uuid.uuid4().hex[:8]}",  # its consumers read every partition of their topics
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://resources", headers=auth_header(SUBMITTER, "resource-manager")
        ) as c:
            c.app = app  # type: ignore[attr-defined]
            yield c


def resource_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "person",
        "name": "Ada Lovelace",
        "email": "ada@example.org",
        "phone": "+44 20 7946 0000",
        "role": "developer",
        "department": f"eng-{uuid.uuid4().hex[:6]}",
        "weekly_capacity_hours": "40",
        "currency": "EUR",
    }
    body.update(overrides)
    return body


async def register_resource(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/resources", json=resource_body(**overrides))
    assert response.status_code == 201, response.text
    return dict(response.json())


def iso_week(monday: date) -> str:
    return domain.iso_week(monday)


LAST_WEEK = SESSION_DAY - timedelta(days=SESSION_DAY.weekday() + 7)  # by the calendar: HTTP tests run today


NEXT_WEEK = LAST_WEEK + timedelta(days=14)


MAX = auth_header(APPROVER, "resource-manager")  # approves; the client's own user submits


def week_entries(monday: date, hours: str = "8", days: int = 5, milestone: str | None = None) -> list[dict[str, Any]]:
    return [
        {"day": str(monday + timedelta(days=i)), "hours": hours, **({"milestone_id": milestone} if milestone else {})}
        for i in range(days)
    ]


async def rated_person(client: httpx.AsyncClient, **overrides: Any) -> tuple[str, str]:
    """A registered person costing 80.00 EUR an hour; returns (resource id, its base URL)."""
    resource = await register_resource(client, **overrides)
    rid = resource["resource_id"]
    await ok(
        await client.post(
            f"/resources/{rid}/rates",
            json={"hourly_rate": {"amount": "80.00", "currency": "EUR"}, "effective_from": "2020-01-01"},
        ),
        201,
    )
    return rid, f"/resources/{rid}"


# --- the facts the service consumes: projects and milestones, exchange rates -----------------------------------


def project_events(
    project_id: uuid.UUID, milestone_ids: Sequence[uuid.UUID], currency: str = "EUR", status: str = "proposed"
) -> list[DomainEvent]:
    """``project-registered`` in ``currency``, a ``milestone-planned`` per milestone and the lifecycle events that
    lead to ``status`` (``proposed``, ``active``, ``completed`` or ``terminated``), as the projects service
    publishes them."""
    today = SESSION_DAY
    events: list[DomainEvent] = [
        projects_ev.ProjectRegistered(
            project_id=project_id,
            portfolio_id=None,
            programme_id=None,
            code=f"P-{project_id.hex[:8]}",
            name="Test project",
            objectives="tested",
            sponsor="sam.sponsor",
            manager="mia.manager",
            planned_start=today - timedelta(days=90),
            planned_end=today + timedelta(days=270),
            currency=currency,
        ),
        *(
            projects_ev.MilestonePlanned(
                project_id=project_id,
                milestone_id=m,
                name=f"milestone {i + 1}",
                due_date=today + timedelta(days=30 * (i + 1)),
                planned_value=Money.of("1000", currency),
                acceptance_criteria="accepted",
            )
            for i, m in enumerate(milestone_ids)
        ),
    ]
    if status != "proposed":
        events.append(
            projects_ev.ProjectApproved(project_id=project_id, approved_by="dora", approved_on=today, note="")
        )
        events.append(projects_ev.ProjectStarted(project_id=project_id, started_on=today))
    if status == "completed":
        events.append(projects_ev.ProjectCompleted(project_id=project_id, completed_on=today, note="done"))
    if status == "terminated":
        events.append(projects_ev.ProjectTerminated(project_id=project_id, reason="stopped", on=today))
    return events


def rate_recorded(base: str, quote: str, rate_: str, effective_on: date) -> budget_ev.ExchangeRateRecorded:
    """``exchange-rate-recorded`` as the budget service publishes it."""
    return budget_ev.ExchangeRateRecorded(
        base=base,
        quote=quote,
        rate=Decimal(rate_),
        effective_on=effective_on,
        source="ECB reference rate",
        recorded_by="fiona.finance",
    )


async def consumed(client: httpx.AsyncClient, consumer: str, event_ids: Sequence[uuid.UUID]) -> None:
    """Wait until the service's ``consumer`` has applied every one of ``event_ids`` (its inbox holds them), hence
    every record before them on their partitions."""

    async def applied() -> None:
        found = await scalar(
            client,
            "SELECT count(*) FROM inbox WHERE consumer = :c AND event_id = ANY(:ids)",
            c=consumer,
            ids=list(event_ids),
        )
        assert found == len(event_ids)

    await eventually(applied, timeout=30)


async def project_known(
    client: httpx.AsyncClient,
    kafka: KafkaOptions | None = None,
    *,
    milestones: int = 1,
    currency: str = "EUR",
    status: str = "active",
    project_id: uuid.UUID | None = None,
) -> tuple[str, list[str]]:
    """A new project (``project_id``, else a random id) with ``milestones`` milestones, made known to the service;
    returns its id and its milestones'.

    With ``kafka``: published on ``pmo.projects.v1`` and awaited until the service's consumer has it (the real
    path). Without: its events applied straight through the service's consumer (:class:`ProjectsReference`), in
    one transaction, as the consumer applies a batch."""
    from resources.projections import ProjectsReference

    project_id, milestone_ids = project_id or uuid.uuid4(), [uuid.uuid4() for _ in range(milestones)]
    events = project_events(project_id, milestone_ids, currency, status)
    if kafka is not None:
        await consumed(
            client,
            "resources.projects",
            await publish(kafka, "projects", projects_ev.TOPIC, events, f"project-{project_id}"),
        )
        found = await scalar(client, "SELECT status FROM known_projects WHERE project_id = :p", p=project_id)
        planned = await scalar(client, "SELECT count(*) FROM known_milestones WHERE project_id = :p", p=project_id)
        assert (found, planned) == (status, milestones)
    else:
        reference = ProjectsReference()
        async with client.app.state.runtime.engine.begin() as conn:  # type: ignore[attr-defined]
            for version, event in enumerate(events, start=1):
                key, value, headers = to_record(
                    "projects", recorded("projects", event, f"project-{project_id}", version)
                )
                await reference.apply(conn, from_record(projects_ev.TOPIC, 0, version, key, value, headers))
    return str(project_id), [str(m) for m in milestone_ids]


async def rate_known(
    client: httpx.AsyncClient, kafka: KafkaOptions, base: str, quote: str, rate_: str, effective_on: date
) -> None:
    """``exchange-rate-recorded`` published on ``pmo.budget.v1``, awaited until the service has applied it (and so
    every rate recorded before it for the pair: the pair's key keeps them on one partition, in order)."""
    event = rate_recorded(base, quote, rate_, effective_on)
    await consumed(
        client, "resources.rates", await publish(kafka, "budget", budget_ev.TOPIC, [event], f"fx-{base}-{quote}")
    )
    rate = await scalar(
        client,
        "SELECT rate FROM known_rates WHERE base = :b AND quote = :q AND effective_on = :e",
        b=base,
        q=quote,
        e=effective_on,
    )
    assert rate == Decimal(rate_)
