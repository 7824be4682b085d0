"""Rebuilding read models from the topics: empty them, then consume every partition from the beginning up to the
end offsets seen when the replay started, with the same exactly-once machinery as the live consumer.

:func:`replay_all` rebuilds several read models (typically all of one service's) in one pass: the union of their
topics is read once and every record decoded once; each fetched batch of a partition (up to ``batch`` records) is
applied, in ONE transaction, to every read model subscribing to its topic, each with its own inbox rows
(deduplicated by event id per read model), its own ``consumer_offsets`` row and, if its batch fails, its own
one-at-a-time pass with dead-lettering, exactly as :class:`shared.consumer.ProjectionConsumer` does. Reading and
decoding the next batches overlaps the database writing the current ones: writer tasks fed through bounded queues,
each on its own connection, for different partitions.
:func:`replay` is the same for one read model.

Run it while the service that owns the read models is stopped, or into another schema (then point the service at
it with ``PMO_DB_SCHEMA``): a live consumer writing the same tables at the same time would race the emptying.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.consumer import Decoded, Projection, ProjectionConsumer, _ApplyFailed, decode_records
from shared.kafka import KafkaOptions

Progress = Callable[[int, int], None]

BATCH = 5000
"""Records of one partition per transaction during a replay (the live consumer takes 500 at a time)."""


@dataclass(frozen=True)
class ReplayResult:
    records: int
    partitions: int


async def replay(
    engine: AsyncEngine,
    kafka: KafkaOptions,
    projection: Projection,
    tables: Sequence[str],
    *,
    progress: Progress | None = None,
    batch: int = BATCH,
) -> ReplayResult:
    """Empty ``tables`` and the projection's positions, then apply every record up to today's end offsets."""
    return await replay_all(engine, kafka, [projection], tables, progress=progress, batch=batch)


@dataclass(frozen=True)
class _Chunk:
    tp: TopicPartition
    records: list[Any]
    decoded: list[Decoded]


async def replay_all(
    engine: AsyncEngine,
    kafka: KafkaOptions,
    projections: Sequence[Projection],
    tables: Sequence[str],
    *,
    progress: Progress | None = None,
    batch: int = BATCH,
    depth: int = 2,
    writers: int = 2,
) -> ReplayResult:
    """Empty ``tables`` and every projection's inbox and positions, then apply every record of the union of their
    topics up to today's end offsets, in one pass. ``progress(done, total)`` counts records of the topics (a
    record applied to two read models counts once). ``depth`` batches per writer are read ahead of the database.

    ``writers`` transactions run at once, each on its own connection (the engine's pool must allow them), for
    different partitions: partition ``n`` of every topic goes to writer ``n % writers``, so a partition's batches
    stay in order and one project's events (the same key: the same partition number on every topic, which all
    have as many partitions) are never written by two transactions at once; while one waits for PostgreSQL,
    Python prepares the next."""
    names = [p.name for p in projections]
    if len(set(names)) != len(names):
        raise ValueError(f"read models replayed together need distinct names: {names}")
    with _fewer_collections():
        return await _replay_all(engine, kafka, projections, names, tables, progress, batch, depth, writers)


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """The cyclic garbage collector, tuned for a replay: every batch in flight (records, events, contract models,
    statement parameters: hundreds of thousands of objects) survives the young collections, and the full ones
    walked them and every module's objects over and over (half the replay's CPU time on 100k events). Objects
    alive before the replay are frozen out of the collections and the young threshold is raised, until the end."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(threshold[0], 1_000_000), threshold[1], threshold[2])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


async def _replay_all(
    engine: AsyncEngine,
    kafka: KafkaOptions,
    projections: Sequence[Projection],
    names: list[str],
    tables: Sequence[str],
    progress: Progress | None,
    batch: int,
    depth: int,
    writers: int,
) -> ReplayResult:
    topics = list(dict.fromkeys(t for p in projections for t in p.topics))
    consumer = AIOKafkaConsumer(
        enable_auto_commit=False,
        auto_offset_reset="earliest",  # should a reset race the seeks below, it must not skip to the end
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
        **kafka.client_kwargs(),
    )
    await consumer.start()
    try:
        partitions = []
        for topic in topics:
            ids = consumer.partitions_for_topic(topic)
            if not ids:
                await consumer._client.force_metadata_update()
                ids = consumer.partitions_for_topic(topic) or set()
            partitions += [TopicPartition(topic, p) for p in sorted(ids)]
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        total = sum(ends[tp] - starts[tp] for tp in partitions)
        async with engine.begin() as conn:
            for table in tables:
                await conn.execute(text(f'TRUNCATE TABLE "{table}"'))
            for table in ("inbox", "consumer_offsets"):
                await conn.execute(text(f"DELETE FROM {table} WHERE consumer = ANY(:c)"), {"c": names})
        pending = [tp for tp in partitions if ends[tp] > starts[tp]]
        consumer.assign(pending)
        for tp in pending:
            consumer.seek(tp, starts[tp])
        dlq = _DeadLetterProducer(kafka)
        await dlq.start()
        appliers = []
        for projection in projections:
            applier = ProjectionConsumer(engine, kafka, projection)
            applier._dlq = dlq
            applier.expect_new_ids = True  # its inbox was just emptied
            appliers.append(applier)
        writer = _Writer(engine, appliers, progress, total)
        queues: list[asyncio.Queue[_Chunk | None]] = [asyncio.Queue(maxsize=depth) for _ in range(max(writers, 1))]
        tasks = [asyncio.create_task(writer.run(queue)) for queue in queues]
        try:
            buffers: dict[TopicPartition, list[Any]] = {tp: [] for tp in pending}
            while pending:
                fetched = await consumer.getmany(*pending, timeout_ms=500, max_records=batch)
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
                        chunk = _Chunk(tp, records, decode_records(records))
                        await _put(queues[tp.partition % len(queues)], chunk, tasks)
                    buffers[tp] = buffered
                pending = [tp for tp in pending if tp not in finished]
            for queue in queues:
                await _put(queue, None, tasks)
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await dlq.stop()
        return ReplayResult(writer.done, len(partitions))
    finally:
        await consumer.stop()


async def _put(queue: asyncio.Queue[_Chunk | None], item: _Chunk | None, writers: list[asyncio.Task[None]]) -> None:
    """``queue.put``, but raise a writer's error as soon as one fails (instead of waiting for ever)."""
    while True:
        for writer in writers:
            if writer.done() and (writer.cancelled() or writer.exception() is not None):
                writer.result()  # raises the writer's error
        if not queue.full():
            queue.put_nowait(item)
            return
        put = asyncio.ensure_future(queue.put(item))
        await asyncio.wait({put, *(w for w in writers if not w.done())}, return_when=asyncio.FIRST_COMPLETED)
        if put.done():
            put.result()
            return
        put.cancel()  # a writer ended: see why, then wait again


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

    async def run(self, queue: asyncio.Queue[_Chunk | None]) -> None:
        while (chunk := await queue.get()) is not None:
            await self.write(chunk)
            self.done += len(chunk.records)
            if self.progress:
                self.progress(self.done, self.total)

    async def write(self, chunk: _Chunk) -> None:
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
                            await applier._apply_batch(
                                conn, chunk.tp, chunk.records, isolate=applier in isolated, decoded=chunk.decoded
                            )
                        except _ApplyFailed:
                            failed = applier
                            raise
                return
            except _ApplyFailed:
                assert failed is not None and failed not in isolated
                isolated.append(failed)


class _DeadLetterProducer:
    """The replay's dead-letter producer (records that fail again go to the DLQ again)."""

    def __init__(self, kafka: KafkaOptions) -> None:
        from shared.kafka import new_producer

        self._producer = new_producer(kafka)

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send_and_wait(self, *args: object, **kwargs: object) -> object:
        return await self._producer.send_and_wait(*args, **kwargs)


def text_progress(label: str) -> Progress:
    """A progress bar on stderr."""
    import sys

    def show(done: int, total: int) -> None:
        width = 40
        share = done / total if total else 1.0
        bar = "#" * int(share * width)
        sys.stderr.write(f"\r{label} [{bar:<{width}}] {done}/{total} records ({share:.0%})")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show
