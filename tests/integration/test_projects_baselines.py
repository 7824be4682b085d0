"""Performance measurement baselines and gate figures over HTTP against the real PostgreSQL and Kafka: a baseline
proposed, refused to its proposer, approved by another director, listed with who and when, and its approved event on
the topic with every item; bad baselines refused naming the field with nothing appended; a gate decision keeping the
figures of a real reporting service (served over HTTP on a port of its own), and recorded without them when
reporting is down."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

import httpx
import pytest
import uvicorn

from shared.kafka import from_record
from tests.integration.conftest import service_client
from tests.support import auth_header, eventually, read_topic
from tests.support.clock import TODAY
from tests.support.http import ok
from tests.support.projects import milestone_body, register
from tests.support.stored import event_count

pytestmark = pytest.mark.integration
DIRK = auth_header("dirk.director", "director")
"""A second director: proposes the baselines below (the client's own director, dora, approves them)."""


async def refused(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = dict(response.json())
    if field is not None:
        assert field in [e["field"] for e in problem.get("errors", [])], problem
    return problem


async def active_project_with_two_milestones(client: httpx.AsyncClient) -> tuple[str, str, str]:
    """An active EUR project (registered by pat.pmo, managed by max.manager) with Design (120,000.00, due in 30
    days) and Build (80,000.00, due in 120 days): its id and the two milestones' ids."""
    project = await register(client, planned_start=str(TODAY - timedelta(30)))
    base = f"/projects/{project['project_id']}"
    await ok(await client.post(f"{base}/approve", json={}))
    await ok(await client.post(f"{base}/start", json={}))
    design = await ok(
        await client.post(f"{base}/milestones", json=milestone_body(due_date=str(TODAY + timedelta(30)))), 201
    )
    build = await ok(
        await client.post(
            f"{base}/milestones",
            json=milestone_body(
                name="Build",
                due_date=str(TODAY + timedelta(120)),
                planned_value={"amount": "80000.00", "currency": "EUR"},
            ),
        ),
        201,
    )
    return str(project["project_id"]), str(design["milestone_id"]), str(build["milestone_id"])


def baseline_body(design: str, build: str, **overrides: Any) -> dict[str, Any]:
    """Design 50/50 over the next 30 days; Build in two weighted steps (40 + 60) over the 90 days after."""
    start, middle, end = TODAY, TODAY + timedelta(31), TODAY + timedelta(120)
    body: dict[str, Any] = {
        "effective_on": str(TODAY),
        "items": [
            {
                "milestone_id": design,
                "budget": {"amount": "120000.00", "currency": "EUR"},
                "start": str(start),
                "due": str(TODAY + timedelta(30)),
                "technique": "50/50",
            },
            {
                "milestone_id": build,
                "budget": {"amount": "80000.00", "currency": "EUR"},
                "start": str(middle),
                "due": str(end),
                "technique": "weighted_milestones",
                "steps": [
                    {"name": "Features", "weight": "40", "on": str(middle + timedelta(30))},
                    {"name": "Acceptance", "weight": "60", "on": str(end)},
                ],
            },
        ],
        "management_reserve": {"amount": "20000.00", "currency": "EUR"},
        "reason": "initial baseline",
    }
    body.update(overrides)
    return body


async def test_a_baseline_is_approved_by_another_director_listed_and_published_with_every_item(
    client: httpx.AsyncClient, kafka: Any
) -> None:
    pid, design, build = await active_project_with_two_milestones(client)
    base = f"/projects/{pid}/baselines"
    proposed = await ok(await client.post(base, json=baseline_body(design, build), headers=DIRK), 201)
    assert proposed["version"] == 1 and proposed["status"] == "proposed"
    assert proposed["total"] == {"amount": "200000.00", "currency": "EUR"}  # 120,000.00 + 80,000.00
    before = await event_count(client)
    own = await refused(await client.post(f"{base}/1/approve", headers=DIRK), 409)
    assert own["title"] == "Separation of duties" and "dirk.director proposed baseline version 1" in own["detail"]
    await refused(await client.post(f"{base}/1/approve", headers=auth_header("pat.pmo", "pmo")), 403)
    assert await event_count(client) == before
    approved = await ok(await client.post(f"{base}/1/approve"))
    assert approved["status"] == "approved" and approved["approved_by"] == "dora.director"

    listed = await ok(await client.get(base))
    assert listed["total"] == 1
    (version,) = listed["items"]
    assert (version["status"], version["proposed_by"], version["approved_by"]) == (
        "approved",
        "dirk.director",
        "dora.director",
    )
    assert version["proposed_at"] <= version["decided_at"]
    one = await ok(await client.get(f"{base}/1"))
    assert [i["name"] for i in one["items"]] == ["Design approved", "Build"]
    assert [s["weight"] for s in one["items"][1]["steps"]] == ["40", "60"]
    await refused(await client.get(f"{base}/2"), 404)
    view = await ok(await client.get(f"/projects/{pid}"))
    assert view["baselines"] == [
        {
            "version": 1,
            "effective_on": str(TODAY),
            "total": {"amount": "200000.00", "currency": "EUR"},
            "management_reserve": {"amount": "20000.00", "currency": "EUR"},
            "status": "approved",
        }
    ]

    async def approved_on_kafka() -> Any:
        records = [r for r in await read_topic(kafka, "pmo.projects.v1", expect=0, timeout=1) if r.key == pid.encode()]
        found = [
            e
            for e in (from_record(r.topic, r.partition, r.offset, r.key, r.value, r.headers) for r in records)
            if e.name == "performance-baseline-approved"
        ]
        assert len(found) == 1
        return found[0]

    event = await eventually(approved_on_kafka, timeout=30)
    assert event.data["approved_by"] == "dora.director" and event.data["proposed_by"] == "dirk.director"
    assert event.data["total"] == {"amount": "200000.00", "currency": "EUR"}
    assert [(i["milestone_id"], i["technique"]) for i in event.data["items"]] == [
        (design, "50/50"),
        (build, "weighted_milestones"),
    ]
    assert event.data["items"][1]["steps"][1] == {
        "name": "Acceptance",
        "weight": "60",
        "on": str(TODAY + timedelta(120)),
    }


async def test_bad_baselines_are_refused_naming_the_field_and_append_nothing(client: httpx.AsyncClient) -> None:
    pid, design, build = await active_project_with_two_milestones(client)
    base = f"/projects/{pid}/baselines"
    body = baseline_body(design, build)
    before = await event_count(client)

    def changed(item: int, **fields: Any) -> dict[str, Any]:
        items = [dict(i) for i in body["items"]]
        items[item].update(fields)
        return {**body, "items": items}

    steps = body["items"][1]["steps"]
    await refused(await client.post(base, json=changed(1, steps=[steps[0]])), 422, "items.1.steps")  # 40 %
    await refused(
        await client.post(base, json=changed(0, budget={"amount": "10.00", "currency": "USD"})),
        422,
        "items.0.budget.currency",
    )
    await refused(await client.post(base, json=changed(0, milestone_id=str(uuid.uuid4()))), 422, "items.0.milestone_id")
    await refused(
        await client.post(base, json=changed(0, budget={"amount": 10.5, "currency": "EUR"})),
        422,
        "items.0.budget.amount",
    )
    await refused(await client.post(base, json=changed(0, due=str(TODAY - timedelta(1)))), 422, "items.0.due")
    await refused(
        await client.post(base, json=changed(0, months=[{"month": "2027-13", "amount": body["items"][0]["budget"]}])),
        422,
    )
    await refused(await client.post(base, json={**body, "items": body["items"] * 51}), 422, "items")
    await refused(await client.post(base, json={**body, "total": {"amount": "1.00", "currency": "EUR"}}), 422, "total")
    await refused(await client.post(base, json=body, headers=auth_header("val.viewer", "viewer")), 403)
    await refused(await client.post(f"/projects/{uuid.uuid4()}/baselines", json=body), 404)
    assert await event_count(client) == before
    await ok(await client.post(base, json=body, headers=DIRK), 201)
    await refused(await client.post(base, json=body, headers=DIRK), 409)  # one proposal open at a time
    rejected = await ok(await client.post(f"{base}/1/reject", json={"reason": "reserve too small"}))
    assert rejected["status"] == "rejected" and rejected["rejection_reason"] == "reserve too small"
    await refused(await client.post(f"{base}/1/reject", json={}), 422, "reason")
    again = await ok(await client.post(base, json=body, headers=DIRK), 201)
    assert again["version"] == 2
    versions = (await ok(await client.get(base)))["items"]
    assert [(v["version"], v["status"]) for v in versions] == [(1, "rejected"), (2, "proposed")]


# --- gate decisions keep reporting's figures --------------------------------------------------------------------


async def serve_over_http(stack: AsyncExitStack, app: Any) -> str:
    """Serve ``app`` (its lifespan already entered) over HTTP on a free local port until ``stack`` closes."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))

    async def stop() -> None:
        server.should_exit = True
        await task
        sock.close()

    stack.push_async_callback(stop)
    while not server.started:
        await asyncio.sleep(0.02)
    return f"http://127.0.0.1:{port}"


@pytest.fixture
async def with_reporting(infra: Any) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """The reporting service served over HTTP, and the projects service configured to ask it."""
    async with AsyncExitStack() as s:
        director = auth_header("dora.director", "director")
        reporting = await service_client(s, "reporting", infra, director, evaluation_interval=60)
        url = await serve_over_http(s, reporting.app)  # type: ignore[attr-defined]
        projects = await service_client(s, "projects", infra, director, reporting_url=url)
        yield {"projects": projects, "reporting": reporting}


async def test_a_gate_decision_keeps_the_figures_of_the_running_reporting_service(
    with_reporting: dict[str, httpx.AsyncClient],
) -> None:
    projects, reporting = with_reporting["projects"], with_reporting["reporting"]
    pid, _, _ = await active_project_with_two_milestones(projects)

    async def reporting_knows_the_project() -> dict[str, Any]:
        answer = await reporting.get(f"/reports/projects/{pid}", params={"as_of": str(TODAY)})
        assert answer.status_code == 200 and answer.json()["status"] == "active", answer.text
        assert len(answer.json()["underfunding_risk"]) == 2
        return dict(answer.json())

    seen = await eventually(reporting_knows_the_project, timeout=30)
    gate = {"gate": "G2", "decision": "continue", "rationale": "on track"}
    decided = await ok(await projects.post(f"/projects/{pid}/gate-decisions", json=gate), 201)
    figures = decided["figures"]
    assert figures["unavailable"] is None and figures["as_of"] == str(TODAY) and figures["currency"] == "EUR"
    assert figures["ac"] == seen["figures"]["ac"]["value"] == "0.00"  # nothing spent yet
    assert figures["bac"] == seen["figures"]["bac"]["value"]
    assert figures["eac"] == seen["figures"]["eac_cpi"]["value"]
    assert figures["cpi"] == seen["figures"]["cpi"]["value"] and figures["spi"] == seen["figures"]["spi"]["value"]
    assert figures["funding_available"] == seen["budget"]["funding_available"]
    highest = max(r["probability"] for r in seen["underfunding_risk"])
    assert highest is not None and figures["underfunding_risk"] == highest
    listed = (await ok(await projects.get(f"/projects/{pid}"))).get("gate_decisions")
    assert listed is not None and listed[-1]["figures"] == figures and listed[-1]["snapshot"]["milestones_planned"] == 2


async def test_a_gate_decision_is_recorded_without_figures_when_reporting_is_down(infra: Any) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens there once the socket is closed
    async with AsyncExitStack() as s:
        projects = await service_client(
            s, "projects", infra, auth_header("dora.director", "director"), reporting_url=closed
        )
        pid, _, _ = await active_project_with_two_milestones(projects)
        gate = {"gate": "G2", "decision": "hold", "rationale": "waiting for funding"}
        decided = await ok(await projects.post(f"/projects/{pid}/gate-decisions", json=gate), 201)
        assert decided["project_status"] == "on_hold"
        assert decided["figures"]["unavailable"] == "reporting cannot be reached (ConnectError)"
        assert decided["figures"]["ac"] is None and decided["figures"]["as_of"] == str(TODAY)


async def test_without_a_reporting_url_the_decision_says_no_reporting_is_configured(client: httpx.AsyncClient) -> None:
    pid, _, _ = await active_project_with_two_milestones(client)
    gate = {"gate": "G1", "decision": "continue", "rationale": "fine"}
    decided = await ok(await client.post(f"/projects/{pid}/gate-decisions", json=gate), 201)
    assert decided["figures"]["unavailable"] == "no reporting service is configured (PMO_REPORTING_URL)"
