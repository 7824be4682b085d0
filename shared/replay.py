"""Rebuilding read models from the topics: empty them, then consume every partition from the beginning up to the
end offsets seen when the replay started, with the same exactly-once machinery as the live consumer.

:func:`replay_all` rebuilds several read models (typically all of one service's) in one pass: the union of their
topics is read once and every record decoded once; each fetched batch of a partition (up to ``batch`` records) is
applied, in ONE transaction, to every read model subscribing to its topic, each with its own inbox rows
(deduplicated by event id per read model), its own ``consumer_offsets`` row and, if its batch fails, its own
one-at-a-time pass with dead-lettering, exactly as :class:`shared.consumer.ProjectionConsumer` does (an idempotent
read model keeps no inbox). Reading and decoding the next batch of each partition overlaps the database writing the
current ones: writer tasks, each on its own connection, take the batches of partitions no other writer is busy
with (:class:`_Chunks`). With ``processes`` > 1 the partitions are shared out between this process and spawned
worker processes, each doing the same for its share (:class:`_Workers`).
:func:`replay` is the same for one read model.

Run it while the service that owns the read models is stopped, or into another schema (then point the service at
it with ``PMO_DB_SCHEMA``): a live consumer writing the same tables at the same time would race the emptying.
"""

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
    depth: int = 1,
    writers: int = 2,
    processes: int = 1,
    connect: Callable[[], AsyncEngine] | None = None,
) -> ReplayResult:
    """Empty ``tables`` and every projection's inbox and positions, then apply every record of the union of their
    topics up to today's end offsets, in one pass. ``progress(done, total)`` counts records of the topics (a
    record applied to two read models counts once). ``depth`` batches per partition are read ahead of the database.

    ``writers`` transactions run at once, each on its own connection (the engine's pool must allow them), each for
    one partition number at a time (see :class:`_Chunks`): a partition's batches stay in order and one project's
    events are never written by two transactions at once; while one waits for PostgreSQL, Python prepares the next.

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
    loader = _Loader(kafka, list(projections), batch, depth, writers)
    workers = _Workers(processes - 1, loader, connect) if processes > 1 else None
    try:
        if workers is not None:
            workers.start()  # their start (a fresh interpreter, imports) overlaps the emptying
        await _empty(engine, tables, names)
        with _fewer_collections():
            if workers is not None:
                done = await workers.load(engine, starts, ends, progress, total)
            else:
                done = await loader.load(engine, starts, ends, progress, total)
        return ReplayResult(done, len(ends), max(processes, 1))
    finally:
        if workers is not None:
            workers.stop()


Offsets = dict[TopicPartition, int]


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
        for table in ("inbox", "consumer_offsets"):
            await conn.execute(text(f"DELETE FROM {table} WHERE consumer = ANY(:c)"), {"c": list(names)})


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
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
class _Loader:
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


class _Workers:
    """``count`` worker processes (spawned: a fresh interpreter each, nothing of this process's event loop, sockets
    or connections inherited) next to this one: with ``n = count + 1``, partition number ``p`` is loaded by worker
    ``p % n``, worker 0 being this process. The workers report progress, their record count or their error through
    one queue; a worker that dies without a word fails the replay too, and every worker is stopped when the replay
    ends, however it ends."""

    def __init__(self, count: int, loader: _Loader, connect: Callable[[], AsyncEngine] | None) -> None:
        import multiprocessing

        self.context = multiprocessing.get_context("spawn")
        self.count = count
        self.loader = loader
        self.connect = connect
        self.queue: Any = self.context.Queue()
        self.jobs: list[Any] = [self.context.Queue() for _ in range(count)]
        self.processes: list[Any] = []

    def start(self) -> None:
        for index in range(self.count):
            process = self.context.Process(
                target=_worker,
                args=(index + 1, self.jobs[index], self.queue, self.loader, self.connect),
                daemon=True,
            )
            process.start()
            self.processes.append(process)

    async def load(
        self, engine: AsyncEngine, starts: Offsets, ends: Offsets, progress: Progress | None, total: int
    ) -> int:
        """Share ``0`` of the partitions is loaded here, share ``i`` by worker ``i``; the sum of their records."""
        import queue as queue_module

        shares = self.count + 1

        def share(index: int) -> tuple[Offsets, Offsets]:
            mine = [tp for tp in starts if tp.partition % shares == index]
            return {tp: starts[tp] for tp in mine}, {tp: ends[tp] for tp in mine}

        for index, job in enumerate(self.jobs, start=1):
            job.put((*share(index), total))
        done = [0] * shares

        def report(index: int, count: int) -> None:
            done[index] = count
            if progress:
                progress(sum(done), total)

        here_starts, here_ends = share(0)
        here = asyncio.create_task(
            self.loader.load(engine, here_starts, here_ends, lambda count, _: report(0, count), total)
        )
        finished: set[int] = set()

        def handle(kind: str, index: int, value: Any) -> None:
            if kind == "error":
                raise RuntimeError(f"replay worker {index} failed:\n{value}")
            if kind == "done":
                finished.add(index)
            report(index, value)

        try:
            while len(finished) < self.count:
                if here.done() and here.exception() is not None:
                    here.result()  # raises this process's error
                try:
                    handle(*await asyncio.to_thread(self.queue.get, True, 0.2))
                    continue
                except queue_module.Empty:
                    pass
                gone = [n for n, p in enumerate(self.processes, start=1) if n not in finished and not p.is_alive()]
                if gone:  # killed (OOM, a signal)? Its last words may still be on their way: read them first
                    with contextlib.suppress(queue_module.Empty):
                        for _ in range(100):  # what is there now, not what the others go on sending
                            handle(*await asyncio.to_thread(self.queue.get, True, 0.05))
                    for number in gone:
                        if number not in finished:
                            code = self.processes[number - 1].exitcode
                            raise RuntimeError(f"replay worker {number} exited with code {code}")
            report(0, await here)
        finally:
            if not here.done():
                here.cancel()
                await asyncio.gather(here, return_exceptions=True)
        return sum(done)

    def stop(self) -> None:
        """Wait briefly for workers that are ending anyway; terminate the others (a failed or cancelled replay)."""
        for process in self.processes:
            process.join(2)
            if process.is_alive():
                process.terminate()
                process.join(10)


def _worker(index: int, job: Any, out: Any, loader: _Loader, connect: Callable[[], AsyncEngine]) -> None:
    """A worker process's body: wait for its share of the partitions, load them, report."""
    import traceback

    from shared import aio

    async def go(starts: Offsets, ends: Offsets, total: int) -> int:
        engine = connect()
        try:
            with _fewer_collections():
                return await loader.load(
                    engine, starts, ends, lambda done, _: out.put(("progress", index, done)), total
                )
        finally:
            await engine.dispose()

    try:
        starts, ends, total = job.get()
        out.put(("done", index, aio.run(go(starts, ends, total))))
    except BaseException:
        out.put(("error", index, traceback.format_exc()))
        raise SystemExit(1) from None


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
