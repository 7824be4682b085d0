"""End-to-end freshness: from a command's 2xx answer to its project showing in the reporting read model.

The projects service (``bench.projects_app``) and the reporting service (``bench.reporting_app``) run as uvicorn
processes (``PMO_ENV=development``, bearer tokens from ``shared.auth.mint_token``) on schemas and topics of the
run's own. After a portfolio and a warm-up, ``POST /projects`` is sent open-loop at a fixed rate (default 200/s for
60 s: command i leaves at t0 + i/rate whatever the earlier ones are doing). For every ``--freshness-sample``-th
command, once it is answered 201, reporting's read model is watched until the project is in it: freshness is the
time from the 201 to the first look that finds it. One query every ``--freshness-poll-ms`` (default 5) asks the
``portfolio_projects`` table (what ``GET /portfolio/projects/{id}`` answers from) for all pending samples at once,
so the measurement's own load is bounded; the last sample is also fetched with the GET as a check. A plain
Kafka consumer in this process notes when each sampled project's record arrives on the topic, which splits
freshness into the relay's part (201 to on Kafka) and the consumer's part.

The load generator is this process, a paced asyncio client (not a C generator): its own CPU time over the load
(``time.process_time``: the client, the read-model watcher and the topic watcher together) is recorded as
``load_generator_cpu_seconds`` and its share of one core, so a client short of CPU shows.

Run alone: ``python -m bench.freshness [--freshness-rate 200] [--freshness-seconds 60]``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import time
import uuid
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench import wrk as wrk_module
from bench.common import (
    RESULTS_DIR,
    RssSampler,
    auth_headers,
    delete_topic,
    fresh_schema,
    latency_ms,
    parser,
    percentile,
    run_benchmarks,
    run_id,
)
from bench.http import create_portfolio, project_body, start_server, stop_server, wait_ready
from bench.replay import PySpy, print_profile, summarise_profile
from shared.infra.system import Endpoints
from shared.kafka import KafkaOptions, ensure_topics

NAME = "freshness"
PARTITIONS = 3
MAX_IN_FLIGHT = 64
PUBLISHED = re.compile(r'^pmo_relay_published_total\{service="projects"\}\s+([0-9.e+]+)', re.M)


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("freshness")
    g.add_argument("--freshness-rate", type=float, default=200.0, help="commands per second (default 200)")
    g.add_argument("--freshness-seconds", type=float, default=60.0, help="how long the load lasts (default 60)")
    g.add_argument("--freshness-sample", type=int, default=10, help="follow every n-th command (default 10)")
    g.add_argument(
        "--freshness-profile", choices=("py-spy", "none"), default="py-spy", help="profile both services under load"
    )
    g.add_argument("--freshness-poll-ms", type=float, default=5.0, help="read-model poll interval (default 5 ms)")
    g.add_argument(
        "--freshness-driver",
        choices=("wrk", "python"),
        default=None,
        help="what sends the load: wrk (the default when installed) or the paced Python client",
    )


async def published_by(url: str) -> float | None:
    async with httpx.AsyncClient(base_url=url, timeout=10, headers=auth_headers()) as client:
        return await published(client)


async def published(client: httpx.AsyncClient) -> float | None:
    """``pmo_relay_published_total`` of the projects service, from its ``/metrics``."""
    try:
        found = PUBLISHED.search((await client.get("/metrics")).text)
    except httpx.HTTPError:
        return None
    return float(found.group(1)) if found else None


class TopicWatch:
    """Notes the time each key's first record arrives on ``topic`` (read from its end onwards)."""

    def __init__(self, kafka: KafkaOptions, topic: str) -> None:
        self.kafka, self.topic = kafka, topic
        self.seen: dict[bytes, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(enable_auto_commit=False, **self.kafka.client_kwargs())
        await self._consumer.start()
        partitions = [TopicPartition(self.topic, p) for p in range(PARTITIONS)]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)
        for tp in partitions:
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=50)
            now = time.perf_counter()
            for records in batches.values():
                for record in records:
                    self.seen.setdefault(record.key, now)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()


class Visibility:
    """Watches reporting's read model for projects: one query for every pending project each ``poll`` seconds
    (``portfolio_projects``, the table ``GET /portfolio/projects/{id}`` answers from), so the measurement's own load
    stays the same however far behind reporting is."""

    def __init__(self, engine: AsyncEngine, poll: float, column: str = "project_id") -> None:
        self.engine, self.poll, self.column = engine, poll, column
        self.pending: dict[Any, asyncio.Future[float]] = {}
        self.queries = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            if self.pending:
                async with self.engine.connect() as conn:
                    found = await conn.execute(
                        text(f"SELECT {self.column} FROM portfolio_projects WHERE {self.column} = ANY(:ids)"),
                        {"ids": list(self.pending)},
                    )
                    now = time.perf_counter()
                    self.queries += 1
                    for (project_id,) in found:
                        future = self.pending.pop(project_id, None)
                        if future is not None and not future.done():
                            future.set_result(now)
            await asyncio.sleep(self.poll)

    async def seen(self, project_id: str, timeout: float = 120.0) -> float:
        return await asyncio.wait_for(self.expect(uuid.UUID(project_id)), timeout)

    def expect(self, key: Any) -> asyncio.Future[float]:
        """The moment ``key`` (of :attr:`column`) is first seen in the read model."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.pending[key] = future
        return future

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def paced_load(
    projects_url: str,
    reporting_url: str,
    portfolio_id: str,
    visibility: Visibility,
    *,
    rate: float,
    seconds: float,
    sample: int,
    watch: TopicWatch,
) -> dict[str, Any]:
    total = max(1, round(rate * seconds))
    tag = uuid.uuid4().hex[:8]
    latencies: list[float] = []
    lateness: list[float] = []
    freshness: list[float] = []
    relay_part: list[float] = []
    consumer_part: list[float] = []
    errors: list[str] = []
    followers: list[asyncio.Task[None]] = []
    project_id = ""
    in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)  # as many as the connections: httpx's pool is slow with a queue
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with (
        httpx.AsyncClient(base_url=projects_url, timeout=60, headers=auth_headers(), limits=limits) as projects,
        httpx.AsyncClient(base_url=reporting_url, timeout=60, headers=auth_headers(), limits=limits) as reporting,
    ):

        async def follow(project_id: str, accepted: float) -> None:
            key = project_id.encode()
            try:
                seen = await visibility.seen(project_id)
            except Exception as exc:
                errors.append(f"follow: {exc}")
                return
            freshness.append(seen - accepted)
            on_kafka = watch.seen.get(key)
            if on_kafka is not None:
                relay_part.append(on_kafka - accepted)
                consumer_part.append(seen - on_kafka)

        async def command(i: int, scheduled: float) -> None:
            nonlocal project_id
            async with in_flight:
                started = time.perf_counter()
                lateness.append(started - scheduled)
                body = project_body(f"F{tag}-{i}", portfolio_id)
                try:
                    response = await projects.post("/projects", json=body)
                except httpx.HTTPError as exc:
                    errors.append(f"post: {exc!r}")
                    return
            accepted = time.perf_counter()
            latencies.append(accepted - started)
            if response.status_code != 201:
                errors.append(f"post: {response.status_code} {response.text[:200]}")
                return
            if i % sample == 0:
                project_id = str(response.json()["project_id"])
                followers.append(asyncio.create_task(follow(project_id, accepted)))

        before = await published(projects)
        tasks = []
        cpu0 = time.process_time()  # this process: the paced client (and the benchmark's watchers)
        t0 = time.perf_counter()
        for i in range(total):
            scheduled = t0 + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(command(i, scheduled)))
        await asyncio.gather(*tasks)
        load_seconds = time.perf_counter() - t0
        client_cpu = time.process_time() - cpu0
        await asyncio.gather(*followers)
        after = await published(projects)
        last = await reporting.get(f"/portfolio/projects/{project_id}") if followers else None
        if last is not None and last.status_code != 200:
            errors.append(f"GET /portfolio/projects/{project_id} on reporting: {last.status_code}")
    figures: dict[str, Any] = {
        "target_rate": rate,
        "commands": total,
        "sampled": len(followers),
        "load_seconds": round(load_seconds, 2),
        "achieved_commands_per_s": round(total / load_seconds, 1),
        "command_latency": latency_ms(latencies) if latencies else None,
        "send_lateness_p99_ms": round(percentile(lateness, 99) * 1000, 2) if lateness else None,
        "load_generator_cpu_seconds": round(client_cpu, 2),
        "load_generator_cpu_share_of_one_core": round(client_cpu / load_seconds, 3),
        "freshness": latency_ms(freshness) if freshness else None,
        "relay_part_201_to_on_kafka": latency_ms(relay_part) if relay_part else None,
        "consumer_part_on_kafka_to_visible": latency_ms(consumer_part) if consumer_part else None,
        "relay_published_during_run": (after - before) if before is not None and after is not None else None,
        "poll_interval_ms": round(visibility.poll * 1000, 1),
        "errors": len(errors),
    }
    if errors:
        figures["error_sample"] = errors[0]
    return figures


async def wrk_load(
    exe: str,
    projects_url: str,
    portfolio_id: str,
    engine: AsyncEngine,
    *,
    rate: float,
    seconds: float,
    sample: int,
    poll: float,
    watch: TopicWatch,
) -> dict[str, Any]:
    """The load sent by ``wrk`` (paced by its script, :func:`bench.wrk.lua_script`), freshness followed by code: every
    code a sampled request may carry is watched in reporting's read model before wrk starts (an index on
    ``portfolio_projects.code``, the benchmark's own, keeps the watch's query cheap), and wrk's log of the sampled
    answers gives each one's 201 moment on the same clock."""
    tag = uuid.uuid4().hex[:8]
    visibility = Visibility(engine, poll, column="code")
    per_thread = int(rate * seconds / wrk_module.THREADS) + MAX_IN_FLIGHT + 1
    futures = {
        f"F{tag}-{t}x{n}": visibility.expect(f"F{tag}-{t}x{n}")
        for t in range(wrk_module.THREADS)
        for n in range(sample, per_thread + 1, sample)
    }
    visibility.start()
    script = wrk_module.lua_script(
        "POST", "/projects", project_body(f"F{tag}-@SEQ@", portfolio_id), auth_headers(), paced=(rate, sample)
    )
    lines: list[str] = []
    before = time.perf_counter()
    cpu0 = wrk_cpu = 0.0
    try:
        cpu0 = sum(psutil.cpu_times()[:2])  # the whole machine: wrk's own share is read from its summary below
        summary = await asyncio.to_thread(
            wrk_module.run_wrk, exe, projects_url, script, seconds=seconds, connections=MAX_IN_FLIGHT,
            label=f"freshness-{tag}", lines=lines,
        )  # fmt: skip
        wrk_cpu = sum(psutil.cpu_times()[:2]) - cpu0
        accepted: dict[str, tuple[str, float]] = {}
        for line in lines:
            if line.startswith("WRK_SAMPLE "):
                code, project_id, at = line.split()[1:4]
                accepted[code] = (project_id, float(at))
        freshness: list[float] = []
        relay_part: list[float] = []
        consumer_part: list[float] = []
        errors: list[str] = []
        for code, (project_id, at) in accepted.items():
            try:
                seen = await asyncio.wait_for(
                    asyncio.shield(futures[code]), max(1.0, before + seconds + 120 - time.perf_counter())
                )
            except (TimeoutError, KeyError) as exc:
                errors.append(f"follow {code}: {exc!r}")
                continue
            freshness.append(seen - at)
            on_kafka = watch.seen.get(project_id.encode())
            if on_kafka is not None:
                relay_part.append(on_kafka - at)
                consumer_part.append(seen - on_kafka)
    finally:
        await visibility.stop()
    late = [line.split()[1:3] for line in lines if line.startswith("WRK_LATE ")]
    return {
        "driver": "wrk",
        "target_rate": rate,
        "commands": summary["requests"],
        "sampled": len(accepted),
        "load_seconds": summary["seconds"],
        "achieved_commands_per_s": summary["requests_per_s"],
        "command_latency": {k: summary[k] for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")},
        "sent_late_over_10_ms": sum(int(n) for n, _ in late),
        "send_lateness_max_ms": round(max((float(m) for _, m in late), default=0.0) * 1000, 2),
        "machine_cpu_seconds_during_load": round(wrk_cpu, 2),
        "freshness": latency_ms(freshness) if freshness else None,
        "relay_part_201_to_on_kafka": latency_ms(relay_part) if relay_part else None,
        "consumer_part_on_kafka_to_visible": latency_ms(consumer_part) if consumer_part else None,
        "poll_interval_ms": round(poll * 1000, 1),
        "errors": summary["errors"] + len(errors),
        **({"error_sample": errors[0]} if errors else {}),
    }


async def run(endpoints: Endpoints, args: argparse.Namespace) -> dict[str, Any]:
    kafka = KafkaOptions(bootstrap_servers=endpoints.kafka_bootstrap_servers)
    tag = run_id()
    source, alerts = f"pmo.bench-fresh-projects-{tag}.v1", f"pmo.bench-fresh-alerts-{tag}.v1"
    await ensure_topics(kafka, [source, alerts], partitions=PARTITIONS, replication_factor=1)
    common = {
        "PMO_DATABASE_URL": endpoints.database_url,
        "PMO_KAFKA_BOOTSTRAP_SERVERS": endpoints.kafka_bootstrap_servers,
        "PMO_ENV": "development",
        "PMO_KAFKA_GROUP_PREFIX": f"bench-{tag}",
    }
    try:
        async with (
            fresh_schema(endpoints.database_url, "fresh_projects", pool_size=1, max_overflow=0) as (_, p_schema),
            fresh_schema(endpoints.database_url, "fresh_reporting", pool_size=2, max_overflow=0) as (watched, r_schema),
        ):
            projects = start_server(
                "freshness-projects",
                "bench.projects_app:create_app",
                {**common, "PMO_DB_SCHEMA": p_schema, "PMO_BENCH_TOPIC": source},
            )
            reporting = start_server(
                "freshness-reporting",
                "bench.reporting_app:create_app",
                {**common, "PMO_DB_SCHEMA": r_schema, "PMO_BENCH_TOPIC": alerts, "PMO_BENCH_SOURCE_TOPICS": source},
            )
            watch = TopicWatch(kafka, source)
            visibility = Visibility(watched, args.freshness_poll_ms / 1000)
            try:
                await wait_ready(projects, "/readyz")
                await wait_ready(reporting, "/readyz")
                portfolio_id = await create_portfolio(projects.url)
                await watch.start()
                visibility.start()
                # warm-up: until reporting's consumers are assigned and show projects within a second
                warm = await paced_load(
                    projects.url, reporting.url, portfolio_id, visibility, rate=20, seconds=1, sample=5, watch=watch
                )
                print(f"  warm-up: {warm['commands']} commands, freshness {warm['freshness']}")
                pids = {"projects": projects.process.pid, "reporting": reporting.process.pid}
                profiling = args.freshness_profile == "py-spy"
                spies = [PySpy(RESULTS_DIR / f"freshness-profile-{n}.txt", profiling, pid) for n, pid in pids.items()]
                driver = args.freshness_driver or ("wrk" if shutil.which("wrk") else "python")
                if driver == "wrk":
                    exe = shutil.which("wrk") or ""
                    if not exe:
                        raise RuntimeError(wrk_module.INSTALL)
                    async with watched.begin() as conn:  # the watch's own index (not the service's)
                        await conn.execute(text("CREATE INDEX IF NOT EXISTS bench_code ON portfolio_projects (code)"))
                    before = await published_by(projects.url)
                with RssSampler(pids, interval=0.2) as rss, spies[0], spies[1]:
                    if driver == "wrk":
                        figures = await wrk_load(
                            exe,
                            projects.url,
                            portfolio_id,
                            watched,
                            rate=args.freshness_rate,
                            seconds=args.freshness_seconds,
                            sample=args.freshness_sample,
                            poll=args.freshness_poll_ms / 1000,
                            watch=watch,
                        )
                        after = await published_by(projects.url)
                        figures["relay_published_during_run"] = (
                            (after - before) if before is not None and after is not None else None
                        )
                    else:
                        figures = await paced_load(
                            projects.url,
                            reporting.url,
                            portfolio_id,
                            visibility,
                            rate=args.freshness_rate,
                            seconds=args.freshness_seconds,
                            sample=args.freshness_sample,
                            watch=watch,
                        )
                figures["peak_rss_mib_during_load"] = rss.peak_mib()
                if spies[0].exe:
                    figures["profile"] = {n: summarise_profile(s.out) for n, s in zip(pids, spies, strict=True)}
            finally:
                await watch.stop()
                await visibility.stop()
                stop_server(projects)
                stop_server(reporting)
    finally:
        for topic in (source, alerts):
            await delete_topic(kafka, topic)

    f, c = figures["freshness"] or {}, figures["command_latency"] or {}
    relay, consumer = figures["relay_part_201_to_on_kafka"] or {}, figures["consumer_part_on_kafka_to_visible"] or {}
    client = (
        f"wrk sent {figures['sent_late_over_10_ms']} requests more than 10 ms late "
        f"(at most {figures['send_lateness_max_ms']} ms)"
        if figures.get("driver") == "wrk"
        else f"the paced client used {figures['load_generator_cpu_share_of_one_core']:.0%} of a core"
    )
    print(
        f"  {figures['commands']} commands at {args.freshness_rate:.0f}/s target, "
        f"{figures['achieved_commands_per_s']}/s achieved; command p50 {c.get('p50_ms')} ms p99 {c.get('p99_ms')} ms; "
        f"{client}"
    )
    print(
        f"  freshness (201 -> visible in reporting), {figures['sampled']} sampled: p50 {f.get('p50_ms')} ms  "
        f"p99 {f.get('p99_ms')} ms  max {f.get('max_ms')} ms"
    )
    print(f"    relay part (201 -> on Kafka):      p50 {relay.get('p50_ms')} ms  p99 {relay.get('p99_ms')} ms")
    print(f"    consumer part (Kafka -> visible):  p50 {consumer.get('p50_ms')} ms  p99 {consumer.get('p99_ms')} ms")
    print(
        f"  relay published {figures['relay_published_during_run']} events during the run; "
        f"errors {figures['errors']}; peak RSS {figures['peak_rss_mib_during_load']} MiB"
    )
    for service, profile in (figures.get("profile") or {}).items():
        if profile:
            print(f"  profile of {service} under load (share of its py-spy samples, inclusive):")
            print_profile(profile)
    return {"warm_up": warm, **figures}


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__ or "", "bench.freshness")
    add_arguments(p)
    return run_benchmarks([(NAME, run)], p.parse_args(argv), "bench.freshness")


if __name__ == "__main__":
    raise SystemExit(main())
