"""The relay replacing its producer after a passing failure, while another partition's batch is still being answered:
what Kafka acknowledged meanwhile counts as published, so nothing is sent twice. Against the real PostgreSQL and
Kafka, with a fault-injecting producer."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import pytest
from aiokafka.errors import NotLeaderForPartitionError  # type: ignore[import-untyped]
from sqlalchemy import text

from shared.kafka import KafkaOptions
from shared.relay import Relay
from shared.relay_lanes import PATIENCE
from shared.relay_sending import relay_producer
from tests.integration.test_relay_partitions import projects_on
from tests.support import append, eventually, read_topic

pytestmark = pytest.mark.integration


class FailsOneWhileAnotherIsSlow:
    """A real producer, except that the first batch for partition ``failing`` fails unsent (a passing error: the
    relay replaces its producer) and the first batch for partition ``slow`` is answered only after ``delay``
    seconds: longer than a pass waits for its lanes, so it is acknowledged while the relay closes them. ``state``
    is shared by every producer the relay makes."""

    def __init__(self, kafka: KafkaOptions, state: Counter[str], *, failing: int, slow: int, delay: float) -> None:
        self.inner = relay_producer(kafka)
        self.state, self.failing, self.slow, self.delay = state, failing, slow, delay

    async def start(self) -> None:
        self.state["producers"] += 1
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> asyncio.Future[Any]:
        self.state[f"batches-{partition}"] += 1
        if partition == self.failing and not self.state["failed"]:
            self.state["failed"] += 1
            future = asyncio.get_running_loop().create_future()
            future.set_exception(NotLeaderForPartitionError())
            return future
        if partition == self.slow and not self.state["slowed"]:
            self.state["slowed"] += 1
            sent = await self.inner.send_batch(batch, topic, partition=partition)

            async def later() -> Any:
                await asyncio.sleep(self.delay)
                return await sent

            return asyncio.ensure_future(later())
        return await self.inner.send_batch(batch, topic, partition=partition)  # type: ignore[no-any-return]


async def test_a_batch_acknowledged_while_the_relay_replaces_its_producer_is_not_published_again(
    engine: Any, schema: str, topic: str, kafka: KafkaOptions
) -> None:
    state: Counter[str] = Counter()
    relay = Relay(
        engine, service="test", topic=topic, kafka=kafka, schema=schema, batch_size=100, delivery_timeout=5.0,
        producer_factory=lambda: FailsOneWhileAnotherIsSlow(kafka, state, failing=0, slow=1, delay=PATIENCE + 0.5),
    )  # fmt: skip
    projects = projects_on(0, 2) + projects_on(1, 2) + projects_on(2, 2)
    for pid in projects:
        await append(engine, pid, range(1, 6))
    stop = asyncio.Event()
    runner = asyncio.create_task(relay.run(stop))
    try:

        async def caught_up() -> None:
            async with engine.connect() as conn:
                last = (await conn.execute(text("SELECT max(position) FROM events"))).scalar()
                done = (await conn.execute(text("SELECT position FROM relay_checkpoint"))).scalar()
            assert done == last

        await eventually(caught_up, timeout=30)
        await asyncio.sleep(0.5)  # a copy sent twice would be on the topic by now
        records = await read_topic(kafka, topic, expect=30)
    finally:
        stop.set()
        await runner
    assert state["failed"] == 1 and state["slowed"] == 1 and state["producers"] == 2  # the faults happened
    ids = Counter(dict(r.headers)["ce_id"].decode() for r in records)
    assert len(ids) == 30 and [i for i, n in ids.items() if n > 1] == []  # each once
    assert state["batches-1"] == 1  # the slow partition's batch was counted as acknowledged, never sent again
    seqs: dict[str, list[int]] = {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        seqs.setdefault(r.key.decode(), []).append(json.loads(r.value)["seq"])
    assert seqs == {p: [1, 2, 3, 4, 5] for p in projects}
