"""Consumers with exactly-once effects against the real PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared import consumer as consumer_module
from shared.consumer import ProjectionConsumer
from shared.db import create_engine, migrate
from shared.kafka import DLQ_TOPIC, ConsumedEvent, new_producer, to_record
from shared.relay import Relay
from tests.support import COUNTING_DDL, CountingProjection, append, applied_rows, eventually

pytestmark = pytest.mark.integration


@asynccontextmanager
async def running(consumer: ProjectionConsumer) -> AsyncIterator[ProjectionConsumer]:
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        yield consumer
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def publish(engine, schema: str, topic: str, kafka) -> None:
    relay = Relay(engine, service="test", topic=topic, kafka=kafka, schema=schema)
    producer = new_producer(kafka)
    await producer.start()
    try:
        while await relay.publish_once(producer):
            pass
    finally:
        await producer.stop()


async def wait_for_seqs(engine, expected: list[tuple[str, int]], timeout: float = 20.0) -> None:
    async def check() -> None:
        rows = await applied_rows(engine)
        assert sorted((r.project_id, r.seq) for r in rows) == sorted(expected)

    await eventually(check, timeout=timeout)


async def test_duplicate_delivery_of_the_same_record_changes_nothing(engine, schema, topic, kafka) -> None:
    await migrate(engine, schema, COUNTING_DDL)
    pid = uuid.uuid4().hex
    await append(engine, pid, range(1, 4))
    await publish(engine, schema, topic, kafka)
    # Deliver every record again (as a replayed or re-published record would be).
    async with engine.connect() as conn:
        from tests.support import STORE

        events = await STORE.read_all(conn)
    producer = new_producer(kafka)
    await producer.start()
    for event in events:
        key, value, headers = to_record("test", event)
        await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    await producer.stop()

    consumer = ProjectionConsumer(engine, kafka, CountingProjection(topic))
    async with running(consumer):
        await wait_for_seqs(engine, [(pid, 1), (pid, 2), (pid, 3)])
        await asyncio.sleep(1.0)
    rows = await applied_rows(engine)
    assert [(r.project_id, r.seq) for r in rows] == [(pid, 1), (pid, 2), (pid, 3)]
    async with engine.connect() as conn:
        offsets = (await conn.execute(text("SELECT sum(next_offset) FROM consumer_offsets"))).scalar()
    assert offsets == 6  # all six records were read; three were recognised as duplicates


async def test_crash_between_read_model_write_and_offset_commit_recovers_to_a_fresh_replay(
    engine, schema, topic, kafka, infra
) -> None:
    await migrate(engine, schema, COUNTING_DDL)
    projects = [uuid.uuid4().hex for _ in range(3)]
    for pid in projects:
        await append(engine, pid, range(1, 6))
    await publish(engine, schema, topic, kafka)
    projection = CountingProjection(topic)

    class CrashOnce(ProjectionConsumer):
        crashed = 0

        async def before_commit(self, conn: AsyncConnection, tp: Any, records: Sequence[Any]) -> None:
            if not CrashOnce.crashed:
                CrashOnce.crashed += 1
                # the read model rows of this batch are written, the offset too, nothing committed yet
                written = (await conn.execute(text("SELECT count(*) FROM applied"))).scalar()
                assert written and written >= len(records)
                raise ConnectionResetError("process died before commit")

    async with running(CrashOnce(engine, kafka, projection)):
        await wait_for_seqs(engine, [(p, s) for p in projects for s in range(1, 6)])
        await asyncio.sleep(0.5)
    assert CrashOnce.crashed == 1
    live = [(r.event_id, r.project_id, r.seq) for r in await applied_rows(engine)]

    # A fresh replay into another schema gives the same read model.
    replay_schema = f"{schema}_replay"
    replay_engine = create_engine(infra.database_url, replay_schema, pool_size=2)
    try:
        await migrate(replay_engine, replay_schema, [*consumer_module.DDL, *COUNTING_DDL])
        fresh = ProjectionConsumer(replay_engine, kafka, CountingProjection(topic))
        async with running(fresh):
            await wait_for_seqs(replay_engine, [(p, s) for p in projects for s in range(1, 6)])
        replayed = [(r.event_id, r.project_id, r.seq) for r in await applied_rows(replay_engine)]
    finally:
        async with replay_engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{replay_schema}" CASCADE'))
        await replay_engine.dispose()
    assert live == replayed
    assert len(live) == 15


async def consumed_then_stopped(engine, schema, topic, kafka) -> tuple[str, CountingProjection]:
    """Three events of a new project published and consumed by a consumer that then stops."""
    await migrate(engine, schema, COUNTING_DDL)
    pid = uuid.uuid4().hex
    projection = CountingProjection(topic)
    await append(engine, pid, range(1, 4))
    await publish(engine, schema, topic, kafka)
    async with running(ProjectionConsumer(engine, kafka, projection)):
        await wait_for_seqs(engine, [(pid, s) for s in range(1, 4)])
    return pid, projection


async def test_restart_resumes_from_the_stored_position(engine, schema, topic, kafka) -> None:
    pid, projection = await consumed_then_stopped(engine, schema, topic, kafka)
    await append(engine, pid, range(4, 7), expected=3)
    await publish(engine, schema, topic, kafka)
    async with running(ProjectionConsumer(engine, kafka, projection)):
        await wait_for_seqs(engine, [(pid, s) for s in range(1, 7)])


async def test_a_poison_message_goes_to_the_dead_letter_topic_and_later_messages_are_processed(
    engine, schema, topic, kafka
) -> None:
    await migrate(engine, schema, COUNTING_DDL)
    pid = uuid.uuid4().hex
    projection = CountingProjection(topic, poison_seq=2)
    # One record that is not a CloudEvent at all, on the project's partition, before the events.
    producer = new_producer(kafka)
    await producer.start()
    await producer.send_and_wait(topic, value=b"{not json", key=pid.encode(), headers=[("x", b"y")])
    await producer.stop()
    await append(engine, pid, range(1, 5))
    await publish(engine, schema, topic, kafka)

    dlq = AIOKafkaConsumer(DLQ_TOPIC, auto_offset_reset="latest", enable_auto_commit=False, **kafka.client_kwargs())
    await dlq.start()
    await dlq.seek_to_end()
    try:
        async with running(ProjectionConsumer(engine, kafka, projection)):
            await wait_for_seqs(engine, [(pid, 1), (pid, 3), (pid, 4)])
        dead: list[Any] = []
        deadline = asyncio.get_running_loop().time() + 15
        while asyncio.get_running_loop().time() < deadline:
            for batch in (await dlq.getmany(timeout_ms=300)).values():
                dead.extend(r for r in batch if dict(r.headers).get("pmo_consumer") == projection.name.encode())
            if len(dead) >= 2:
                break
    finally:
        await dlq.stop()
    assert len(dead) == 2
    errors = [dict(r.headers)["pmo_error"].decode() for r in dead]
    assert any("NotACloudEventError" in e for e in errors)
    assert any("ValueError: cannot apply seq 2" in e for e in errors)
    assert all(dict(r.headers)["pmo_original_topic"] == topic.encode() for r in dead)
    async with engine.connect() as conn:
        marked = (await conn.execute(text("SELECT count(*) FROM inbox WHERE dead_lettered"))).scalar()
    assert marked == 1  # the undecodable record has no event id; the failed event is marked


class BatchCountingProjection(CountingProjection):
    """The same read model with the batch fast path; ``batches`` counts the calls."""

    batches = 0

    async def apply_batch(self, conn: AsyncConnection, events: Sequence[Any]) -> None:
        BatchCountingProjection.batches += 1
        for event in events:
            await self.apply(conn, event)


async def test_the_batch_path_drops_duplicates_and_falls_back_to_one_at_a_time_for_a_poison_message(
    engine, schema, topic, kafka
) -> None:
    await migrate(engine, schema, COUNTING_DDL)
    pid = uuid.uuid4().hex
    await append(engine, pid, range(1, 6))
    await publish(engine, schema, topic, kafka)
    async with engine.connect() as conn:
        from tests.support import STORE

        events = await STORE.read_all(conn)
    producer = new_producer(kafka)
    await producer.start()
    for event in events[:2]:  # two duplicates
        key, value, headers = to_record("test", event)
        await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    await producer.stop()
    projection = BatchCountingProjection(topic, poison_seq=3)
    async with running(ProjectionConsumer(engine, kafka, projection)):
        await wait_for_seqs(engine, [(pid, 1), (pid, 2), (pid, 4), (pid, 5)])
        await asyncio.sleep(0.5)
    assert [(r.project_id, r.seq) for r in await applied_rows(engine)] == [(pid, 1), (pid, 2), (pid, 4), (pid, 5)]
    assert BatchCountingProjection.batches >= 1
    async with engine.connect() as conn:
        dead = (await conn.execute(text("SELECT count(*) FROM inbox WHERE dead_lettered"))).scalar()
    assert dead == 1


class RefusedByTheDatabase(CountingProjection):
    """Applying seq 2 meets an error PostgreSQL raises with ``state`` (a deadlock, a serialization failure, a lock not
    available, a disk full) for its first ``times`` attempts, then works; ``attempts`` counts them. With
    ``apply_batch``: the batch path fails the same way."""

    def __init__(self, topic: str, state: str, times: int) -> None:
        super().__init__(topic)
        self.state, self.times, self.attempts = state, times, 0

    async def apply(self, conn: AsyncConnection, event: ConsumedEvent) -> None:
        if event.data["seq"] == 2:
            self.attempts += 1
            if self.attempts <= self.times:
                await conn.execute(
                    text(f"DO $$ BEGIN RAISE EXCEPTION 'refused for now' USING ERRCODE = '{self.state}'; END $$")
                )
        await super().apply(conn, event)


class RefusedInABatch(RefusedByTheDatabase):
    async def apply_batch(self, conn: AsyncConnection, events: Sequence[Any]) -> None:
        for event in events:
            await self.apply(conn, event)


@pytest.mark.parametrize("state", ["40P01", "40001", "55P03", "53100"])
@pytest.mark.parametrize("projection_type", [RefusedByTheDatabase, RefusedInABatch], ids=["one-by-one", "batch"])
async def test_a_record_the_database_refuses_for_a_moment_is_applied_once_it_accepts_and_never_dead_lettered(
    engine, schema, topic, kafka, state: str, projection_type: type[RefusedByTheDatabase]
) -> None:
    """A deadlock (40P01), a serialization failure (40001), a lock not available (55P03) or a full disk (53100) says
    nothing about the record: the batch goes back to the stored offset and is applied once the database accepts it,
    where before the isolated pass dead-lettered the record (a poison record still is: the tests above)."""
    await migrate(engine, schema, COUNTING_DDL)
    pid = uuid.uuid4().hex
    await append(engine, pid, range(1, 4))
    await publish(engine, schema, topic, kafka)
    projection = projection_type(topic, state, times=3)
    async with running(ProjectionConsumer(engine, kafka, projection)):
        await wait_for_seqs(engine, [(pid, 1), (pid, 2), (pid, 3)], timeout=60)
    assert projection.attempts == 4  # three refusals, then applied once
    async with engine.connect() as conn:
        dead = (await conn.execute(text("SELECT count(*) FROM inbox WHERE dead_lettered"))).scalar()
        letters = (
            await conn.execute(text("SELECT count(*) FROM dead_letters WHERE consumer = :c"), {"c": projection.name})
        ).scalar()
    assert (dead, letters) == (0, 0)


class CollectorWatching(CountingProjection):
    """Notes whether Python's cyclic collector was on each time an event was applied."""

    def __init__(self, topic: str) -> None:
        super().__init__(topic)
        self.collector_on: list[bool] = []

    async def apply(self, conn: AsyncConnection, event: ConsumedEvent) -> None:
        self.collector_on.append(gc.isenabled())
        await super().apply(conn, event)


async def test_a_poll_is_applied_with_the_collector_paused_and_it_is_on_again_after(
    engine, schema, topic, kafka
) -> None:
    """The member defers the collector to the end of each poll (``shared.collector.gc_paused``): the records, their
    contracts and what the read models made of them are freed by then (a sixth of a catch-up's CPU, bench/README.md);
    it is back on once the poll is applied."""
    await migrate(engine, schema, COUNTING_DDL)
    pid = uuid.uuid4().hex
    await append(engine, pid, range(1, 4))
    await publish(engine, schema, topic, kafka)
    projection = CollectorWatching(topic)
    assert gc.isenabled()
    async with running(ProjectionConsumer(engine, kafka, projection)):
        await wait_for_seqs(engine, [(pid, 1), (pid, 2), (pid, 3)])
        await asyncio.sleep(0.5)
        assert gc.isenabled()  # between polls
    assert projection.collector_on == [False, False, False]
    assert gc.isenabled()


class FromNowOn(CountingProjection):
    """A consumer about what happens from now on (as the notifications are)."""

    start_at_end = True

    def __init__(self, topics: Sequence[str]) -> None:
        super().__init__(topics[0])
        self.topics = tuple(topics)


async def test_a_consumer_from_now_on_skips_the_history_and_reads_a_topic_created_after_it_from_its_beginning(
    engine, schema, topic, kafka
) -> None:
    from shared.kafka import ensure_topics
    from tests.support import STORE

    await migrate(engine, schema, COUNTING_DDL)
    before, after, later = uuid.uuid4().hex, uuid.uuid4().hex, uuid.uuid4().hex
    await append(engine, before, range(1, 4))
    await publish(engine, schema, topic, kafka)  # history: not its business
    created_later = f"pmo.test-{uuid.uuid4().hex[:10]}.v1"  # does not exist when the consumer first starts
    consumer = ProjectionConsumer(engine, kafka, FromNowOn([topic, created_later]))

    async def born() -> None:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT topic, partition FROM consumer_offsets WHERE consumer = :c"),
                {"c": consumer.projection.name},
            )
            assert {(r.topic, r.partition) for r in rows} >= {(topic, 0), (topic, 1), (topic, 2), ("", -1)}

    async with running(consumer):
        await eventually(born, timeout=30)
        await append(engine, after, range(1, 4))
        await publish(engine, schema, topic, kafka)
        await ensure_topics(kafka, [created_later], partitions=3, replication_factor=1)
        await append(engine, later, range(1, 3))
        async with engine.connect() as conn:
            events = [e for e in await STORE.read_all(conn) if e.stream_id == f"work-{later}"]
        producer = new_producer(kafka)
        await producer.start()
        try:
            assert len(events) == 2
            for event in events:  # published before the consumer learns of the topic: still read
                key, value, headers = to_record("test", event)
                await producer.send_and_wait(created_later, value=value, key=key, headers=headers)
        finally:
            await producer.stop()
        # the new topic is found at the consumer's next metadata refresh (PMO_KAFKA_METADATA_MAX_AGE_MS, 10 s here)
        await wait_for_seqs(engine, [(after, 1), (after, 2), (after, 3), (later, 1), (later, 2)], timeout=60)


async def _stored(engine) -> dict[tuple[str, int], int]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT topic, partition, next_offset FROM consumer_offsets WHERE topic <> ''"))
        return {(r.topic, r.partition): r.next_offset for r in rows}


@pytest.mark.parametrize("quiet", [False, True], ids=["a-record-follows", "quiet-partition"])
async def test_an_offset_moved_back_under_a_running_consumer_is_read_from_there(
    engine, schema, topic, kafka, quiet: bool
) -> None:
    # After a Kafka loss, `pmo republish` moves stored offsets past a recreated topic's end back to its start while the
    # consumers run, each holding a position in the old log: a batch read there must not be applied over the gap, and
    # a partition that gets no new record must be read from the stored offset too (the periodic recheck).
    await migrate(engine, schema, COUNTING_DDL)
    pid = uuid.uuid4().hex
    projection = CountingProjection(topic)
    await append(engine, pid, range(1, 6))
    await publish(engine, schema, topic, kafka)
    consumer = ProjectionConsumer(engine, kafka, projection)
    consumer.recheck_seconds = 0.5 if quiet else 3600.0
    async with running(consumer):
        await wait_for_seqs(engine, [(pid, s) for s in range(1, 6)])
        [(tp, end)] = (await _stored(engine)).items()
        assert end == 5
        # What a recreated topic holds at offsets 2-4 is new to the read model: its rows and inbox entries go, and
        # the stored offset moves back to 2 under the running consumer (still at 5 in memory).
        async with engine.begin() as conn:
            gone = (await conn.execute(text("DELETE FROM applied WHERE seq >= 3 RETURNING event_id"))).scalars().all()
            await conn.execute(text("DELETE FROM inbox WHERE event_id = ANY(:e)"), {"e": list(gone)})
            await conn.execute(text("UPDATE consumer_offsets SET next_offset = 2 WHERE topic = :t"), {"t": topic})
        last = 5
        if not quiet:
            await append(engine, pid, range(6, 7), expected=5)
            await publish(engine, schema, topic, kafka)  # offset 5: the consumer's next batch starts past the stored 2
            last = 6
        await wait_for_seqs(engine, [(pid, s) for s in range(1, last + 1)])
    rows = await applied_rows(engine)
    assert sorted(r.seq for r in rows) == list(range(1, last + 1))  # each once
    assert await _stored(engine) == {tp: last}


async def test_records_kafka_no_longer_holds_past_a_stopped_consumers_offset_are_passed_over(
    engine, schema, topic, kafka
) -> None:
    from aiokafka import TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.records_to_delete import RecordsToDelete

    pid, projection = await consumed_then_stopped(engine, schema, topic, kafka)
    [((_, partition), end)] = (await _stored(engine)).items()
    assert end == 3
    await append(engine, pid, range(4, 7), expected=3)
    await publish(engine, schema, topic, kafka)  # offsets 3, 4, 5
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:  # retention, say: the log now starts at 4, past the stored 3
        await admin.delete_records({TopicPartition(topic, partition): RecordsToDelete(before_offset=4)})
    finally:
        await admin.close()
    async with running(ProjectionConsumer(engine, kafka, projection)):
        await wait_for_seqs(engine, [(pid, s) for s in (1, 2, 3, 5, 6)])
    assert await _stored(engine) == {(topic, partition): 6}


async def test_a_partition_far_behind_is_read_without_waiting_on_the_idle_ones(
    engine, schema, topic, kafka, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One partition holds several fetches' worth of records, the topic's others nothing: while the consumer works
    through a fetch, its fetch of the idle partitions waits at the broker and would hold the busy partition's next
    fetch for the whole wait (``PMO_KAFKA_FETCH_MAX_WAIT_MS``, 20 s here) each time; the consumer shortens the wait
    while it is behind (:func:`shared.kafka.pace_fetches`), so the records are read in less than one wait."""
    await migrate(engine, schema, COUNTING_DDL)
    pid = uuid.uuid4().hex
    total = 9_000  # about three fetches of 1 MiB (the projection's max_partition_fetch_bytes at 100 records a poll)
    for first in range(1, total + 1, 1_500):
        await append(engine, pid, range(first, first + 1_500), expected=first - 1)
    await publish(engine, schema, topic, kafka)
    patient = dataclasses.replace(kafka, consumer=dataclasses.replace(kafka.consumer, fetch_max_wait_ms=20_000))
    waits: list[int] = []
    paced = consumer_module.pace_fetches

    def recording(consumer: Any, behind: bool, at_rest_ms: int) -> None:
        paced(consumer, behind, at_rest_ms)
        waits.append(consumer._fetcher._fetch_max_wait_ms)

    monkeypatch.setattr(consumer_module, "pace_fetches", recording)
    started = asyncio.get_running_loop().time()
    async with running(ProjectionConsumer(engine, patient, CountingProjection(topic), max_records=100)):

        async def all_applied() -> None:
            async with engine.connect() as conn:
                assert (await conn.execute(text("SELECT count(*) FROM applied"))).scalar() == total

        await eventually(all_applied, timeout=90)
        took = asyncio.get_running_loop().time() - started
    assert min(waits) == 100 and waits[-1] == 20_000  # short while behind, the setting's once caught up
    assert took < 20.0, f"{total} records took {took:.1f} s: a fetch waited behind the idle partitions' fetch"
