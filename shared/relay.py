"""The relay: publishes a service's event table (its outbox) to Kafka, in order, never skipping an event.

Order and completeness: the relay reads only events whose transaction id is below the oldest transaction
still running (``pg_snapshot_xmin(pg_current_snapshot())``). Every transaction below that bound has ended,
so the set of events it can see there is final: an event whose transaction is still open is invisible *and*
above the bound, and it is read on a later pass. Events are published in ``(xid, position)`` order and the
relay stores the last ``(xid, position)`` it published, after Kafka acknowledged it. A crash between publish
and checkpoint re-publishes that batch (at-least-once); consumers drop the duplicates by event id.

One relay per service publishes at a time: the one holding the service's advisory lock. The others wait.

An event Kafka refuses for good (:func:`shared.kafka.is_permanent_record_error`: larger than the record limit, a
corrupt record) does not stop the relay: it is *held* (:mod:`shared.relay_held`), and so is every later event of
its partition key (its project), in order, while other projects go on; the checkpoint moves past held events. It
shows as the ``pmo_relay_held_events`` gauge, an ERROR log line, a notice on ``pmo.dlq.v1`` and ``/readyz``. The
leader publishes them again when an operator asks (``pmo relay retry`` / ``skip``), in order. Any other error
(an unreachable broker, authorization, an unknown topic, anything retriable) fails the batch, which is retried as
it is, so it can hold nothing.

How a held project's later events are kept off the topic: the events of a batch are sent in order. A record the
producer refuses itself (past ``max_request_size``) is refused by ``send()``, before any later event is sent: those
of its project are then not sent at all. A record the broker refuses (past the topic's ``max.message.bytes``) fails
on its future; so a record larger than :data:`ALONE_BYTES` (the producer's ``batch_size``) is sent *alone*: what was
sent before it is acknowledged first, and nothing after it is sent until it is acknowledged. If the broker refuses
it, the relay holds it, checkpoints there and goes on with a new producer (a refused batch leaves the idempotent
producer's sequence for that partition broken). Retrying held events follows the same rule.

Residual case: a broker whose record limit is below ``ALONE_BYTES`` may refuse a batch of small records after later
ones were handed to the producer. The refused records are all held, each as a cause; the idempotent producer's
sequence then makes the broker refuse the later batches of that partition (OUT_OF_ORDER_SEQUENCE_NUMBER), but not
when the refused batch was the producer's first on that partition (the broker has no sequence to check against):
a later event of the held project could then be published ahead of it. The relay logs that at ERROR ("published
ahead of held event") and cannot take it back. Keep topic limits far above 16 KiB (the default is 1 MiB).
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
from shared.kafka import DLQ_TOPIC, KafkaOptions, is_permanent_record_error, new_producer, to_record
from shared.metrics import RELAY_BACKLOG, RELAY_HELD, RELAY_PUBLISHED
from shared.relay_held import Hold

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

ALONE_BYTES = 16 * 1024
"""A record larger than this (the producer's ``batch_size``) is sent alone: what was sent before it is acknowledged
first, and nothing after it is sent until the broker acknowledged or refused it."""

REQUEST_CHECK_INTERVAL = 0.5
"""Seconds between looks, while some event is held, for an operator's retry or skip."""

_HELD_EVENTS = text(
    """
    SELECT xid::text AS xid, position, stream_id, stream_type, version, event_id, name, schema_version,
           partition_key, data, metadata, recorded_at
    FROM events WHERE event_id = ANY(:ids)
    """
)

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
        self._producer_factory = producer_factory or (lambda: new_producer(kafka))
        self.is_leader = False
        self._wake = asyncio.Event()
        self._checkpoint: Checkpoint | None = None  # the leader's own, kept while it leads
        self._held: dict[str, tuple[int, int]] | None = None  # the leader's: held keys, from where (xid, position)
        self._restart_producer = False  # the broker refused a record: the producer's sequence is broken
        self._incomplete = True  # the last pass left its batch to be read again (no checkpoint)
        self._announce_due = True
        self._requests_checked = 0.0

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
            self._incomplete = self._announce_due = True
            try:
                await self._load_held()
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
                self._held = None
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
            held = dict(self._held if self.is_leader and self._held is not None else await self._held_keys(conn))
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
        # refusal, when they were published already or failed for a passing reason) are sent as usual.
        holds: list[Hold] = []
        sent: list[tuple[Any, int, Any]] = []
        last = rows[-1]
        for row in rows:
            key, value, headers = to_record(self.service, recorded_from_row(row._mapping))
            size = _size(key, value, headers)
            if _at_or_after(held, row):
                holds.append(_hold(row, size, "its project has an earlier held event", cause=False))
                continue
            alone = size > ALONE_BYTES
            if alone and sent:
                await asyncio.wait([future for *_, future in sent])
            try:
                future = await producer.send(self.topic, value=value, key=key, headers=headers)
            except Exception as exc:
                if not is_permanent_record_error(exc):
                    raise  # the cluster, not the record: the batch is retried as it is
                holds.append(_hold(row, size, _reason(exc), cause=True))
                held.setdefault(row.partition_key, (int(row.xid), row.position))
                continue
            sent.append((row, size, future))
            if alone:
                await asyncio.wait([future])
                if not future.cancelled() and is_permanent_record_error(future.exception() or Exception()):
                    last = row  # refused by the broker: the rest of the batch waits for a new producer
                    break
        outcomes = await asyncio.gather(*(future for *_, future in sent), return_exceptions=True)
        published, retry, refused_by_broker = 0, None, False
        for (row, size, _), outcome in zip(sent, outcomes, strict=True):
            if not isinstance(outcome, BaseException):
                published += 1
                if _at_or_after(held, row):  # the idempotent producer's sequence makes this impossible
                    log.error(
                        "relay %s/%s: event %s of project %s was published ahead of held event",
                        self.service, self.name, row.event_id, row.partition_key,
                    )  # fmt: skip
            elif is_permanent_record_error(outcome):
                holds.append(_hold(row, size, _reason(outcome), cause=True))
                held[row.partition_key] = min(held.get(row.partition_key, (int(row.xid), row.position)),
                                              (int(row.xid), row.position))  # fmt: skip
                refused_by_broker = True
            elif _at_or_after(held, row):
                holds.append(_hold(row, size, "its project has an earlier held event", cause=False))
            elif retry is None:
                retry = outcome
        if holds:
            await self._hold(holds)
        if refused_by_broker:
            self._restart_producer = True
        self._incomplete = retry is not None
        if retry is not None:
            if refused_by_broker:
                return 0  # refused as out of sequence behind the refused record: read again with a new producer
            raise retry
        await self._save_checkpoint(Checkpoint(int(last.xid), last.position))
        if self.is_leader:
            self._checkpoint = Checkpoint(int(last.xid), last.position)
        RELAY_PUBLISHED.labels(self.service).inc(published)
        return len(rows) if last is rows[-1] else 0

    async def _held_keys(self, conn: AsyncConnection) -> dict[str, tuple[int, int]]:
        return await relay_held.held_keys(conn, self.name)

    async def _load_held(self) -> None:
        async with self.engine.connect() as conn:
            self._held = await relay_held.held_keys(conn, self.name)
            RELAY_HELD.labels(self.service).set(await relay_held.count_held(conn, self.name))

    async def _hold(self, holds: list[Hold]) -> None:
        """Record held events, say so (log, gauge) and have the notices sent."""
        async with self.engine.begin() as conn:
            await relay_held.hold(conn, self.name, holds)
            RELAY_HELD.labels(self.service).set(await relay_held.count_held(conn, self.name))
        behind: dict[str, int] = {}
        for h in holds:
            if h.cause:
                log.error(
                    "relay %s/%s holds event %s (project %s, %s, %d bytes): Kafka refused it for good: %s",
                    self.service, self.name, h.event_id, h.partition_key, h.name, h.size_bytes, h.error,
                )  # fmt: skip
            else:
                behind[h.partition_key] = behind.get(h.partition_key, 0) + 1
        for key, n in behind.items():
            log.warning(
                "relay %s/%s holds %d more events of project %s behind its held event", self.service, self.name, n, key
            )
        if self.is_leader:
            await self._load_held()
        self._announce_due = True

    async def tend_held(self, producer: Any) -> None:
        """Announce newly held events on the dead-letter topic, and act on an operator's retry or skip (only after
        a pass that completed its batch, so every held event is behind the checkpoint)."""
        if self._announce_due:
            await self._announce(producer)
        now = time.monotonic()
        if self._held and not self._incomplete and now - self._requests_checked >= REQUEST_CHECK_INTERVAL:
            self._requests_checked = now
            async with self.engine.connect() as conn:
                keys = await relay_held.requested_keys(conn, self.name)
            for key in keys:
                await self._release_project(producer, key)
                if self._restart_producer:
                    return

    async def _announce(self, producer: Any) -> None:
        async with self.engine.connect() as conn:
            pending = await relay_held.unannounced(conn, self.name)
        if pending:
            futures = []
            for event in pending:
                key, value, headers = relay_held.notice(self.service, event)
                futures.append(await producer.send(DLQ_TOPIC, value=value, key=key, headers=headers))
            await asyncio.gather(*futures)
            async with self.engine.begin() as conn:
                await relay_held.mark_announced(conn, self.name, [e.event_id for e in pending])
        self._announce_due = False

    async def _release_project(self, producer: Any, key: str) -> None:
        """Act on the requests for one project: skip what is to be skipped (announced, recorded), then publish its
        held events in order until one is refused again; release those that went out."""
        async with self.engine.connect() as conn:
            held = await relay_held.held_events(conn, self.name, key)
            rows = {r.event_id: r for r in await conn.execute(_HELD_EVENTS, {"ids": [e.event_id for e in held]})}
        for event in held:
            if event.request == "skip":
                k, value, headers = relay_held.notice(self.service, event, relay_held.SKIPPED_NOTICE)
                await producer.send_and_wait(DLQ_TOPIC, value=value, key=k, headers=headers)
                async with self.engine.begin() as conn:
                    await relay_held.skip(conn, self.name, event)
                log.warning(
                    "relay %s/%s skipped event %s (project %s, %s) for good, as %s asked: %s",
                    self.service, self.name, event.event_id, key, event.name, event.requested_by, event.request_reason,
                )  # fmt: skip
        rest = [e for e in held if e.request != "skip"]
        sent: list[tuple[relay_held.HeldEvent, Any]] = []
        refused: str | None = None
        for event in rest:  # in order; a large record alone, as in publish_once
            record_key, value, headers = to_record(self.service, recorded_from_row(rows[event.event_id]._mapping))
            alone = _size(record_key, value, headers) > ALONE_BYTES
            if alone and sent:
                await asyncio.wait([f for _, f in sent])
                if any(f.cancelled() or f.exception() is not None for _, f in sent):
                    break
            try:
                future = await producer.send(self.topic, value=value, key=record_key, headers=headers)
            except Exception as exc:
                if not is_permanent_record_error(exc):
                    await asyncio.gather(*(f for _, f in sent), return_exceptions=True)
                    raise
                refused = _reason(exc)
                break
            sent.append((event, future))
            if alone:
                await asyncio.wait([future])
                if future.cancelled() or future.exception() is not None:
                    break
        outcomes = await asyncio.gather(*(f for _, f in sent), return_exceptions=True)
        out: list[relay_held.HeldEvent] = []
        transient: BaseException | None = None
        for (event, _), outcome in zip(sent, outcomes, strict=True):
            if not isinstance(outcome, BaseException):
                if refused is not None or transient is not None:
                    log.error("relay %s/%s: event %s was published ahead of held event", self.service, self.name,
                              event.event_id)  # fmt: skip
                out.append(event)
            elif refused is None and transient is None:
                if is_permanent_record_error(outcome):
                    refused = _reason(outcome)
                    self._restart_producer = True
                else:
                    transient = outcome
        async with self.engine.begin() as conn:
            await relay_held.release(conn, self.name, [e.event_id for e in out])
            if transient is None:
                await relay_held.settle_requests(conn, self.name, key, error=refused)
            RELAY_HELD.labels(self.service).set(await relay_held.count_held(conn, self.name))
        RELAY_PUBLISHED.labels(self.service).inc(len(out))
        if self.is_leader:
            await self._load_held()
        if len(out) == len(rest):
            log.warning("relay %s/%s released project %s: %d held events published", self.service, self.name,
                        key, len(out))  # fmt: skip
        elif refused is not None:
            log.error(
                "relay %s/%s: project %s stays held: %d of its %d held events published, then refused again: %s",
                self.service, self.name, key, len(out), len(rest), refused,
            )  # fmt: skip
        if transient is not None:
            raise transient

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


def _at_or_after(held: dict[str, tuple[int, int]], row: Any) -> bool:
    """Whether ``row`` is its project's first held event or after it."""
    first = held.get(row.partition_key)
    return first is not None and (int(row.xid), row.position) >= first


def _size(key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> int:
    return len(key) + len(value) + sum(len(k) + len(v) for k, v in headers)


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _hold(row: Any, size: int, error: str, *, cause: bool) -> Hold:
    return Hold(
        event_id=row.event_id,
        position=row.position,
        xid=int(row.xid),
        partition_key=row.partition_key,
        name=row.name,
        size_bytes=size,
        error=error,
        cause=cause,
    )


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
