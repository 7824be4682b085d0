"""An event Kafka refuses for good is held, with its project's later events, while the other projects flow; an
operator retries or skips it and the project's events go out in order. Against the real PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]
from aiokafka.errors import (  # type: ignore[import-untyped]
    KafkaConnectionError,
    MessageSizeTooLargeError,
    RequestTimedOutError,
)
from aiokafka.producer.message_accumulator import BatchBuilder  # type: ignore[import-untyped]
from prometheus_client import REGISTRY as METRICS
from sqlalchemy import text

from shared import relay_held
from shared.kafka import DLQ_TOPIC, KafkaOptions, ensure_topics, is_permanent_record_error
from shared.relay import Relay
from tests.support import META, append, eventually, read_topic, set_topic_limit

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


def make_relay(engine: Any, schema: str, topic: str, kafka: KafkaOptions, **kwargs: Any) -> Relay:
    return Relay(engine, service="test", topic=topic, kafka=kafka, schema=schema, batch_size=100, **kwargs)


@asynccontextmanager
async def running(relay: Relay) -> AsyncIterator[Relay]:
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        yield relay
    finally:
        stop.set()
        await task


async def plant(engine: Any, project: str, seq: int, padding: int) -> uuid.UUID:
    """Write an event of ``padding`` bytes straight into the events table (past the store's bound on event size, as
    an event stored before that bound existed), as version ``seq`` of the project's stream."""
    event_id = uuid.uuid4()
    data = {"project_id": project, "seq": seq, "amount": {"amount": "10.00", "currency": "EUR"}, "note": "x" * padding}
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO events (stream_id, stream_type, version, event_id, name, schema_version, partition_key, "
                "data, metadata) VALUES (:s, 'work', :v, :e, 'work-logged', 1, :k, CAST(:d AS jsonb), "
                "CAST(:m AS jsonb))"
            ),
            {
                "s": f"work-{project}",
                "v": seq,
                "e": event_id,
                "k": project,
                "d": json.dumps(data),
                "m": json.dumps(META.as_dict()),
            },
        )
    return event_id


def seqs_by_project(records: list[Any]) -> dict[str, list[int]]:
    """Each project's sequence numbers in topic order, duplicates (a batch published again) dropped."""
    seen: dict[str, list[int]] = {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        seq = json.loads(r.value)["seq"]
        mine = seen.setdefault(r.key.decode(), [])
        if seq not in mine:
            mine.append(seq)
    return seen


async def held_rows(engine: Any) -> list[relay_held.HeldEvent]:
    async with engine.connect() as conn:
        return await relay_held.held_events(conn, "relay")


def gauge() -> float | None:
    return METRICS.get_sample_value("pmo_relay_held_events", {"service": "test"})


async def notices(kafka: KafkaOptions, event_ids: set[str], kind: str, expect: int) -> list[Any]:
    records = await read_topic(kafka, DLQ_TOPIC, expect=1, timeout=5)
    wanted = [r for r in records if dict(r.headers).get("pmo_event_id", b"").decode() in event_ids]
    return [r for r in wanted if dict(r.headers)["ce_type"] == f"pmo.test.{kind}.v1".encode()]


async def held_project(engine: Any, schema: str, topic: str, kafka: KafkaOptions) -> tuple[str, str, uuid.UUID]:
    """Project A's first event is larger than the producer's record limit (1 MiB), then A and B write more: B's
    events are published, A's are held behind its first. Returns A, B and the refused event's id."""
    a, b = uuid.uuid4().hex, uuid.uuid4().hex
    refused = await plant(engine, a, 1, padding=MiB + 200_000)
    await append(engine, a, range(2, 5), expected=1)
    await append(engine, b, range(1, 4))
    async with running(make_relay(engine, schema, topic, kafka)):

        async def b_published_a_held() -> None:
            assert len(await held_rows(engine)) == 4

        await eventually(b_published_a_held)
        await append(engine, b, range(4, 6), expected=3)  # B keeps flowing
        await append(engine, a, range(5, 6), expected=4)  # A's new events join the held ones
        records = await read_topic(kafka, topic, expect=5)
        assert seqs_by_project(records) == {b: [1, 2, 3, 4, 5]}

        async def all_announced() -> None:
            rows = await held_rows(engine)
            assert len(rows) == 5 and all(r.announced_at is not None for r in rows)

        await eventually(all_announced)
    return a, b, refused


async def test_an_event_larger_than_the_record_limit_is_held_with_its_projects_later_events_and_others_flow(
    engine: Any, schema: str, topic: str, kafka: KafkaOptions
) -> None:
    a, _, refused = await held_project(engine, schema, topic, kafka)
    rows = await held_rows(engine)
    assert [r.partition_key for r in rows] == [a] * 5
    assert [r.cause for r in rows] == [True, False, False, False, False]
    assert rows[0].event_id == refused and rows[0].size_bytes > MiB and "MessageSizeTooLargeError" in rows[0].error
    assert gauge() == 5
    async with engine.connect() as conn:  # the checkpoint moved past the held events
        last = (await conn.execute(text("SELECT max(position) FROM events"))).scalar()
        done = (await conn.execute(text("SELECT position FROM relay_checkpoint"))).scalar()
    assert done == last
    held = await notices(kafka, {str(r.event_id) for r in rows}, relay_held.HELD_NOTICE, expect=5)
    assert len(held) == 5
    first = next(r for r in held if dict(r.headers)["pmo_event_id"] == str(refused).encode())
    body = json.loads(first.value)
    assert body["project"] == a and body["name"] == "work-logged" and body["size_bytes"] > MiB
    assert "MessageSizeTooLargeError" in body["error"] and "note" not in first.value.decode()
    assert b"MessageSizeTooLargeError" in dict(first.headers)["pmo_reason"]
    assert await relay_held.summary(engine, "relay") == {"held_events": 5, "projects": [a]}


async def test_retry_after_the_limits_were_raised_publishes_the_held_project_in_order_and_releases_it(
    engine: Any, schema: str, topic: str, kafka: KafkaOptions
) -> None:
    a, b, _ = await held_project(engine, schema, topic, kafka)
    await set_topic_limit(kafka, topic, 4 * MiB)  # the operator raised the topic's limit...
    raised = replace(kafka, max_message_bytes=4 * MiB)  # ...and PMO_KAFKA_MAX_MESSAGE_BYTES, and restarted
    async with running(make_relay(engine, schema, topic, raised)):
        assert len(await relay_held.request_retry(engine, "relay", by="ops", partition_key=a)) == 5

        async def released() -> None:
            assert await held_rows(engine) == []

        await eventually(released)
        await append(engine, a, range(6, 8), expected=5)  # and A flows again
        records = await read_topic(kafka, topic, expect=12)
    assert seqs_by_project(records) == {b: [1, 2, 3, 4, 5], a: [1, 2, 3, 4, 5, 6, 7]}
    assert gauge() == 0
    assert await relay_held.summary(engine, "relay") is None


async def test_retry_while_the_limit_still_refuses_keeps_the_project_held_and_says_why(
    engine: Any, schema: str, topic: str, kafka: KafkaOptions
) -> None:
    a, _, refused = await held_project(engine, schema, topic, kafka)
    async with running(make_relay(engine, schema, topic, kafka)):
        await relay_held.request_retry(engine, "relay", by="ops")

        async def tried() -> None:
            rows = await held_rows(engine)
            assert len(rows) == 5 and all(r.request is None for r in rows)

        await eventually(tried)
    rows = await held_rows(engine)
    assert rows[0].event_id == refused and "MessageSizeTooLargeError" in rows[0].error
    assert a not in seqs_by_project(await read_topic(kafka, topic, expect=5))


async def test_skip_drops_the_refused_event_for_good_and_publishes_the_rest_of_its_project_in_order(
    engine: Any, schema: str, topic: str, kafka: KafkaOptions
) -> None:
    a, b, refused = await held_project(engine, schema, topic, kafka)
    async with running(make_relay(engine, schema, topic, kafka)):
        marked = await relay_held.request_skip(engine, "relay", refused, by="dora.ops", reason="a runaway import")
        assert marked[0] == refused and len(marked) == 5  # the skip, then the rest of its project to publish
        assert await relay_held.request_skip(engine, "relay", uuid.uuid4(), by="dora.ops", reason="no such") == []

        async def released() -> None:
            assert await held_rows(engine) == []

        await eventually(released)
        records = await read_topic(kafka, topic, expect=9)
    assert seqs_by_project(records) == {b: [1, 2, 3, 4, 5], a: [2, 3, 4, 5]}
    async with engine.connect() as conn:
        skipped = (await conn.execute(text("SELECT * FROM relay_skipped"))).one()
    assert (skipped.event_id, skipped.skipped_by, skipped.reason) == (refused, "dora.ops", "a runaway import")
    announced = await notices(kafka, {str(refused)}, relay_held.SKIPPED_NOTICE, expect=1)
    assert len(announced) == 1 and json.loads(announced[0].value)["reason"] == "a runaway import"


@pytest.mark.parametrize("first", [False, True], ids=["after-published-records", "first-record-of-the-partition"])
async def test_a_record_the_broker_refuses_holds_its_project_and_no_later_event_of_it_gets_ahead(
    engine: Any, schema: str, kafka: KafkaOptions, first: bool
) -> None:
    """The producer accepts the record (under its 1 MiB) but the topic's limit is 100 kB: the refusal comes from the
    broker, on the send's future. One partition, so the other project's events share the refused record's partition
    (and its broken idempotent sequence). ``first``: the refused record is the producer's first on the partition, so
    the broker has no sequence of this producer to refuse later batches by."""
    topic = f"pmo.test-{uuid.uuid4().hex[:10]}.v1"
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"max.message.bytes": "100000"})])
    finally:
        await admin.close()
    await ensure_topics(kafka, [topic, DLQ_TOPIC], partitions=1, replication_factor=1)
    a, b = uuid.uuid4().hex, uuid.uuid4().hex
    if first:
        await plant(engine, a, 1, padding=300_000)
        await append(engine, a, range(2, 4), expected=1)
    else:
        await append(engine, a, range(1, 3))
    await append(engine, b, range(1, 3))
    if not first:
        await plant(engine, a, 3, padding=300_000)
    await append(engine, b, range(3, 5), expected=2)
    await append(engine, a, range(4, 7), expected=3)
    await append(engine, b, range(5, 7), expected=4)
    async with running(make_relay(engine, schema, topic, kafka)):

        async def held() -> None:
            assert len(await held_rows(engine)) == (6 if first else 4)

        await eventually(held)
        records = await read_topic(kafka, topic, expect=6 if first else 8)
        assert seqs_by_project(records) == ({b: [1, 2, 3, 4, 5, 6]} if first else {a: [1, 2], b: [1, 2, 3, 4, 5, 6]})
        rows = await held_rows(engine)
        assert rows[0].cause and "MessageSizeTooLargeError" in rows[0].error
        assert not any(r.cause for r in rows[1:])
        await set_topic_limit(kafka, topic, 4 * MiB)
        await relay_held.request_retry(engine, "relay", by="ops", partition_key=a)

        async def released() -> None:
            assert await held_rows(engine) == []

        await eventually(released)
        records = await read_topic(kafka, topic, expect=12)
    assert seqs_by_project(records) == {a: [1, 2, 3, 4, 5, 6], b: [1, 2, 3, 4, 5, 6]}


class Unreachable:
    """A producer whose broker cannot be reached (or times out): retriable, about the cluster, not a record."""

    def __init__(self, fail: Callable[[], BaseException], on_send: bool) -> None:
        self.fail, self.on_send = fail, on_send
        self.sends = 0

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1, 2}

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(16384, 0)

    async def send_batch(self, batch: BatchBuilder, topic: str, *, partition: int) -> asyncio.Future[Any]:
        self.sends += 1
        if self.on_send:
            raise self.fail()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_exception(self.fail())
        return future


@pytest.mark.parametrize(
    ("fail", "on_send"),
    [(lambda: KafkaConnectionError("no broker"), True), (lambda: RequestTimedOutError(), False)],
    ids=["broker-unreachable-on-send", "request-timed-out-on-the-future"],
)
async def test_a_retriable_failure_holds_nothing_and_the_batch_goes_out_once_kafka_is_back(
    engine: Any, schema: str, topic: str, kafka: KafkaOptions, fail: Callable[[], BaseException], on_send: bool
) -> None:
    a = uuid.uuid4().hex
    await append(engine, a, range(1, 4))
    down = Unreachable(fail, on_send)
    async with running(make_relay(engine, schema, topic, kafka, producer_factory=lambda: down)):

        async def tried_again() -> None:
            assert down.sends >= 6  # the batch, retried with backoff

        await eventually(tried_again)
    assert await held_rows(engine) == []
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM relay_checkpoint"))).scalar() == 0
    async with running(make_relay(engine, schema, topic, kafka)):
        records = await read_topic(kafka, topic, expect=3)
    assert seqs_by_project(records) == {a: [1, 2, 3]}


def test_only_errors_about_the_record_itself_are_permanent() -> None:
    from aiokafka.errors import (  # type: ignore[import-untyped]
        CorruptRecordException,
        NotLeaderForPartitionError,
        OutOfOrderSequenceNumber,
        RecordListTooLargeError,
        TopicAuthorizationFailedError,
        UnknownError,
        UnknownTopicOrPartitionError,
    )

    assert all(
        is_permanent_record_error(e)
        for e in (MessageSizeTooLargeError("big"), RecordListTooLargeError(), CorruptRecordException())
    )
    assert not any(
        is_permanent_record_error(e)
        for e in (
            KafkaConnectionError(),
            RequestTimedOutError(),
            NotLeaderForPartitionError(),
            TopicAuthorizationFailedError(),
            UnknownTopicOrPartitionError(),
            OutOfOrderSequenceNumber(),
            UnknownError(),
            ValueError("a bug"),
        )
    )


async def test_the_pmo_relay_commands_list_the_held_events_and_skip_one_acted_on_by_the_running_relay(
    engine: Any, schema: str, topic: str, kafka: KafkaOptions, infra: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from shared.cli import main

    a, b, refused = await held_project(engine, schema, topic, kafka)
    where = ["--schema", schema, "--database-url", infra.database_url]
    assert await asyncio.to_thread(main, ["relay", "held", "projects", *where]) == 0
    listed = capsys.readouterr().out
    assert str(refused) in listed and "MessageSizeTooLargeError" in listed and listed.count(a) == 5
    async with running(make_relay(engine, schema, topic, kafka)):
        command = ["relay", "skip", "projects", str(refused), "--reason", "runaway import", "--by", "dora.ops"]
        assert await asyncio.to_thread(main, [*command, *where]) == 0
        assert "nothing held" in capsys.readouterr().out
        records = await read_topic(kafka, topic, expect=9)
    assert seqs_by_project(records) == {b: [1, 2, 3, 4, 5], a: [2, 3, 4, 5]}
    assert await asyncio.to_thread(main, ["relay", "retry", "projects", "--project", a, *where]) == 0
    assert "nothing held" in capsys.readouterr().out
