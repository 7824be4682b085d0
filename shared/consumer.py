"""Consumers with exactly-once effects: Kafka in, read models out.

For each batch of records from one partition, one database transaction:

1. inserts every event id into the consumer's ``inbox`` (``ON CONFLICT DO NOTHING``): ids already there are
   duplicates (a relay re-publish, a replayed record) and change nothing. A read model whose every row is keyed by
   the event id it came from (``idempotent = True``, e.g. the reporting facts ledger) keeps no inbox: applying an
   event twice changes nothing by construction, its unique key refuses the second copy;
2. applies the new events to the read model;
3. stores the next offset of the partition in ``consumer_offsets``.

The read-model change and the position commit together, so a crash anywhere leaves either all of the batch or
none of it; on restart the consumer seeks to the stored offsets (Kafka's own committed offsets are written
afterwards for monitoring only). A record that cannot be decoded or applied is sent to ``pmo.dlq.v1`` with the
error, marked as dead-lettered in the inbox, kept whole in ``dead_letters`` (:mod:`shared.dead_letters.store`) in
the same transaction, and the consumer moves on. An operator redrives it once its cause is fixed
(:mod:`shared.dead_letters.redrive`), through :func:`apply_event` as here.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import asyncpg  # type: ignore[import-untyped]
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared import authz, logs, tracing
from shared.collector import gc_paused
from shared.dead_letters import store as dead_letters
from shared.kafka import (
    CATCH_UP_FETCH_WAIT_MS,
    DLQ_TOPIC,
    ConsumedEvent,
    KafkaOptions,
    from_record,
    new_consumer,
    new_producer,
    pace_fetches,
)
from shared.metrics import CONSUMED, CONSUMER_LAG, DEAD_LETTERED, DUPLICATES
from shared.pg import driver, transient_database_error

log = logging.getLogger(__name__)

METADATA_MAX_AGE_MS = 10_000
"""How often a consumer refreshes the cluster metadata: a subscribed topic it did not see yet (created meanwhile by
another service) is assigned within this time instead of aiokafka's default five minutes."""

DLQ_METADATA_MAX_AGE_MS = 300_000
"""How often a consumer's dead-letter producer refreshes the cluster metadata (aiokafka's default), not every
``PMO_KAFKA_METADATA_MAX_AGE_MS``: it sends nothing at rest, asks for its topic's metadata on its first send, and a
leader that moved answers its send with an error that refreshes the metadata at once. At rest every consumer's
dead-letter producer asked every 10 s, a third of the services' metadata requests."""

DDL = [
    """
    CREATE TABLE IF NOT EXISTS consumer_offsets (
        consumer     text    NOT NULL,
        topic        text    NOT NULL,
        partition    integer NOT NULL,
        next_offset  bigint  NOT NULL,
        updated_at   timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (consumer, topic, partition)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS inbox (
        consumer      text NOT NULL,
        event_id      uuid NOT NULL,
        dead_lettered boolean NOT NULL DEFAULT false,
        received_at   timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (consumer, event_id)
    )
    """,
    *dead_letters.DDL,
    *authz.DDL,  # the projects' scopes, kept by the projections that read project-registered
]


class Projection(Protocol):
    """A read model fed from Kafka. ``apply`` must only touch the database through ``conn``.

    Optional: ``apply_batch(conn, events)`` (many events at once, see :meth:`ProjectionConsumer._apply_batch`), and
    ``idempotent = True`` for a read model that needs no inbox because applying an event a second time changes
    nothing: each row it writes is keyed by the event id, ``apply`` skips a key it has (``ON CONFLICT DO NOTHING``),
    and so does ``apply_batch``, or else it fails and the consumer applies that batch one event at a time; and
    ``start_at_end = True`` for one about what happens from now on (notifications): on its very first start it begins
    at the end of every partition of its topics (stored at once); a partition that appears later is read from its
    beginning."""

    @property
    def name(self) -> str: ...

    @property
    def topics(self) -> Sequence[str]: ...

    async def apply(self, conn: AsyncConnection, event: ConsumedEvent) -> None: ...


Decoded = tuple[Any, ConsumedEvent | None, BaseException | None]
"""A record, its decoded event (or ``None``) and the decoding error (or ``None``)."""


async def apply_event(conn: AsyncConnection, projection: Projection, event: ConsumedEvent, *, isolate: bool) -> None:
    """Apply one event to ``projection`` in ``conn``'s transaction, with its correlation id and trace in the logs;
    ``isolate``: under a savepoint, so a failure undoes the event's changes alone and the transaction goes on. The
    one way an event is applied one at a time: by the consumer and by a redrive alike."""
    logs.correlation_id.set(event.metadata.correlation_id or None)
    logs.traceparent.set(event.metadata.traceparent)
    if isolate:
        async with conn.begin_nested():
            await projection.apply(conn, event)
    else:
        await projection.apply(conn, event)


def decode_records(records: Sequence[Any]) -> list[Decoded]:
    """Decode Kafka records into events, keeping each failure with its record (to be dead-lettered)."""
    decoded: list[Decoded] = []
    for record in records:
        try:
            parsed = from_record(
                record.topic, record.partition, record.offset, record.key, record.value, record.headers
            )
            decoded.append((record, parsed, None))
        except Exception as exc:
            decoded.append((record, None, exc))
    return decoded


async def copy_records(
    conn: AsyncConnection, table: str, columns: Sequence[str], records: Sequence[Sequence[Any]]
) -> None:
    """``COPY table (columns) FROM STDIN`` (asyncpg's binary COPY) of ``records``, inside ``conn``'s transaction
    (:func:`shared.pg.driver`): the cheapest way to write many rows (a read model's ``apply_batch``). No ``ON
    CONFLICT``: a duplicate key fails the statement."""
    if not conn.in_transaction():
        raise RuntimeError("copy_records needs a transaction: it must never commit on its own")
    await (await driver(conn)).copy_records_to_table(table, records=records, columns=list(columns))


async def copy_new_records(
    conn: AsyncConnection,
    table: str,
    columns: Sequence[str],
    types: Sequence[str],
    records: Sequence[Sequence[Any]],
    *,
    returning: str,
) -> set[Any] | None:
    """``records`` by :func:`copy_records`, under a savepoint, into a table whose unique key refuses a record it holds
    already; if one is there, the records again by one ``INSERT ... ON CONFLICT DO NOTHING RETURNING returning``
    (each column sent as an array of its ``types``; a ``jsonb`` column as text, cast by the statement). Returns
    ``None`` when COPY wrote them all, else the ``returning`` values of the records inserted."""
    savepoint = await conn.begin_nested()
    try:
        await copy_records(conn, table, columns, records)
    except asyncpg.UniqueViolationError:
        await savepoint.rollback()
        arrays = ", ".join(f"CAST(:c{i} AS {'text' if t == 'jsonb' else t}[])" for i, t in enumerate(types))
        values = ", ".join(f"c{i}::jsonb" if t == "jsonb" else f"c{i}" for i, t in enumerate(types))
        names = ", ".join(f"c{i}" for i in range(len(types)))
        rows = await conn.execute(
            text(
                f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values} FROM unnest({arrays}) AS u({names}) "
                f"ON CONFLICT DO NOTHING RETURNING {returning}"
            ),
            {f"c{i}": [record[i] for record in records] for i in range(len(columns))},
        )
        return {row[0] for row in rows}
    await savepoint.commit()
    return None


class PositionMovedError(Exception):
    """The offset stored with the read model lies before the batch's first record, and not because Kafka has no
    records there (:meth:`ProjectionConsumer.apply_records`): someone moved it back under the running consumer (``pmo
    republish`` after a Kafka loss moves offsets past a recreated topic's end back to its start). The batch is rolled
    back and the consumer reads from the stored offset."""


class ApplyFailedError(Exception):
    """A record of a batch could not be applied (``index`` in the batch, ``cause``); the caller rolls back."""

    def __init__(self, index: int, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.index = index
        self.cause = cause


class ConsumerStalledError(Exception):
    """The member stood still behind the end of a partition (:data:`STALL_SECONDS`): :meth:`ProjectionConsumer.run`
    restarts it."""


RECHECK_SECONDS = 30.0
"""How often a running consumer compares the offsets stored for its partitions with where it stands
(:meth:`ProjectionConsumer._recheck_stored`: one query for every read model a member feeds) and asks the broker for
their ends (:meth:`ProjectionConsumer._check_progress`: one request), idle or not."""

STALL_SECONDS = 25.0
"""A member standing still behind the end of a partition at two rechecks at least this far apart (no record fetched
or applied there in between, the broker's end offset past it) is restarted (:meth:`ProjectionConsumer._check_progress`):
a Kafka client can stay stuck after losing its group coordinator (two brokers down below the in-sync minimum, then
back), with no error to act on, where a new member joins and reads on."""

PROGRESS_TIMEOUT_SECONDS = 10.0
"""How long the progress check waits for the broker's end offsets or a fetch position; no answer: no decision."""

MOVED_BACK = "(moved back under it, e.g. by a republish after a Kafka loss)"
"""Why a stored offset lies before where a consumer stood, in its log line."""

STARTED_AT = -1
"""The partition number of the ``consumer_offsets`` row (topic ``''``) that keeps when a ``start_at_end`` consumer first
started, in epoch milliseconds (its partitions' ends were stored then)."""


class ProjectionConsumer:
    """One read model's consumer: its inbox, its transactions and its positions in the database; and the Kafka
    consumer group member that feeds it, alone or with other read models of the same process (:meth:`feeding`).

    A member feeding several read models (its *lanes*; the feeding consumer is the first) fetches and decodes each
    record once, and each lane applies it in a transaction of its own with its own stored offsets: the member starts
    a partition at the earliest offset any lane stored there, and a lane skips the records before its own. A lane
    moved back under the consumer (:class:`PositionMovedError`) moves the member back; the lanes past it skip what
    they have. One member instead of one per read model: a record is fetched, unpacked and decoded once (the
    decoded contract is memoised on the event: :meth:`shared.kafka.ConsumedEvent.contract`), and a service sends
    one heartbeat and one fetch where it sent one per read model."""

    def __init__(
        self,
        engine: AsyncEngine,
        kafka: KafkaOptions,
        projection: Projection,
        *,
        group_id: str | None = None,
        max_records: int = 500,
        dlq_producer_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.engine = engine
        self.kafka = kafka
        self.projection = projection
        self.group_id = group_id or f"pmo.{projection.name}"
        self.max_records = max_records
        self._dlq_factory = dlq_producer_factory or (
            lambda: new_producer(kafka, metadata_max_age_ms=DLQ_METADATA_MAX_AGE_MS)
        )
        self._consumer: AIOKafkaConsumer | None = None
        self._dlq: Any = None
        self.assigned: set[TopicPartition] = set()
        self.positioned: set[TopicPartition] = set()  # assigned and moved to its stored offset (seek_to_stored)
        self._positioning_failed: BaseException | None = None
        # Set by a replay (its inbox starts empty): write the batch's ids by COPY, falling back to the
        # INSERT ... ON CONFLICT below only when one is already there (a duplicate record on the topic).
        self.expect_new_ids = False
        self.idempotent = bool(getattr(projection, "idempotent", False))
        self._backoff = kafka.backoff()
        self._failing_since: float | None = None  # when the current run of failures began
        self._positioning: set[TopicPartition] = set()  # being moved to their stored offsets (seek_to_stored)
        self._sought: dict[TopicPartition, int] = {}  # stored offsets sought after a PositionMovedError
        self._placed: dict[TopicPartition, int] = {}  # the offset this consumer last stored or sought, per partition
        self.recheck_seconds = RECHECK_SECONDS
        self._next_recheck = 0.0
        self.stall_seconds = STALL_SECONDS
        self._still: dict[TopicPartition, tuple[tuple[int | None, ...], float]] = {}  # behind, unmoved since
        self.lanes: list[ProjectionConsumer] = [self]  # the read models this member feeds (itself first)
        self.feed: ProjectionConsumer = self  # the member that feeds this read model

    @classmethod
    def feeding(
        cls, engine: AsyncEngine, kafka: KafkaOptions, projections: Sequence[Projection], *, group_id: str
    ) -> ProjectionConsumer:
        """One member of ``group_id`` feeding every read model of ``projections`` (its lanes, in that order; each
        takes a projection's ``max_records``, 500 by default, and the member fetches batches of the largest)."""
        if not projections:
            raise ValueError("a consumer feeds at least one read model")
        lanes = [
            cls(engine, kafka, p, group_id=group_id, max_records=getattr(p, "max_records", 500)) for p in projections
        ]
        first = lanes[0]
        first.lanes = lanes
        first.max_records = max(lane.max_records for lane in lanes)
        for lane in lanes:
            lane.feed = first
        return first

    @property
    def name(self) -> str:
        """The read models this member feeds, for its logs and client id."""
        return "+".join(lane.projection.name for lane in self.lanes)

    @property
    def topics(self) -> list[str]:
        """Every topic a lane reads, each once."""
        return list(dict.fromkeys(t for lane in self.lanes for t in lane.projection.topics))

    def _lanes_of(self, topic: str) -> list[ProjectionConsumer]:
        return [lane for lane in self.lanes if topic in lane.projection.topics]

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set, retrying after database or broker failures, after a delay that grows with
        jitter while they last (``PMO_KAFKA_RECONNECT_BACKOFF_*``): one ERROR line when they start, the retries at
        DEBUG, one INFO line once it polls again."""
        while not stop.is_set():
            try:
                await self._run(stop)
                self._backoff.reset()
            except asyncio.CancelledError:
                raise
            except Exception:
                delay = self._backoff.next()
                if self._failing_since is None:
                    self._failing_since = time.monotonic()
                    log.exception("consumer %s failed; restarting in %.1fs", self.name, delay)
                else:
                    log.debug("consumer %s failed again; retry in %.1fs", self.name, delay, exc_info=True)
                await asyncio.sleep(delay)

    async def _run(self, stop: asyncio.Event) -> None:
        consumer = new_consumer(
            self.kafka,
            self.group_id,
            self.projection.name if len(self.lanes) == 1 else self.group_id.rpartition(".")[2],
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # room in one fetch for a batch of max_records events of about 2 KiB each (aiokafka's 1 MiB default
            # holds about 550: a larger batch would still be cut at one fetch per partition)
            max_partition_fetch_bytes=max(1 << 20, min(self.max_records * 2048, 16 << 20)),
            # a starting consumer is behind until its polls show otherwise (pace_fetches): its first fetches must
            # not wait at the broker for the partitions with nothing new while others have records
            fetch_max_wait_ms=min(CATCH_UP_FETCH_WAIT_MS, self.kafka.consumer.fetch_max_wait_ms),
        )
        self._consumer = consumer
        self.positioned = set()
        self._positioning_failed = None
        self._still = {}
        self._dlq = self._dlq_factory()
        await self._dlq.start()
        for lane in self.lanes[1:]:
            lane._dlq = self._dlq
        await consumer.start()
        try:
            async with self.engine.connect() as conn:
                for lane in self.lanes:
                    await dead_letters.refresh_gauge(conn, lane.projection.name)
            consumer.subscribe(self.topics, listener=_SeekToStored(self))
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=1000, max_records=self.max_records)  # returns on data
                if self._failing_since is not None:
                    since, self._failing_since = self._failing_since, None
                    self._backoff.reset()
                    log.info("consumer %s polling again after %.1fs", self.name, time.monotonic() - since)
                if self._positioning_failed is not None:  # restarted by run(), after its back-off
                    failed, self._positioning_failed = self._positioning_failed, None
                    raise failed
                # the collector waits for the end of the poll: the records, their decoded contracts and what the
                # read models built of them are freed by then, and one collection sees only what they left
                with gc_paused():
                    behind = await self._take(consumer, batches)
                    del batches
                # behind, or not knowing yet where a partition's end is (no fetch of it answered since the start)
                behind = behind or any(consumer.highwater(tp) is None for tp in consumer.assignment())
                pace_fetches(consumer, behind, self.kafka.consumer.fetch_max_wait_ms)
                if time.monotonic() >= self._next_recheck:
                    self._next_recheck = time.monotonic() + self.recheck_seconds
                    stored = await self._lanes_stored()
                    for lane in self.lanes:
                        lane._recheck_stored(stored[lane.projection.name])
                    await self._check_progress(consumer)
        finally:
            self._consumer = None
            await consumer.stop()
            await self._dlq.stop()

    async def _take(self, consumer: AIOKafkaConsumer, batches: dict[TopicPartition, list[Any]]) -> bool:
        """One poll's records to the lanes; whether some partition is behind its end (its lag)."""
        behind = False
        for tp, records in batches.items():
            if tp not in self.positioned:
                # fetched from aiokafka's own reset while the assignment listener is still reading the stored
                # offsets: not ours to apply (its seek then moves the partition to the stored position)
                if tp not in self._positioning and tp in consumer.assignment():
                    # assigned with no listener positioning it (its call was cut short): nothing would ever
                    # apply this partition's records, so it is positioned here
                    log.warning("consumer %s: %s[%d] assigned but not positioned; seeking its stored offset",
                                self.name, tp.topic, tp.partition)  # fmt: skip
                    await self.seek_to_stored([tp])
                continue
            if records:
                await self._feed(tp, records)
            highwater = consumer.highwater(tp)
            if highwater is not None:
                lag = highwater - (records[-1].offset + 1 if records else await consumer.position(tp))
                for lane in self._lanes_of(tp.topic):
                    CONSUMER_LAG.labels(lane.projection.name, tp.topic, str(tp.partition)).set(max(lag, 0))
                behind = behind or lag > 0
        return behind

    async def _feed(self, tp: TopicPartition, records: Sequence[Any]) -> None:
        """``records`` of ``tp`` to every lane that reads its topic, decoded once, each lane from its own stored
        offset on (the member reads from the earliest); then Kafka's committed offset (monitoring only). The lanes
        apply the batch side by side, each in its own transaction: while one waits for PostgreSQL another computes
        (read models in consumers of their own ran side by side too, so none may count on another's rows of the
        same batch). A lane's failure is raised once every lane has finished (the member then restarts from the
        stored offsets)."""
        lanes = self._lanes_of(tp.topic)
        decoded = decode_records(records) if len(lanes) > 1 else None
        runs = []
        for lane in lanes:
            start = lane._placed.get(tp)
            first = 0 if start is None else bisect.bisect_left(records, start, key=lambda r: r.offset)
            if first == len(records):
                continue
            if start is not None and records[first].offset > start and lane._sought.get(tp) != start:
                # the member is past records this read model has not applied (its offsets in the database say where
                # it stands, whatever the Kafka client's position): read them first; a batch starting past it once
                # more is taken (Kafka holds nothing in between: retention, compaction, an aborted stretch)
                lane._seek_back(tp, start, f"records from {start} were passed over (the batch read at "
                                f"{records[first].offset})")  # fmt: skip
                continue
            runs.append(
                lane.process(
                    tp, records[first:] if first else records, decoded=None if decoded is None else decoded[first:]
                )
            )
        outcomes = await asyncio.gather(*runs, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        if self._consumer is not None:
            try:
                await self._consumer.commit({tp: records[-1].offset + 1})
            except Exception:  # only for monitoring; the database holds the truth
                log.debug("kafka offset commit failed", exc_info=True)

    async def seek_to_stored(self, partitions: Sequence[TopicPartition]) -> None:
        """Position the Kafka consumer at the offsets stored with the read models it feeds, the earliest of them
        (nothing once it is stopping: the assignment listener may still run while the consumer stops)."""
        if self.feed is not self:
            await self.feed.seek_to_stored(partitions)
            return
        consumer = self._consumer
        if consumer is None:
            return
        self._positioning.update(partitions)
        try:
            await self._seek_to_stored(consumer, partitions)
        finally:
            self._positioning.difference_update(partitions)

    async def _seek_to_stored(self, consumer: AIOKafkaConsumer, partitions: Sequence[TopicPartition]) -> None:
        starts: dict[TopicPartition, int | None] = {}  # the earliest offset a lane stored; None: the beginning
        stored = await self._lanes_stored()
        for lane in self.lanes:
            mine = [tp for tp in partitions if tp.topic in lane.projection.topics]
            if not mine:
                continue
            offsets = await lane._stored_positions(consumer, mine, stored[lane.projection.name])
            if self._consumer is not consumer:
                return  # stopped meanwhile: the next start positions it again
            for tp, offset in offsets.items():
                if offset is None:
                    lane._placed.pop(tp, None)
                else:
                    lane._placed[tp] = offset
                earliest = starts.get(tp, offset)
                starts[tp] = None if offset is None or earliest is None else min(offset, earliest)
        # a read model without a stored offset reads from the log's first offset, asked of the broker and placed
        # like a stored one (not left to the client's own reset): a batch starting past it is then caught (_feed)
        unplaced = [tp for tp in partitions if starts.get(tp) is None]
        if unplaced:
            beginnings = await consumer.beginning_offsets(unplaced)
            if self._stopped(consumer):
                return
            for tp in unplaced:
                starts[tp] = beginnings[tp]
                for lane in self._lanes_of(tp.topic):
                    lane._placed.setdefault(tp, beginnings[tp])
        for tp in partitions:
            consumer.seek(tp, starts[tp])
            self.positioned.add(tp)

    def _stopped(self, consumer: AIOKafkaConsumer) -> bool:
        """Whether ``consumer`` is no longer this member's (stopped while positioning)."""
        return self._consumer is not consumer

    async def _lanes_stored(self) -> dict[str, dict[tuple[str, int], int]]:
        """The offsets stored for every read model this member feeds, by read model: one query for them all."""
        if len(self.lanes) == 1:
            return {self.projection.name: await self.stored_offsets()}
        stored: dict[str, dict[tuple[str, int], int]] = {lane.projection.name: {} for lane in self.lanes}
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT consumer, topic, partition, next_offset FROM consumer_offsets "
                    "WHERE consumer = ANY(CAST(:c AS text[]))"
                ),
                {"c": list(stored)},
            )
            for r in rows:
                stored[r.consumer][(r.topic, r.partition)] = r.next_offset
        return stored

    async def _stored_positions(
        self,
        consumer: AIOKafkaConsumer,
        partitions: Sequence[TopicPartition],
        stored: dict[tuple[str, int], int],
    ) -> dict[TopicPartition, int | None]:
        """Where this read model reads ``partitions`` from: its ``stored`` offsets, ``None`` for the beginning."""
        positions: dict[TopicPartition, int | None] = {}
        for tp in partitions:
            if self.feed._consumer is not consumer:
                return positions
            offset = stored.get((tp.topic, tp.partition))
            if offset is None and getattr(self.projection, "start_at_end", False):
                # a projection about what happens from now on (notifications): on its very first start, the end of
                # every partition of its topics is stored (:meth:`_store_ends_at_birth`); a partition without a
                # position after that appeared later and is read from its beginning
                if not await self._born():
                    await self._store_ends_at_birth(consumer, partitions)
                    stored = await self.stored_offsets()
                offset = stored.get((tp.topic, tp.partition))
            positions[tp] = offset
        return positions

    async def _born(self) -> bool:
        async with self.engine.connect() as conn:
            found = await conn.execute(
                text("SELECT 1 FROM consumer_offsets WHERE consumer = :c AND topic = '' AND partition = :p"),
                {"c": self.projection.name, "p": STARTED_AT},
            )
            return found.first() is not None

    async def _store_ends_at_birth(self, consumer: AIOKafkaConsumer, assigned: Sequence[TopicPartition]) -> None:
        """A ``start_at_end`` consumer's first start: the end offsets of every partition of its topics known now (not
        only those assigned to this replica) and the moment (the row of :data:`STARTED_AT`), in one transaction; a
        replica that got there first wins (``ON CONFLICT DO NOTHING``)."""
        partitions = set(assigned)
        for topic in self.projection.topics:
            partitions.update(TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ())
        ends = await consumer.end_offsets(list(partitions))
        rows = [{"c": self.projection.name, "t": tp.topic, "p": tp.partition, "o": end} for tp, end in ends.items()]
        async with self.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO consumer_offsets (consumer, topic, partition, next_offset) "
                    "VALUES (:c, :t, :p, :o) ON CONFLICT DO NOTHING"
                ),
                rows,
            )
            await conn.execute(
                text(
                    "INSERT INTO consumer_offsets (consumer, topic, partition, next_offset) VALUES "
                    "(:c, '', :p, CAST(extract(epoch FROM clock_timestamp()) * 1000 AS bigint)) ON CONFLICT DO NOTHING"
                ),
                {"c": self.projection.name, "p": STARTED_AT},
            )

    async def stored_offsets(self) -> dict[tuple[str, int], int]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT topic, partition, next_offset FROM consumer_offsets WHERE consumer = :c"),
                {"c": self.projection.name},
            )
            return {(r.topic, r.partition): r.next_offset for r in rows}

    @tracing.consumed
    async def process(
        self, tp: TopicPartition, records: Sequence[Any], *, decoded: Sequence[Decoded] | None = None
    ) -> None:
        """Apply ``records`` (consecutive, one partition; ``decoded``: :func:`decode_records` of them when the
        feeding member has it) with their offset in one transaction."""
        try:
            try:
                async with self.engine.begin() as conn:
                    await self.apply_records(conn, tp, records, isolate=False, decoded=decoded)
            except ApplyFailedError:
                # Some record failed: redo the batch one record at a time, dead-lettering the failures.
                async with self.engine.begin() as conn:
                    await self.apply_records(conn, tp, records, isolate=True, decoded=decoded)
        except PositionMovedError:
            await self._read_from_stored(tp, records[0].offset)
            return
        except Exception:
            # The database (or the hook) failed: nothing of the batch committed; go back to the stored offset.
            if self.feed._consumer is not None:
                await self.seek_to_stored([tp])
            raise
        self._sought.pop(tp, None)
        self._placed[tp] = records[-1].offset + 1
        committed = getattr(self.projection, "committed", None)
        if committed is not None:  # e.g. wakes a task of this process that works off what the batch wrote
            committed()

    async def _read_from_stored(self, tp: TopicPartition, first: int) -> None:
        """The stored offset of ``tp`` was moved back under this consumer (:class:`PositionMovedError`): read from
        there. Remembered, so that a batch starting past it once more is taken: then Kafka holds nothing in between
        (records deleted by retention, a compacted or aborted stretch), which no seek can change."""
        stored = (await self.stored_offsets()).get((tp.topic, tp.partition))
        if stored is None or self.feed._consumer is None:
            return
        self._seek_back(tp, stored, f"before the batch read at {first} {MOVED_BACK}")

    def _seek_back(self, tp: TopicPartition, stored: int, where: str) -> None:
        """Read ``tp`` from its ``stored`` offset (``where``: why this consumer is elsewhere); the member feeding it
        reads from there (its other lanes skip what they have)."""
        consumer = self.feed._consumer
        if consumer is None:
            return
        log.warning(
            "consumer %s: the offset stored for %s[%d] is %d, %s; reading from %d",
            self.projection.name, tp.topic, tp.partition, stored, where, stored,
        )  # fmt: skip
        self._sought[tp] = self._placed[tp] = stored
        # the member reads from there, or from further back if another read model it feeds still needs that (two
        # moved back at once: the second seek must not carry the member past the first one's records)
        lanes = self.feed._lanes_of(tp.topic)
        consumer.seek(tp, min((lane._placed[tp] for lane in lanes if tp in lane._placed), default=stored))

    def _recheck_stored(self, stored: dict[tuple[str, int], int]) -> None:
        """Every :data:`RECHECK_SECONDS` (``stored``: this read model's stored offsets): a partition whose stored
        offset is now before the one this consumer last stored or sought there was moved back under it (a republish
        after a Kafka loss) and is read from there. A batch finds that out by itself (:class:`PositionMovedError`);
        this is for a partition that gets no new record, where the consumer, at its old place, would otherwise never
        read the new log's records."""
        if not self._placed:
            return
        feed = self.feed
        for tp, mine in list(self._placed.items()):
            now = stored.get((tp.topic, tp.partition))
            if tp not in feed.positioned or tp in feed._positioning or now is None or now >= mine:
                continue
            self._seek_back(tp, now, f"before {mine} where it stood {MOVED_BACK}")

    async def _check_progress(self, consumer: AIOKafkaConsumer) -> None:
        """At each recheck: each partition this member reads where the broker's end lies past the fetch position or
        past a read model's stored offset, with both unmoved since the last recheck at least ``stall_seconds``
        before, stalls it; then it raises :class:`ConsumerStalledError` and :meth:`run` starts a new member, which
        rejoins the group and reads from the stored offsets. One ``ListOffsets`` request a recheck; a broker that
        does not answer decides nothing."""
        mine = [tp for tp in consumer.assignment() if tp in self.positioned and tp not in self._positioning]
        if not mine:
            self._still = {}
            return
        try:
            ends = await asyncio.wait_for(consumer.end_offsets(mine), PROGRESS_TIMEOUT_SECONDS)
        except Exception:  # the broker cannot tell now: nothing is decided (and nothing forgotten) until it can
            log.debug("consumer %s: end offsets unknown; progress not checked", self.name, exc_info=True)
            return
        now = time.monotonic()
        still: dict[TopicPartition, tuple[tuple[int | None, ...], float]] = {}
        for tp in mine:
            end = ends.get(tp)
            if end is None:
                continue
            try:
                position: int | None = await asyncio.wait_for(consumer.position(tp), PROGRESS_TIMEOUT_SECONDS)
            except Exception:  # no position: waiting for a reset that does not come
                position = None
            placed = [lane._placed.get(tp) for lane in self._lanes_of(tp.topic)]
            if position is not None and position >= end and all(p is None or p >= end for p in placed):
                continue  # at the end (a read model without a stored offset has nothing there to read)
            marks = (position, *placed)
            seen = self._still.get(tp)
            still[tp] = seen if seen is not None and seen[0] == marks else (marks, now)
        self._still = still
        stalled = [tp for tp, (_, since) in still.items() if now - since >= self.stall_seconds]
        if stalled:
            raise ConsumerStalledError(
                f"consumer {self.name} read nothing for {now - min(still[tp][1] for tp in stalled):.0f}s while "
                "behind the end of "
                + ", ".join(f"{tp.topic}[{tp.partition}] (at {still[tp][0][0]}, end {ends[tp]})" for tp in stalled)
                + "; restarting it"
            )

    def dead_letter_to(self, producer: Any) -> None:
        """Send dead letters through ``producer`` (already started, owned by the caller: e.g. one for every read
        model a replay applies) instead of a producer of its own."""
        self._dlq = producer

    async def apply_records(
        self,
        conn: AsyncConnection,
        tp: TopicPartition,
        records: Sequence[Any],
        *,
        isolate: bool,
        decoded: Sequence[Decoded] | None = None,
    ) -> None:
        """Inbox, read model and offset for ``records`` inside ``conn``'s transaction; ``decoded`` is
        :func:`decode_records` of them when the caller already has it (a replay decodes once for every read model).
        Without ``isolate``, raises :class:`ApplyFailedError` on the first failure (the caller rolls back). A
        refusal of the database's own (:func:`shared.pg.transient_database_error`) is raised as it is, in either pass:
        it is no record's fault, so the caller (the consumer, a replay) rolls back and nothing is dead-lettered."""
        if decoded is None:
            decoded = decode_records(records)
        # ``fresh``: the ids applied now; ``None`` for an idempotent read model: every event is applied (no inbox: its
        # own keys absorb a second copy, in an earlier batch or in this one)
        fresh: set[uuid.UUID] | None = None
        if not self.idempotent:
            ids = [event.event_id for _, event, _ in decoded if event is not None]
            if ids and self.expect_new_ids and not isolate:
                fresh = await self._copy_into_inbox(conn, ids)
            elif ids:
                rows = await conn.execute(
                    text(
                        "INSERT INTO inbox (consumer, event_id) SELECT :c, unnest(CAST(:ids AS uuid[])) "
                        "ON CONFLICT DO NOTHING RETURNING event_id"
                    ),
                    {"c": self.projection.name, "ids": ids},
                )
                fresh = {row.event_id for row in rows}
            else:
                fresh = set()
        # Without ``isolate`` a failure rolls the whole transaction back (the caller redoes it isolated): no savepoint.
        applied = duplicates = 0
        apply_batch = getattr(self.projection, "apply_batch", None)
        if apply_batch is not None and not isolate:
            # Fast path: one call for the whole batch; any failure falls back to the isolated pass.
            batch: list[ConsumedEvent] = []
            for index, (_, event, error) in enumerate(decoded):
                if error is not None or event is None:
                    raise ApplyFailedError(index, error or RuntimeError("undecodable record"))
                if fresh is None:
                    batch.append(event)
                elif event.event_id in fresh:
                    fresh.discard(event.event_id)
                    batch.append(event)
                else:
                    duplicates += 1
            try:
                await apply_batch(conn, batch)
            except Exception as exc:
                if transient_database_error(exc):
                    raise  # the database's trouble, not a record's: the caller goes back to the stored offset
                raise ApplyFailedError(0, exc) from exc
            applied, decoded = len(batch), []
        for index, (record, event, error) in enumerate(decoded):
            if fresh is not None and event is not None:
                if event.event_id not in fresh:
                    duplicates += 1
                    continue
                fresh.discard(event.event_id)  # a second copy in the same batch is a duplicate too
            if error is None and event is not None:
                try:
                    await apply_event(conn, self.projection, event, isolate=isolate)
                    applied += 1
                    continue
                except Exception as exc:
                    if transient_database_error(exc):
                        raise  # the database's trouble, not the record's: tried again, never dead-lettered for it
                    error = exc
            if not isolate:  # dead-letter only in the isolated pass, so each failure is sent once
                raise ApplyFailedError(index, error or RuntimeError("undecodable record"))
            await self._dead_letter(conn, record, event, error)
        # The offset goes with the changes, unless the stored one lies before this batch: records between them were
        # never applied here (the stored offset was moved back under this consumer), so nothing of the batch is kept
        # (PositionMovedError). A stored offset at or past the batch's start is a re-delivery the inbox absorbed.
        kept = await conn.execute(
            text(
                "INSERT INTO consumer_offsets (consumer, topic, partition, next_offset) VALUES (:c, :t, :p, :o) "
                "ON CONFLICT (consumer, topic, partition) DO UPDATE SET next_offset = excluded.next_offset, "
                "updated_at = now() WHERE consumer_offsets.next_offset >= :first "
                "OR consumer_offsets.next_offset = :sought RETURNING 1"
            ),
            {
                "c": self.projection.name,
                "t": tp.topic,
                "p": tp.partition,
                "o": records[-1].offset + 1,
                "first": records[0].offset,
                "sought": self._sought.get(tp, -1),
            },
        )
        if kept.first() is None:
            raise PositionMovedError(f"{tp.topic}[{tp.partition}]")
        await self.before_commit(conn, tp, records)
        CONSUMED.labels(self.projection.name).inc(applied)
        DUPLICATES.labels(self.projection.name).inc(duplicates)

    async def _copy_into_inbox(self, conn: AsyncConnection, ids: list[uuid.UUID]) -> set[uuid.UUID]:
        """The inbox rows of ``ids`` by COPY; the fresh ids (all of them, or, if one was already there, those the
        ``INSERT ... ON CONFLICT DO NOTHING`` of :func:`copy_new_records` inserted)."""
        unique = list(dict.fromkeys(ids))  # a second copy in the same batch is a duplicate
        rows = [(self.projection.name, i) for i in unique]
        inserted = await copy_new_records(
            conn, "inbox", ("consumer", "event_id"), ("text", "uuid"), rows, returning="event_id"
        )
        return set(unique) if inserted is None else inserted

    async def before_commit(self, conn: AsyncConnection, tp: TopicPartition, records: Sequence[Any]) -> None:
        """Extension point called after the read-model change and offset, before the commit (fault tests)."""

    async def _dead_letter(
        self, conn: AsyncConnection, record: Any, event: ConsumedEvent | None, error: BaseException | None
    ) -> None:
        reason = dead_letters.describe(error)
        log.error("dead-lettering %s[%s]@%s: %s", record.topic, record.partition, record.offset, reason)
        headers = [
            *(record.headers or []),
            ("pmo_error", reason.encode()),
            ("pmo_consumer", self.projection.name.encode()),
            ("pmo_original_topic", record.topic.encode()),
            ("pmo_original_partition", str(record.partition).encode()),
            ("pmo_original_offset", str(record.offset).encode()),
        ]
        await self._dlq.send_and_wait(DLQ_TOPIC, value=record.value, key=record.key, headers=headers)
        if event is not None and not self.idempotent:
            await conn.execute(
                text("UPDATE inbox SET dead_lettered = true WHERE consumer = :c AND event_id = :e"),
                {"c": self.projection.name, "e": event.event_id},
            )
        await dead_letters.record(conn, self.projection.name, None if event is None else event.event_id, record, reason)
        await dead_letters.refresh_gauge(conn, self.projection.name)
        DEAD_LETTERED.labels(self.projection.name).inc()


class _SeekToStored(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: ProjectionConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self.owner.assigned -= set(revoked)
        self.owner.positioned -= set(revoked)
        for lane in self.owner.lanes:
            for tp in revoked:
                lane._placed.pop(tp, None)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.owner.assigned |= set(assigned)
        try:
            await self.owner.seek_to_stored(list(assigned))
        except Exception as exc:  # aiokafka would only log it: the consumer restarts instead (its records unapplied)
            self.owner._positioning_failed = exc
            raise
