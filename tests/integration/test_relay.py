"""The relay against the real PostgreSQL and Kafka: order, gaps, CloudEvents, crash, election."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace

import pytest
from aiokafka.errors import NotLeaderForPartitionError  # type: ignore[import-untyped]

from shared.consumer import ProjectionConsumer
from shared.db import migrate
from shared.kafka import from_record, new_producer
from shared.relay import Checkpoint, Relay
from shared.relay_sending import ALONE_BYTES, relay_producer
from tests.support import (
    COUNTING_DDL,
    META,
    STORE,
    CountingProjection,
    append,
    applied_rows,
    eventually,
    read_topic,
    work,
)

pytestmark = pytest.mark.integration


def make_relay(engine, schema: str, topic: str, kafka, name: str = "relay") -> Relay:
    return Relay(engine, service="test", topic=topic, kafka=kafka, schema=schema, name=name, batch_size=100)


async def publish_all(relay: Relay) -> int:
    producer = new_producer(relay.kafka)
    await producer.start()
    try:
        total = 0
        while (n := await relay.publish_once(producer)) > 0:
            total += n
        return total
    finally:
        await producer.stop()


async def test_events_reach_kafka_as_cloudevents_keyed_by_project_in_order(engine, schema, topic, kafka) -> None:
    pid = uuid.uuid4().hex
    await append(engine, pid, range(1, 6))
    assert await publish_all(make_relay(engine, schema, topic, kafka)) == 5
    records = await read_topic(kafka, topic, expect=5)
    assert len(records) == 5
    assert {r.key for r in records} == {pid.encode()}
    assert len({r.partition for r in records}) == 1
    headers = dict(records[0].headers)
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == b"pmo.test.work-logged.v1"
    assert headers["ce_source"] == b"/pmo/test"
    assert headers["ce_subject"] == f"work-{pid}".encode()
    assert headers["content-type"] == b"application/json"
    assert headers["ce_actor"] == b"tester"
    events = [from_record(r.topic, r.partition, r.offset, r.key, r.value, r.headers) for r in records]
    assert [e.data["seq"] for e in events] == [1, 2, 3, 4, 5]
    assert json.loads(records[0].value)["amount"] == {"amount": "10.00", "currency": "EUR"}


async def test_relay_never_passes_a_transaction_still_open_and_publishes_it_once_committed(
    engine, schema, topic, kafka
) -> None:
    slow, fast = uuid.uuid4().hex, uuid.uuid4().hex
    relay = make_relay(engine, schema, topic, kafka)
    async with engine.connect() as held:
        transaction = await held.begin()
        # The slow transaction takes its positions first and stays open...
        await STORE.append(
            held,
            stream_id=f"work-{slow}",
            stream_type="work",
            expected_version=0,
            events=[work(slow, 1), work(slow, 2)],
            metadata=META,
        )
        # ...while later transactions commit.
        await append(engine, fast, range(1, 4))
        assert await publish_all(relay) == 0  # the fast events sit behind the open transaction
        await transaction.commit()
    assert await publish_all(relay) == 5
    records = await read_topic(kafka, topic, expect=5)
    seen = [(r.key.decode(), json.loads(r.value)["seq"]) for r in records]
    assert sorted(seen) == sorted([(slow, 1), (slow, 2), (fast, 1), (fast, 2), (fast, 3)])
    assert len(seen) == len(set(seen))  # each exactly once
    assert [s for k, s in seen if k == slow] == [1, 2] and [s for k, s in seen if k == fast] == [1, 2, 3]


async def test_a_rolled_back_transaction_publishes_nothing_and_does_not_block(engine, schema, topic, kafka) -> None:
    ghost, real = uuid.uuid4().hex, uuid.uuid4().hex
    relay = make_relay(engine, schema, topic, kafka)
    async with engine.connect() as held:
        transaction = await held.begin()
        await STORE.append(
            held,
            stream_id=f"work-{ghost}",
            stream_type="work",
            expected_version=0,
            events=[work(ghost, 1)],
            metadata=META,
        )
        await append(engine, real, range(1, 3))
        assert await publish_all(relay) == 0
        await transaction.rollback()
    assert await publish_all(relay) == 2
    records = await read_topic(kafka, topic, expect=2)
    assert [r.key.decode() for r in records] == [real, real]


async def test_interleaved_open_transactions_never_skip_an_event(engine, schema, topic, kafka) -> None:
    """Many writers with random commit order while the relay runs continuously: every event exactly once."""
    relay = make_relay(engine, schema, topic, kafka)
    stop = asyncio.Event()
    runner = asyncio.create_task(relay.run(stop))
    projects = [uuid.uuid4().hex for _ in range(8)]

    async def writer(pid: str) -> None:
        for batch in range(10):
            async with engine.begin() as conn:
                await STORE.append(
                    conn,
                    stream_id=f"work-{pid}",
                    stream_type="work",
                    expected_version=batch * 2,
                    events=[work(pid, batch * 2 + 1), work(pid, batch * 2 + 2)],
                    metadata=META,
                )
                await asyncio.sleep(0.001 * (hash((pid, batch)) % 7))  # hold the transaction open a while

    await asyncio.gather(*(writer(p) for p in projects))
    try:
        records = await read_topic(kafka, topic, expect=160, timeout=30)
    finally:
        stop.set()
        await runner
    per_project: dict[str, list[int]] = {}
    for r in records:
        per_project.setdefault(r.key.decode(), []).append(json.loads(r.value)["seq"])
    assert per_project == {p: list(range(1, 21)) for p in projects}


async def test_relay_crash_after_publish_before_checkpoint_causes_no_duplicate_effect(
    engine, schema, topic, kafka
) -> None:
    class CrashingRelay(Relay):
        async def _save_checkpoint(self, checkpoint: Checkpoint) -> None:
            raise ConnectionResetError("relay process died")

    pid = uuid.uuid4().hex
    await append(engine, pid, range(1, 4))
    with pytest.raises(ConnectionResetError):
        await publish_all(CrashingRelay(engine, service="test", topic=topic, kafka=kafka, schema=schema))
    assert await publish_all(make_relay(engine, schema, topic, kafka)) == 3  # the restarted relay publishes again
    records = await read_topic(kafka, topic, expect=6)
    assert len(records) == 6  # at least once on the wire...

    await migrate(engine, schema, COUNTING_DDL)
    consumer = ProjectionConsumer(engine, kafka, CountingProjection(topic))
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:

        async def three_applied_once() -> None:
            rows = await applied_rows(engine)
            assert [r.seq for r in rows] == [1, 2, 3]

        await eventually(three_applied_once)
        await asyncio.sleep(1.0)  # the duplicates have been delivered by now; they must change nothing
        assert [r.seq for r in await applied_rows(engine)] == [1, 2, 3]  # ...exactly once in effect
    finally:
        stop.set()
        await task


async def test_only_one_relay_per_service_publishes(engine, schema, topic, kafka) -> None:
    first, second = make_relay(engine, schema, topic, kafka), make_relay(engine, schema, topic, kafka)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(first.run(stop)), asyncio.create_task(second.run(stop))]
    try:

        async def one_leader() -> None:
            assert [first.is_leader, second.is_leader].count(True) == 1

        await eventually(one_leader)
        await asyncio.sleep(0.5)
        assert [first.is_leader, second.is_leader].count(True) == 1
        leader = first if first.is_leader else second
        follower = second if leader is first else first
        # The leader stops: the other takes over.
        leader_stop = asyncio.Event()
        stop_task = tasks[0] if leader is first else tasks[1]
        stop_task.cancel()
        await asyncio.gather(stop_task, return_exceptions=True)

        async def follower_leads() -> None:
            assert follower.is_leader

        await eventually(follower_leads, timeout=10)
        del leader_stop
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_committed_command_wakes_its_services_relay_instead_of_waiting_for_the_next_poll(infra) -> None:
    """The relay polls every ``relay_poll_interval`` (here 10 s, the maximum); a command committed in the same
    process wakes it, so the event is published long before that poll."""
    from contextlib import AsyncExitStack

    from sqlalchemy import text

    from tests.integration.conftest import service_client
    from tests.support import auth_header
    from tests.support.projects import portfolio

    async with AsyncExitStack() as stack:
        client = await service_client(
            stack, "projects", infra, auth_header("dora.director", "director"), relay_poll_interval=10
        )
        runtime = client.app.state.runtime  # type: ignore[attr-defined]

        async def leads() -> None:
            assert runtime.relay.is_leader

        await eventually(leads)
        await asyncio.sleep(0.5)  # its first pass found nothing to publish: it now waits up to 10 s
        await portfolio(client)

        async def published() -> None:
            async with runtime.engine.connect() as conn:
                last = (await conn.execute(text("SELECT max(position) FROM events"))).scalar()
                done = (await conn.execute(text("SELECT position FROM relay_checkpoint"))).scalar()
            assert last is not None and done is not None and done >= last

        await eventually(published, timeout=5)


class DropsSomeBatches:
    """A real producer, except that some batches fail without being sent, as a batch does that waited for a partition
    leader longer than the request timeout (the producer would go on with the next batch of that partition)."""

    def __init__(self, kafka, failing: set[int], counted: list[int]) -> None:
        self.inner = relay_producer(kafka)
        self.failing, self.counted = failing, counted  # counted[0]: the batches handed over, by every producer

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    async def send_batch(self, batch, topic: str, *, partition: int) -> asyncio.Future:
        self.counted[0] += 1
        if self.counted[0] in self.failing:
            future = asyncio.get_running_loop().create_future()
            future.set_exception(NotLeaderForPartitionError())
            return future
        return await self.inner.send_batch(batch, topic, partition=partition)


async def test_a_batch_failing_unsent_lets_no_later_event_of_its_partition_overtake_it(
    engine, schema, topic, kafka
) -> None:
    """Several batches per partition in one pass (a small record limit); some fail without being sent: every project's
    events reach the topic once each, in order, nothing published ahead of a failed batch or twice."""
    small = replace(kafka, max_message_bytes=4 * ALONE_BYTES)  # batches of at most 16 KiB
    counted = [0]
    relay = Relay(
        engine, service="test", topic=topic, kafka=small, schema=schema, batch_size=400,
        producer_factory=lambda: DropsSomeBatches(small, {2, 5, 9}, counted),  # a new one after each failure
    )  # fmt: skip
    projects = [uuid.uuid4().hex for _ in range(8)]
    for pid in projects:
        await append(engine, pid, range(1, 41))
    stop = asyncio.Event()
    runner = asyncio.create_task(relay.run(stop))
    try:
        records = await read_topic(kafka, topic, expect=320, timeout=60)
    finally:
        stop.set()
        await runner
    assert counted[0] > 9  # the failures happened, and the passes after them went on
    per_project: dict[str, list[int]] = {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        per_project.setdefault(r.key.decode(), []).append(json.loads(r.value)["seq"])
    assert per_project == {p: list(range(1, 41)) for p in projects}
