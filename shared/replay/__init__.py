"""Rebuilding read models from the topics: empty them, then consume every partition from the beginning up to the
end offsets seen when the replay started, with the same exactly-once machinery as the live consumer.

:func:`replay_all` rebuilds several read models (typically all of one service's) in one pass: the union of their
topics is read once and every record decoded once; each fetched batch of a partition (up to ``batch`` records) is
applied, in ONE transaction, to every read model subscribing to its topic, each with its own inbox rows
(deduplicated by event id per read model), its own ``consumer_offsets`` row and, if its batch fails, its own
one-at-a-time pass with dead-lettering, exactly as :class:`shared.consumer.ProjectionConsumer` does (an idempotent
read model keeps no inbox). Reading and decoding the next batch of each partition overlaps the database writing the
current ones: writer tasks, each on its own connection, take the batches of partitions no other writer is busy
with (:mod:`shared.replay.loading`). With ``processes`` > 1 the partitions are shared out between this process and
spawned worker processes, each doing the same for its share (:mod:`shared.replay.workers`).
:func:`replay` is the same for one read model.

Run it while the service that owns the read models is stopped, or into another schema (then point the service at
it with ``PMO_DB_SCHEMA``): a live consumer writing the same tables at the same time would race the emptying.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.consumer import Projection
from shared.kafka import KafkaOptions
from shared.replay.loading import Loader, Offsets, Progress, fewer_collections
from shared.replay.workers import Workers

__all__ = ["BATCH", "Progress", "ReplayResult", "replay", "replay_all", "text_progress"]

BATCH = 10_000
"""Records of one partition per transaction during a replay (the live consumer takes 500 at a time)."""


@dataclass(frozen=True)
class ReplayResult:
    records: int
    partitions: int
    processes: int = 1


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


async def replay_all(
    engine: AsyncEngine,
    kafka: KafkaOptions,
    projections: Sequence[Projection],
    tables: Sequence[str],
    *,
    progress: Progress | None = None,
    batch: int = BATCH,
    depth: int = 1,
    writers: int = 2,
    processes: int = 1,
    connect: Callable[[], AsyncEngine] | None = None,
) -> ReplayResult:
    """Empty ``tables`` and every projection's inbox and positions, then apply every record of the union of their
    topics up to today's end offsets, in one pass. ``progress(done, total)`` counts records of the topics (a
    record applied to two read models counts once). ``depth`` batches per partition are read ahead of the database.

    ``writers`` transactions run at once, each on its own connection (the engine's pool must allow them), each for
    one partition number at a time (see ``_Chunks`` in :mod:`shared.replay.loading`): a partition's batches stay in
    order and one project's events are never written by two transactions at once; while one waits for PostgreSQL,
    Python prepares the next.

    ``processes`` > 1 spreads the partitions over that many processes (at most one per partition number): this one
    and ``processes - 1`` workers. Partition number ``n`` of every topic goes to process ``n % processes``; each loads
    its share as above, a worker with ``writers`` connections of its own from ``connect()``, which must be picklable
    (e.g. a ``functools.partial`` of :func:`shared.db.create_engine`), as must the projections. Python's decoding,
    validation and encoding then use more than one core. This process also plans, empties and reports progress."""
    names = [p.name for p in projections]
    if len(set(names)) != len(names):
        raise ValueError(f"read models replayed together need distinct names: {names}")
    if processes > 1 and connect is None:
        raise ValueError("replaying in several processes needs connect, to open the workers' own engines")
    starts, ends = await _plan(kafka, projections)
    total = sum(ends[tp] - starts[tp] for tp in ends)
    processes = min(processes, len({tp.partition for tp in ends}))  # a process per partition number at most
    loader = Loader(kafka, list(projections), batch, depth, writers)
    workers = Workers(processes - 1, loader, connect) if processes > 1 else None
    try:
        if workers is not None:
            workers.start()  # their start (a fresh interpreter, imports) overlaps the emptying
        await _empty(engine, tables, names)
        with fewer_collections():
            if workers is not None:
                done = await workers.load(engine, starts, ends, progress, total)
            else:
                done = await loader.load(engine, starts, ends, progress, total)
        return ReplayResult(done, len(ends), max(processes, 1))
    finally:
        if workers is not None:
            workers.stop()


async def _plan(kafka: KafkaOptions, projections: Sequence[Projection]) -> tuple[Offsets, Offsets]:
    """The partitions of the projections' topics, with their beginning offsets and today's end offsets."""
    topics = list(dict.fromkeys(t for p in projections for t in p.topics))
    consumer = AIOKafkaConsumer(enable_auto_commit=False, **kafka.client_kwargs())
    await consumer.start()
    try:
        partitions = []
        for topic in topics:
            ids = consumer.partitions_for_topic(topic)
            if not ids:
                await consumer._client.force_metadata_update()  # aiokafka has no public call for it
                ids = consumer.partitions_for_topic(topic) or set()
            partitions += [TopicPartition(topic, p) for p in sorted(ids)]
        return await consumer.beginning_offsets(partitions), await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()


async def _empty(engine: AsyncEngine, tables: Sequence[str], names: Sequence[str]) -> None:
    async with engine.begin() as conn:
        for table in tables:
            await conn.execute(text(f'TRUNCATE TABLE "{table}"'))
        for table in ("inbox", "consumer_offsets", "dead_letters"):  # a replay dead-letters afresh what fails
            await conn.execute(text(f"DELETE FROM {table} WHERE consumer = ANY(:c)"), {"c": list(names)})


def text_progress(label: str) -> Progress:
    """A progress bar on stderr (redrawn in place; the line ends once, when everything is done)."""
    import sys

    finished = False

    def show(done: int, total: int) -> None:
        nonlocal finished
        if finished:
            return
        width = 40
        share = done / total if total else 1.0
        bar = "#" * int(share * width)
        sys.stderr.write(f"\r{label} [{bar:<{width}}] {done}/{total} records ({share:.0%})")
        if done >= total:
            sys.stderr.write("\n")
            finished = True
        sys.stderr.flush()

    return show
