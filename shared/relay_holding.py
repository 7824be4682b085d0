"""The relay leader's side of held events: holding what Kafka refuses for good, announcing it on the dead-letter
topic, and publishing or skipping it when an operator asks (the rows themselves: :mod:`shared.relay_held`).

How a held project's later events are kept off the topic: the records of one partition are sent in order, in
batches, each once the one before it was acknowledged, and the first failure stops the partition for the pass
(:mod:`shared.relay_sending`). A record above the record limit is refused by the relay itself: the later events of
its project are then not sent at all. A record the broker refuses (past the topic's ``max.message.bytes``) fails in
its batch; a record larger than ``ALONE_BYTES`` is a batch of its own, so the refusal names it. The relay then holds
it, checkpoints there and goes on with a new producer (a refused batch leaves the idempotent producer's sequence for
that partition broken). Retrying held events follows the same rule.

Residual case: a broker whose record limit is below the relay's batch size (a quarter of the record limit it is
configured with, :func:`shared.relay_sending.batch_bytes`) may refuse a batch of several small records: they are all
held, each as a cause. Keep ``PMO_KAFKA_MAX_MESSAGE_BYTES`` at the topics' ``max.message.bytes`` (1 MiB by default).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import relay_held
from shared.eventstore import recorded_from_row
from shared.kafka import DLQ_TOPIC, to_record
from shared.metrics import RELAY_HELD, RELAY_PUBLISHED
from shared.relay_held import Hold
from shared.relay_sending import Outgoing, send_in_order

log = logging.getLogger("shared.relay")  # the relay's log lines, wherever in the relay they are written

REQUEST_CHECK_INTERVAL = 0.5
"""Seconds between looks, while some event is held, for an operator's retry or skip."""

_HELD_EVENTS = text(
    """
    SELECT xid::text AS xid, position, stream_id, stream_type, version, event_id, name, schema_version,
           partition_key, data, metadata, recorded_at
    FROM events WHERE event_id = ANY(:ids)
    """
)


class Holding:
    """One relay's held events, as its leader sees them: which projects are held and from where, what is still to
    be announced, and the operators' requests to act on."""

    def __init__(self, engine: AsyncEngine, *, service: str, topic: str, name: str, record_limit: int) -> None:
        self.engine = engine
        self.record_limit = record_limit
        self.service = service
        self.topic = topic
        self.name = name
        self.keys: dict[str, tuple[int, int]] | None = None  # the leader's: held keys, from where (xid, position)
        self.announce_due = True
        self._requests_checked = 0.0

    async def load(self) -> None:
        """Read the held keys (kept while the relay leads) and set the gauge."""
        async with self.engine.connect() as conn:
            self.keys = await relay_held.held_keys(conn, self.name)
            RELAY_HELD.labels(self.service).set(await relay_held.count_held(conn, self.name))

    async def hold(self, holds: list[Hold], *, leader: bool) -> None:
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
        if leader:
            await self.load()
        self.announce_due = True

    async def tend(self, producer: Any, *, leader: bool, settled: bool) -> bool:
        """Announce newly held events on the dead-letter topic, and act on an operator's retry or skip (only when
        ``settled``: the last pass completed its batch, so every held event is behind the checkpoint). True when
        the broker refused a record again: the producer's sequence is broken and it must be replaced."""
        if self.announce_due:
            await self._announce(producer)
        now = time.monotonic()
        if self.keys and settled and now - self._requests_checked >= REQUEST_CHECK_INTERVAL:
            self._requests_checked = now
            async with self.engine.connect() as conn:
                keys = await relay_held.requested_keys(conn, self.name)
            for key in keys:
                if await self._release_project(producer, key, leader=leader):
                    return True
        return False

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
        self.announce_due = False

    async def _release_project(self, producer: Any, key: str, *, leader: bool) -> bool:
        """Act on the requests for one project: skip what is to be skipped (announced, recorded), then publish its
        held events in order until one is refused again; release those that went out. True when the broker
        refused one (the producer must be replaced)."""
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
        records = [Outgoing(e, *to_record(self.service, recorded_from_row(rows[e.event_id]._mapping))) for e in rest]
        outcome = await send_in_order(producer, self.topic, records, record_limit=self.record_limit)
        out: list[relay_held.HeldEvent] = [r.item for r in outcome.published]
        refused = refusal_reason(outcome.refused[0][1]) if outcome.refused else None
        transient = outcome.transient
        broken = outcome.broken
        async with self.engine.begin() as conn:
            await relay_held.release(conn, self.name, [e.event_id for e in out])
            if transient is None:
                await relay_held.settle_requests(conn, self.name, key, error=refused)
            RELAY_HELD.labels(self.service).set(await relay_held.count_held(conn, self.name))
        RELAY_PUBLISHED.labels(self.service).inc(len(out))
        if leader:
            await self.load()
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
        return broken


def at_or_after_held(held: dict[str, tuple[int, int]], row: Any) -> bool:
    """Whether ``row`` is its project's first held event or after it."""
    first = held.get(row.partition_key)
    return first is not None and (int(row.xid), row.position) >= first


def refusal_reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def new_hold(row: Any, size: int, error: str, *, cause: bool) -> Hold:
    """The hold of an event row of the relay's batch."""
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
