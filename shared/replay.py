"""Rebuilding a read model from the topics: empty it, then consume every partition from the beginning up to the
end offsets seen when the replay started, with the same exactly-once machinery as the live consumer.

Run it while the service that owns the read model is stopped, or into another schema (then point the service at
it with ``PMO_DB_SCHEMA``): a live consumer writing the same tables at the same time would race the emptying.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.consumer import Projection, ProjectionConsumer
from shared.kafka import KafkaOptions

Progress = Callable[[int, int], None]


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
    batch: int = 2000,
) -> ReplayResult:
    """Empty ``tables`` and the projection's positions, then apply every record up to today's end offsets."""
    consumer = AIOKafkaConsumer(enable_auto_commit=False, **kafka.client_kwargs())
    await consumer.start()
    try:
        partitions = []
        for topic in projection.topics:
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
                await conn.execute(text(f"DELETE FROM {table} WHERE consumer = :c"), {"c": projection.name})
        pending = [tp for tp in partitions if ends[tp] > starts[tp]]
        consumer.assign(pending)
        for tp in pending:
            consumer.seek(tp, starts[tp])
        applier = ProjectionConsumer(engine, kafka, projection)
        applier._dlq = _DeadLetterProducer(kafka)
        await applier._dlq.start()
        done = 0
        try:
            while pending:
                fetched = await consumer.getmany(*pending, timeout_ms=500, max_records=batch)
                for tp, records in fetched.items():
                    records = [r for r in records if r.offset < ends[tp]]
                    if records:
                        await applier.process(tp, records)
                        done += len(records)
                    if (records and records[-1].offset + 1 >= ends[tp]) or await consumer.position(tp) >= ends[tp]:
                        pending = [p for p in pending if p != tp]
                if progress:
                    progress(done, total)
        finally:
            await applier._dlq.stop()
        return ReplayResult(done, len(partitions))
    finally:
        await consumer.stop()


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
