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
(an unreachable broker, authorization, an unknown topic, anything retriable) stops the partition it happened on:
its lane keeps its records and sends them again after a backoff while the other partitions go on
(:mod:`shared.relay_lanes`); the checkpoint waits before its oldest event. How stalls show: :mod:`shared.relay_stalls`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared import relay_held, relay_wake, tracing, wakeups
from shared.eventstore import recorded_from_row
from shared.kafka import KafkaOptions, to_record
from shared.metrics import RELAY_BACKLOG, RELAY_PUBLISHED
from shared.pg import driver
from shared.relay_held import Hold
from shared.relay_holding import Holding, at_or_after_held, new_hold, refusal_reason
from shared.relay_lanes import Lanes
from shared.relay_sending import Outcome, Outgoing, partition_of, relay_producer
from shared.relay_stalls import QuietLog, StallWatch

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

DELIVERY_TIMEOUT = 30.0
"""Default of ``PMO_RELAY_DELIVERY_TIMEOUT_SECONDS``: a batch unanswered this long marks its partition stalled."""

STALL_ALERT_AFTER = 60.0
"""Default of ``PMO_RELAY_STALL_ALERT_SECONDS``: a stall this long raises the alert (:mod:`shared.relay_stalls`)."""

BUSY_SECONDS = 1.0
"""After a wake-up or a pass that published, the relay polls at ``poll_interval`` this long (an event committed
behind a transaction still open becomes readable without a notification of its own), then at its safety poll
(every :data:`BEHIND_POLL` instead while committed events wait behind a transaction still open)."""

CLOSE_GRACE = 1.0
"""After the producer's stop (its flush delivered or failed what it held), how long the lanes still waiting on it get
to finish before they are cancelled (seconds)."""

AHEAD_BATCHES = 20
"""While a partition is stalled the others go on until this many batches of events wait past the checkpoint."""

_BEHIND = "its project has an earlier held event"

# ``ORDER BY events.xid``, never a bare ``xid``: the query selects ``xid::text AS xid`` and PostgreSQL takes a bare
# name in ORDER BY for the output column first, which sorted transaction 1000 before 999 (events published out of
# order, read again past the cursor, the checkpoint stuck).
_READ = """
    SELECT xid::text AS xid, position, stream_id, stream_type, version, event_id, name, schema_version,
           partition_key, data, metadata, recorded_at
    FROM events
    WHERE xid < pg_snapshot_xmin(pg_current_snapshot())
      AND (xid, position) > (CAST($1::text AS xid8), $2)
    ORDER BY events.xid, events.position
    LIMIT $3
    """
"""The next committed events past the cursor: one statement outside any transaction (asyncpg's prepared statement,
one round trip a pass where a transaction around it took three)."""


class EventRow:
    """An event row as asyncpg returns it, read by attribute as a SQLAlchemy row is (``row.event_id``,
    ``row._mapping``)."""

    __slots__ = ("_mapping",)

    def __init__(self, record: Any) -> None:
        self._mapping = record

    def __getattr__(self, name: str) -> Any:
        try:
            return self._mapping[name]
        except KeyError:
            raise AttributeError(name) from None


_SAVE_CHECKPOINT = (
    "INSERT INTO relay_checkpoint (name, xid, position) VALUES ($1, CAST($2::text AS xid8), $3) "
    "ON CONFLICT (name) DO UPDATE SET xid = excluded.xid, position = excluded.position, updated_at = now()"
)


_BEHIND_OPEN = "SELECT EXISTS (SELECT 1 FROM events WHERE xid >= pg_snapshot_xmin(pg_current_snapshot()))"
"""Events committed (or still being written) behind a transaction still open: not readable yet, and no notification
will come for them once the open transaction ends if it wrote no event."""

BEHIND_POLL = 0.1
"""Seconds between looks while events wait behind an open transaction (at rest: instead of the safety poll)."""


@dataclass(frozen=True)
class Checkpoint:
    xid: int
    position: int


@dataclass(frozen=True)
class _Read:
    """An event read past the checkpoint, kept until the checkpoint passes it."""

    xid: int
    position: int
    event_id: Any
    recorded_at: datetime


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
        delivery_timeout: float = DELIVERY_TIMEOUT,
        stall_alert_after: float = STALL_ALERT_AFTER,
        max_ahead: int | None = None,
        idle_poll_interval: float | None = None,
    ) -> None:
        self.engine = engine
        self.service = service
        self.topic = topic
        self.kafka = kafka
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.idle_poll_interval = max(idle_poll_interval or poll_interval, poll_interval)
        """The safety poll at rest; ``poll_interval`` for :data:`BUSY_SECONDS` after a wake-up or a publication."""
        self._busy_until = 0.0
        self.name = name
        self.delivery_timeout = delivery_timeout
        self.max_ahead = max_ahead or AHEAD_BATCHES * batch_size
        self.lock_key = relay_wake.lock_key_for(schema, name)
        self.channel = relay_wake.channel_for(self.lock_key)  # the leader LISTENs, other processes NOTIFY
        self._producer_factory = producer_factory or (lambda: relay_producer(kafka))
        self.is_leader = False
        self._session: Any = None
        """The leader's own session (asyncpg), between passes in no transaction: its reads and checkpoint saves go
        there, with no pool checkout."""
        self._wake = asyncio.Event()
        self._checkpoint: Checkpoint | None = None  # the leader's own, kept while it leads
        self._holding = Holding(engine, service=service, topic=topic, name=name, record_limit=kafka.max_message_bytes)
        self.watch = StallWatch(service, name, alert_after=stall_alert_after)
        self._restart_producer = False  # the broker refused a record: the producer's sequence is broken
        self._lanes: Lanes | None = None
        self._lanes_producer: Any = None
        self._window: deque[_Read] = deque()  # read past the checkpoint, in (xid, position) order
        self._cursor: Checkpoint | None = None  # the last event read (the end of the window)
        self._done: set[Any] = set()  # ids in the window acknowledged by Kafka or held
        self._read: set[Any] = set()  # ids in the window
        self._failing = QuietLog()
        self._behind = False  # the last read found events behind a transaction still open

    @property
    def _incomplete(self) -> bool:
        """Some event read is neither acknowledged nor held yet."""
        return bool(self._window)

    def wake(self) -> None:
        """Look for new events now instead of at the next poll (called after a command in this process commits)."""
        self._wake.set()
        self._busy_until = time.monotonic() + BUSY_SECONDS

    def status(self) -> dict[str, Any] | None:
        """The readiness detail while a partition of the leader is stalled (``/readyz`` stays ready), else None."""
        detail = self.watch.detail() if self.is_leader else None
        return None if detail is None else {"relay_stalled": {"leader": True, **detail}}

    async def run(self, stop: asyncio.Event) -> None:
        """Elect, publish until ``stop`` is set; survive database and broker outages by retrying (with backoff and
        jitter, logged once per :data:`shared.relay_stalls.QUIET_LOG_SECONDS` while the failure lasts)."""
        backoff = 0.2
        while not stop.is_set():
            try:
                await self._lead(stop)
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.is_leader = False
                if self._failing.due():
                    log.warning(
                        "relay %s/%s failed (%s: %s; %d more failures not logged); retrying with backoff up to 5s",
                        self.service, self.name, type(exc).__name__, exc, self._failing.taken(),
                        exc_info=log.isEnabledFor(logging.DEBUG),
                    )  # fmt: skip
                await _sleep_or_stop(stop, backoff / 2 + random.uniform(0, backoff / 2))
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
            unlisten: Callable[[], Awaitable[None]] = relay_wake.not_listening
            self.is_leader = True
            self._session = (await leader.get_raw_connection()).driver_connection
            self.watch.leading(True)
            self._holding.announce_due = True
            self._forget(acknowledged=True)
            try:
                unlisten = await relay_wake.listen(leader, self.channel, self.wake)
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
                        if self._failing.logged_at is not None and not self.watch.stalled:
                            self._failing.reset()
                        if published < self.batch_size:
                            await self._idle(stop, busy=published > 0 or self._incomplete)
                            if time.monotonic() - last_check >= LEADER_CHECK_INTERVAL:
                                # leadership ends with this session: checked before publishing after a rest
                                await leader.execute(text("SELECT 1"))
                                await leader.commit()
                                last_check = time.monotonic()
                finally:
                    await self._stop_producer(producer, leading=False)
            finally:
                self.is_leader = False
                self._session = None
                self._checkpoint = None
                self._holding.keys = None
                self._forget(acknowledged=True)
                self.watch.leading(False)
                await unlisten()
                await self._release(leader)

    def _forget(self, *, acknowledged: bool) -> None:
        """Read again from the checkpoint; ``acknowledged``: forget too what Kafka acknowledged past it (a new
        leadership: the next leader may publish it again, at least once)."""
        self._window.clear()
        self._read.clear()
        self._cursor = None
        if acknowledged:
            self._done.clear()

    async def _stop_producer(self, producer: Any, *, leading: bool = True) -> None:
        """Stop the lanes and the producer, within the delivery timeout each (a stalled partition's batch would keep
        a producer's flush waiting for ever). The producer is stopped *before* the lanes are closed: its flush
        delivers (or fails) the batches it still holds, whose lanes then finish; what the lanes settled meanwhile is
        taken in (an acknowledged event is never sent again by this leader) and the checkpoint moves past it. What
        they did not settle is read again from the checkpoint. Not ``leading`` (the leadership ends): nothing is
        recorded, the next leader publishes from the checkpoint (at least once)."""
        lanes = self._lanes if self._lanes is not None and self._lanes_producer is producer else None
        if lanes is not None:
            await lanes.wait(self.delivery_timeout)
        await self._stop_client(producer)
        if lanes is None:
            return
        settled = await lanes.close(CLOSE_GRACE)
        self._lanes = self._lanes_producer = None
        restart = self._restart_producer
        try:
            if leading:
                await self._settle(settled)
                await self._advance()
        except Exception:  # the database is away: what was acknowledged is published again (at least once)
            log.debug("relay %s/%s: the lanes' last outcome not recorded", self.service, self.name, exc_info=True)
        self._restart_producer = restart  # this producer is being replaced already
        self._forget(acknowledged=False)

    async def _stop_client(self, producer: Any) -> None:
        try:
            await asyncio.wait_for(producer.stop(), self.delivery_timeout)
        except TimeoutError:
            sender = getattr(getattr(producer, "_sender", None), "sender_task", None)
            if sender is not None:  # aiokafka's stop() was cancelled before it stopped its sender
                sender.cancel()
            with contextlib.suppress(Exception):
                await producer.client.close()
        except Exception:
            log.debug("relay %s/%s: the producer did not stop cleanly", self.service, self.name, exc_info=True)

    async def _replace(self, producer: Any) -> Any:
        """A new producer for one whose idempotent sequence a broker-side refusal broke (every later batch of that
        partition would be refused as out of sequence)."""
        self._restart_producer = False
        await self._stop_producer(producer)
        fresh = self._producer_factory()
        try:
            await fresh.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await fresh.stop()
            raise
        return fresh

    async def _idle(self, stop: asyncio.Event, *, busy: bool) -> None:
        """Until the next poll (soon while events flow, the safety poll at rest), a wake-up or the stop."""
        if busy:
            self._busy_until = time.monotonic() + BUSY_SECONDS
        if time.monotonic() < self._busy_until:
            waiting = self.poll_interval
        else:
            waiting = min(BEHIND_POLL, self.idle_poll_interval) if self._behind else self.idle_poll_interval
        await wakeups.sleep_until_woken(stop, self._wake, waiting)

    async def _release(self, leader: AsyncConnection) -> None:
        """Give up leadership; a session that cannot unlock is discarded, never returned to the pool with the lock
        (whatever ended the leadership: a stop, Kafka unreachable, the database gone)."""
        try:
            await leader.execute(text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": self.lock_key})
            await leader.commit()
        except Exception:
            await leader.invalidate()

    async def _lanes_for(self, producer: Any) -> Lanes:
        if self._lanes is None or self._lanes_producer is not producer:
            if self._lanes is not None:
                await self._settle(await self._lanes.close(self.delivery_timeout))
                self._forget(acknowledged=False)
            self._lanes = Lanes(
                self.topic, record_limit=self.kafka.max_message_bytes, delivery_timeout=self.delivery_timeout,
                watch=self.watch,
            )  # fmt: skip
            self._lanes_producer = producer
        return self._lanes

    async def publish_once(self, producer: Any) -> int:
        """One pass: take in what the partitions' lanes settled; read the next committed events (up to
        ``batch_size``, while fewer than ``max_ahead`` wait past the checkpoint); hold those of held projects and
        hand the others to their partitions' lanes (:mod:`shared.relay_lanes`); wait a little for the lanes; move
        the checkpoint to the last event before the oldest one neither acknowledged nor held. Returns how many
        events it read."""
        lanes = await self._lanes_for(producer)
        await self._take_in(lanes)
        rows: list[Any] = []
        held: dict[str, tuple[int, int]] = {}
        if len(self._window) < self.max_ahead:
            rows, held = await self._read_next()
        if rows:
            await self._dispatch(rows, held, lanes, producer)
        lanes.start(producer)
        await lanes.settle()
        await self._take_in(lanes)
        if not self._restart_producer:  # a producer about to be replaced takes no new batch
            lanes.start(producer)  # a lane that finished goes on with what was read meanwhile
        await self._advance()
        await self._measure(rows)
        return len(rows)

    async def _read_next(self) -> tuple[list[Any], dict[str, tuple[int, int]]]:
        """The next committed events past the cursor and the held projects' first held positions (statements
        outside any transaction: the leader's own session once it knows both, else a pooled one)."""
        kept = self._holding.keys
        if self._session is not None and self._cursor is not None and kept is not None:
            return await self._read_on(self._session), dict(kept)
        async with self.engine.connect() as conn:
            if self._cursor is None:
                leading = self.is_leader and self._checkpoint is not None
                self._cursor = self._checkpoint if leading else await self._load_checkpoint(conn)
                await conn.commit()
            held = dict(kept if self.is_leader and kept is not None else await relay_held.held_keys(conn, self.name))
            await conn.commit()
            return await self._read_on((await conn.get_raw_connection()).driver_connection), held

    async def _read_on(self, session: Any) -> list[Any]:
        assert self._cursor is not None
        read = await session.fetch(_READ, str(self._cursor.xid), self._cursor.position, self.batch_size)
        rows = [EventRow(record) for record in read]
        if not rows and time.monotonic() >= self._busy_until:  # about to rest: is anything held back?
            self._behind = bool(await session.fetchval(_BEHIND_OPEN))
        return rows

    async def _dispatch(self, rows: list[Any], held: dict[str, tuple[int, int]], lanes: Lanes, producer: Any) -> None:
        """Put the events read in the window, hold those of held projects, hand the others to their lanes."""
        partitions = sorted(await producer.partitions_for(self.topic))
        holds: list[Hold] = []
        for row in rows:
            if row.event_id in self._read:
                # Read again while still in the window: it happened while the read sorted by the transaction id's
                # text (see _READ); a safety net since. Once in the window is enough: it is in a lane already, or
                # acknowledged (a second copy would never be acknowledged again and the checkpoint would stick).
                log.warning("relay %s/%s: event %s (xid %s, position %s) read again; ignored, cursor %s",
                            self.service, self.name, row.event_id, row.xid, row.position, self._cursor)  # fmt: skip
                continue
            self._read.add(row.event_id)
            self._window.append(_Read(int(row.xid), row.position, row.event_id, row.recorded_at))
            if row.event_id in self._done:  # acknowledged before the window was read again
                continue
            record = Outgoing(row, *to_record(self.service, recorded_from_row(row._mapping)))
            if at_or_after_held(held, row):
                holds.append(new_hold(row, record.size, "its project has an earlier held event", cause=False))
            else:
                lanes.add(partition_of(record.key, partitions), record)
        last = rows[-1]
        self._cursor = Checkpoint(int(last.xid), last.position)
        await self._hold(holds)

    async def _take_in(self, lanes: Lanes) -> None:
        """Record what the lanes settled: acknowledged, refused for good (held, with the later events of their
        projects still in the lanes)."""
        await self._settle(lanes.harvest(), lanes)

    async def _settle(self, outcome: Outcome, lanes: Lanes | None = None) -> None:
        """Record ``outcome``: acknowledged, refused for good (held, with the later events of their projects taken
        out of ``lanes`` when they are still open)."""
        tracing.published(self.topic, outcome.published)
        holds = [new_hold(r.item, r.size, refusal_reason(e), cause=True) for r, e in outcome.refused]
        holds.extend(new_hold(r.item, r.size, _BEHIND, cause=False) for r in outcome.behind)
        if holds and lanes is not None:
            behind = lanes.take({r.key for r, _ in outcome.refused} | {r.key for r in outcome.behind})
            holds.extend(new_hold(r.item, r.size, _BEHIND, cause=False) for r in behind)
        await self._hold(holds)
        self._done.update(r.item.event_id for r in outcome.published)
        RELAY_PUBLISHED.labels(self.service).inc(len(outcome.published))
        if outcome.broken or outcome.transient is not None:
            # A batch that failed may have used up sequence numbers of its partition (aiokafka numbers a batch when
            # it drains it, sent or not): that producer's later batches there would be refused as out of sequence,
            # for ever. A new producer starts a new sequence; what the lanes had not settled is read again.
            self._restart_producer = True

    async def _hold(self, holds: list[Hold]) -> None:
        if holds:
            await self._holding.hold(holds, leader=self.is_leader)
            self._done.update(h.event_id for h in holds)

    async def _advance(self) -> None:
        """Save the checkpoint at the last event before the oldest one neither acknowledged nor held."""
        last: _Read | None = None
        while self._window and self._window[0].event_id in self._done:
            last = self._window.popleft()
            self._done.discard(last.event_id)
            self._read.discard(last.event_id)
        if last is not None:
            checkpoint = Checkpoint(last.xid, last.position)
            await self._save_checkpoint(checkpoint)
            if self.is_leader:
                self._checkpoint = checkpoint

    async def _measure(self, rows: list[Any]) -> None:
        """The backlog and stall gauges (the backlog counted in the database once per full batch read)."""
        waiting = len(self._window) - sum(1 for r in self._window if r.event_id in self._done)
        if len(rows) == self.batch_size:  # behind: measure how far (cheap enough once per full batch)
            async with self.engine.connect() as conn:
                waiting += (
                    await conn.execute(
                        text("SELECT count(*) FROM events WHERE position > :p"), {"p": rows[-1].position}
                    )
                ).scalar_one()
        RELAY_BACKLOG.labels(self.service).set(waiting)
        self.watch.oldest_unpublished = self._window[0].recorded_at if self._window else None
        self.watch.refresh()

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
        """In a transaction of its own, on the leader's session when there is one (no pool checkout). Not a lone
        statement: one that waits for a lock while its process dies would still commit when it got the lock, and a
        checkpoint written after its relay's death could land behind the next leader's."""
        args = (self.name, str(checkpoint.xid), checkpoint.position)
        if self._session is not None:
            async with self._session.transaction():
                await self._session.execute(_SAVE_CHECKPOINT, *args)
            return
        async with self.engine.begin() as conn:
            await (await driver(conn)).execute(_SAVE_CHECKPOINT, *args)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
