"""Projection replay: rebuilding the reporting read models from the topics, against a do-nothing consumer.

N synthetic but valid events of the projects service (per project a ``project-registered`` and 4
``milestone-planned``, CloudEvents records from ``shared.kafka.to_record``) are produced to a fresh 3-partition
topic. Then, in this process:

* ceiling: a plain ``AIOKafkaConsumer`` assigned to the same partitions reads them from the beginning to the end
  offsets and does nothing with the records;
* ``shared.replay.replay_all`` of every reporting read model (``reporting.portfolio`` and ``reporting.facts``,
  their topics pointed at the run's topic) in ONE pass into a fresh schema with the reporting DDL: the topic read
  and each record decoded once, each fetched batch (up to 5000 records of a partition) applied to both read models
  (inbox, apply, offsets of each) in one transaction, the next batch read while the database writes: "all read
  models", what ``pmo replay reporting`` does. Before it (``--replay-each no`` to skip), each read model replayed
  alone (``pmo replay reporting.facts``), and the two alone one after the other.

Then the reporting service itself (``bench.reporting_app``, a uvicorn process on another fresh schema) is started
on the same topic and catches up from the beginning with its live consumers (both read models at once): its
catch-up time and its peak resident memory while doing it. With py-spy installed, the one-pass replay is run once
more under py-spy and the profile summarised (``--replay-profile none`` to skip it).

Run alone: ``python -m bench.replay [--events 100000]``; the 1M run: ``python -m bench.replay --events 1000000``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import (
    RESULTS_DIR,
    Measurement,
    RssSampler,
    delete_topic,
    describe,
    describe_ratio,
    fresh_schema,
    parser,
    ratio,
    run_benchmarks,
    run_id,
    scaled,
)
from bench.http import start_server, stop_server, wait_ready
from bench.reporting_app import FactsOn, PortfolioOn
from bench.synthetic import projects_topic_records
from reporting import projections
from shared.db import create_engine, migrate
from shared.infra.system import Endpoints
from shared.kafka import KafkaOptions, ensure_topics, new_producer
from shared.replay import replay_all

NAME = "replay"
PARTITIONS = 3
PROFILE_FILE = RESULTS_DIR / "replay-profile.txt"


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("replay")
    g.add_argument("--events", type=int, default=100_000, help="events on the topic (default 100000; 1000000 too)")
    g.add_argument("--replay-profile", choices=("py-spy", "none"), default="py-spy", help="profile the one-pass replay")
    g.add_argument(
        "--replay-each", choices=("yes", "no"), default="yes", help="also replay each read model alone first"
    )
    g.add_argument("--replay-service", choices=("yes", "no"), default="yes", help="also time the service catch-up")
    g.add_argument(
        "--replay-processes",
        type=int,
        default=PARTITIONS,
        help=f"also replay in this many worker processes (default {PARTITIONS}, one per partition; 1: not)",
    )


async def produce(kafka: KafkaOptions, topic: str, events: int) -> Measurement:
    producer = new_producer(kafka, linger_ms=20, max_batch_size=256 * 1024)
    await producer.start()
    try:
        started = time.perf_counter()
        pending = []
        for key, value, headers in projects_topic_records(events, "bench-replay"):
            pending.append(await producer.send(topic, value=value, key=key, headers=headers))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        return Measurement(events, time.perf_counter() - started)
    finally:
        await producer.stop()


async def do_nothing(kafka: KafkaOptions, topic: str) -> Measurement:
    """The ceiling: read every partition from the beginning to today's end, and nothing else. ``earliest``: with
    aiokafka's default (``latest``), the reset that ``assign`` starts could land after ``seek_to_beginning`` and
    leave the consumer at the end, waiting for ever (the "stall on the first fetch" seen on busy runs)."""
    consumer = AIOKafkaConsumer(enable_auto_commit=False, auto_offset_reset="earliest", **kafka.client_kwargs())
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        for tp in partitions:
            await consumer.position(tp)
        pending = {tp for tp in partitions if ends[tp] > 0}
        count = 0
        started = time.perf_counter()
        while pending:
            # no explicit partitions: getmany(*partitions) right after a seek sometimes returned nothing for ever
            fetched = await consumer.getmany(timeout_ms=500, max_records=2000)
            for tp, records in fetched.items():
                count += len(records)
                if records and records[-1].offset + 1 >= ends[tp]:
                    pending.discard(tp)
        return Measurement(count, time.perf_counter() - started)
    finally:
        await consumer.stop()


async def ceiling_with_retry(kafka: KafkaOptions, topic: str, events: int) -> Measurement:
    """``do_nothing``, started again once if its first fetch stalls: on the busy machine a fetch on a topic just
    written to was sometimes left unanswered (seen with 300 events; not with 5000)."""
    limit = 30 + events / 10000
    try:
        return await asyncio.wait_for(do_nothing(kafka, topic), limit)
    except TimeoutError:
        print(f"  the do-nothing consumer stalled for {limit:.0f} s; measuring it again with a new consumer")
        return await asyncio.wait_for(do_nothing(kafka, topic), limit)


class PySpy:
    """``py-spy record`` of a process (default: this one) while a block runs (raw collapsed stacks), if installed."""

    def __init__(self, out: Path, enabled: bool, pid: int | None = None) -> None:
        self.out = out
        self.pid = pid or psutil.Process().pid
        self.exe = shutil.which("py-spy") if enabled else None
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PySpy:
        if self.exe:
            cmd = [self.exe, "record", "--pid", str(self.pid), "--subprocesses", "--rate", "100", "--format", "raw"]
            self.process = subprocess.Popen(
                [*cmd, "--output", str(self.out), "--nonblocking"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


CATEGORIES = (
    ("decode CloudEvents (shared.kafka.from_record)", ("from_record (shared/kafka.py",)),
    ("projection apply (reporting.projections)", ("apply (reporting/projections.py", "apply (bench/")),
    ("SQLAlchemy execute (incl. asyncpg)", ("execute (sqlalchemy/",)),
    ("asyncpg protocol", ("asyncpg/",)),
    ("commit / begin", ("commit (sqlalchemy/", "begin (sqlalchemy/", "__aexit__ (sqlalchemy/")),
    ("Kafka fetch + record parsing (aiokafka)", ("aiokafka/",)),
    ("json", ("json/",)),
    ("HTTP: starlette, FastAPI routing and middleware (incl. the handler)", ("starlette/", "fastapi/")),
    ("pydantic validation / serialisation", ("pydantic",)),
    ("JWT verification", ("jwt/",)),
    ("command executor (shared.commands)", ("shared/commands.py",)),
    ("event store append (shared.eventstore)", ("shared/eventstore.py",)),
    ("relay (shared.relay)", ("shared/relay.py",)),
    ("consumer (shared.consumer)", ("shared/consumer.py",)),
    ("alert evaluator (reporting.evaluation)", ("reporting/evaluation.py",)),
)


def summarise_profile(path: Path, top: int = 12) -> dict[str, Any] | None:
    """Share of py-spy samples under each category, and the hottest functions (self). Samples waiting in the event
    loop's ``select`` are idle time py-spy could not tell apart."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    total = 0
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        own[frames[-1].split(" (")[0] + " (" + frames[-1].split(" (")[-1].split(":")[0] + ")"] += count
        for label, needles in CATEGORIES:
            if any(n in frame for frame in frames for n in needles):
                inclusive[label] += count
    if not total:
        return None
    return {
        "samples": total,
        "inclusive_share": {label: round(inclusive[label] / total, 3) for label, _ in CATEGORIES if inclusive[label]},
        "top_self": [{"function": f, "share": round(c / total, 3)} for f, c in own.most_common(top)],
        "raw_file": str(path.name),
    }


def print_profile(profile: dict[str, Any]) -> None:
    for label, share in profile["inclusive_share"].items():
        print(f"    {label:<56} {share:6.1%}")
    hottest = ", ".join(f"{x['function']} {x['share']:.0%}" for x in profile["top_self"][:5])
    print(f"    hottest (self): {hottest}")


async def rows(engine: AsyncEngine, table: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


def _cpu(process: psutil.Process) -> float:
    t = process.cpu_times()
    return float(t.user + t.system + t.children_user + t.children_system)


def _machine_busy() -> float:
    """CPU seconds every process of the machine has used (all cores), from ``/proc/stat``."""
    t = psutil.cpu_times()
    return float(t.user + t.system + getattr(t, "nice", 0) + getattr(t, "irq", 0) + getattr(t, "softirq", 0))


async def timed_replay(
    engine: AsyncEngine,
    kafka: KafkaOptions,
    models: list[Any],
    label: str,
    profile: bool,
    *,
    processes: int = 1,
    connect: Any = None,
) -> dict[str, Any]:
    """``shared.replay.replay_all`` of ``models`` (one pass), with its processes' CPU, peak RSS and (in one process)
    py-spy profile. With ``processes`` > 1 the CPU and memory include the worker processes."""
    me = psutil.Process()
    cpu0 = _cpu(me)
    machine0 = _machine_busy()
    spy = PySpy(PROFILE_FILE, profile)
    tables = [t for m in models for t in m.tables]
    with RssSampler({"replay": me.pid}, interval=0.1, children=processes > 1) as rss, spy:
        started = time.perf_counter()
        result = await replay_all(engine, kafka, models, tables, processes=processes, connect=connect)
        seconds = time.perf_counter() - started
    cpu = _cpu(me) - cpu0  # the workers are joined by now: their CPU is in this process's children's times
    others = _machine_busy() - machine0 - cpu
    m = Measurement(result.records, seconds)
    print(describe(label, m, "events"))
    mine = "this process" if processes == 1 else f"this process and its {processes} workers"
    print(f"  {'':<58} CPU: {mine} {cpu:.1f} s, the rest of the machine (PostgreSQL, Kafka) {others:.1f} s")
    peaks = rss.peak_mib()
    out = {
        **m.figures("events"),
        "processes": processes,
        "process_cpu_seconds": round(cpu, 1),
        "process_cpu_share_of_wall": round(cpu / seconds, 2) if seconds else None,
        "other_processes_cpu_seconds": round(others, 1),
        "peak_rss_mib": peaks.get("replay with children", peaks["replay"]),
    }
    if spy.exe:
        out["profile"] = summarise_profile(PROFILE_FILE)
    return out


async def replays(
    engine: AsyncEngine,
    kafka: KafkaOptions,
    topic: str,
    profile: bool,
    each: bool,
    processes: int,
    connect: Any,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if each:
        for model in (PortfolioOn([topic]), FactsOn([topic])):
            out[model.name] = await timed_replay(engine, kafka, [model], f"replay {model.name} alone", False)
    models = [PortfolioOn([topic]), FactsOn([topic])]
    out["all_read_models"] = await timed_replay(
        engine, kafka, models, "replay all reporting read models in one pass", False
    )
    if processes > 1:
        out["all_read_models_processes"] = await timed_replay(
            engine,
            kafka,
            models,
            f"the same in {processes} processes (this one and {processes - 1} workers)",
            False,
            processes=processes,
            connect=connect,
        )
    out["rows"] = {t: await rows(engine, t) for t in ("portfolio_projects", "portfolio_milestones", "facts")}
    if profile:  # again under py-spy (which takes CPU from the replay on 2 cores): its profile, not its rate
        profiled = await timed_replay(engine, kafka, models, "the same under py-spy (for its profile)", True)
        out["all_read_models"]["profile"] = profiled.pop("profile", None)
        out["all_read_models"]["events_per_s_under_py_spy"] = profiled["events_per_s"]
    return out


async def service_catch_up(endpoints: Endpoints, topic: str, events: int, tag: str) -> dict[str, Any]:
    """The reporting service started on the backlog: time until both read models' offsets reach the end."""
    async with fresh_schema(endpoints.database_url, "replay_service", pool_size=1, max_overflow=0) as (engine, schema):
        env = {
            "PMO_DATABASE_URL": endpoints.database_url,
            "PMO_KAFKA_BOOTSTRAP_SERVERS": endpoints.kafka_bootstrap_servers,
            "PMO_ENV": "development",
            "PMO_KAFKA_GROUP_PREFIX": f"bench-{tag}",
            "PMO_DB_SCHEMA": schema,
            "PMO_BENCH_SOURCE_TOPICS": topic,
            "PMO_BENCH_TOPIC": f"pmo.bench-replay-alerts-{tag}.v1",
        }
        started = time.perf_counter()
        server = start_server("replay-reporting", "bench.reporting_app:create_app", env)
        try:
            with RssSampler({"reporting": server.process.pid}, interval=0.1) as rss:
                await wait_ready(server, "/readyz")
                ready = time.perf_counter() - started
                first: float | None = None
                while True:
                    async with engine.connect() as conn:
                        done = (
                            await conn.execute(
                                text(f'SELECT coalesce(sum(next_offset), 0) FROM "{schema}".consumer_offsets')
                            )
                        ).scalar_one()
                    now = time.perf_counter()
                    if done and first is None:
                        first = now
                    if int(done) >= 2 * events:
                        break
                    if server.process.poll() is not None:
                        raise RuntimeError(f"reporting exited; see {server.log_path}")
                    await asyncio.sleep(0.1)
            assert first is not None
            seconds = now - first
        finally:
            stop_server(server)
    m = Measurement(events, seconds)
    print(describe("reporting service catch-up, both read models at once", m, "events"))
    print(f"  {'':<58} ready after {ready:.1f} s; peak RSS {rss.peak_mib()['reporting']} MiB")
    return {
        **m.figures("events"),
        "note": "from the first stored offset to both read models at the end (startup excluded)",
        "ready_after_s": round(ready, 1),
        "peak_rss_mib": rss.peak_mib()["reporting"],
    }


async def run(endpoints: Endpoints, args: argparse.Namespace) -> dict[str, Any]:
    events = scaled(args, args.events)
    kafka = KafkaOptions(bootstrap_servers=endpoints.kafka_bootstrap_servers)
    tag = run_id()
    topic = f"pmo.bench-replay-{tag}.v1"
    await ensure_topics(kafka, [topic], partitions=PARTITIONS, replication_factor=1)
    figures: dict[str, Any] = {"events": events}
    try:
        produced = await produce(kafka, topic, events)
        print(describe("produce synthetic events (idempotent, acks=all)", produced, "events"))
        figures["produce"] = produced.figures("events")
        ceiling = await ceiling_with_retry(kafka, topic, events)
        print(describe("do-nothing aiokafka consumer (the ceiling)", ceiling, "events"))
        figures["do_nothing_consumer"] = ceiling.figures("events")
        async with fresh_schema(endpoints.database_url, "replay", pool_size=3, max_overflow=0) as (engine, schema):
            await migrate(engine, schema, projections.DDL)
            connect = functools.partial(create_engine, endpoints.database_url, schema, pool_size=3, max_overflow=0)
            figures.update(
                await replays(
                    engine,
                    kafka,
                    topic,
                    args.replay_profile == "py-spy",
                    args.replay_each == "yes",
                    args.replay_processes,
                    connect,
                )
            )
        names = ["all_read_models", *(["all_read_models_processes"] if args.replay_processes > 1 else [])]
        if args.replay_each == "yes":
            each = figures["reporting.portfolio"]["seconds"] + figures["reporting.facts"]["seconds"]
            rebuild = Measurement(events, each)
            print(describe("both read models alone, one after the other", rebuild, "events"))
            figures["one_after_the_other"] = rebuild.figures("events")
            names = ["reporting.portfolio", "reporting.facts", "one_after_the_other", *names]
        for name in names:
            value = ratio(figures[name]["events_per_s"], ceiling.rate)
            figures[name]["ratio_to_do_nothing"] = value
            print(describe_ratio(f"ratio {name} / do-nothing consumer (events/s)", value))
        if args.replay_service == "yes":
            figures["service_catch_up"] = await service_catch_up(endpoints, topic, events, tag)
    finally:
        await delete_topic(kafka, topic)
        await delete_topic(kafka, f"pmo.bench-replay-alerts-{tag}.v1")
    profile = figures.get("all_read_models", {}).get("profile")
    if profile:
        print("  profile of the one-pass replay (share of py-spy samples of this process, inclusive):")
        print_profile(profile)
    return figures


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__ or "", "bench.replay")
    add_arguments(p)
    return run_benchmarks([(NAME, run)], p.parse_args(argv), "bench.replay")


if __name__ == "__main__":
    raise SystemExit(main())
