"""Loading a share of a replay's partitions: fetching each partition's records from its start to its end offset,
decoding them ahead of the database, and the writers that apply each batch, in one transaction, to every read
model subscribing to its topic."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.consumer import ApplyFailedError, Decoded, Projection, ProjectionConsumer, decode_records
from shared.kafka import KafkaOptions, new_producer

Progress = Callable[[int, int], None]
"""``progress(done, total)``: records of the topics applied so far, out of all of them."""

Offsets = dict[TopicPartition, int]


@dataclass(frozen=True)
class _Chunk:
    tp: TopicPartition
    records: list[Any]
    decoded: list[Decoded]


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """No cyclic garbage collection during a replay: every batch in flight (records, events, contract models, COPY
    rows: hundreds of thousands of objects) would be walked by the collections over and over, and nothing a replay
    makes forms cycles (its objects are freed by reference counting as each batch is written: the peak memory of a
    1M-event replay is that of a 300k one). Objects alive before the replay are frozen out of the collections too;
    everything is collected once at the end."""
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()
        gc.collect()


async def _load(
    engine: AsyncEngine,
    kafka: KafkaOptions,
    projections: Sequence[Projection],
    starts: Offsets,
    ends: Offsets,
    progress: Progress | None,
    total: int,
    batch: int,
    depth: int,
    writers: int,
) -> int:
    """Apply the records of ``starts``' partitions from their start to their end offset (the tables are empty), with
    at most ``writers`` writers, and no more than there are partition numbers to write."""
    writers = min(writers, len({tp.partition for tp in starts}) or 1)
    consumer = AIOKafkaConsumer(
        enable_auto_commit=False,
        auto_offset_reset="earliest",  # should a reset race the seeks below, it must not skip to the end
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
        **kafka.client_kwargs(),
    )
    await consumer.start()
    try:
        pending = [tp for tp in starts if ends[tp] > starts[tp]]
        consumer.assign(pending)
        for tp in pending:
            consumer.seek(tp, starts[tp])
        dlq = new_producer(kafka)  # dead letters of every read model replayed here
        await dlq.start()
        appliers = []
        for projection in projections:
            applier = ProjectionConsumer(engine, kafka, projection)
            applier.dead_letter_to(dlq)
            applier.expect_new_ids = True  # its inbox was just emptied
            appliers.append(applier)
        writer = _Writer(engine, appliers, progress, total)
        chunks = _Chunks(depth)
        tasks = [asyncio.create_task(chunks.work(writer.write)) for _ in range(max(writers, 1))]
        try:
            buffers: dict[TopicPartition, list[Any]] = {tp: [] for tp in pending}
            while pending:
                # fetch only for partitions with room in their queue: a full one must not hold the others up
                await chunks.room_for({tp.partition for tp in pending})
                eligible = [tp for tp in pending if chunks.has_room(tp.partition)]
                fetched = await consumer.getmany(*eligible, timeout_ms=500, max_records=batch)
                finished = []
                for tp, records in fetched.items():
                    records = [r for r in records if r.offset < ends[tp]]
                    buffers[tp] += records
                    if (records and records[-1].offset + 1 >= ends[tp]) or await consumer.position(tp) >= ends[tp]:
                        finished.append(tp)
                for tp in [*fetched, *finished]:
                    buffered = buffers[tp]
                    while len(buffered) >= batch or (buffered and tp in finished):
                        records, buffered = buffered[:batch], buffered[batch:]
                        await chunks.put(_Chunk(tp, records, decode_records(records)))
                    buffers[tp] = buffered
                pending = [tp for tp in pending if tp not in finished]
            await chunks.close()
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await dlq.stop()
        return writer.done
    finally:
        await consumer.stop()


@dataclass(frozen=True)
class Loader:
    """How every process of a replay loads its share of the partitions (picklable: it is sent to the workers)."""

    kafka: KafkaOptions
    projections: Sequence[Projection]
    batch: int
    depth: int
    writers: int

    async def load(
        self, engine: AsyncEngine, starts: Offsets, ends: Offsets, progress: Progress | None, total: int
    ) -> int:
        return await _load(
            engine, self.kafka, self.projections, starts, ends, progress, total, self.batch, self.depth, self.writers
        )


class _Chunks:
    """Decoded batches waiting for a writer, a queue per partition number. A writer takes the oldest batch of a
    partition number no other writer is writing: a partition's batches are applied in order, and one project's
    events (the same key: the same partition number on every topic, which all have as many partitions) are never
    written by two transactions at once; any free writer takes any free partition's batch, so no writer idles
    while a partition has work, and a full queue does not stop the fetching for the others. A writer's failure
    ends the replay: :meth:`room_for` raises it, and the other writers stop."""

    def __init__(self, depth: int) -> None:
        self.depth = max(depth, 1)
        self.waiting: dict[int, collections.deque[_Chunk]] = collections.defaultdict(collections.deque)
        self.busy: set[int] = set()
        self.closed = False
        self.failure: BaseException | None = None
        self.changed = asyncio.Condition()

    def has_room(self, partition: int) -> bool:
        return len(self.waiting[partition]) < self.depth

    async def room_for(self, partitions: set[int]) -> None:
        """Wait until one of ``partitions`` has room for another batch."""
        async with self.changed:
            await self.changed.wait_for(lambda: self.failure is not None or any(map(self.has_room, partitions)))
        if self.failure is not None:
            raise self.failure

    async def put(self, chunk: _Chunk) -> None:
        async with self.changed:
            self.waiting[chunk.tp.partition].append(chunk)
            self.changed.notify_all()

    async def close(self) -> None:
        async with self.changed:
            self.closed = True
            self.changed.notify_all()

    def _next(self) -> int | None:
        for partition, queue in self.waiting.items():
            if queue and partition not in self.busy:
                return partition
        return None

    def _drained(self) -> bool:
        return self.closed and not self.busy and not any(self.waiting.values())

    async def work(self, write: Callable[[_Chunk], Awaitable[None]]) -> None:
        """One writer: apply batches until the queues are closed and empty."""
        while True:
            async with self.changed:
                await self.changed.wait_for(
                    lambda: self.failure is not None or self._next() is not None or self._drained()
                )
                partition = self._next()
                if self.failure is not None or partition is None:
                    return
                chunk = self.waiting[partition].popleft()
                self.busy.add(partition)
                self.changed.notify_all()  # room in that queue: the fetch loop may go on
            try:
                await write(chunk)
            except BaseException as exc:
                async with self.changed:
                    self.failure = self.failure or exc
                    self.changed.notify_all()
                raise
            async with self.changed:
                self.busy.discard(partition)
                self.changed.notify_all()


class _Writer:
    """Applies queued batches, one transaction each, to every read model subscribing to the batch's topic."""

    def __init__(
        self, engine: AsyncEngine, appliers: Sequence[ProjectionConsumer], progress: Progress | None, total: int
    ):
        self.engine = engine
        self.appliers = appliers
        self.progress = progress
        self.total = total
        self.done = 0

    async def write(self, chunk: _Chunk) -> None:
        await self._write(chunk)
        self.done += len(chunk.records)
        if self.progress:
            self.progress(self.done, self.total)

    async def _write(self, chunk: _Chunk) -> None:
        """One transaction: each subscriber's inbox, batch and offset. A subscriber whose batch fails is redone one
        record at a time (dead-lettering what fails) in a new transaction with the others; isolated subscribers
        go last, so a later failure cannot roll back (and resend) dead letters already sent."""
        subscribers = [a for a in self.appliers if chunk.tp.topic in a.projection.topics]
        isolated: list[ProjectionConsumer] = []
        while True:
            failed: ProjectionConsumer | None = None
            try:
                async with self.engine.begin() as conn:
                    # A commit need not wait for its WAL flush: a lost tail after a database crash loses changes
                    # and positions together (and the replay, which stops, is simply run again).
                    await conn.execute(text("SET LOCAL synchronous_commit = off"))
                    for applier in [*(a for a in subscribers if a not in isolated), *isolated]:
                        try:
                            await applier.apply_records(
                                conn, chunk.tp, chunk.records, isolate=applier in isolated, decoded=chunk.decoded
                            )
                        except ApplyFailedError:
                            failed = applier
                            raise
                return
            except ApplyFailedError:
                assert failed is not None and failed not in isolated
                isolated.append(failed)
