"""The projects service over HTTP (in process) against the real PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from shared.kafka import from_record
from tests.support import eventually, read_topic
from tests.support.projects import milestone_body, portfolio, project_body, register
from tests.support.stored import event_count

pytestmark = pytest.mark.integration


async def test_register_project_returns_201_with_location_and_etag(client) -> None:
    response = await client.post("/projects", json=project_body(code="CRM-1"))
    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"/projects/{body['project_id']}"
    assert response.headers["etag"] == '"1"'
    assert body["status"] == "proposed" and body["code"] == "CRM-1" and body["version"] == 1
    fetched = await client.get(f"/projects/{body['project_id']}")
    assert fetched.status_code == 200 and fetched.json()["name"] == "CRM replacement"
    assert fetched.headers["etag"] == '"1"'


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": ""}, "name"),
        ({"currency": "EUX"}, "currency"),
        ({"code": "x" * 33}, "code"),
        ({"planned_start": "2027-02-30"}, "planned_start"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
async def test_invalid_registration_is_a_422_problem_naming_the_field_and_appends_nothing(
    client, overrides, field
) -> None:
    before = await event_count(client)
    response = await client.post("/projects", json=project_body(**overrides))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422 and problem["title"]
    assert field in [e["field"] for e in problem["errors"]], problem
    assert await event_count(client) == before


async def test_end_before_start_is_refused_naming_planned_end(client) -> None:
    response = await client.post("/projects", json=project_body(planned_start="2027-05-01", planned_end="2027-04-30"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "planned_end"


async def test_a_malformed_json_body_is_a_problem_not_a_500(client) -> None:
    response = await client.post("/projects", content=b"{oops", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


async def test_project_code_is_unique_per_portfolio(client) -> None:
    alpha, beta = await portfolio(client), await portfolio(client)
    first = await register(client, code="SAME", portfolio_id=alpha)
    before = await event_count(client)
    duplicate = await client.post("/projects", json=project_body(code="SAME", portfolio_id=alpha))
    assert duplicate.status_code == 409
    assert duplicate.json()["errors"][0]["field"] == "code"
    assert await event_count(client) == before
    other = await client.post("/projects", json=project_body(code="SAME", portfolio_id=beta))
    assert other.status_code == 201 and other.json()["project_id"] != first["project_id"]


async def test_money_with_too_many_decimals_or_as_float_or_in_another_currency_is_refused(client) -> None:
    project = await register(client)
    url = f"/projects/{project['project_id']}/milestones"
    too_precise = await client.post(url, json=milestone_body(planned_value={"amount": "1.005", "currency": "EUR"}))
    assert too_precise.status_code == 422 and too_precise.json()["errors"][0]["field"] == "planned_value"
    as_float = await client.post(
        url,
        content=json.dumps(milestone_body(planned_value={"amount": 1.5, "currency": "EUR"})),
        headers={"content-type": "application/json"},
    )
    assert as_float.status_code == 422
    other_currency = await client.post(url, json=milestone_body(planned_value={"amount": "10.00", "currency": "USD"}))
    assert other_currency.status_code == 422
    assert other_currency.json()["errors"][0]["field"] == "planned_value.currency"
    milestones = await client.get(url)
    assert milestones.json() == []


async def test_stale_if_match_gets_412_and_changes_nothing(client) -> None:
    project = await register(client)
    url = f"/projects/{project['project_id']}/milestones"
    first = await client.post(url, json=milestone_body(name="M1"), headers={"If-Match": '"1"'})
    assert first.status_code == 201 and first.headers["etag"] == '"2"'
    before = await event_count(client)
    stale = await client.post(url, json=milestone_body(name="M2"), headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"
    assert stale.json()["current_version"] == 2
    assert await event_count(client) == before
    assert [m["name"] for m in (await client.get(url)).json()] == ["M1"]


async def test_concurrent_edits_at_the_same_version_exactly_one_wins_the_rest_get_412_or_409(client) -> None:
    project = await register(client)
    url = f"/projects/{project['project_id']}/milestones"
    responses = await asyncio.gather(
        *(client.post(url, json=milestone_body(name=f"M{i}"), headers={"If-Match": '"1"'}) for i in range(8))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses[0] == 201 and all(s in (409, 412) for s in statuses[1:]), statuses  # stale read, or lost race
    assert len((await client.get(url)).json()) == 1


async def test_a_retried_command_with_the_same_idempotency_key_returns_the_first_answer_and_appends_nothing(
    client,
) -> None:
    body = project_body()
    key = str(uuid.uuid4())
    first = await client.post("/projects", json=body, headers={"Idempotency-Key": key})
    before = await event_count(client)
    retries = await asyncio.gather(
        *(client.post("/projects", json=body, headers={"Idempotency-Key": key}) for _ in range(3))
    )
    for retry in retries:
        assert retry.status_code == 201
        assert retry.json() == first.json()
        assert retry.headers["idempotent-replayed"] == "true"
    assert await event_count(client) == before
    reused = await client.post("/projects", json=project_body(), headers={"Idempotency-Key": key})
    assert reused.status_code == 422 and reused.json()["errors"][0]["field"] == "Idempotency-Key"


async def test_unknown_project_is_a_404_problem(client) -> None:
    response = await client.post(f"/projects/{uuid.uuid4()}/milestones", json=milestone_body())
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    bad_id = await client.get("/projects/not-a-uuid")
    assert bad_id.status_code == 422 and bad_id.json()["errors"][0]["field"] == "project_id"


async def test_list_is_paginated_and_filtered(client) -> None:
    slug = await portfolio(client)
    for _ in range(3):
        await register(client, portfolio_id=slug)
    page = (await client.get("/projects", params={"portfolio_id": slug, "limit": 2})).json()
    assert page["total"] == 3 and len(page["items"]) == 2 and page["limit"] == 2
    rest = (await client.get("/projects", params={"portfolio_id": slug, "limit": 2, "offset": 2})).json()
    assert len(rest["items"]) == 1
    ids = {p["project_id"] for p in page["items"] + rest["items"]}
    assert len(ids) == 3
    too_many = await client.get("/projects", params={"limit": 100000})
    assert too_many.status_code == 422 and too_many.json()["errors"][0]["field"] == "limit"


async def test_operational_endpoints(client) -> None:
    assert (await client.get("/healthz")).json()["status"] == "ok"
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    await client.get("/healthz")
    metrics = await client.get("/metrics")
    assert 'pmo_http_requests_total{method="GET",route="/healthz",service="projects",status="200"}' in metrics.text
    openapi = (await client.get("/openapi.json")).json()
    assert openapi["openapi"].startswith("3.1")
    assert "/projects/{project_id}/milestones" in openapi["paths"]


async def test_events_reach_kafka_as_cloudevents_with_type_subject_and_key(client, kafka) -> None:
    project = await register(client)
    pid = project["project_id"]
    milestone = await client.post(f"/projects/{pid}/milestones", json=milestone_body())
    assert milestone.status_code == 201

    async def both_published() -> list[Any]:
        records = [r for r in await read_topic(kafka, "pmo.projects.v1", expect=0, timeout=1) if r.key == pid.encode()]
        assert len(records) == 2
        return records

    records = await eventually(both_published, timeout=30)
    events = [from_record(r.topic, r.partition, r.offset, r.key, r.value, r.headers) for r in records]
    assert [e.name for e in events] == ["project-registered", "milestone-planned"]
    assert [dict(r.headers)["ce_type"] for r in records] == [
        b"pmo.projects.project-registered.v1",
        b"pmo.projects.milestone-planned.v2",
    ]
    assert all(e.subject == f"project-{pid}" and e.service == "projects" for e in events)
    assert events[1].data["planned_value"] == {"amount": "120000.00", "currency": "EUR"}
    assert events[1].data["milestone_id"] == milestone.json()["milestone_id"]


async def test_concurrent_retries_on_an_existing_stream_all_get_the_first_answer(client) -> None:
    project = await register(client)
    url = f"/projects/{project['project_id']}/milestones"
    key = str(uuid.uuid4())
    body = milestone_body(name="Once")
    responses = await asyncio.gather(*(client.post(url, json=body, headers={"Idempotency-Key": key}) for _ in range(6)))
    assert [r.status_code for r in responses] == [201] * 6
    assert len({r.json()["milestone_id"] for r in responses}) == 1
    assert [m["name"] for m in (await client.get(url)).json()] == ["Once"]
