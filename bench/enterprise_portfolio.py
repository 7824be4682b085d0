"""The enterprise benchmark's portfolio on the run's topics: its projects' histories generated (in worker processes)
and produced to Kafka, and the end offsets the catch-up is measured to."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import time
from collections.abc import Awaitable, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime
from multiprocessing import get_context
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]

from bench.common import Measurement
from bench.synthetic_enterprise import Shape, enterprise_history
from shared.kafka import KafkaOptions, new_producer, to_record

PARTITIONS = 3
Record = tuple[str, bytes, bytes, list[tuple[str, bytes]]]
"""(service, key, value, headers) of one Kafka record."""


def regular_shape(weeks: int, rng: random.Random) -> Shape:
    return Shape(
        weeks, people=rng.choice((3, 4, 4, 5)), vendors=rng.choice((0, 1, 1, 2)), milestones=rng.randint(6, 10)
    )


def generate(first: int, count: int, weeks: int, until: date, seed: int) -> tuple[list[str], list[Record]]:
    """Projects ``first`` .. ``first + count - 1`` of the portfolio as Kafka records (run in a worker process)."""
    rng = random.Random(seed)
    ids: list[str] = []
    records: list[Record] = []
    for index in range(first, first + count):
        history = enterprise_history(
            index, f"portfolio-{index % 10}", f"programme-{index % 50}", until, regular_shape(weeks, rng), rng
        )
        ids.append(str(history[0][1].data["project_id"]))
        records.extend((service, *to_record(service, event)) for service, event in history)
    return ids, records


def special(index: int, shape: Shape, until: date) -> tuple[str, date, list[Record]]:
    """One project of a given shape: its id, its planned start and its records."""
    history = enterprise_history(index, "portfolio-0", None, until, shape, random.Random(index))
    data = history[0][1].data
    return (
        str(data["project_id"]),
        date.fromisoformat(data["planned_start"]),
        [(service, *to_record(service, event)) for service, event in history],
    )


@dataclasses.dataclass
class Portfolio:
    regular: list[str]
    big: str
    big_start: date
    big_facts: int
    small: str
    small_start: date
    small_facts: int
    events: int = 0


async def produce(kafka: KafkaOptions, topic_of: dict[str, str], args: argparse.Namespace) -> tuple[Portfolio, Any]:
    """Generate and send the whole portfolio; returns it and the timing."""
    until = datetime.now(UTC).date()
    weeks, projects, workers = args.enterprise_weeks, args.enterprise_projects, args.enterprise_workers
    big_id, big_start, big = special(projects, Shape(weeks, people=11, vendors=2, milestones=10, kpis=3), until)
    small_id, small_start, small = special(
        projects + 1, Shape(min(3, weeks), people=1, vendors=0, milestones=3, kpis=0), until
    )
    portfolio = Portfolio([], big_id, big_start, len(big), small_id, small_start, len(small))
    producer = new_producer(kafka, linger_ms=20, max_batch_size=256 * 1024)
    await producer.start()
    pending: list[Awaitable[Any]] = []

    async def send(records: Sequence[Record]) -> None:
        for service, key, value, headers in records:
            pending.append(await producer.send(topic_of[service], value=value, key=key, headers=headers))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        portfolio.events += len(records)

    chunk = 10
    starts = list(range(0, projects, chunk))
    started = time.perf_counter()
    try:
        await send(big)
        await send(small)
        if workers <= 1:
            for first in starts:
                ids, records = generate(first, min(chunk, projects - first), weeks, until, first)
                portfolio.regular.extend(ids)
                await send(records)
        else:
            loop = asyncio.get_running_loop()
            with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
                futures = [
                    loop.run_in_executor(pool, generate, first, min(chunk, projects - first), weeks, until, first)
                    for first in starts
                ]
                for future in futures:  # in order; the workers run ahead
                    ids, records = await future
                    portfolio.regular.extend(ids)
                    await send(records)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return portfolio, Measurement(portfolio.events, time.perf_counter() - started)


async def end_offsets(kafka: KafkaOptions, topics: Sequence[str]) -> dict[tuple[str, int], int]:
    consumer = AIOKafkaConsumer(**kafka.client_kwargs())
    await consumer.start()
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
        ends = await consumer.end_offsets(partitions)
        return {(tp.topic, tp.partition): int(offset) for tp, offset in ends.items()}
    finally:
        await consumer.stop()
