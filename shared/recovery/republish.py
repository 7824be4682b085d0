"""``pmo republish SERVICE``: publish a service's event table to its topic again (Kafka lost, a topic deleted or
damaged), with the service's relay paused through its own leader lock.

1. Another republish of the service holds ``pmo-republish:<schema>``: refused.
2. The relay's lock ``pmo-relay:<schema>:relay`` is taken: the leading relay's session is ended (it keeps its
   checkpoint in memory while it leads, which is why deleting the checkpoint row under it duplicated records), then
   this process waits for the lock; the relays wait for it in turn. Once the checkpoint row has stopped moving for
   :data:`SETTLE_SECONDS` (a relay checks its session at least once a second when idle), no other relay publishes.
3. The topic (and the dead-letter topic) is created if it is gone; consumers' stored offsets for the topic that lie
   past its end (the log they read is gone) are moved back to its start in every schema, so those consumers read the
   new log from its beginning (their inboxes, or the idempotent facts ledger, drop what they had).
4. From the first event the topic lacks (``--from-start``: from the first event), the table is published in the
   relay's ``(xid, position)`` order with the relay's own sending code (:func:`shared.relay_sending.send_in_order`):
   per partition ordered batches, each sent once the one before it was acknowledged; a passing failure retries the
   rest of the batch, never what Kafka acknowledged. Events after the first missing one that the topic holds already
   are sent again: that keeps every project's order on the topic (duplicates are dropped by event id).
5. The checkpoint is set to the last event published, and the locks are released: the relay resumes from there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.eventstore import recorded_from_row
from shared.kafka import DLQ_TOPIC, KafkaOptions, ensure_topics, to_record
from shared.kafka_topics import missing_topics
from shared.recovery import RecoveryRefusedError
from shared.recovery.topic import end_offsets, read_events
from shared.relay import LEADER_CHECK_INTERVAL
from shared.relay_sending import Outgoing, relay_producer, send_in_order

SETTLE_SECONDS = 2 * LEADER_CHECK_INTERVAL + 0.5
BATCH = 500

_READ = text(
    """
    SELECT xid::text AS xid, position, stream_id, stream_type, version, event_id, name, schema_version,
           partition_key, data, metadata, recorded_at
    FROM events
    WHERE xid < pg_snapshot_xmin(pg_current_snapshot())
      AND (xid, position) > (CAST(:xid AS xid8), :position)
    ORDER BY events.xid, events.position
    LIMIT :limit
    """
)

_HOLDERS = text(
    "SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
    "AND l.objid::bigint = (hashtext(:k)::bigint & 4294967295) AND l.pid <> pg_backend_pid()"
)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Republished:
    events: int
    """Events sent (duplicates of what the topic held included)."""
    total: int
    """Events in the table."""
    first_position: int | None
    offsets_reset: int
    """Consumers' stored offsets moved back to the new log's start because they pointed past the end of the topic."""
    seconds: float


def relay_lock_key(schema: str, name: str = "relay") -> str:
    return f"pmo-relay:{schema}:{name}"


async def _try_lock(conn: AsyncConnection, key: str) -> bool:
    got = bool((await conn.execute(text("SELECT pg_try_advisory_lock(hashtext(:k))"), {"k": key})).scalar())
    await conn.commit()
    return got


async def pause_relay(conn: AsyncConnection, schema: str, *, timeout: float = 60.0, name: str = "relay") -> None:
    """Take the relay's leader lock on ``conn`` (a session of its own): the leader's session is ended, the other
    relays wait. Returns once no relay publishes any more."""
    key = relay_lock_key(schema, name)
    deadline = time.monotonic() + timeout
    while not await _try_lock(conn, key):
        await conn.execute(_HOLDERS, {"k": key})
        await conn.commit()
        if time.monotonic() > deadline:
            raise RecoveryRefusedError(f"the relay lock {key} could not be taken in {timeout:g}s; nothing changed")
        await asyncio.sleep(0.2)
    # A leader whose session ended goes on until it next checks it: wait until its checkpoint stops moving.
    last, still_since = None, time.monotonic()
    while time.monotonic() - still_since < SETTLE_SECONDS:
        now = (
            await conn.execute(text("SELECT xid::text, position FROM relay_checkpoint WHERE name = :n"), {"n": name})
        ).first()
        await conn.commit()
        if now != last:
            last, still_since = now, time.monotonic()
        await asyncio.sleep(0.1)


async def _release(conn: AsyncConnection, key: str) -> None:
    await conn.execute(text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": key})
    await conn.commit()


async def _reset_offsets_past_end(
    conn: AsyncConnection, topic: str, ends: dict[int, int] | None, schemas: list[str] | None = None
) -> int:
    """Move consumers' stored offsets of ``topic`` that lie past its end (``ends``: each partition's end offset;
    ``None``: the topic is gone, every offset of it) back to the new log's first offset, in ``schemas`` (default: every
    schema with a ``consumer_offsets`` table); one statement per schema. Each consumer reads the new log from its
    beginning and its inbox skips what it had applied. (Deleting the offset would say the same to a read model, but a
    consumer about what happens from now on, ``start_at_end``, would start at the new log's end and skip what was
    published since.)"""
    if schemas is None:
        found = await conn.execute(
            text("SELECT table_schema FROM information_schema.tables WHERE table_name = 'consumer_offsets'")
        )
        schemas = list(found.scalars().all())
    deleted = 0
    partitions, offsets = (list(ends), [ends[p] for p in ends]) if ends is not None else ([], [])
    for schema in schemas:
        past_end = (
            "FROM unnest(CAST(:p AS int[]), CAST(:e AS bigint[])) AS t(partition, end_offset) "
            "WHERE o.topic = :t AND o.partition = t.partition AND o.next_offset > t.end_offset"
            if ends is not None
            else "WHERE o.topic = :t AND o.next_offset > 0"
        )
        result = await conn.execute(
            text(f'UPDATE "{schema}".consumer_offsets o SET next_offset = 0 {past_end}'),
            {"t": topic, "p": partitions, "e": offsets},
        )
        deleted += int(getattr(result, "rowcount", 0) or 0)
    await conn.commit()
    return deleted


async def _first_missing(conn: AsyncConnection, kafka: KafkaOptions, topic: str) -> tuple[int, int] | None:
    """The ``(xid, position)`` just before the first event (in relay order) the topic does not hold; None when it
    holds them all."""
    on_topic = [str(e.event_id) for e in await read_events(kafka, topic)]
    row = (
        await conn.execute(
            text(
                "SELECT xid::text AS xid, position FROM events WHERE NOT (event_id = ANY(CAST(:ids AS uuid[]))) "
                "ORDER BY events.xid, events.position LIMIT 1"
            ),
            {"ids": on_topic},
        )
    ).first()
    await conn.commit()
    if row is None:
        return None
    before = (
        await conn.execute(
            text(
                "SELECT xid::text AS xid, position FROM events WHERE (xid, position) < (CAST(:x AS xid8), :p) "
                "ORDER BY events.xid DESC, events.position DESC LIMIT 1"
            ),
            {"x": int(row.xid), "p": row.position},
        )
    ).first()
    await conn.commit()
    return (int(before.xid), before.position) if before else (0, 0)


async def republish(
    engine: AsyncEngine,
    kafka: KafkaOptions,
    *,
    service: str,
    topic: str,
    schema: str,
    from_start: bool = False,
    partitions: int = 3,
    replication: int = 1,
    progress: Progress | None = None,
    producer_factory: Callable[[], Any] | None = None,
    consumer_schemas: list[str] | None = None,
) -> Republished:
    """Publish the service's event table again (see the module docstring). Refused while another runs.
    ``consumer_schemas``: where consumers' offsets past the topic's end are reset (default: every schema)."""
    started = time.monotonic()
    async with engine.connect() as guard, engine.connect() as lock:
        guard_key = f"pmo-republish:{schema}"
        if not await _try_lock(guard, guard_key):
            raise RecoveryRefusedError(f"another republish of {service} is running (lock {guard_key}); nothing changed")
        try:
            reset = 0
            if topic in await missing_topics(kafka, [topic]):
                # The log every stored offset of the topic points into is gone, and no consumer holds a place in a
                # topic that does not exist: every offset goes back to the start before the topic exists again, so a
                # consumer assigned it from then on reads it from its beginning (moved back after its creation, a
                # consumer assigned it meanwhile would keep its old place, at the end of a quiet partition for good).
                reset = await _reset_offsets_past_end(lock, topic, None, consumer_schemas)
            await ensure_topics(kafka, [topic, DLQ_TOPIC], partitions, replication)
            await pause_relay(lock, schema)
            try:
                ends = await end_offsets(kafka, topic)
                reset += await _reset_offsets_past_end(lock, topic, ends, consumer_schemas)
                start = (0, 0) if from_start else await _first_missing(lock, kafka, topic)
                if start is None:
                    total = (await lock.execute(text("SELECT count(*) FROM events"))).scalar_one()
                    await lock.commit()
                    return Republished(0, total, None, reset, time.monotonic() - started)
                sent, first = await _publish_from(engine, kafka, service, topic, start, progress, producer_factory)
                total = (await lock.execute(text("SELECT count(*) FROM events"))).scalar_one()
                await lock.commit()
                return Republished(sent, total, first, reset, time.monotonic() - started)
            finally:
                await _release(lock, relay_lock_key(schema))
        finally:
            await _release(guard, guard_key)


async def _publish_from(
    engine: AsyncEngine,
    kafka: KafkaOptions,
    service: str,
    topic: str,
    start: tuple[int, int],
    progress: Progress | None,
    producer_factory: Callable[[], Any] | None,
) -> tuple[int, int | None]:
    async with engine.connect() as conn:
        todo = (
            await conn.execute(
                text("SELECT count(*) FROM events WHERE (xid, position) > (CAST(:x AS xid8), :p)"),
                {"x": start[0], "p": start[1]},
            )
        ).scalar_one()
        newest = "SELECT xid::text AS xid, position FROM events ORDER BY events.xid DESC, events.position DESC LIMIT 1"
        last = (await conn.execute(text(newest))).first()
    # Up to the last event committed when it started: an event whose transaction id is not yet below every running
    # transaction's (the relay's rule) is waited for, not left behind.
    target = (int(last.xid), last.position) if last else start
    producer = (producer_factory or (lambda: relay_producer(kafka)))()
    await producer.start()
    cursor, sent, first, backoff = start, 0, None, 0.2
    acknowledged: set[Any] = set()
    try:
        while True:
            async with engine.connect() as conn:
                rows = (await conn.execute(_READ, {"xid": cursor[0], "position": cursor[1], "limit": BATCH})).all()
                await conn.commit()
            if not rows:
                if cursor >= target:
                    break
                await asyncio.sleep(0.2)
                continue
            first = rows[0].position if first is None else first
            outgoing = [
                Outgoing(row, *to_record(service, recorded_from_row(row._mapping)))
                for row in rows
                if row.event_id not in acknowledged
            ]
            outcome = await send_in_order(producer, topic, outgoing, record_limit=kafka.max_message_bytes)
            acknowledged.update(r.item.event_id for r in outcome.published)
            if outcome.refused or outcome.behind:
                refused = outcome.refused[0][0].item if outcome.refused else outcome.behind[0].item
                # Stop before it: the relay publishes from there and holds what Kafka refuses for good, in order.
                await _save_before(engine, refused)
                raise RecoveryRefusedError(
                    f"Kafka refused event {refused.event_id} for good; republished up to the event before it, the "
                    "relay will hold it (see `pmo relay held`)"
                )
            if outcome.transient is not None or len(outcome.published) < len(outgoing):
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.2
            sent += len(outgoing)
            acknowledged.clear()
            cursor = (int(rows[-1].xid), rows[-1].position)
            await _save(engine, cursor)
            if progress is not None:
                progress(sent, max(todo, sent))
    finally:
        await producer.stop()
    return sent, first


async def _save(engine: AsyncEngine, checkpoint: tuple[int, int], name: str = "relay") -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO relay_checkpoint (name, xid, position) VALUES (:n, CAST(:x AS xid8), :p) "
                "ON CONFLICT (name) DO UPDATE SET xid = excluded.xid, position = excluded.position, updated_at = now()"
            ),
            {"n": name, "x": checkpoint[0], "p": checkpoint[1]},
        )


async def _save_before(engine: AsyncEngine, row: Any) -> None:
    async with engine.connect() as conn:
        before = (
            await conn.execute(
                text(
                    "SELECT xid::text AS xid, position FROM events WHERE (xid, position) < (CAST(:x AS xid8), :p) "
                    "ORDER BY events.xid DESC, events.position DESC LIMIT 1"
                ),
                {"x": int(row.xid), "p": row.position},
            )
        ).first()
    await _save(engine, (int(before.xid), before.position) if before else (0, 0))
