"""The relay's partitions side by side, and its stalls shown; a stress test of concurrent commits checked record by
record against the events table. Against the real PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections import Counter
from typing import Any

import pytest
from prometheus_client import REGISTRY as METRICS
from sqlalchemy import text

from shared.kafka import KafkaOptions
from shared.relay import Relay
from shared.relay_sending import partition_of, relay_producer
from tests.support import META, STORE, append, eventually, read_topic, work

pytestmark = pytest.mark.integration


def projects_on(partition: int, n: int, partitions: int = 3) -> list[str]:
    """``n`` project ids whose records go to ``partition``."""
    found: list[str] = []
    while len(found) < n:
        pid = uuid.uuid4().hex
        if partition_of(pid.encode(), list(range(partitions))) == partition:
            found.append(pid)
    return found


def gauge(name: str) -> float | None:
    return METRICS.get_sample_value(name, {"service": "test"})


class StuckPartition:
    """A real producer, except that one partition's batches get no answer until ``release`` is set, as when that
    partition's leader is dead and not yet fenced: the batch waits in the producer and is delivered afterwards."""

    def __init__(self, kafka: KafkaOptions, stuck: int) -> None:
        self.inner = relay_producer(kafka)
        self.stuck = stuck
        self.release = asyncio.Event()
        self.stuck_batches = 0

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> asyncio.Future[Any]:
        if partition != self.stuck:
            return await self.inner.send_batch(batch, topic, partition=partition)  # type: ignore[no-any-return]
        self.stuck_batches += 1

        async def later() -> Any:
            await self.release.wait()
            return await (await self.inner.send_batch(batch, topic, partition=partition))

        return asyncio.ensure_future(later())


def per_project(records: list[Any]) -> dict[str, list[int]]:
    seen: dict[str, list[int]] = {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        seen.setdefault(r.key.decode(), []).append(json.loads(r.value)["seq"])
    return seen


async def test_a_partition_that_cannot_be_written_holds_back_only_its_own_events_and_its_stall_shows(
    engine: Any, schema: str, topic: str, kafka: KafkaOptions, caplog: pytest.LogCaptureFixture
) -> None:
    stuck, healthy = projects_on(0, 2), projects_on(1, 2) + projects_on(2, 2)
    producer = StuckPartition(kafka, stuck=0)
    relay = Relay(
        engine, service="test", topic=topic, kafka=kafka, schema=schema, batch_size=50,
        producer_factory=lambda: producer, delivery_timeout=0.5, stall_alert_after=1.5,
    )  # fmt: skip
    for pid in stuck + healthy:
        await append(engine, pid, range(1, 6))
    stop = asyncio.Event()
    caplog.set_level(logging.INFO, logger="shared.relay")
    runner = asyncio.create_task(relay.run(stop))
    try:
        first = await read_topic(kafka, topic, expect=20)  # the healthy partitions' events, while partition 0 waits
        assert per_project(first) == {p: [1, 2, 3, 4, 5] for p in healthy}
        for pid in healthy:  # and they keep flowing, pass after pass, while partition 0 still waits
            await append(engine, pid, range(6, 31), expected=5)
        for pid in stuck:
            await append(engine, pid, range(6, 11), expected=5)
        more = await read_topic(kafka, topic, expect=100)
        assert per_project(more) == {p: list(range(1, 31)) for p in healthy}

        async def alerting() -> None:
            assert relay.watch.alerting_since is not None

        await eventually(alerting, timeout=10)
        assert gauge("pmo_relay_stalled_partitions") == 1 and gauge("pmo_relay_leader") == 1
        assert (gauge("pmo_relay_oldest_unpublished_age_seconds") or 0) >= 1.5
        assert (gauge("pmo_relay_backlog_events") or 0) == 20  # partition 0's ten events each of its two projects
        status = relay.status()
        assert status is not None and status["relay_stalled"]["stalled_partitions"] == [0]
        assert "delivery timeout" in status["relay_stalled"]["reasons"]["0"]
        assert producer.stuck_batches == 1  # the late batch is awaited, never sent a second time
        async with engine.connect() as conn:  # the checkpoint waits before partition 0's first event
            done = (await conn.execute(text("SELECT position FROM relay_checkpoint"))).scalar()
            first_stuck = (
                await conn.execute(text("SELECT min(position) FROM events WHERE partition_key = ANY(:k)"), {"k": stuck})
            ).scalar()
        assert done is None or done < first_stuck

        producer.release.set()  # the leader is back
        records = await read_topic(kafka, topic, expect=140)

        async def caught_up() -> None:
            assert relay.status() is None and gauge("pmo_relay_oldest_unpublished_age_seconds") == 0
            async with engine.connect() as conn:
                last = (await conn.execute(text("SELECT max(position) FROM events"))).scalar()
                done = (await conn.execute(text("SELECT position FROM relay_checkpoint"))).scalar()
            assert done == last

        await eventually(caught_up)
    finally:
        stop.set()
        await runner
    expected = {**{p: list(range(1, 31)) for p in healthy}, **{p: list(range(1, 11)) for p in stuck}}
    assert per_project(records) == expected
    assert len(records) == 140  # each once
    lines = [r.getMessage() for r in caplog.records if r.name == "shared.relay"]
    assert sum("partition 0 stalled" in line for line in lines) == 1  # one line per change of state
    assert sum(line.startswith("ALERT relay test/relay stalled") for line in lines) == 1
    assert sum("partition 0 flows again" in line for line in lines) == 1


async def test_concurrent_commits_across_projects_reach_the_topic_once_each_in_order_record_by_record(
    engine: Any, schema: str, topic: str, kafka: KafkaOptions
) -> None:
    """Writers on 40 projects commit transactions of one to three events, at random moments and held open for
    random times, while the relay runs: every event of the table is on the topic exactly once, and each project's
    records are in its stream's order."""
    relay = Relay(engine, service="test", topic=topic, kafka=kafka, schema=schema, batch_size=100)
    projects = [uuid.uuid4().hex for _ in range(40)]
    rng = random.Random(24)
    stop = asyncio.Event()
    runner = asyncio.create_task(relay.run(stop))

    async def writer(pid: str, seed: int) -> None:
        mine, version = random.Random(seed), 0
        while version < 30:
            n = mine.randint(1, 3)
            async with engine.begin() as conn:
                await STORE.append(
                    conn, stream_id=f"work-{pid}", stream_type="work", expected_version=version,
                    events=[work(pid, version + i + 1) for i in range(n)], metadata=META,
                )  # fmt: skip
                await asyncio.sleep(mine.random() * 0.01)
            version += n
            await asyncio.sleep(mine.random() * 0.005)

    began = time.monotonic()
    try:
        await asyncio.gather(*(writer(p, rng.randrange(1 << 30)) for p in projects))
        async with engine.connect() as conn:
            rows = (
                await conn.execute(text("SELECT event_id, partition_key, version FROM events ORDER BY xid, position"))
            ).all()
        records = await read_topic(kafka, topic, expect=len(rows), timeout=40)
        await asyncio.sleep(0.5)  # anything published twice would arrive by now
        records = await read_topic(kafka, topic, expect=len(rows), timeout=5)
    finally:
        stop.set()
        await runner
    elapsed = time.monotonic() - began
    ids = Counter(dict(r.headers)["ce_id"].decode() for r in records)
    assert len(rows) >= 40 * 30
    assert {str(r.event_id) for r in rows} == set(ids)  # every event of the table, nothing else
    assert [i for i, n in ids.items() if n > 1] == []  # each once
    versions: dict[str, list[int]] = {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        versions.setdefault(r.key.decode(), []).append(int(dict(r.headers)["ce_streamversion"]))
    assert versions == {p: list(range(1, len(versions[p]) + 1)) for p in projects}
    assert sum(map(len, versions.values())) == len(rows)
    assert elapsed < 60
    print(f"stress: {len(rows)} events of {len(projects)} projects, each once and in order, in {elapsed:.1f}s")
