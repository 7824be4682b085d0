"""Two time axes on every report: ``as_of`` (the business date, with everything known now) and ``known_at`` (only
what had been recorded by then). A correction recorded late changes the ``as_of`` answers and leaves the earlier
``known_at`` answers as they were shown; facts go through Kafka and the real reporting consumers."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from reporting.domain.ledger import Fact
from shared.contracts import budget as b
from shared.contracts import projects as p
from shared.contracts import resources as r
from shared.db import create_engine
from shared.events import EventMetadata, RecordedEvent
from shared.kafka import new_producer, to_record
from tests.reporting_support import baseline, milestone, registered, started, work
from tests.support import auth_header, eventually

pytestmark = pytest.mark.integration

VIEWER = auth_header("vera.viewer", "viewer")
TODAY = date.today()
NOW = datetime.now(UTC)
TOPICS = {"projects": p.TOPIC, "budget": b.TOPIC, "resources": r.TOPIC}


@pytest.fixture
async def reporting(infra: Any) -> AsyncIterator[httpx.AsyncClient]:
    from reporting.bootstrap import create_app

    module = sys.modules[create_app.__module__]
    schema = f"t_known_{uuid.uuid4().hex[:10]}"
    app: FastAPI = create_app(
        module.Settings(
            env="development",
            database_url=infra.database_url,
            kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
            db_schema=schema,
            kafka_group_prefix=f"test-{uuid.uuid4().hex[:8]}",
        )
    )
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://reporting") as client:
                yield client
    finally:
        engine = create_engine(infra.database_url, "public")
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await engine.dispose()


def ours(fact: Fact, project_id: uuid.UUID, recorded_at: datetime) -> Fact:
    """The shared test fact for this test's own project, recorded at ``recorded_at``."""
    return replace(fact, data={**fact.data, "project_id": str(project_id)}, recorded_at=recorded_at)


async def publish(kafka: Any, facts: list[Fact]) -> None:
    """The facts as their services publish them: CloudEvents keyed by project, ``ce_time`` = recorded time."""
    producer = new_producer(kafka)
    await producer.start()
    try:
        for f in facts:
            recorded = RecordedEvent(
                event_id=f.event_id,
                stream_id=f"test-{f.event_id}",
                stream_type="test",
                version=1,
                position=0,
                name=f.name,
                schema_version=f.version,
                partition_key=f.data["project_id"],
                data=f.data,
                metadata=EventMetadata("tester", "known-at"),
                recorded_at=f.recorded_at,
            )
            key, value, headers = to_record(f.service, recorded)
            await producer.send_and_wait(TOPICS[f.service], value=value, key=key, headers=headers)
    finally:
        await producer.stop()


def figure(report: dict[str, Any], name: str) -> str | None:
    value = report["figures"][name]["value"]
    return None if value is None else str(value)


async def test_a_late_correction_changes_as_of_answers_and_leaves_earlier_known_at_answers_untouched(
    reporting: httpx.AsyncClient, kafka: Any
) -> None:
    pid = uuid.uuid4()
    start = TODAY - timedelta(days=60)
    t0, t1, t2 = NOW - timedelta(days=30), NOW - timedelta(days=10), NOW - timedelta(days=2)
    first = [
        ours(registered(start - timedelta(days=2)), pid, t0),
        ours(started(start), pid, t0 + timedelta(seconds=1)),
        ours(baseline("100000.00"), pid, t0 + timedelta(seconds=2)),
        ours(milestone(1, "50000.00", TODAY + timedelta(days=30)), pid, t0 + timedelta(seconds=3)),
        ours(work("1000.00", start + timedelta(days=10)), pid, t1),
    ]
    late = ours(work("500.00", start + timedelta(days=5)), pid, t2)  # effective before the first sheet
    await publish(kafka, first)
    url = f"/reports/projects/{pid}"
    seen_then = t1 + timedelta(hours=1)

    async def shown(**params: str) -> dict[str, Any]:
        answer = await reporting.get(url, params=params, headers=VIEWER)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    async def before_the_correction() -> dict[str, Any]:
        report = await shown(known_at=seen_then.isoformat())
        assert figure(report, "ac") == "1000.00", report["figures"]["ac"]
        return report

    then = await eventually(before_the_correction, timeout=120)  # a fresh group reads the shared topics first
    assert then["known_at"] == seen_then.isoformat()
    await publish(kafka, [late])

    async def corrected() -> None:
        assert figure(await shown(), "ac") == "1500.00"

    await eventually(corrected, timeout=120)
    assert await shown(known_at=seen_then.isoformat()) == then  # reproduced exactly, as shown then
    as_of_between = (start + timedelta(days=7)).isoformat()
    assert figure(await shown(as_of=as_of_between), "ac") == "500.00"  # the late sheet counts from its own date
    assert figure(await shown(as_of=as_of_between, known_at=seen_then.isoformat()), "ac") == "0.00"

    portfolio_then = await reporting.get(
        "/reports/portfolio", params={"known_at": seen_then.isoformat()}, headers=VIEWER
    )
    row = next(x for x in portfolio_then.json()["projects"] if x["project_id"] == str(pid))
    assert row["ac"] == "1000.00"
    curve_then = await reporting.get(f"{url}/s-curve", params={"known_at": seen_then.isoformat()}, headers=VIEWER)
    assert curve_then.json()["points"][-1]["ac"] == "1000.00"

    before_it_existed = await reporting.get(
        url, params={"known_at": (t0 - timedelta(days=1)).isoformat()}, headers=VIEWER
    )
    assert before_it_existed.status_code == 404
    assert "registered after" in before_it_existed.json()["detail"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"known_at": (NOW + timedelta(days=1)).isoformat()}, "known_at"),
        ({"known_at": "yesterday"}, "known_at"),
        ({"as_of": "0"}, "as_of"),
        ({"as_of": "2027-13-01"}, "as_of"),
    ],
)
async def test_a_known_at_in_the_future_or_an_as_of_that_is_not_a_date_is_refused(
    reporting: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    for path in (f"/reports/projects/{uuid.uuid4()}", "/reports/portfolio"):
        answer = await reporting.get(path, params=params, headers=VIEWER)
        assert answer.status_code == 422, answer.text
        assert [e["field"] for e in answer.json()["errors"]] == [field]
