"""Event-store appends with optimistic concurrency: ours against the ``eventsourcing`` library's PostgreSQL store.

Every writer appends to streams of its own (a new stream every ``--append-events-per-stream`` events), each append
at the stream's expected version, so the unique ``(stream, version)`` check runs on every insert and never fails.

* ours, one event per transaction: ``EventStore.append`` inside ``engine.begin()``, N asyncio writers sharing one
  asyncpg pool of N connections;
* eventsourcing ``PostgresApplicationRecorder`` (what an ``eventsourcing`` application uses: a global, gap-free
  notification order, like our relay order) and ``PostgresAggregateRecorder`` (no global order), one
  ``StoredEvent`` per ``insert_events`` call, N threads sharing a psycopg pool of N connections;
* ours, batched: 100 events per transaction (one stream per transaction), same writers.

Run alone: ``python -m bench.append [--append-events 4000] [--append-writers 8]``.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import (
    META,
    STORE,
    Measurement,
    describe,
    describe_ratio,
    fresh_schema,
    new_event,
    parser,
    ratio,
    run_benchmarks,
    run_id,
    scaled,
    split,
    work,
)
from shared.infra.system import Endpoints

NAME = "append"
REFERENCE_PACKAGES = "'eventsourcing[postgres]>=9.5' 'psycopg[binary]>=3.2'"


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("append")
    g.add_argument("--append-events", type=int, default=4000, help="events per variant (default 4000)")
    g.add_argument("--append-writers", type=int, default=8, help="concurrent writers (default 8)")
    g.add_argument("--append-events-per-stream", type=int, default=10, help="events per stream (default 10)")
    g.add_argument("--append-batch", type=int, default=100, help="events per transaction, batched variant")
    g.add_argument("--append-rounds", type=int, default=3, help="rounds per variant, median kept (default 3)")


# ---------------------------------------------------------------------------------------------------------------
# Ours


async def ours(
    engine: AsyncEngine, *, events: int, writers: int, per_stream: int, batch: int = 1, alone: bool = False
) -> Measurement:
    """``events`` appended by ``writers`` tasks, ``batch`` events per transaction; ``alone``: with
    ``EventStore.append_alone`` (the statement is the transaction) instead of ``append`` inside ``engine.begin()``."""
    tag = run_id()
    latencies: list[float] = []

    async def writer(w: int, count: int) -> None:
        stream, version, seq = 0, 0, 0
        per = batch if batch > 1 else per_stream
        while seq < count:
            size = min(batch, count - seq)
            if version + size > per:
                stream, version = stream + 1, 0
            project = f"p-{tag}-{w}-{stream}"
            new = [new_event(project, seq + i) for i in range(size)]
            started = time.perf_counter()
            if alone:
                await STORE.append_alone(
                    engine,
                    stream_id=f"work-{project}",
                    stream_type="work",
                    expected_version=version,
                    events=new,
                    metadata=META,
                )
            else:
                async with engine.begin() as conn:
                    await STORE.append(
                        conn,
                        stream_id=f"work-{project}",
                        stream_type="work",
                        expected_version=version,
                        events=new,
                        metadata=META,
                    )
            latencies.append(time.perf_counter() - started)
            version += size
            seq += size

    started = time.perf_counter()
    await asyncio.gather(*(writer(w, c) for w, c in enumerate(split(events, writers))))
    return Measurement(events, time.perf_counter() - started, latencies)


# ---------------------------------------------------------------------------------------------------------------
# The eventsourcing library


class EventsourcingStore:
    """The ``eventsourcing`` PostgreSQL persistence module, configured the documented way (environment)."""

    def __init__(self, database_url: str, schema: str, pool_size: int) -> None:
        from eventsourcing.persistence import InfrastructureFactory
        from eventsourcing.utils import Environment

        url = make_url(database_url)
        host = url.host or str(url.query.get("host", "")) or "localhost"
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": url.database or "postgres",
            "POSTGRES_HOST": host,  # a directory: psycopg connects over the unix socket in it
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": url.username or "postgres",
            "POSTGRES_PASSWORD": url.password or "",
            "POSTGRES_SCHEMA": schema,
            "POSTGRES_POOL_SIZE": str(pool_size),
            "POSTGRES_MAX_OVERFLOW": "0",
        }
        self.factory: Any = InfrastructureFactory.construct(Environment(name="bench", env=env))
        self.application_recorder: Any = self.factory.application_recorder()
        self.aggregate_recorder: Any = self.factory.aggregate_recorder("aggregates")

    def close(self) -> None:
        self.factory.close()


def eventsourcing_appends(recorder: Any, *, events: int, writers: int, per_stream: int) -> Measurement:
    """``events`` ``StoredEvent``\\ s, one per ``insert_events`` call, from ``writers`` threads."""
    from eventsourcing.persistence import StoredEvent

    topic = "bench.common:WorkLogged"
    gate = threading.Barrier(writers + 1)

    def writer(w: int, count: int) -> list[float]:
        latencies: list[float] = []
        originator, version = uuid.uuid4(), 0
        gate.wait()
        for seq in range(count):
            if version == per_stream:
                originator, version = uuid.uuid4(), 0
            version += 1
            state = json.dumps(work(f"p-{w}", seq).model_dump(mode="json")).encode()
            stored = StoredEvent(originator_id=originator, originator_version=version, topic=topic, state=state)
            started = time.perf_counter()
            recorder.insert_events([stored])
            latencies.append(time.perf_counter() - started)
        return latencies

    with ThreadPoolExecutor(max_workers=writers) as pool:
        futures = [pool.submit(writer, w, c) for w, c in enumerate(split(events, writers))]
        gate.wait()
        started = time.perf_counter()
        latencies = [lat for f in futures for lat in f.result()]
        seconds = time.perf_counter() - started
    return Measurement(events, seconds, latencies)


# ---------------------------------------------------------------------------------------------------------------


def _median(runs: list[Measurement]) -> Measurement:
    """The round with the median rate (the upper one of an even count), with its own latencies."""
    return sorted(runs, key=lambda m: m.rate)[len(runs) // 2]


async def run(endpoints: Endpoints, args: argparse.Namespace) -> dict[str, Any]:
    events = scaled(args, args.append_events)
    writers = args.append_writers
    per_stream = args.append_events_per_stream
    batch = args.append_batch
    rounds = max(1, args.append_rounds)
    print(f"  {events} events per variant, {writers} writers, {per_stream} events per stream, {rounds} round(s)")

    variants: dict[str, list[Measurement]] = {}
    reference_error: str | None = None
    async with fresh_schema(endpoints.database_url, "append", pool_size=writers, max_overflow=0) as (engine, schema):
        es: EventsourcingStore | None = None
        try:
            es = EventsourcingStore(endpoints.database_url, schema, writers)
        except ImportError as exc:
            reference_error = f"eventsourcing not installed ({exc}): pip install {REFERENCE_PACKAGES}"
            print(f"  reference skipped: {reference_error}")

        # warm both sides up (pools open, statements prepared) outside the timed runs
        await ours(engine, events=writers * 4, writers=writers, per_stream=per_stream)
        await ours(engine, events=writers * 4, writers=writers, per_stream=per_stream, alone=True)
        if es is not None:
            for recorder in (es.application_recorder, es.aggregate_recorder):
                await asyncio.to_thread(
                    eventsourcing_appends, recorder, events=writers * 4, writers=writers, per_stream=per_stream
                )

        def record(name: str, m: Measurement) -> None:
            variants.setdefault(name, []).append(m)

        try:
            for _ in range(rounds):
                record("ours", await ours(engine, events=events, writers=writers, per_stream=per_stream))
                record(
                    "ours_alone",
                    await ours(engine, events=events, writers=writers, per_stream=per_stream, alone=True),
                )
                if es is not None:
                    for name, recorder in (
                        ("eventsourcing_application_recorder", es.application_recorder),
                        ("eventsourcing_aggregate_recorder", es.aggregate_recorder),
                    ):
                        call = functools.partial(
                            eventsourcing_appends, recorder, events=events, writers=writers, per_stream=per_stream
                        )
                        record(name, await asyncio.to_thread(call))
                record(
                    "ours_batched",
                    await ours(engine, events=events, writers=writers, per_stream=per_stream, batch=batch),
                )
        finally:
            if es is not None:
                es.close()

    chosen = {name: _median(runs) for name, runs in variants.items()}
    labels = {
        "ours": "ours: EventStore.append in engine.begin(), 1 event/tx",
        "ours_alone": "ours: EventStore.append_alone, 1 event/tx",
        "eventsourcing_application_recorder": "eventsourcing PostgresApplicationRecorder, 1 event/call",
        "eventsourcing_aggregate_recorder": "eventsourcing PostgresAggregateRecorder, 1 event/call",
        "ours_batched": f"ours: EventStore.append, {batch} events/tx",
    }
    for name, m in chosen.items():
        print(describe(labels[name], m, "events"))
        if rounds > 1:
            print(f"  {'':<58} rounds: " + ", ".join(f"{r.rate:.0f}" for r in variants[name]) + " events/s")

    figures: dict[str, Any] = {
        "events": events,
        "writers": writers,
        "events_per_stream": per_stream,
        "rounds": rounds,
        "variants": {
            name: {
                "label": labels[name],
                **m.figures("events"),
                **({"rounds_events_per_s": [round(r.rate, 1) for r in variants[name]]} if rounds > 1 else {}),
            }
            for name, m in chosen.items()
        },
    }
    figures["variants"]["ours_batched"]["events_per_transaction"] = batch
    if reference_error:
        figures["reference_skipped"] = reference_error
    else:
        for variant in ("ours", "ours_alone"):
            for reference in ("application_recorder", "aggregate_recorder"):
                r = ratio(chosen[variant].rate, chosen[f"eventsourcing_{reference}"].rate)
                print(describe_ratio(f"ratio {variant} / eventsourcing {reference.replace('_', ' ')}", r))
                figures[f"ratio_{variant}_to_eventsourcing_{reference}"] = r
    return figures


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__ or "", "bench.append")
    add_arguments(p)
    return run_benchmarks([(NAME, run)], p.parse_args(argv), "bench.append")


if __name__ == "__main__":
    raise SystemExit(main())
