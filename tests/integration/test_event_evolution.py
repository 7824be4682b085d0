"""Over the real Kafka and PostgreSQL: an event carrying fields its contract does not know (at the top and in a nested
part) is applied by every consumer of its topic, not dead-lettered; a ``milestone-planned`` v1 still on the topic is
applied as v2 is; the projects service publishes v2, with the start given or its default, and still reads the v1 events
of its own event table."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped, unused-ignore]
from sqlalchemy import text

from shared.contracts import projects
from shared.events import EventMetadata, RecordedEvent
from shared.kafka import KafkaOptions, from_record, new_producer, to_record
from shared.money import Money
from tests.support import auth_header, eventually, read_topic
from tests.support.clock import TODAY

pytestmark = pytest.mark.integration
EVENTS = Path(__file__).resolve().parents[2] / "docs" / "events"
"""The published JSON Schemas of the events (``make schemas``)."""
CONSUMERS = ("budget", "resources", "invoicing", "reporting")
"""Every service that consumes ``pmo.projects.v1`` and keeps the milestones it plans."""

MILESTONES_SQL = {
    "budget": "SELECT count(*) FROM known_milestones WHERE milestone_id = ANY(:ids)",
    "resources": "SELECT count(*) FROM known_milestones WHERE milestone_id = ANY(:ids)",
    "invoicing": "SELECT count(*) FROM known_milestones WHERE milestone_id = ANY(:ids)",
    "reporting": "SELECT count(*) FROM portfolio_milestones WHERE milestone_id = ANY(:ids)",
}


async def _service(stack: AsyncExitStack, module: str, infra: Any) -> httpx.AsyncClient:
    import importlib

    bootstrap = importlib.import_module(f"{module}.bootstrap")
    settings = importlib.import_module(f"{module}.settings").Settings(
        env="development",
        database_url=infra.database_url,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        db_schema=f"t_{module}_{uuid.uuid4().hex[:8]}",
        kafka_group_prefix=f"test-{uuid.uuid4().hex[:8]}",
    )
    app = bootstrap.create_app(settings)
    stack.push_async_callback(_drop, app, settings.db_schema)  # after the service has stopped: callbacks run last first
    await stack.enter_async_context(app.router.lifespan_context(app))
    client = await stack.enter_async_context(
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=f"http://{module}",
            headers=auth_header("dora.director", "director"),
        )
    )
    client.app = app  # type: ignore[attr-defined]
    return client


async def _drop(app: Any, schema: str) -> None:
    async with app.state.runtime.engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    await app.state.runtime.engine.dispose()


@pytest.fixture
async def consumers(infra: Any) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    async with AsyncExitStack() as stack:
        yield {name: await _service(stack, name, infra) for name in CONSUMERS}


async def _scalar(client: httpx.AsyncClient, sql: str, **params: Any) -> Any:
    async with client.app.state.runtime.engine.connect() as conn:  # type: ignore[attr-defined]
        return (await conn.execute(text(sql), params)).scalar()


def _record(event_id: uuid.UUID, pid: uuid.UUID, name: str, version: int, data: dict[str, Any], at: int) -> Any:
    return RecordedEvent(
        event_id=event_id,
        stream_id=f"project-{pid}",
        stream_type="project",
        version=at,
        position=at,
        name=name,
        schema_version=version,
        partition_key=str(pid),
        data=data,
        metadata=EventMetadata(actor="projects-tester", correlation_id=f"corr-{uuid.uuid4().hex[:8]}"),
        recorded_at=datetime.now(UTC),
    )


def _later_producer(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as a later version of the producer may send it: a field more at the top and in a nested part."""
    out = {**data, "added_later": {"note": "unknown to this reader", "n": [1, 2]}}
    if "planned_value" in out:
        out["planned_value"] = {**out["planned_value"], "display": "EUR 1,200.00"}
    return out


async def test_events_with_unknown_fields_and_an_old_version_are_applied_by_every_consumer_not_dead_lettered(
    consumers: dict[str, httpx.AsyncClient], kafka: KafkaOptions
) -> None:
    pid, old, new = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    registered = projects.ProjectRegistered(
        project_id=pid,
        portfolio_id=None,
        programme_id=None,
        code=f"EV-{pid.hex[:6]}",
        name="Evolution",
        objectives="",
        sponsor="s",
        manager="m",
        planned_start=TODAY - timedelta(days=30),
        planned_end=TODAY + timedelta(days=300),
        currency="EUR",
        registered_by="pat.pmo",
    )
    v1 = projects.MilestonePlanned(
        project_id=pid,
        milestone_id=old,
        name="Planned before v2",
        due_date=TODAY + timedelta(days=60),
        planned_value=Money.of("1200.00", "EUR"),
        acceptance_criteria="",
    )
    v2 = projects.MilestonePlannedV2(
        **{**dict(v1), "milestone_id": new, "name": "Planned as v2"}, start_date=TODAY + timedelta(days=10)
    )
    ids = [uuid.uuid4() for _ in range(3)]
    records = [
        _record(ids[0], pid, "project-registered", 1, _later_producer(registered.model_dump(mode="json")), 1),
        _record(ids[1], pid, "milestone-planned", 1, _later_producer(v1.model_dump(mode="json")), 2),
        _record(ids[2], pid, "milestone-planned", 2, _later_producer(v2.model_dump(mode="json")), 3),
    ]
    producer = new_producer(kafka)
    await producer.start()
    try:
        for recorded in records:
            key, value, headers = to_record("projects", recorded)
            assert b"added_later" in value and (recorded.name != "milestone-planned" or b'"display"' in value)
            published = EVENTS / "projects" / f"{recorded.name}.v{recorded.schema_version}.schema.json"
            Draft202012Validator(json.loads(published.read_text())).validate(recorded.data)  # extras and all
            await producer.send_and_wait(projects.TOPIC, value=value, key=key, headers=headers)
    finally:
        await producer.stop()

    async def applied(name: str) -> None:
        assert await _scalar(consumers[name], MILESTONES_SQL[name], ids=[old, new]) == 2
        if name == "reporting":  # its ledger reads the topic with a consumer of its own, beside the portfolio's
            stored = await _scalar(consumers[name], "SELECT count(*) FROM facts WHERE event_id = ANY(:ids)", ids=ids)
            assert stored == 3  # the ledger keeps the facts as they came, extra fields included; its books read them

    # each consumer starts from the topic's first offset (the replayable log): allow for the other tests' records
    await asyncio.gather(*(eventually(lambda name=name: applied(name), timeout=180) for name in CONSUMERS))  # type: ignore[misc]
    for name in CONSUMERS:
        dead = await _scalar(
            consumers[name], "SELECT count(*) FROM inbox WHERE event_id = ANY(:ids) AND dead_lettered", ids=ids
        )
        assert not dead, f"{name} dead-lettered an event it should have read"

    reporting = consumers["reporting"]
    values = await _scalar(
        reporting,
        "SELECT array_agg(planned_value ORDER BY name) FROM portfolio_milestones WHERE milestone_id = ANY(:ids)",
        ids=[old, new],
    )
    assert [str(v) for v in values] == ["1200.00", "1200.00"]
    report = await reporting.get(f"/reports/projects/{pid}", params={"as_of": str(TODAY)})
    assert report.status_code == 200, report.text


async def test_the_projects_service_publishes_milestone_planned_v2_with_its_start(
    client: httpx.AsyncClient, kafka: KafkaOptions
) -> None:
    project = await client.post(
        "/projects",
        json={
            "code": "EV2",
            "name": "Evolution",
            "sponsor": "s",
            "manager": "m",
            "currency": "EUR",
            "planned_start": str(TODAY),
            "planned_end": str(TODAY + timedelta(days=200)),
        },
    )
    assert project.status_code == 201, project.text
    pid = project.json()["project_id"]
    body = {"due_date": str(TODAY + timedelta(days=90)), "planned_value": {"amount": "10.00", "currency": "EUR"}}
    for name, start in (("Given", str(TODAY + timedelta(days=30))), ("Default", None)):
        answer = await client.post(
            f"/projects/{pid}/milestones", json={**body, "name": name, **({"start_date": start} if start else {})}
        )
        assert answer.status_code == 201, answer.text
    late = await client.post(
        f"/projects/{pid}/milestones", json={**body, "name": "Late", "start_date": str(TODAY + timedelta(days=91))}
    )
    assert late.status_code == 422 and "start_date" in late.text

    async def published() -> list[Any]:
        records = [r for r in await read_topic(kafka, projects.TOPIC, expect=0, timeout=1) if r.key == pid.encode()]
        assert len(records) == 3
        return records

    records = await eventually(published, timeout=30)
    events = [from_record(r.topic, r.partition, r.offset, r.key, r.value, r.headers) for r in records][1:]
    assert [dict(r.headers)["ce_type"] for r in records][1:] == [b"pmo.projects.milestone-planned.v2"] * 2
    assert [(e.data["name"], e.data["start_date"]) for e in events] == [
        ("Given", str(TODAY + timedelta(days=30))),
        ("Default", str(TODAY)),
    ]
    for event in events:
        assert isinstance(event.contract(projects.REGISTRY), projects.MilestonePlannedV2)


async def test_the_projects_service_reads_a_v1_milestone_planned_of_its_own_event_table(
    client: httpx.AsyncClient,
) -> None:
    project = await client.post(
        "/projects",
        json={
            "code": "EV1",
            "name": "Evolution",
            "sponsor": "s",
            "manager": "m",
            "currency": "EUR",
            "planned_start": str(TODAY),
            "planned_end": str(TODAY + timedelta(days=200)),
        },
    )
    pid = project.json()["project_id"]
    body = {
        "name": "Old",
        "due_date": str(TODAY + timedelta(days=90)),
        "planned_value": {"amount": "10.00", "currency": "EUR"},
    }
    milestone = (await client.post(f"/projects/{pid}/milestones", json=body)).json()
    async with client.app.state.runtime.engine.begin() as conn:  # type: ignore[attr-defined]
        # as it was stored before v2: no start_date, version 1 (and a field a later producer would add)
        changed = await conn.execute(
            text(
                "UPDATE events SET schema_version = 1, data = (data - 'start_date') || '{\"added_later\": 1}' "
                "WHERE stream_id = :s AND name = 'milestone-planned'"
            ),
            {"s": f"project-{pid}"},
        )
        assert changed.rowcount == 1
        stored = await client.app.state.runtime.store.read_stream(conn, f"project-{pid}")  # type: ignore[attr-defined]
    (planned,) = [e.event for e in stored if e.name == "milestone-planned"]
    assert isinstance(planned, projects.MilestonePlannedV2) and planned.start_date == planned.due_date
    moved = await client.post(
        f"/projects/{pid}/milestones/{milestone['milestone_id']}/reschedule",
        json={"due_date": str(TODAY + timedelta(days=120)), "reason": "vendor late"},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["due_date"] == str(TODAY + timedelta(days=120))
