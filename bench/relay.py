"""Relay rate: how fast ``Relay.publish_once`` drains a backlog of committed events to Kafka.

N events (default 20000) are appended first, 100 per transaction, spread over 64 projects so every partition of
the fresh 3-partition topic gets records. Then ``publish_once`` runs in a loop with the relay's own producer
(idempotent, ``acks=all``) until it returns 0: read a batch below the oldest running transaction, send it, wait
for the acknowledgements, store the checkpoint. The topic is deleted afterwards.

Run alone: ``python -m bench.relay [--relay-events 20000] [--relay-batch 500]``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import (
    META,
    STORE,
    Measurement,
    delete_topic,
    describe,
    fresh_schema,
    new_event,
    parser,
    run_benchmarks,
    run_id,
    scaled,
    split,
)
from shared.infra.system import Endpoints
from shared.kafka import KafkaOptions, ensure_topics, new_producer
from shared.relay import Relay

NAME = "relay"
PARTITIONS = 3
PROJECTS = 64


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("relay")
    g.add_argument("--relay-events", type=int, default=20000, help="backlog to publish (default 20000)")
    g.add_argument("--relay-batch", type=int, default=500, help="relay batch size (default 500, the relay's own)")
    g.add_argument("--relay-append-batch", type=int, default=100, help="events per transaction when pre-appending")


async def pre_append(engine: AsyncEngine, events: int, batch: int, writers: int = 4) -> Measurement:
    """``events`` appended ``batch`` per transaction (a new stream each), spread over ``PROJECTS`` projects."""
    tag = run_id()

    async def writer(w: int, count: int) -> None:
        done = 0
        while done < count:
            size = min(batch, count - done)
            project = f"p-{tag}-{(w * 7919 + done) % PROJECTS}"
            async with engine.begin() as conn:
                await STORE.append(
                    conn,
                    stream_id=f"work-{tag}-{w}-{done}",
                    stream_type="work",
                    expected_version=0,
                    events=[new_event(project, done + i) for i in range(size)],
                    metadata=META,
                )
            done += size

    started = time.perf_counter()
    await asyncio.gather(*(writer(w, c) for w, c in enumerate(split(events, writers))))
    return Measurement(events, time.perf_counter() - started)


async def records_on(kafka: KafkaOptions, topic: str) -> int:
    consumer = AIOKafkaConsumer(**kafka.client_kwargs())
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(PARTITIONS)])
        return int(sum(ends.values()))
    finally:
        await consumer.stop()


async def run(endpoints: Endpoints, args: argparse.Namespace) -> dict[str, Any]:
    events = scaled(args, args.relay_events)
    kafka = KafkaOptions(bootstrap_servers=endpoints.kafka_bootstrap_servers)
    topic = f"pmo.bench-relay-{run_id()}.v1"
    await ensure_topics(kafka, [topic], partitions=PARTITIONS, replication_factor=1)
    try:
        async with fresh_schema(endpoints.database_url, "relay") as (engine, schema):
            appended = await pre_append(engine, events, args.relay_append_batch)
            print(describe(f"pre-append, {args.relay_append_batch} events/tx, 4 writers", appended, "events"))
            relay = Relay(engine, service="bench", topic=topic, kafka=kafka, schema=schema, batch_size=args.relay_batch)
            producer = new_producer(kafka)
            await producer.start()
            try:
                # one warm-up send so the producer's metadata and idempotence handshake are not timed
                await (await producer.send(topic, value=b"{}", key=b"warm-up", partition=0))
                published, loops, batch_seconds = 0, 0, []
                started = time.perf_counter()
                while True:
                    t0 = time.perf_counter()
                    n = await relay.publish_once(producer)
                    loops += 1
                    if n == 0:
                        break
                    batch_seconds.append(time.perf_counter() - t0)
                    published += n
                seconds = time.perf_counter() - started
            finally:
                await producer.stop()
        on_topic = await records_on(kafka, topic) - 1  # minus the warm-up record
    finally:
        await delete_topic(kafka, topic)

    m = Measurement(published, seconds, batch_seconds)
    print(describe(f"relay publish_once, batch {args.relay_batch}, until caught up", m, "events"))
    print(f"  {'':<58} {loops} publish_once calls; {on_topic} records on the topic")
    return {
        "events": events,
        "pre_append": {"events_per_transaction": args.relay_append_batch, **appended.figures("events")},
        "relay": {
            "batch_size": args.relay_batch,
            "publish_once_calls": loops,
            "records_on_topic": on_topic,
            **m.figures("events"),
        },
        "note": "p50/p99 of the relay figures are per publish_once batch",
    }


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__ or "", "bench.relay")
    add_arguments(p)
    return run_benchmarks([(NAME, run)], p.parse_args(argv), "bench.relay")


if __name__ == "__main__":
    raise SystemExit(main())
