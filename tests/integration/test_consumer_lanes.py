"""One Kafka consumer group member feeding several read models (``ProjectionConsumer.feeding``), against the real
PostgreSQL and Kafka: each read model applies every record exactly once from its own stored offset, in its own
transaction, with its own dead letters; a record is decoded once for all of them."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.consumer import ProjectionConsumer
from shared.db import migrate
from shared.kafka import ConsumedEvent
from tests.integration.test_consumer import publish, running
from tests.support import REGISTRY, append, eventually

pytestmark = pytest.mark.integration


class Lane:
    """A read model of its own table (``lane_<name>``): one row per application, no constraint, so a second
    application of an event shows; remembers the event objects it was given (shared when decoded once)."""

    def __init__(self, topic: str, poison_seq: int | None = None) -> None:
        self.name = f"test.{uuid.uuid4().hex[:8]}"
        self.table = "lane_" + self.name.replace(".", "_")
        self.topics = (topic,)
        self.poison_seq = poison_seq
        self.seen: dict[uuid.UUID, ConsumedEvent] = {}

    @property
    def ddl(self) -> str:
        return f"CREATE TABLE IF NOT EXISTS {self.table} (event_id uuid NOT NULL, seq integer NOT NULL)"

    async def apply(self, conn: AsyncConnection, event: ConsumedEvent) -> None:
        seq = REGISTRY.decode(event.name, event.version, event.data).seq  # type: ignore[attr-defined]
        if seq == self.poison_seq:
            raise ValueError(f"cannot apply seq {seq}")
        self.seen[event.event_id] = event
        await conn.execute(
            text(f"INSERT INTO {self.table} (event_id, seq) VALUES (:e, :s)"), {"e": event.event_id, "s": seq}
        )

    async def seqs(self, engine: Any) -> list[int]:
        async with engine.connect() as conn:
            return sorted((await conn.execute(text(f"SELECT seq FROM {self.table}"))).scalars().all())


async def stored(engine: Any, lane: Lane) -> dict[tuple[str, int], int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT topic, partition, next_offset FROM consumer_offsets WHERE consumer = :c"), {"c": lane.name}
        )
        return {(r.topic, r.partition): r.next_offset for r in rows}


async def until(engine: Any, expected: dict[Lane, list[int]], timeout: float = 30.0) -> None:
    async def check() -> None:
        for lane, seqs in expected.items():
            assert await lane.seqs(engine) == seqs, lane.name

    await eventually(check, timeout=timeout)


async def fed(
    engine: Any, schema: str, topic: str, kafka: Any, lanes: list[Lane], seqs: range, member: Any = ProjectionConsumer
) -> tuple[str, ProjectionConsumer]:
    """``seqs`` of a new stream published to ``topic``; its id, and one member of a group of its own feeding ``lanes``
    (their tables created)."""
    await migrate(engine, schema, [lane.ddl for lane in lanes])
    pid = uuid.uuid4().hex
    await append(engine, pid, seqs)
    await publish(engine, schema, topic, kafka)
    return pid, member.feeding(engine, kafka, lanes, group_id=f"t-{uuid.uuid4().hex}")


async def test_one_member_feeds_each_read_model_from_its_own_offset_decoding_each_record_once(
    engine, schema, topic, kafka
) -> None:
    ahead, fresh = Lane(topic), Lane(topic)
    await migrate(engine, schema, [ahead.ddl, fresh.ddl])
    pid = uuid.uuid4().hex
    await append(engine, pid, range(1, 6))
    await publish(engine, schema, topic, kafka)
    # one read model has consumed the first five records alone; the other starts from nothing
    async with running(ProjectionConsumer(engine, kafka, ahead)):
        await until(engine, {ahead: [1, 2, 3, 4, 5]})
    await append(engine, pid, range(6, 9), expected=5)
    await publish(engine, schema, topic, kafka)
    ahead.seen.clear()

    feed = ProjectionConsumer.feeding(engine, kafka, [ahead, fresh], group_id=f"t-{uuid.uuid4().hex}")
    assert [lane.projection for lane in feed.lanes] == [ahead, fresh] and feed.topics == [topic]
    async with running(feed):
        await until(engine, {ahead: list(range(1, 9)), fresh: list(range(1, 9))})
        await asyncio.sleep(1.0)  # nothing more arrives
    assert await ahead.seqs(engine) == list(range(1, 9))  # each once: the first five were not applied again
    assert await fresh.seqs(engine) == list(range(1, 9))
    assert set(ahead.seen) <= set(fresh.seen) and len(ahead.seen) == 3
    assert all(ahead.seen[e] is fresh.seen[e] for e in ahead.seen)  # the same decoded event for both read models
    assert await stored(engine, ahead) == await stored(engine, fresh)
    assert sum((await stored(engine, fresh)).values()) == 8


async def test_a_poison_record_is_dead_lettered_for_the_read_model_that_refuses_it_alone(
    engine, schema, topic, kafka
) -> None:
    taker, refuser = Lane(topic), Lane(topic, poison_seq=2)
    _, feed = await fed(engine, schema, topic, kafka, [refuser, taker], range(1, 4))
    async with running(feed):
        await until(engine, {taker: [1, 2, 3], refuser: [1, 3]})
    async with engine.connect() as conn:
        dead = (await conn.execute(text("SELECT consumer FROM dead_letters"))).scalars().all()
    assert dead == [refuser.name]


async def test_a_read_model_moved_back_under_the_member_rereads_alone(engine, schema, topic, kafka) -> None:
    # `pmo republish` after a Kafka loss moves one read model's stored offset back while the member runs: that read
    # model reads the records again from there, the other one, past them, does not apply them a second time
    still, moved = Lane(topic), Lane(topic)
    pid, feed = await fed(engine, schema, topic, kafka, [still, moved], range(1, 6))
    feed.recheck_seconds = 0.5
    async with running(feed):
        await until(engine, {still: [1, 2, 3, 4, 5], moved: [1, 2, 3, 4, 5]})
        async with engine.begin() as conn:
            gone = (
                (await conn.execute(text(f"DELETE FROM {moved.table} WHERE seq >= 3 RETURNING event_id")))
                .scalars()
                .all()
            )
            await conn.execute(
                text("DELETE FROM inbox WHERE consumer = :c AND event_id = ANY(:e)"), {"c": moved.name, "e": list(gone)}
            )
            await conn.execute(
                text("UPDATE consumer_offsets SET next_offset = 2 WHERE consumer = :c AND topic = :t"),
                {"c": moved.name, "t": topic},
            )
        await until(engine, {moved: [1, 2, 3, 4, 5]})  # read again from 2 by the recheck
        await append(engine, pid, range(6, 7), expected=5)
        await publish(engine, schema, topic, kafka)
        await until(engine, {still: list(range(1, 7)), moved: list(range(1, 7))})
        await asyncio.sleep(1.0)
    assert await still.seqs(engine) == list(range(1, 7))
    assert await moved.seqs(engine) == list(range(1, 7))
    assert list((await stored(engine, still)).values()) == list((await stored(engine, moved)).values()) == [6]


async def test_two_read_models_moved_back_to_different_offsets_at_once_each_reread_from_its_own(
    engine, schema, topic, kafka
) -> None:
    # the recheck finds both moved back and seeks the member for each in turn: the second seek (to the later offset)
    # must not carry the member past the records the first one has to read again
    early, late = Lane(topic), Lane(topic)
    _, feed = await fed(engine, schema, topic, kafka, [early, late], range(1, 7))
    feed.recheck_seconds = 0.5
    async with running(feed):
        await until(engine, {early: list(range(1, 7)), late: list(range(1, 7))})
        async with engine.begin() as conn:
            for lane, back in ((early, 1), (late, 4)):
                gone = (
                    (
                        await conn.execute(
                            text(f"DELETE FROM {lane.table} WHERE seq > :b RETURNING event_id"), {"b": back}
                        )
                    )
                    .scalars()
                    .all()
                )
                await conn.execute(
                    text("DELETE FROM inbox WHERE consumer = :c AND event_id = ANY(:e)"),
                    {"c": lane.name, "e": list(gone)},
                )
                await conn.execute(
                    text("UPDATE consumer_offsets SET next_offset = :o WHERE consumer = :c AND topic = :t"),
                    {"c": lane.name, "t": topic, "o": back},
                )
        await until(engine, {early: list(range(1, 7)), late: list(range(1, 7))})
        await asyncio.sleep(1.5)
    assert await early.seqs(engine) == list(range(1, 7))
    assert await late.seqs(engine) == list(range(1, 7))


async def test_a_member_standing_still_behind_the_end_is_restarted_and_reads_on(engine, schema, topic, kafka) -> None:
    # a Kafka client can stay stuck after losing its group coordinator, fetching nothing and saying nothing; here its
    # partitions are paused behind the member's back, which stops its fetches the same way: the progress check sees
    # the broker's end past the member's position, unmoved at two rechecks, and starts a new member
    lane = Lane(topic)
    await migrate(engine, schema, [lane.ddl])
    pid = uuid.uuid4().hex
    await append(engine, pid, range(1, 4))
    await publish(engine, schema, topic, kafka)
    feed = ProjectionConsumer.feeding(engine, kafka, [lane], group_id=f"t-{uuid.uuid4().hex}")
    feed.recheck_seconds, feed.stall_seconds = 0.5, 2.0
    async with running(feed):
        await until(engine, {lane: [1, 2, 3]})
        first = feed._consumer
        await asyncio.sleep(3.0)  # at the end and not moving: no restart
        stuck = feed._consumer
        assert stuck is not None and stuck is first
        stuck.pause(*stuck.assignment())
        await append(engine, pid, range(4, 7), expected=3)
        await publish(engine, schema, topic, kafka)
        await until(engine, {lane: list(range(1, 7))}, timeout=40.0)
        assert feed._consumer is not stuck  # read by a new member
    assert await lane.seqs(engine) == list(range(1, 7))


class _Jumping(ProjectionConsumer):
    """A member whose Kafka client ends up one record past where the member puts it, at its first positioning (as a
    client can when it takes a position of its own over the one sought, e.g. from a reset it had started)."""

    jumped = False

    async def _seek_to_stored(self, consumer: Any, partitions: Any) -> None:
        if self.jumped:
            await super()._seek_to_stored(consumer, partitions)
            return
        seek = consumer.seek
        consumer.seek = lambda tp, offset: seek(tp, offset + 1)
        try:
            await super()._seek_to_stored(consumer, partitions)
        finally:
            del consumer.seek
            self.jumped = True


async def test_a_member_moved_past_records_its_read_models_have_not_applied_reads_them_first(
    engine, schema, topic, kafka, caplog: pytest.LogCaptureFixture
) -> None:
    # neither read model has an offset stored yet (the first start): each reads from the log's first offset, and a
    # batch that starts past it is not applied over the gap (nothing in the database would refuse it)
    first, second = Lane(topic), Lane(topic)
    _, feed = await fed(engine, schema, topic, kafka, [first, second], range(1, 6), member=_Jumping)
    with caplog.at_level("WARNING", logger="shared.consumer"):
        async with running(feed):
            await until(engine, {first: [1, 2, 3, 4, 5], second: [1, 2, 3, 4, 5]})
            await asyncio.sleep(1.0)  # nothing more arrives
    assert feed.jumped
    assert await first.seqs(engine) == await second.seqs(engine) == [1, 2, 3, 4, 5]  # each once
    assert "passed over" in caplog.text
    assert list((await stored(engine, first)).values()) == list((await stored(engine, second)).values()) == [5]
