"""The relay: publishes a service's event table (its outbox) to Kafka, in order, never skipping an event.

Order and completeness: the relay reads only events whose transaction id is below the oldest transaction
still running (``pg_snapshot_xmin(pg_current_snapshot())``). Every transaction below that bound has ended,
so the set of events it can see there is final: an event whose transaction is still open is invisible *and*
above the bound, and it is read on a later pass. Events are published in ``(xid, position)`` order and the
relay stores the last ``(xid, position)`` it published, after Kafka acknowledged it. A crash between publish
and checkpoint re-publishes that batch (at-least-once); consumers drop the duplicates by event id. How the records
are batched so that no event of a project overtakes an earlier one, even when a send fails: :mod:`shared.relay_sending`.

One relay per service publishes at a time: the one holding the service's advisory lock. The others wait.

An event Kafka refuses for good (:func:`shared.kafka.is_permanent_record_error`: larger than the record limit, a
corrupt record) does not stop the relay: it is *held* (:mod:`shared.relay_holding`, which also says how the held
project's later events are kept off the topic; the rows: :mod:`shared.relay_held`), and so is every later event of
its partition key (its project), in order, while other projects go on; the checkpoint moves past held events. It
shows as the ``pmo_relay_held_events`` gauge, an ERROR log line, a notice on ``pmo.dlq.v1`` and ``/readyz``. The
leader publishes them again when an operator asks (``pmo relay retry`` / ``skip``), in order. Any other error
(an unreachable broker, authorization, an unknown topic, anything retriable) stops the partition it happened on
for the pass; the batch is read again from the checkpoint, without what Kafka acknowledged of it meanwhile (kept in
memory by the relay), so it can hold nothing and publishes nothing twice unless the relay restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared import relay_held
from shared.eventstore import recorded_from_row
from shared.kafka import KafkaOptions, new_producer, to_record
from shared.metrics import RELAY_BACKLOG, RELAY_PUBLISHED
from shared.relay_held import Hold
from shared.relay_holding import Holding, at_or_after_held, new_hold, refusal_reason
from shared.relay_sending import Outgoing, batch_bytes, send_in_order

log = logging.getLogger(__name__)

DDL = [
    """
    CREATE TABLE IF NOT EXISTS relay_checkpoint (
        name        text PRIMARY KEY,
        xid         xid8   NOT NULL,
        position    bigint NOT NULL,
        updated_at  timestamptz NOT NULL DEFAULT now()
    )
    """,
    *relay_held.DDL,
]

LEADER_CHECK_INTERVAL = 1.0
"""Seconds between checks, while idle, that the leader's session (which holds the advisory lock) is alive."""

_READ = text(
    """
    SELECT xid::text AS xid, position, stream_id, stream_type, version, event_id, name, schema_version,
           partition_key, data, metadata, recorded_at
    FROM events
    WHERE xid < pg_snapshot_xmin(pg_current_snapshot())
      AND (xid, position) > (CAST(:xid AS xid8), :position)
    ORDER BY xid, position
    LIMIT :limit
    """
)


@dataclass(frozen=True)
class Checkpoint:
    xid: int
    position: int


class Relay:
    """Publishes one service's events to its topic. Run :meth:`run` as a task; set ``stop`` to end it."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        service: str,
        topic: str,
        kafka: KafkaOptions,
        schema: str,
        batch_size: int = 500,
        poll_interval: float = 0.02,
        name: str = "relay",
        producer_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.engine = engine
        self.service = service
        self.topic = topic
        self.kafka = kafka
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.name = name
        self.lock_key = f"pmo-relay:{schema}:{name}"
        self._producer_factory = producer_factory or (
            lambda: new_producer(kafka, max_batch_size=batch_bytes(kafka.max_message_bytes))
        )
        self.is_leader = False
        self._wake = asyncio.Event()
        self._checkpoint: Checkpoint | None = None  # the leader's own, kept while it leads
        self._holding = Holding(engine, service=service, topic=topic, name=name, record_limit=kafka.max_message_bytes)
        self._restart_producer = False  # the broker refused a record: the producer's sequence is broken
        self._incomplete = True  # the last pass left its batch to be read again (no checkpoint)
        self._acknowledged: set[Any] = set()  # event ids Kafka acknowledged since the last checkpoint this relay saved

    def wake(self) -> None:
        """Look for new events now instead of at the next poll (called after a command in this process commits)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Elect, publish until ``stop`` is set; survive database and broker outages by retrying."""
        backoff = 0.2
        while not stop.is_set():
            try:
                await self._lead(stop)
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("relay %s/%s failed; retrying in %.1fs", self.service, self.name, backoff)
                self.is_leader = False
                await _sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, 5.0)

    async def _lead(self, stop: asyncio.Event) -> None:
        async with self.engine.connect() as leader:
            while not stop.is_set():
                got = (
                    await leader.execute(text("SELECT pg_try_advisory_lock(hashtext(:k))"), {"k": self.lock_key})
                ).scalar()
                await leader.commit()
                if got:
                    break
                await _sleep_or_stop(stop, 1.0)
            else:
                return
            self.is_leader = True
            self._incomplete = self._holding.announce_due = True
            try:
                await self._holding.load()
                producer = self._producer_factory()
                await producer.start()
                last_check = time.monotonic()
                try:
                    while not stop.is_set():
                        self._wake.clear()
                        published = await self.publish_once(producer)
                        if published < self.batch_size and not self._restart_producer:
                            await self.tend_held(producer)
                        if self._restart_producer:
                            producer = await self._replace(producer)
                            continue
                        if published < self.batch_size:
                            if time.monotonic() - last_check >= LEADER_CHECK_INTERVAL:
                                await leader.execute(text("SELECT 1"))  # leadership ends with this session
                                await leader.commit()
                                last_check = time.monotonic()
                            await self._idle(stop)
                finally:
                    await producer.stop()
            finally:
                self.is_leader = False
                self._checkpoint = None
                self._holding.keys = None
                await self._release(leader)

    async def _replace(self, producer: Any) -> Any:
        """A new producer for one whose idempotent sequence a broker-side refusal broke (every later batch of that
        partition would be refused as out of sequence)."""
        self._restart_producer = False
        with contextlib.suppress(Exception):
            await producer.stop()
        fresh = self._producer_factory()
        try:
            await fresh.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await fresh.stop()
            raise
        return fresh

    async def _idle(self, stop: asyncio.Event) -> None:
        """Until the next poll, a wake-up or the stop."""
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(waits, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                waiter.cancel()

    async def _release(self, leader: AsyncConnection) -> None:
        """Give up leadership; a session that cannot unlock is discarded, never returned to the pool with the lock
        (whatever ended the leadership: a stop, Kafka unreachable, the database gone)."""
        try:
            await leader.execute(text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": self.lock_key})
            await leader.commit()
        except Exception:
            await leader.invalidate()

    async def publish_once(self, producer: Any) -> int:
        """Publish the next batch of committed events and advance the checkpoint; hold the events Kafka refuses
        for good and those of their projects. Returns how many events the batch had (0 when it must be read
        again after a broker-side refusal)."""
        async with self.engine.connect() as conn:
            checkpoint = self._checkpoint if self.is_leader and self._checkpoint else await self._load_checkpoint(conn)
            rows = (
                await conn.execute(
                    _READ, {"xid": checkpoint.xid, "position": checkpoint.position, "limit": self.batch_size}
                )
            ).all()
            kept = self._holding.keys
            held = dict(kept if self.is_leader and kept is not None else await relay_held.held_keys(conn, self.name))
            await conn.commit()
        if not rows:
            RELAY_BACKLOG.labels(self.service).set(0)
            self._incomplete = False
            return 0
        if len(rows) == self.batch_size:  # behind: measure how far (cheap enough once per full batch)
            async with self.engine.connect() as conn:
                backlog = (
                    await conn.execute(
                        text("SELECT count(*) FROM events WHERE position > :p"), {"p": rows[-1].position}
                    )
                ).scalar_one()
            RELAY_BACKLOG.labels(self.service).set(backlog)
        else:
            RELAY_BACKLOG.labels(self.service).set(0)
        # A project's events from its first held one on are held; those before it (read again after a broker-side
        # refusal, when they were published already or failed for a passing reason) are sent as usual, except
        # those this leader saw acknowledged in a pass that did not complete (never twice from one leader).
        holds: list[Hold] = []
        outgoing: list[Outgoing] = []
        for row in rows:
            if row.event_id in self._acknowledged:
                continue
            record = Outgoing(row, *to_record(self.service, recorded_from_row(row._mapping)))
            if at_or_after_held(held, row):
                holds.append(new_hold(row, record.size, "its project has an earlier held event", cause=False))
            else:
                outgoing.append(record)
        outcome = await send_in_order(producer, self.topic, outgoing, record_limit=self.kafka.max_message_bytes)
        for record, refusal in outcome.refused:
            holds.append(new_hold(record.item, record.size, refusal_reason(refusal), cause=True))
        holds.extend(new_hold(r.item, r.size, "its project has an earlier held event", cause=False)
                     for r in outcome.behind)  # fmt: skip
        if holds:
            await self._holding.hold(holds, leader=self.is_leader)
        RELAY_PUBLISHED.labels(self.service).inc(len(outcome.published))
        if outcome.broken:
            self._restart_producer = True
        handled = len(outcome.published) + len(outcome.refused) + len(outcome.behind)
        self._incomplete = handled < len(outgoing)
        if self._incomplete:  # read again from the checkpoint: a passing failure, or a partition behind a refusal
            self._acknowledged.update(r.item.event_id for r in outcome.published)
            if outcome.transient is not None and not outcome.broken:
                raise outcome.transient
            return 0
        last = rows[-1]
        await self._save_checkpoint(Checkpoint(int(last.xid), last.position))
        self._acknowledged.clear()
        if self.is_leader:
            self._checkpoint = Checkpoint(int(last.xid), last.position)
        return len(rows)

    async def tend_held(self, producer: Any) -> None:
        """Announce newly held events on the dead-letter topic, and act on an operator's retry or skip (only after
        a pass that completed its batch, so every held event is behind the checkpoint)."""
        if await self._holding.tend(producer, leader=self.is_leader, settled=not self._incomplete):
            self._restart_producer = True

    async def _load_checkpoint(self, conn: AsyncConnection) -> Checkpoint:
        row = (
            await conn.execute(
                text("SELECT xid::text AS xid, position FROM relay_checkpoint WHERE name = :n"), {"n": self.name}
            )
        ).first()
        return Checkpoint(int(row.xid), row.position) if row else Checkpoint(0, 0)

    async def _save_checkpoint(self, checkpoint: Checkpoint) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO relay_checkpoint (name, xid, position) VALUES (:n, CAST(:x AS xid8), :p) "
                    "ON CONFLICT (name) DO UPDATE SET xid = excluded.xid, position = excluded.position, "
                    "updated_at = now()"
                ),
                {"n": self.name, "x": checkpoint.xid, "p": checkpoint.position},
            )


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
