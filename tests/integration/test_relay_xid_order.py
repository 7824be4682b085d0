"""The relay's order is the numeric ``(xid, position)`` order, also when transaction ids gain a digit (999 -> 1000):
the read query selects ``xid::text AS xid``, and a bare ``ORDER BY xid`` sorted by that text (PostgreSQL takes the
output column's name first), so events of transaction 1000 were read before those of 999, published ahead of them
and, past the cursor, read again. Against the real PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import text

from shared.kafka import KafkaOptions
from shared.recovery.republish import republish
from shared.relay import Relay
from tests.support import append, eventually, read_topic

pytestmark = pytest.mark.integration

XIDS = list(range(994, 1006))
"""Transaction ids that gain a digit half-way (their text order is not their order)."""


async def written_across_a_digit(engine: Any) -> list[str]:
    """Two projects, six events each, one transaction per event, alternating; the events' transaction ids then set to
    :data:`XIDS` in the order they were written (below every running transaction's, so the relay may read them)."""
    projects = [uuid.uuid4().hex, uuid.uuid4().hex]
    for seq in range(1, 7):
        for pid in projects:
            await append(engine, pid, range(seq, seq + 1), expected=seq - 1)
    async with engine.begin() as conn:
        positions = (await conn.execute(text("SELECT position FROM events ORDER BY position"))).scalars().all()
        assert len(positions) == len(XIDS)
        for position, xid in zip(positions, XIDS, strict=True):
            await conn.execute(
                text("UPDATE events SET xid = CAST(:x AS xid8) WHERE position = :p"), {"x": xid, "p": position}
            )
    return projects


def in_order_once(records: list[Any], projects: list[str]) -> None:
    ids = Counter(dict(r.headers)["ce_id"].decode() for r in records)
    assert len(ids) == 12 and [i for i, n in ids.items() if n > 1] == []  # each once
    seqs: dict[str, list[int]] = {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        seqs.setdefault(r.key.decode(), []).append(json.loads(r.value)["seq"])
    assert seqs == {p: [1, 2, 3, 4, 5, 6] for p in projects}  # in the order written


async def test_the_relay_reads_in_numeric_transaction_id_order_across_a_new_digit(
    engine: Any, schema: str, topic: str, kafka: KafkaOptions, caplog: pytest.LogCaptureFixture
) -> None:
    projects = await written_across_a_digit(engine)
    caplog.set_level(logging.WARNING, logger="shared.relay")
    relay = Relay(engine, service="test", topic=topic, kafka=kafka, schema=schema, batch_size=4)
    stop = asyncio.Event()
    runner = asyncio.create_task(relay.run(stop))
    try:

        async def caught_up() -> None:
            async with engine.connect() as conn:
                done = (await conn.execute(text("SELECT xid::text FROM relay_checkpoint"))).scalar()
            assert done == str(XIDS[-1])

        await eventually(caught_up, timeout=20)
        await asyncio.sleep(0.3)
        records = await read_topic(kafka, topic, expect=12)
    finally:
        stop.set()
        await runner
    assert not [r.getMessage() for r in caplog.records if "read again" in r.getMessage()]
    in_order_once(records, projects)


async def test_republish_starts_at_the_first_missing_event_and_sends_every_later_one_across_a_new_digit(
    engine: Any, schema: str, topic: str, kafka: KafkaOptions
) -> None:
    """The topic is empty (Kafka lost): every event is republished, in order; none taken for already there."""
    projects = await written_across_a_digit(engine)
    done = await republish(engine, kafka, service="test", topic=topic, schema=schema, consumer_schemas=[])
    assert (done.events, done.total) == (12, 12)
    in_order_once(await read_topic(kafka, topic, expect=12), projects)


async def test_after_a_kafka_loss_consumers_offsets_past_the_new_log_go_back_to_its_start_and_are_kept(
    engine: Any, schema: str, topic: str, kafka: KafkaOptions
) -> None:
    """A stored offset past the end of the (new, empty) topic is moved to its first offset, not deleted: a consumer
    that starts at the topics' end when it has none (the notifications) would otherwise skip the new log."""
    from shared import consumer as consumer_module

    async with engine.begin() as conn:
        for statement in consumer_module.DDL:
            await conn.execute(text(statement))
        for name, offset in (("past-end", 50), ("at-start", 0)):
            await conn.execute(
                text("INSERT INTO consumer_offsets (consumer, topic, partition, next_offset) VALUES (:c, :t, 0, :o)"),
                {"c": name, "t": topic, "o": offset},
            )
    projects = await written_across_a_digit(engine)
    done = await republish(engine, kafka, service="test", topic=topic, schema=schema, consumer_schemas=[schema])
    assert done.offsets_reset == 1
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT consumer, next_offset FROM consumer_offsets ORDER BY 1"))).all()
    assert [tuple(r) for r in rows] == [("at-start", 0), ("past-end", 0)]
    in_order_once(await read_topic(kafka, topic, expect=12), projects)


async def test_when_the_topic_is_gone_offsets_go_back_before_it_exists_again(
    engine: Any, schema: str, kafka: KafkaOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kafka lost: every stored offset of the topic is back at 0 by the time the republish creates it again, so no
    consumer assigned the new topic can be placed at its old offset (at a quiet partition's end it stayed there)."""
    from shared import consumer as consumer_module
    from shared.recovery import republish as republish_module

    gone = f"pmo.test-gone-{uuid.uuid4().hex[:10]}.v1"  # never created: the broker lost it
    async with engine.begin() as conn:
        for statement in consumer_module.DDL:
            await conn.execute(text(statement))
        for partition in range(3):
            await conn.execute(
                text("INSERT INTO consumer_offsets (consumer, topic, partition, next_offset) VALUES ('c', :t, :p, 3)"),
                {"t": gone, "p": partition},
            )
    at_creation: list[list[int]] = []
    create = republish_module.ensure_topics

    async def watched(options: KafkaOptions, topics: Any, *args: Any) -> Any:
        async with engine.connect() as conn:
            found = await conn.execute(text("SELECT next_offset FROM consumer_offsets WHERE topic = :t"), {"t": gone})
            at_creation.append(sorted(found.scalars().all()))
        return await create(options, topics, *args)

    monkeypatch.setattr(republish_module, "ensure_topics", watched)
    projects = await written_across_a_digit(engine)
    done = await republish(engine, kafka, service="test", topic=gone, schema=schema, consumer_schemas=[schema])
    assert at_creation == [[0, 0, 0]]
    assert done.offsets_reset == 3
    in_order_once(await read_topic(kafka, gone, expect=12), projects)
