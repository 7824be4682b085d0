"""What the benchmarks share: infrastructure, a fresh schema per run, a bench event, timing and the results file."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]
from aiokafka.errors import KafkaError  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import aio
from shared import consumer as consumer_module
from shared import relay as relay_module
from shared.db import create_engine, migrate
from shared.events import DomainEvent, EventMetadata, EventRegistry
from shared.eventstore import EventStore, NewEvent
from shared.infra.paths import REPO_ROOT
from shared.infra.system import Endpoints, ensure_infrastructure, stop_infrastructure
from shared.kafka import KafkaOptions
from shared.money import Money

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
RESULTS_FILE = RESULTS_DIR / "latest.json"
LOG_DIR = RESULTS_DIR / "logs"
DATABASE = "pmo_bench"
KAFKA_INSTANCE = "kafka-bench"
"""The benchmarks' own private broker (own data folder and ports): benchmark topics never mix with other work."""


class WorkLogged(DomainEvent):
    """The event the store benchmarks append: small, with money, like most PMO events."""

    event_name = "work-logged"
    project_id: str
    seq: int
    amount: Money
    note: str


REGISTRY = EventRegistry([WorkLogged])
STORE = EventStore(REGISTRY)
META = EventMetadata(actor="bench", correlation_id="bench")


def work(project_id: str, seq: int) -> WorkLogged:
    return WorkLogged(project_id=project_id, seq=seq, amount=Money.of("1250.50", "EUR"), note="design review")


def new_event(project_id: str, seq: int) -> NewEvent:
    return NewEvent.of(work(project_id, seq))


def split(total: int, parts: int) -> list[int]:
    """``total`` spread over ``parts`` as evenly as possible."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def run_id() -> str:
    return uuid.uuid4().hex[:10]


# ---------------------------------------------------------------------------------------------------------------
# Figures


@dataclass(frozen=True)
class Measurement:
    """A timed run: how many operations, how long, and each operation's latency in seconds (may be empty)."""

    operations: int
    seconds: float
    latencies: Sequence[float] = ()
    errors: int = 0
    error_sample: str | None = None

    @property
    def rate(self) -> float:
        return self.operations / self.seconds if self.seconds > 0 else 0.0

    def figures(self, unit: str) -> dict[str, Any]:
        out: dict[str, Any] = {unit: self.operations, "seconds": round(self.seconds, 3)}
        out[f"{unit}_per_s"] = round(self.rate, 1)
        if self.latencies:
            out.update(latency_ms(self.latencies))
        if self.errors:
            out["errors"] = self.errors
            out["error_sample"] = self.error_sample
        return out


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of ``samples``."""
    ordered = sorted(samples)
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def latency_ms(samples: Sequence[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(samples, 50) * 1000, 2),
        "p99_ms": round(percentile(samples, 99) * 1000, 2),
        "max_ms": round(max(samples) * 1000, 2),
    }


def ratio(ours: float, reference: float) -> float | None:
    return round(ours / reference, 2) if reference > 0 else None


def describe(label: str, m: Measurement, unit: str) -> str:
    line = f"  {label:<58} {m.operations:>6} {unit} in {m.seconds:7.2f} s = {m.rate:9.1f} {unit}/s"
    if m.latencies:
        lat = latency_ms(m.latencies)
        line += f"   p50 {lat['p50_ms']:7.2f} ms  p99 {lat['p99_ms']:7.2f} ms"
    if m.errors:
        line += f"   ({m.errors} errors, e.g. {m.error_sample})"
    return line


def describe_ratio(label: str, value: float | None) -> str:
    return f"  {label:<58} {'n/a' if value is None else f'{value:.2f}x'}"


# ---------------------------------------------------------------------------------------------------------------
# Infrastructure and schemas


@contextlib.contextmanager
def infrastructure() -> Iterator[Endpoints]:
    """PostgreSQL and Kafka (private ones started if needed); what was started here is stopped at the end unless
    ``PMO_KEEP_INFRA`` is set, as in the tests."""
    endpoints = ensure_infrastructure(database=DATABASE, kafka_instance=KAFKA_INSTANCE)
    try:
        yield endpoints
    finally:
        if not os.environ.get("PMO_KEEP_INFRA"):
            stop_infrastructure(endpoints)


@contextlib.asynccontextmanager
async def fresh_schema(
    database_url: str, label: str, *, pool_size: int = 10, max_overflow: int = 10
) -> AsyncIterator[tuple[AsyncEngine, str]]:
    """A new schema ``bench_<hex>_<label>`` with the event store, relay and consumer tables; dropped afterwards,
    unless ``PMO_BENCH_KEEP_SCHEMA`` is set (to time a query again on the data a long run produced: its name is
    printed)."""
    schema = f"bench_{run_id()}_{label}"
    engine = create_engine(database_url, schema, pool_size=pool_size, max_overflow=max_overflow)
    try:
        await migrate(engine, schema, [*relay_module.DDL, *consumer_module.DDL])
        yield engine, schema
    finally:
        try:
            if os.environ.get("PMO_BENCH_KEEP_SCHEMA"):
                print(f"schema {schema} kept (PMO_BENCH_KEEP_SCHEMA)")
            else:
                async with engine.begin() as conn:
                    await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        finally:
            await engine.dispose()


async def delete_topic(kafka: KafkaOptions, topic: str) -> None:
    """Remove a benchmark's topic, so runs do not pile records up in the private broker (best effort)."""
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    try:
        await admin.start()
        await admin.delete_topics([topic])
    except KafkaError as exc:
        print(f"  could not delete topic {topic}: {exc!r}")
    finally:
        await admin.close()


# ---------------------------------------------------------------------------------------------------------------
# The machine and the results file


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _kafka_version(endpoints: Endpoints) -> str:
    if os.environ.get("PMO_KAFKA_BOOTSTRAP_SERVERS"):
        return "external (version not probed)"
    pom = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
    found = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom.read_text()) if pom.exists() else None
    return f"{found.group(1) if found else 'unknown'} (private single-node KRaft broker)"


async def _postgres_facts(database_url: str) -> dict[str, str]:
    engine = create_engine(database_url, "public", pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            facts = {}
            for setting in ("server_version", "fsync", "synchronous_commit", "wal_sync_method", "shared_buffers"):
                facts[setting] = str((await conn.execute(text(f"SHOW {setting}"))).scalar())
            host = engine.url.host or str(engine.url.query.get("host", ""))
            facts["connection"] = "unix socket" if host.startswith("/") or not host else f"tcp {host}"
            return facts
    finally:
        await engine.dispose()


def machine(endpoints: Endpoints) -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "postgresql": asyncio.run(_postgres_facts(endpoints.database_url)),
        "kafka": _kafka_version(endpoints),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }


def write_results(endpoints: Endpoints, results: dict[str, dict[str, Any]], command: str) -> Path:
    """Merge ``results`` (one entry per benchmark) into ``bench/results/latest.json``; other entries are kept."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    try:
        existing = json.loads(RESULTS_FILE.read_text())
        benchmarks: dict[str, Any] = dict(existing.get("benchmarks", {}))
    except (OSError, ValueError, AttributeError):
        benchmarks = {}
    benchmarks.update(results)
    document = {
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "machine": machine(endpoints),
        "benchmarks": benchmarks,
    }
    RESULTS_FILE.write_text(json.dumps(document, indent=2) + "\n")
    return RESULTS_FILE


def stamp(figures: dict[str, Any], started: float) -> dict[str, Any]:
    """Add when and how long, and the load the machine was under, to a benchmark's figures."""
    return {
        **figures,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "wall_seconds": round(time.monotonic() - started, 1),
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


# ---------------------------------------------------------------------------------------------------------------
# Running benchmarks from the command line

Runner = Callable[[Endpoints, argparse.Namespace], Coroutine[Any, Any, dict[str, Any]]]


def parser(description: str, module: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"python -m {module}", description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--scale", type=float, default=1.0, help="multiply every count by this factor (default 1)")
    return p


def scaled(args: argparse.Namespace, count: int) -> int:
    return max(1, round(count * float(args.scale)))


def run_benchmarks(benchmarks: Sequence[tuple[str, Runner]], args: argparse.Namespace, module: str) -> int:
    """Run each benchmark against the infrastructure, print its figures, record them all. Returns an exit code."""
    print(f"PMO benchmarks on {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at start")
    results: dict[str, dict[str, Any]] = {}
    failed = False
    with infrastructure() as endpoints:
        for name, runner in benchmarks:
            print(f"\n== {name}")
            started = time.monotonic()
            try:
                results[name] = stamp(aio.run(runner(endpoints, args)), started)
            except Exception as exc:  # one broken benchmark must not hide the others' figures
                failed = True
                print(f"  FAILED: {type(exc).__name__}: {exc}")
                results[name] = stamp({"failed": f"{type(exc).__name__}: {exc}"}, started)
        path = write_results(endpoints, results, " ".join(["python", "-m", module, *sys.argv[1:]]))
    print(f"\nfigures written to {path.relative_to(REPO_ROOT)}")
    return 1 if failed else 0


# ---------------------------------------------------------------------------------------------------------------
# Services as processes: tokens and memory


def auth_headers(subject: str = "bench.pmo", roles: Sequence[str] = ("pmo",)) -> dict[str, str]:
    """A development-mode bearer token (the services run with ``PMO_ENV=development`` in the benchmarks)."""
    from shared.auth import mint_token

    return {"Authorization": f"Bearer {mint_token(subject, roles, ttl_seconds=6 * 3600)}"}


class RssSampler:
    """Samples the resident memory of some processes every ``interval`` seconds in a thread; keeps the peaks.

    ``with RssSampler({"reporting": pid}) as s: ...`` then ``s.peak_mib()``; a process that is gone is skipped.
    """

    def __init__(self, pids: dict[str, int], interval: float = 0.05, *, children: bool = False) -> None:
        import psutil

        self._processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.interval = interval
        self.children = children
        """Also keep, as ``"<name> with children"``, the peak of a process's and all its children's memory summed."""
        self.peaks: dict[str, int] = dict.fromkeys(pids, 0)
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def _loop(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(self.interval):
                break

    def sample(self) -> None:
        import psutil

        for name, process in self._processes.items():
            with contextlib.suppress(psutil.Error):
                rss = process.memory_info().rss
                self.peaks[name] = max(self.peaks[name], rss)
                if self.children:
                    for child in process.children(recursive=True):
                        with contextlib.suppress(psutil.Error):
                            rss += child.memory_info().rss
                    key = f"{name} with children"
                    self.peaks[key] = max(self.peaks.get(key, 0), rss)
        self.samples += 1

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def peak_mib(self) -> dict[str, float]:
        return {name: round(rss / 1024 / 1024, 1) for name, rss in self.peaks.items()}
