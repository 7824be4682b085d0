"""Every event the services publish is a valid CloudEvent (checked with the ``cloudevents`` SDK) whose data
validates against the JSON Schema published for its type and version."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta
from typing import Any

import httpx
import jsonschema
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
from cloudevents.core.formats.json import JSONFormat

from shared.contracts import TOPICS, json_schemas
from tests.support import auth_header, eventually
from tests.support.clock import TODAY

pytestmark = pytest.mark.integration
CE_TYPE = re.compile(r"^pmo\.(?P<service>[a-z]+)\.(?P<name>[a-z0-9-]+)\.v(?P<version>\d+)$")


async def end_offsets(kafka: Any) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(**kafka.client_kwargs())
    await consumer.start()
    try:
        partitions = [
            TopicPartition(t, p)
            for t, _ in TOPICS.values()
            for p in (consumer.partitions_for_topic(t) or await _partitions(consumer, t))
        ]
        return dict(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic) or set()


async def records_since(kafka: Any, start: dict[TopicPartition, int]) -> list[Any]:
    consumer = AIOKafkaConsumer(enable_auto_commit=False, **kafka.client_kwargs())
    await consumer.start()
    try:
        consumer.assign(list(start))
        for tp in start:  # let the offset reset assign() starts finish first, so it cannot undo the seeks
            await consumer.position(tp)
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        ends = await consumer.end_offsets(list(start))
        records: list[Any] = []
        deadline = asyncio.get_running_loop().time() + 20
        while asyncio.get_running_loop().time() < deadline:
            positions = [await consumer.position(tp) for tp in start]
            if all(pos >= ends[tp] for pos, tp in zip(positions, start, strict=True)):
                break
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


async def test_every_published_event_is_a_cloudevent_valid_against_its_schema(
    stack: dict[str, httpx.AsyncClient], kafka: Any
) -> None:
    start = await end_offsets(kafka)
    projects, budget, reporting = stack["projects"], stack["budget"], stack["reporting"]
    pf = f"pf-{uuid.uuid4().hex[:8]}"
    assert (await projects.post("/portfolios", json={"portfolio_id": pf, "name": "Contracts"})).status_code == 201
    pid = (
        await projects.post(
            "/projects",
            json={
                "code": "CT-1",
                "name": "Contracts",
                "sponsor": "s",
                "manager": "m",
                "currency": "EUR",
                "portfolio_id": pf,
                "planned_start": str(TODAY - timedelta(30)),
                "planned_end": str(TODAY + timedelta(90)),
            },
        )
    ).json()["project_id"]
    base = f"/projects/{pid}"
    await projects.post(
        f"{base}/approve", json={}, headers=auth_header("dirk.director", "director")
    )  # not the registrant
    await projects.post(f"{base}/start", json={})
    m = (
        await projects.post(
            f"{base}/milestones",
            json={"name": "M", "due_date": str(TODAY), "planned_value": {"amount": "1000.00", "currency": "EUR"}},
        )
    ).json()
    await projects.post(f"{base}/milestones/{m['milestone_id']}/progress", json={"percent_complete": "30"})
    await projects.post(
        f"{base}/status-reports",
        json={
            "meeting_date": str(TODAY),
            "schedule": "green",
            "cost": "red",
            "scope": "green",
            "quality": "green",
            "resources": "amber",
        },
    )
    kpi = (
        await projects.post(
            f"{base}/kpis",
            json={"name": "Reach", "unit": "%", "target": "80", "direction": "at_least", "review_date": str(TODAY)},
        )
    ).json()
    await projects.post(f"{base}/kpis/{kpi['kpi_id']}/measurements", json={"value": "70"})

    async def baselined() -> None:
        response = await budget.post(
            f"/budgets/{pid}/baseline",
            json={
                "total": {"amount": "500.00", "currency": "EUR"},
                "categories": [{"category": "subcontracting", "amount": {"amount": "500.00", "currency": "EUR"}}],
            },
        )
        assert response.status_code == 201, response.text

    await eventually(baselined, timeout=30)
    await budget.post(
        f"/budgets/{pid}/commitments",
        json={
            "kind": "purchase_order",
            "vendor": "Acme",
            "reference": "PO-9",
            "category": "subcontracting",
            "amount": {"amount": "900.00", "currency": "EUR"},
        },
    )

    async def alerted() -> None:
        listed = (await reporting.get("/alerts", params={"project_id": pid})).json()
        assert {a["rule"] for a in listed["items"]} >= {"kpi-below-target", "commitments-above-budget"}

    await eventually(alerted, timeout=30)

    schemas = json_schemas()
    for _ in range(40):  # the relays publish what the commands and the evaluator wrote (reporting's alerts last)
        records = await records_since(kafka, start)
        if sum(1 for r in records if r.key and r.key.decode() in (pid, f"portfolio:{pf}")) >= 12:
            break
        await asyncio.sleep(0.5)
    ours = [r for r in records if r.key and r.key.decode() in (pid, f"portfolio:{pf}")]
    types = set()
    for record in records:
        message = KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value)
        event = from_binary(message, JSONFormat())  # raises if not a valid CloudEvent 1.0
        assert event.get_specversion() == "1.0"
        match = CE_TYPE.match(event.get_type())
        assert match, event.get_type()
        assert event.get_source() == f"/pmo/{match['service']}"
        schema = schemas[(match["service"], match["name"], int(match["version"]))]
        jsonschema.validate(event.get_data(), schema)
        types.add(event.get_type())
    assert len(ours) >= 12, sorted(dict(r.headers)["ce_type"].decode() for r in ours)
    expected = {
        "pmo.projects.project-registered.v1",
        "pmo.projects.milestone-progress-reported.v1",
        "pmo.projects.status-reported.v1",
        "pmo.projects.kpi-measured.v1",
        "pmo.budget.budget-baselined.v1",
        "pmo.budget.budget-committed.v1",
        "pmo.reporting.alert-raised.v1",
        "pmo.projects.portfolio-created.v1",
    }
    assert expected <= types, expected - types
