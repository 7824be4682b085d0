"""The resources service and the facts it consumes, over the real PostgreSQL and Kafka: a work sheet or an
allocation for a project not yet seen on ``pmo.projects.v1`` is refused (422 naming the field, nothing appended)
and accepted once the project has arrived; a completed project takes no new sheet (409); a USD-rated sheet on a
EUR project is approved with ``booked`` at the exchange rate consumed from ``pmo.budget.v1``, and its reversal
carries the same booking."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from shared.contracts import projects as projects_ev
from shared.kafka import KafkaOptions, from_record
from shared.money import MINOR_UNITS
from tests.support import auth_header, eventually, read_topic
from tests.support.clock import TODAY
from tests.support.publishing import publish
from tests.support.resources import (
    APPROVER,
    consumed,
    iso_week,
    project_known,
    rate_known,
    register_resource,
    resources_client,
)
from tests.support.stored import event_count

pytestmark = pytest.mark.integration
LAST_WEEK = TODAY - timedelta(days=TODAY.weekday() + 7)  # Monday of last week
MAX = auth_header(APPROVER, "resource-manager")


@pytest.fixture
async def client(infra: Any, schema: str) -> AsyncIterator[httpx.AsyncClient]:
    async with resources_client(infra, schema) as c:
        yield c


def week_of(milestone: str | None = None, days: int = 5, hours: str = "8") -> list[dict[str, Any]]:
    return [
        {
            "day": str(LAST_WEEK + timedelta(days=i)),
            "hours": hours,
            **({"milestone_id": milestone} if milestone else {}),
        }
        for i in range(days)
    ]


def problem_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return dict(response.json())


def fields(problem: dict[str, Any]) -> list[str]:
    return [e["field"] for e in problem.get("errors", [])]


async def a_rated_person(client: httpx.AsyncClient, amount: str = "80.00", currency: str = "EUR") -> str:
    """A person costing ``amount`` ``currency`` an hour (the rate's currency is the resource's); returns its URL."""
    resource = await register_resource(client, currency=currency)
    base = f"/resources/{resource['resource_id']}"
    rate = {"hourly_rate": {"amount": amount, "currency": currency}, "effective_from": "2020-01-01"}
    assert (await client.post(f"{base}/rates", json=rate)).status_code == 201
    return base


async def test_a_sheet_for_a_project_not_yet_seen_is_refused_and_accepted_once_the_project_arrives(
    client: httpx.AsyncClient, kafka: KafkaOptions
) -> None:
    base = await a_rated_person(client)
    project = uuid.uuid4()
    sheet = {"project_id": str(project), "week": iso_week(LAST_WEEK), "entries": week_of()}
    allocation = {"project_id": str(project), "hours_per_week": "20", "starts_on": str(TODAY), "ends_on": str(TODAY)}
    before = await event_count(client)

    unknown = problem_of(await client.post(f"{base}/work-sheets", json=sheet), 422)
    assert fields(unknown) == ["project_id"] and "not arrived yet" in unknown["detail"]
    assert fields(problem_of(await client.post(f"{base}/allocations", json=allocation), 422)) == ["project_id"]
    assert await event_count(client) == before  # nothing appended

    _, (milestone,) = await project_known(client, kafka, project_id=project)  # published on pmo.projects.v1
    elsewhere = uuid.uuid4()
    stranger = problem_of(
        await client.post(f"{base}/work-sheets", json={**sheet, "entries": week_of(str(elsewhere))}), 422
    )
    assert fields(stranger) == ["entries.0.milestone_id"] and str(elsewhere) in stranger["detail"]
    assert fields(
        problem_of(await client.post(f"{base}/allocations", json={**allocation, "milestone_id": str(elsewhere)}), 422)
    ) == ["milestone_id"]
    assert await event_count(client) == before

    submitted = await client.post(f"{base}/work-sheets", json={**sheet, "entries": week_of(milestone)})
    assert submitted.status_code == 201, submitted.text
    assert (await client.post(f"{base}/allocations", json={**allocation, "milestone_id": milestone})).status_code == 201
    assert await event_count(client) == before + 2

    # the project is completed: no new sheet nor correction (409), but the sheet submitted before is approved
    completed = projects_ev.ProjectCompleted(project_id=project, completed_on=TODAY, note="delivered")
    ids = await publish(kafka, "projects", projects_ev.TOPIC, [completed], f"project-{project}")
    await consumed(client, "resources.projects", ids)
    second_week = {**sheet, "week": iso_week(LAST_WEEK - timedelta(days=7))}
    second_week["entries"] = [{**e, "day": str(date.fromisoformat(e["day"]) - timedelta(days=7))} for e in week_of()]
    closed = problem_of(await client.post(f"{base}/work-sheets", json=second_week), 409)
    assert f"project {project} is completed" in closed["detail"]
    sid = submitted.json()["sheet_id"]
    correction = {"entries": week_of(milestone, days=4), "reason": "Friday off"}
    problem_of(await client.post(f"{base}/work-sheets/{sid}/corrections", json=correction), 409)
    approved = await client.post(f"{base}/work-sheets/{sid}/approve", json={}, headers=MAX)
    assert approved.status_code == 200, approved.text
    assert approved.json()["approved_cost"] == {"amount": "3200.00", "currency": "EUR"}  # 40 h x 80.00
    assert approved.json()["approved_booked"] is None  # the project's own currency
    assert await event_count(client) == before + 3


def rare_pair() -> tuple[str, str]:
    """Two currencies (two decimals each) no other test uses, chosen at random: the budget topic is shared and kept
    for ever, and a rate recorded for the pair in any earlier run would be in force today."""
    common = {"USD", "EUR", "GBP", "CHF", "CAD", "AUD", "SEK", "NOK", "DKK", "PLN", "CZK", "CNY", "INR", "BRL"}
    codes = sorted(c for c, unit in MINOR_UNITS.items() if unit == 2 and c not in common)
    first, second = random.sample(codes, 2)
    return first, second


async def test_with_no_rate_in_force_either_way_the_approval_is_refused_naming_the_currency(
    client: httpx.AsyncClient, kafka: KafkaOptions
) -> None:
    cost_currency, project_currency = rare_pair()
    base = await a_rated_person(client, "75.00", cost_currency)
    project, (milestone,) = await project_known(client, currency=project_currency)
    body = {"project_id": project, "week": iso_week(LAST_WEEK), "entries": week_of(milestone)}
    submitted = await client.post(f"{base}/work-sheets", json=body)
    assert submitted.status_code == 201, submitted.text
    sid = submitted.json()["sheet_id"]
    # a rate of the pair from tomorrow on is not in force today
    await rate_known(client, kafka, cost_currency, project_currency, "0.5000", TODAY + timedelta(days=1))
    before = await event_count(client)
    problem = problem_of(await client.post(f"{base}/work-sheets/{sid}/approve", json={}, headers=MAX), 422)
    assert fields(problem) == ["currency"]
    assert f"no {cost_currency}->{project_currency} exchange rate" in problem["detail"]
    assert await event_count(client) == before
    assert (await client.get(f"{base}/work-sheets/{sid}")).json()["status"] == "submitted"


async def test_a_usd_rated_sheet_on_a_eur_project_is_approved_with_its_booking_in_eur_on_the_topic(
    client: httpx.AsyncClient, kafka: KafkaOptions
) -> None:
    base = await a_rated_person(client, "75.00", "USD")
    project, (milestone,) = await project_known(client, kafka, currency="EUR")
    body = {"project_id": project, "week": iso_week(LAST_WEEK), "entries": week_of(milestone)}
    submitted = await client.post(f"{base}/work-sheets", json=body)
    assert submitted.status_code == 201, submitted.text
    sid = submitted.json()["sheet_id"]

    # effective today: in force today whatever rates earlier runs and other services' tests left on the topic
    await rate_known(client, kafka, "USD", "EUR", "0.9187", TODAY)
    approved = await client.post(f"{base}/work-sheets/{sid}/approve", json={}, headers=MAX)
    assert approved.status_code == 200, approved.text
    # 40 h x 75.00 USD = 3000.00 USD; x 0.9187 = 2756.10 EUR
    assert approved.json()["approved_cost"] == {"amount": "3000.00", "currency": "USD"}
    first_booking = {
        "amount": {"amount": "2756.10", "currency": "EUR"},
        "original": {"amount": "3000.00", "currency": "USD"},
        "rate": "0.9187",
        "rate_on": str(TODAY),
        "source": "ECB reference rate",
    }
    assert approved.json()["approved_booked"] == first_booking

    # the day's rate recorded again (it replaces the first), then a correction to 32 h approved: the reversal
    # carries the first booking, the new version is booked at the rate in force now
    await rate_known(client, kafka, "USD", "EUR", "0.9500", TODAY)
    corrected = await client.post(
        f"{base}/work-sheets/{sid}/corrections", json={"entries": week_of(milestone, days=4), "reason": "Friday off"}
    )
    assert corrected.status_code == 201, corrected.text
    again = await client.post(f"{base}/work-sheets/{sid}/approve", json={}, headers=MAX)
    assert again.status_code == 200, again.text
    assert again.json()["approved_booked"]["amount"] == {"amount": "2280.00", "currency": "EUR"}  # 2400.00 x 0.95

    async def on_the_topic() -> list[Any]:
        records = await read_topic(kafka, "pmo.resources.v1", expect=0, timeout=1)
        decoded = [from_record(r.topic, r.partition, r.offset, r.key, r.value, r.headers) for r in records]
        mine = [e for e in decoded if e.data.get("sheet_id") == sid and e.name != "work-sheet-submitted"]
        assert [e.name for e in mine] == [
            "work-sheet-approved",
            "work-sheet-corrected",
            "work-sheet-approval-reversed",
            "work-sheet-approved",
        ]
        return mine

    first, _, reversal, second = await eventually(on_the_topic, timeout=30)
    assert first.key == project and first.data["booked"] == first_booking
    assert reversal.data["booked"] == first_booking and reversal.data["cost"] == first_booking["original"]
    assert second.data["booked"]["rate"] == "0.9500" and second.data["booked"]["amount"]["amount"] == "2280.00"
