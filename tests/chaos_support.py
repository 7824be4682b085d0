"""Helpers of the chaos, load and concurrency suites: a private world to break, a command ledger, checks.

A :class:`PrivateWorld` is a PostgreSQL and a Kafka broker of its own in a temporary folder (never the shared ones
other test runs use), with the five services running on them as processes. Fault tests stop, kill and restart
those, and only those.

A :class:`Ledger` records every command a test sends and its answer. :func:`verify` then waits until every relay
and every consumer has caught up and checks what the issue asks of every fault scenario: each command that got a
2xx answer is reflected exactly once in the read models, and the read models equal a fresh replay of the topics
(compared by a digest of their tables).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.auth import mint_token
from shared.db import create_engine
from shared.infra.kafka import LocalKafka
from shared.infra.postgres import LocalPostgres
from shared.infra.system import SERVICES, Endpoints, System, create_database, local_kafka
from shared.kafka import KafkaOptions

PROBLEM = "application/problem+json"
TOPICS = {
    "projects": "pmo.projects.v1",
    "budget": "pmo.budget.v1",
    "resources": "pmo.resources.v1",
    "invoicing": "pmo.invoicing.v1",
    "reporting": "pmo.alerts.v1",
}
TRANSIENT_TABLES = frozenset({"dirty_projects"})
"""Read-model tables that are work queues, emptied as they are worked off: not compared."""
BOOKKEEPING_COLUMNS = ("position", "received_at", "updated_at")
"""Identity and bookkeeping columns that are not from events: left out of the digests (as are identity columns and
columns defaulting to the clock, found in the catalog)."""


@dataclass(frozen=True)
class Consumer:
    """One projection fed from Kafka, as a service runs it."""

    name: str
    service: str
    topics: tuple[str, ...]
    tables: tuple[str, ...]
    projection: Any


def specs() -> dict[str, Any]:
    """Every service's ``ServiceSpec`` (as the code stands: a service being built may have gained consumers)."""
    import importlib

    return {name: importlib.import_module(f"{name}.bootstrap").SPEC for name in SERVICES}


def consumers() -> dict[str, Consumer]:
    out = {}
    for service, spec in specs().items():
        for projection in spec.projections:
            tables = tuple(t for t in getattr(projection, "tables", ()) if t not in TRANSIENT_TABLES)
            out[projection.name] = Consumer(projection.name, service, tuple(projection.topics), tables, projection)
    return out


def token(subject: str, *roles: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(subject, roles, ttl_seconds=6 * 3600)}"}


DIRECTOR = token("dora.director", "director")


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports on 127.0.0.1 that nothing listens on right now."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


class Figures:
    """What the suites measured, printed at the end of the run (``pytest -s`` not needed) and in the report."""

    def __init__(self) -> None:
        self.entries: list[str] = []
        self.totals: Counter[str] = Counter()
        self.peaks: dict[str, int] = {}

    def add(self, line: str, **totals: int) -> None:
        self.entries.append(line)
        print(line)
        self.totals.update(totals)

    def peak(self, name: str, value: int) -> None:
        self.peaks[name] = max(value, self.peaks.get(name, 0))

    def __bool__(self) -> bool:
        return bool(self.entries)

    def lines(self) -> list[str]:
        summary = ", ".join(f"{k}: {v}" for k, v in sorted(self.totals.items()))
        peaks = ", ".join(f"{k}: {v}" for k, v in self.peaks.items())
        return [*self.entries, f"totals: {summary}", f"at the last check: {peaks}"]


FIGURES = Figures()


# --- the private world ---------------------------------------------------------------------------------------


class PrivateInfra:
    """A PostgreSQL and a single-node Kafka in ``root``, on ports of their own, for tests that break them.

    The broker reuses the jars the shared broker already fetched (``lib/`` is a symlink to them and the
    ``lib.sha256`` marker is copied, so :meth:`LocalKafka.ensure_jars` finds them and fetches nothing).
    """

    def __init__(self, root: Path, jars_from: str = "kafka-test") -> None:
        self.root = root
        self.postgres = LocalPostgres(root=root)
        kafka_root = root / "kafka"
        kafka_root.mkdir(parents=True, exist_ok=True)
        shared = local_kafka(jars_from)  # the checkout's broker of that name: only its jars are used
        if not (shared.root / "lib.sha256").is_file():
            shared.ensure_jars()
        (kafka_root / "lib").symlink_to(shared.lib_dir, target_is_directory=True)
        shutil.copyfile(shared.root / "lib.sha256", kafka_root / "lib.sha256")
        port, controller = free_ports(2)
        self.kafka = LocalKafka(root=kafka_root, port=port, controller_port=controller)
        self.database_url = ""

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka.bootstrap_servers

    @property
    def kafka_options(self) -> KafkaOptions:
        return KafkaOptions(bootstrap_servers=self.kafka.bootstrap_servers)

    def start(self) -> None:
        base = self.postgres.start()
        asyncio.run(create_database(base, "pmo"))
        self.database_url = base.replace("/postgres?", "/pmo?")
        self.kafka.start(timeout=120)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.kafka.stop(timeout=20)
        with contextlib.suppress(Exception):
            self.postgres.stop()


class PrivateWorld:
    """The five services as processes on a :class:`PrivateInfra`."""

    def __init__(self, root: Path, env: dict[str, str] | None = None, jars_from: str = "kafka-test") -> None:
        self.root = root
        self.infra = PrivateInfra(root, jars_from)
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.ports = dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True))
        self.env = {
            "PMO_ENV": "development",
            "PMO_KAFKA_GROUP_PREFIX": "chaos",
            "PMO_TOPIC_PARTITIONS": "3",
            **(env or {}),
        }
        self.system: System | None = None
        self.engine: AsyncEngine | None = None
        self.foreign_ids: set[str] = set()
        """Ids of events a test put on a topic itself (no service wrote them)."""

    @classmethod
    def create(cls, env: dict[str, str] | None = None, jars_from: str = "kafka-test") -> PrivateWorld:
        # short: the PostgreSQL socket lives in the data folder and unix socket paths are limited to ~100 bytes
        world = cls(Path(tempfile.mkdtemp(prefix="pmo-chaos-")), env, jars_from)
        atexit.register(world.stop)  # PostgreSQL and the broker outlive their starter: never leave them behind
        return world

    def start(self) -> None:
        self.infra.start()
        self.system = System(Endpoints(self.infra.database_url, self.infra.bootstrap_servers))
        for name in SERVICES:
            self.system.start_service(name, self.ports[name], self.logs / f"{name}.log", self.env)
        self.system.wait_ready(120)

    async def open(self) -> AsyncEngine:
        """An engine on the private database (schema-qualified queries), made on the running event loop. It checks
        each connection before use: the scenarios restart this PostgreSQL under it (the services themselves answer
        503 once per dropped connection instead)."""
        if self.engine is None:
            self.engine = create_engine(self.infra.database_url, "public", pool_size=4, max_overflow=4, pre_ping=True)
        return self.engine

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()
            self.engine = None

    def stop(self) -> None:
        atexit.unregister(self.stop)
        if not self.root.exists():
            return
        if self.system is not None:
            self.system.stop()
        self.infra.stop()
        # The logs outlive the world (the last run's only), for a look after a failure.
        kept = Path(tempfile.gettempdir()) / "pmo-chaos-last-logs"
        shutil.rmtree(kept, ignore_errors=True)
        with contextlib.suppress(OSError):
            shutil.copytree(self.logs, kept)
            shutil.copy(self.infra.kafka.logs_dir / "server.log", kept / "kafka-server.log")
            shutil.copy(self.infra.postgres.pgdata / "log", kept / "postgres.log")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def kill(self, service: str) -> None:
        """SIGKILL the service's process (no shutdown of any kind) and reap it."""
        assert self.system is not None
        process = self.system.services[service].process
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)

    def terminate(self, service: str) -> None:
        """SIGTERM: a graceful stop (relays and consumers finish their batch, the consumer leaves its group)."""
        assert self.system is not None
        process = self.system.services[service].process
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self, service: str, timeout: float = 60.0) -> None:
        assert self.system is not None
        self.system.start_service(service, self.ports[service], self.logs / f"{service}.log", self.env)
        wait_ready(self.url(service), timeout)

    def log_tail(self, service: str, lines: int = 40) -> str:
        path = self.logs / f"{service}.log"
        with contextlib.suppress(OSError):
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        return ""


def wait_ready(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} not ready after {timeout}s")
        time.sleep(0.2)


# --- commands and their answers ------------------------------------------------------------------------------


@dataclass
class Sent:
    """One logical command: what was sent (always with an ``Idempotency-Key``) and the last answer to it."""

    kind: str
    service: str
    method: str
    path: str
    body: dict[str, Any]
    key: str
    marker: str
    project_id: str | None = None
    phase: str = ""
    status: int | None = None
    answer: Any = None
    content_type: str = ""
    error: str = ""
    sent_at: float = 0.0
    latency: float = 0.0
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def unknown(self) -> bool:
        """No answer, or a 5xx: the command may or may not have been applied; a retry with its key tells."""
        return self.status is None or self.status >= 500

    def outcome(self) -> str:
        if self.status is None:
            return f"no answer ({self.error})"
        return str(self.status)


class Ledger:
    """Every command a test sent, with its answers; the source of truth the read models are checked against."""

    def __init__(self) -> None:
        self.commands: list[Sent] = []
        self.retries = 0

    def ok(self, kind: str | None = None) -> list[Sent]:
        return [c for c in self.commands if c.ok and (kind is None or c.kind == kind)]

    def in_phase(self, phase: str) -> list[Sent]:
        return [c for c in self.commands if c.phase == phase]

    async def send(
        self, clients: dict[str, httpx.AsyncClient], command: Sent, *, record: bool = True, timeout: float = 30.0
    ) -> Sent:
        if record and command.attempts == 0:
            self.commands.append(command)
        command.attempts += 1
        headers = {"Idempotency-Key": command.key}
        command.sent_at = time.time()
        started = time.monotonic()
        try:
            response = await clients[command.service].request(
                command.method, command.path, json=command.body, headers=headers, timeout=timeout
            )
        except httpx.HTTPError as exc:
            command.status, command.answer, command.content_type = None, None, ""
            command.error = type(exc).__name__
        else:
            command.status = response.status_code
            command.content_type = response.headers.get("content-type", "")
            try:
                command.answer = response.json()
            except ValueError:
                command.answer = response.text
            command.error = ""
        command.latency = time.monotonic() - started
        return command

    async def settle(
        self,
        clients: dict[str, httpx.AsyncClient],
        on_answer: Callable[[Sent], None] | None = None,
        timeout: float = 90.0,
    ) -> int:
        """Retry every command whose outcome is unknown, with its key and body, until each has a definitive answer.

        Returns how many retries it took. A retry of a command that was applied returns the first answer.
        """
        deadline = time.monotonic() + timeout
        retried = 0
        while pending := [c for c in self.commands if c.unknown]:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(pending)} commands still without a definitive answer: {pending[:3]}")
            gate = asyncio.Semaphore(16)

            async def again(command: Sent, gate: asyncio.Semaphore = gate) -> None:
                async with gate:
                    await self.send(clients, command)
                if on_answer is not None and not command.unknown:
                    on_answer(command)

            await asyncio.gather(*(again(c) for c in pending))
            retried += len(pending)
            if any(c.unknown for c in pending):
                await asyncio.sleep(0.5)
        self.retries += retried
        return retried


@contextlib.asynccontextmanager
async def clients_for(
    world: PrivateWorld, headers: dict[str, str] | None = None
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with contextlib.AsyncExitStack() as stack:
        clients = {
            name: await stack.enter_async_context(
                httpx.AsyncClient(base_url=world.url(name), headers=headers or DIRECTOR, limits=limits, timeout=30)
            )
            for name in SERVICES
        }
        yield clients


def eur(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "EUR"}


@dataclass
class KnownProject:
    project_id: str
    registered_at: float
    baselined: bool = False


@dataclass
class Workload:
    """A stream of commands across services, each with a unique marker so its effect can be found again.

    * projects: register a project (marker = its code), plan a milestone (marker = its name);
    * budget: baseline a registered project's budget (once known to the budget service), request a change
      (marker = its reason);
    * resources: register a person (marker = the name; the event carries the id only);
    * reporting: set a portfolio's alert thresholds.
    """

    ledger: Ledger
    portfolio_id: str
    rng: random.Random = field(default_factory=lambda: random.Random(20251125))
    projects: list[KnownProject] = field(default_factory=list)
    phase: str = ""
    budget_after: float = 1.5
    """seconds after a registration's answer before a budget command is tried on it (consumption lag)."""

    def next_command(self) -> Sent:
        roll = self.rng.random()
        now = time.time()
        ready = [p for p in self.projects if now - p.registered_at > self.budget_after]
        if not self.projects or roll < 0.35:
            return self.register()
        if roll < 0.70:
            return self.milestone(self.rng.choice(self.projects))
        unbaselined = [p for p in ready if not p.baselined]
        if roll < 0.80 and unbaselined:
            return self.baseline(self.rng.choice(unbaselined))
        baselined = [p for p in ready if p.baselined]
        if roll < 0.90 and baselined:
            return self.change(self.rng.choice(baselined))
        if roll < 0.97:
            return self.resource()
        return self.thresholds()

    def _sent(
        self, kind: str, service: str, method: str, path: str, body: dict[str, Any], marker: str, pid: str | None
    ) -> Sent:
        return Sent(kind, service, method, path, body, str(uuid.uuid4()), marker, pid, self.phase)

    def register(self) -> Sent:
        code = f"C-{uuid.uuid4().hex[:12]}"
        today = date.today()
        body = {
            "code": code,
            "name": f"Chaos {code}",
            "sponsor": "dora.director",
            "manager": "max.manager",
            "planned_start": str(today - timedelta(days=30)),
            "planned_end": str(today + timedelta(days=300)),
            "currency": "EUR",
            "portfolio_id": self.portfolio_id,
        }
        return self._sent("register", "projects", "POST", "/projects", body, code, None)

    def milestone(self, project: KnownProject) -> Sent:
        name = f"M-{uuid.uuid4().hex[:12]}"
        body = {"name": name, "due_date": str(date.today() + timedelta(days=60)), "planned_value": eur("1000.00")}
        return self._sent(
            "milestone",
            "projects",
            "POST",
            f"/projects/{project.project_id}/milestones",
            body,
            name,
            project.project_id,
        )

    def baseline(self, project: KnownProject) -> Sent:
        body = {"total": eur("100000.00"), "categories": [{"category": "labour", "amount": eur("100000.00")}]}
        return self._sent(
            "baseline",
            "budget",
            "POST",
            f"/budgets/{project.project_id}/baseline",
            body,
            project.project_id,
            project.project_id,
        )

    def change(self, project: KnownProject) -> Sent:
        reason = f"R-{uuid.uuid4().hex[:12]}"
        body = {"category": "labour", "amount": eur("250.00"), "reason": reason}
        return self._sent(
            "change",
            "budget",
            "POST",
            f"/budgets/{project.project_id}/change-requests",
            body,
            reason,
            project.project_id,
        )

    def resource(self) -> Sent:
        name = f"Person {uuid.uuid4().hex[:12]}"
        body = {
            "name": name,
            "kind": "person",
            "role": "developer",
            "department": "chaos",
            "weekly_capacity_hours": "40",
            "currency": "EUR",
        }
        return self._sent("resource", "resources", "POST", "/resources", body, name, None)

    def thresholds(self) -> Sent:
        cpi = f"0.{self.rng.randint(80, 95)}"
        body = {"cpi_below": cpi, "spi_below": "0.9"}
        return self._sent(
            "thresholds", "reporting", "PUT", f"/portfolios/{self.portfolio_id}/alert-thresholds", body, cpi, None
        )

    async def ensure_projects(self, clients: dict[str, httpx.AsyncClient], count: int) -> list[str]:
        """At least ``count`` registered projects (registering what is missing); their ids."""
        while len(self.projects) < count:
            command = await self.ledger.send(clients, self.register())
            self.learn(command)
            assert command.ok or command.unknown, command.answer
        return [p.project_id for p in self.projects]

    def learn(self, command: Sent) -> None:
        """Take a command's answer into the workload's picture of the world."""
        if not command.ok:
            if command.kind == "baseline" and command.status == 409:  # already baselined (an earlier retry)
                self._project(command.project_id).baselined = True
            return
        if command.kind == "register":
            pid = str(command.answer["project_id"])
            command.project_id = pid
            if all(p.project_id != pid for p in self.projects):
                self.projects.append(KnownProject(pid, time.time()))
        elif command.kind == "baseline":
            self._project(command.project_id).baselined = True

    def _project(self, pid: str | None) -> KnownProject:
        return next(p for p in self.projects if p.project_id == pid)

    async def run(
        self,
        clients: dict[str, httpx.AsyncClient],
        *,
        rate: float,
        duration: float,
        concurrency: int = 16,
        max_commands: int | None = None,
        stop: asyncio.Event | None = None,
    ) -> LoadFigures:
        """Send commands at about ``rate`` per second for ``duration`` seconds (or until ``stop``), at most
        ``concurrency`` at a time and at most ``max_commands``: bounded in count and time, it ends by itself."""
        limit = max_commands if max_commands is not None else int(rate * duration) + 1
        gate = asyncio.Semaphore(concurrency)
        started = time.monotonic()
        tasks: list[asyncio.Task[Sent]] = []

        async def one(command: Sent) -> Sent:
            try:
                await self.ledger.send(clients, command)
                self.learn(command)
                return command
            finally:
                gate.release()

        for i in range(limit):
            due = started + i / rate
            now = time.monotonic()
            if now - started >= duration or (stop is not None and stop.is_set()):
                break
            if due > now:
                await asyncio.sleep(due - now)
            await gate.acquire()
            tasks.append(asyncio.create_task(one(self.next_command())))
        done = await asyncio.gather(*tasks)
        return LoadFigures.of(done, time.monotonic() - started)


@dataclass
class LoadFigures:
    sent: int
    ok: int
    errors: Counter[str]
    elapsed: float
    latencies: list[float]

    @classmethod
    def of(cls, commands: Sequence[Sent], elapsed: float) -> LoadFigures:
        errors: Counter[str] = Counter(c.outcome() for c in commands if not c.ok)
        return cls(len(commands), sum(c.ok for c in commands), errors, elapsed, [c.latency for c in commands])

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed if self.elapsed else 0.0

    @property
    def error_rate(self) -> float:
        return (self.sent - self.ok) / self.sent if self.sent else 0.0

    def line(self) -> str:
        return (
            f"{self.sent} commands in {self.elapsed:.1f}s ({self.rate:.0f}/s), {self.ok} 2xx, error rate "
            f"{self.error_rate:.2%} {dict(self.errors)}, latency p50 {percentile(self.latencies, 50) * 1000:.0f} ms "
            f"p99 {percentile(self.latencies, 99) * 1000:.0f} ms"
        )


# --- Kafka ---------------------------------------------------------------------------------------------------


async def end_offsets(kafka: KafkaOptions, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    """The next offset of every partition of ``topics`` (what a consumer that is caught up has stored)."""
    consumer = AIOKafkaConsumer(enable_auto_commit=False, **kafka.client_kwargs())
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p) for topic in topics for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if len({tp.topic for tp in partitions}) < len(set(topics)):
            await consumer._client.force_metadata_update()
            partitions = [
                TopicPartition(topic, p) for topic in topics for p in sorted(consumer.partitions_for_topic(topic) or ())
            ]
        ends = await consumer.end_offsets(partitions)
        return {(tp.topic, tp.partition): int(offset) for tp, offset in ends.items()}
    finally:
        await consumer.stop()


async def read_topic(kafka: KafkaOptions, topic: str) -> list[Any]:
    """Every record of ``topic`` up to its current end."""
    ends = await end_offsets(kafka, [topic])
    partitions = [TopicPartition(t, p) for (t, p), end in ends.items() if end > 0]
    if not partitions:
        return []
    consumer = AIOKafkaConsumer(enable_auto_commit=False, auto_offset_reset="earliest", **kafka.client_kwargs())
    await consumer.start()
    records: list[Any] = []
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        positions = {tp: 0 for tp in partitions}
        deadline = time.monotonic() + 60
        while any(positions[tp] < ends[(tp.topic, tp.partition)] for tp in partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end")
            for tp, batch in (await consumer.getmany(timeout_ms=500, max_records=5000)).items():
                records.extend(batch)
                if batch:
                    positions[tp] = batch[-1].offset + 1
        return records
    finally:
        await consumer.stop()


def header(record: Any, name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode(errors="replace")
    return None


# --- waiting for the system to be quiet ----------------------------------------------------------------------


async def relay_backlog(engine: AsyncEngine, schema: str) -> int:
    """Events of ``schema`` the relay has not checkpointed as published."""
    row = await _scalar(
        engine,
        f"SELECT count(*) FROM {schema}.events e WHERE NOT EXISTS (SELECT 1 FROM {schema}.relay_checkpoint c "
        "WHERE c.name = 'relay' AND (e.xid, e.position) <= (c.xid, c.position))",
    )
    return int(row)


async def consumer_lag(engine: AsyncEngine, kafka: KafkaOptions) -> dict[str, int]:
    """Records each consumer has not consumed yet (from the offsets stored with its read model)."""
    running = consumers()
    ends = await end_offsets(kafka, sorted({t for c in running.values() for t in c.topics}))
    lag: dict[str, int] = {}
    for c in running.values():
        stored = {
            (r.topic, r.partition): int(r.next_offset)
            for r in await _rows(
                engine,
                f"SELECT topic, partition, next_offset FROM {c.service}.consumer_offsets WHERE consumer = :c",
                {"c": c.name},
            )
        }
        lag[c.name] = sum(max(0, end - stored.get(tp, 0)) for tp, end in ends.items() if tp[0] in c.topics)
    return lag


async def wait_quiet(world: PrivateWorld, timeout: float = 120.0) -> float:
    """Wait until every relay has published every event and every consumer consumed every record; returns the
    seconds it took."""
    engine = await world.open()
    started = time.monotonic()
    last: Any = None
    while True:
        try:
            backlog = {s: await relay_backlog(engine, s) for s in TOPICS}
            lag = await consumer_lag(engine, world.infra.kafka_options) if not any(backlog.values()) else {}
            last = (backlog, lag)
            if not any(backlog.values()) and not any(lag.values()):
                return time.monotonic() - started
        except Exception as exc:  # the infrastructure may still be coming back
            last = repr(exc)
        if time.monotonic() - started > timeout:
            tails = "\n".join(f"--- {s} log ---\n{world.log_tail(s)}" for s in TOPICS)
            raise AssertionError(f"not quiet after {timeout}s: {last}\n{tails}")
        await asyncio.sleep(0.25)


async def _scalar(engine: AsyncEngine, sql: str, params: dict[str, Any] | None = None) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text(sql), params or {})).scalar()


async def _rows(engine: AsyncEngine, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(sql), params or {})).all())


# --- digests and a fresh replay ------------------------------------------------------------------------------


async def table_digests(engine: AsyncEngine, schema: str, tables: Iterable[str]) -> dict[str, tuple[int, str]]:
    """Row count and sha256 of each table's rows as JSON, without the columns that do not come from events
    (identity columns, columns defaulting to the clock, :data:`BOOKKEEPING_COLUMNS`)."""
    out: dict[str, tuple[int, str]] = {}
    for table in tables:
        generated = await _rows(
            engine,
            "SELECT column_name FROM information_schema.columns WHERE table_schema = :s AND table_name = :t AND "
            "(is_identity = 'YES' OR column_default ILIKE '%now()%' OR column_default ILIKE '%clock_timestamp%' "
            "OR column_default ILIKE '%nextval%')",
            {"s": schema, "t": table},
        )
        drop = {*BOOKKEEPING_COLUMNS, *(r.column_name for r in generated)}
        minus = "".join(f" - '{c}'" for c in sorted(drop))
        rows = sorted(r[0] for r in await _rows(engine, f"SELECT (to_jsonb(t){minus})::text FROM {schema}.{table} t"))
        out[table] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
    return out


async def inbox_digest(engine: AsyncEngine, schemas: Iterable[str], names: Iterable[str]) -> tuple[int, str]:
    rows: list[str] = []
    for schema in schemas:
        rows += [
            f"{r.consumer}|{r.event_id}|{r.dead_lettered}"
            for r in await _rows(
                engine,
                f"SELECT consumer, event_id, dead_lettered FROM {schema}.inbox WHERE consumer = ANY(:n)",
                {"n": list(names)},
            )
        ]
    rows.sort()
    return len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest()


async def live_digests(world: PrivateWorld) -> dict[str, tuple[int, str]]:
    """Digests of every read model fed from Kafka, and of the consumers' inboxes, as the services hold them."""
    engine = await world.open()
    out: dict[str, tuple[int, str]] = {}
    for c in consumers().values():
        for table, digest in (await table_digests(engine, c.service, c.tables)).items():
            out[f"{c.service}.{table}"] = digest
        out[f"inbox {c.name}"] = await inbox_digest(engine, [c.service], [c.name])
    return out


async def replay_digests(world: PrivateWorld, timeout: float = 120.0) -> dict[str, tuple[int, str]]:
    """Replay every topic from the beginning into fresh schemas (one per service) with the services' own
    projections and DDL, and digest the result the way :func:`live_digests` digests the live read models."""
    from shared import consumer as consumer_module
    from shared.consumer import ProjectionConsumer
    from shared.db import migrate

    kafka = world.infra.kafka_options
    running = consumers()
    by_service: dict[str, list[Consumer]] = {}
    for c in running.values():
        by_service.setdefault(c.service, []).append(c)
    all_specs = specs()
    run = uuid.uuid4().hex[:8]
    engines = {
        service: create_engine(world.infra.database_url, f"replay_{service}_{run}", pool_size=4)
        for service in by_service
    }
    try:
        for service, engine in engines.items():
            await migrate(engine, f"replay_{service}_{run}", [*consumer_module.DDL, *all_specs[service].ddl])
        ends = await end_offsets(kafka, sorted({t for c in running.values() for t in c.topics}))
        stop = asyncio.Event()
        appliers = [
            ProjectionConsumer(engines[c.service], kafka, c.projection, group_id=f"replay-{run}.{c.name}")
            for c in running.values()
        ]
        tasks = [asyncio.create_task(a.run(stop)) for a in appliers]
        try:
            deadline = time.monotonic() + timeout
            while True:
                behind = 0
                for a in appliers:
                    stored = await a.stored_offsets()
                    topics = a.projection.topics
                    behind += sum(max(0, end - stored.get(tp, 0)) for tp, end in ends.items() if tp[0] in topics)
                if behind == 0:
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"the replay is {behind} records behind after {timeout}s")
                await asyncio.sleep(0.2)
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
        out: dict[str, tuple[int, str]] = {}
        for c in running.values():
            schema = f"replay_{c.service}_{run}"
            for table, digest in (await table_digests(engines[c.service], schema, c.tables)).items():
                out[f"{c.service}.{table}"] = digest
            out[f"inbox {c.name}"] = await inbox_digest(engines[c.service], [schema], [c.name])
        return out
    finally:
        for service, engine in engines.items():
            async with engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "replay_{service}_{run}" CASCADE'))
            await engine.dispose()


# --- the checks after every scenario -------------------------------------------------------------------------

UUID_KEY = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


@dataclass
class Verdict:
    commands_checked: int
    events_checked: int
    read_model_rows: int
    quiet_after: float
    took: float = 0.0

    def line(self) -> str:
        return (
            f"{self.commands_checked} 2xx commands each reflected exactly once, {self.events_checked} events checked "
            f"against the read models, {self.read_model_rows} read-model rows equal to a fresh replay "
            f"(quiet after {self.quiet_after:.1f}s, checked in {self.took:.1f}s)"
        )


async def verify(world: PrivateWorld, ledger: Ledger) -> Verdict:
    """Every command with a 2xx answer reflected exactly once; every event in the read models exactly once; the
    read models equal to a fresh replay of the topics."""
    quiet_after = await wait_quiet(world)
    started = time.monotonic()
    engine = await world.open()
    commands = await check_commands(engine, ledger)
    events = await check_events(engine, world.foreign_ids)
    live = await live_digests(world)
    replayed = await replay_digests(world)
    assert live == replayed, f"the read models differ from a fresh replay:\nlive     {live}\nreplayed {replayed}"
    FIGURES.peak("commands in the ledger", len(ledger.commands))
    FIGURES.peak("2xx commands each found exactly once", commands)
    FIGURES.peak("event deliveries checked (event x consumer, plus facts)", events)
    FIGURES.peak("read-model rows equal to the replay", sum(n for n, _ in live.values()))
    FIGURES.peak("retries with the Idempotency-Key", ledger.retries)
    return Verdict(commands, events, sum(n for n, _ in live.values()), quiet_after, time.monotonic() - started)


async def check_commands(engine: AsyncEngine, ledger: Ledger) -> int:
    """Each 2xx command's effect, found by its marker, exactly once in the source and in every read model."""
    projects = {
        r.code: r for r in await _rows(engine, "SELECT project_id::text AS id, code, doc FROM projects.projects")
    }
    code_counts = Counter(r.code for r in await _rows(engine, "SELECT code FROM projects.projects"))
    portfolio = await _rows(engine, "SELECT project_id::text AS id, code, milestones FROM reporting.portfolio_projects")
    reported = Counter(r.code for r in portfolio)
    reported_milestones = {r.id: r.milestones for r in portfolio}
    known = {r.id for r in await _rows(engine, "SELECT project_id::text AS id FROM budget.known_projects")}
    milestone_rows = await _rows(
        engine, "SELECT milestone_id::text AS id, project_id::text AS pid, name FROM reporting.portfolio_milestones"
    )
    milestone_names = Counter(r.name for r in milestone_rows)
    known_milestones = {
        r.id for r in await _rows(engine, "SELECT milestone_id::text AS id FROM budget.known_milestones")
    }
    baselines = Counter(
        r.pid
        for r in await _rows(engine, "SELECT partition_key AS pid FROM budget.events WHERE name = 'budget-baselined'")
    )
    baseline_facts = Counter(
        r.pid
        for r in await _rows(
            engine, "SELECT project_id::text AS pid FROM reporting.facts WHERE name = 'budget-baselined'"
        )
    )
    changes = Counter(
        r.reason
        for r in await _rows(
            engine, "SELECT data->>'reason' AS reason FROM budget.events WHERE name = 'budget-change-requested'"
        )
    )
    change_facts = Counter(
        r.reason
        for r in await _rows(
            engine, "SELECT data->>'reason' AS reason FROM reporting.facts WHERE name = 'budget-change-requested'"
        )
    )
    registered = Counter(
        r.id
        for r in await _rows(engine, "SELECT stream_id AS id FROM resources.events WHERE name = 'resource-registered'")
    )
    resource_facts = (
        Counter(
            r.id
            for r in await _rows(
                engine,
                "SELECT 'resource-' || resource_id::text AS id FROM reporting.resource_facts "
                "WHERE name = 'resource-registered'",
            )
        )
        if await _scalar(engine, "SELECT to_regclass('reporting.resource_facts') IS NOT NULL")
        else None
    )
    problems: list[str] = []
    planned: Counter[str] = Counter()
    checked = 0
    for c in ledger.ok():
        checked += 1
        if c.kind == "register":
            pid = str(c.answer["project_id"])
            row = projects.get(c.marker)
            if code_counts[c.marker] != 1 or row is None or row.id != pid:
                problems.append(f"project {c.marker} {pid}: {code_counts[c.marker]} rows in projects")
            if reported[c.marker] != 1:
                problems.append(f"project {c.marker} {pid}: {reported[c.marker]} rows in reporting")
            if pid not in known:
                problems.append(f"project {c.marker} {pid}: unknown to budget")
        elif c.kind == "milestone":
            assert c.project_id is not None
            planned[c.project_id] += 1
            mid = str(c.answer["milestone_id"])
            if milestone_names[c.marker] != 1:
                problems.append(f"milestone {c.marker}: {milestone_names[c.marker]} rows in reporting")
            if mid not in known_milestones:
                problems.append(f"milestone {c.marker}: unknown to budget")
        elif c.kind == "baseline":
            if baselines[c.marker] != 1 or baseline_facts[c.marker] != 1:
                problems.append(f"baseline {c.marker}: {baselines[c.marker]} events, {baseline_facts[c.marker]} facts")
        elif c.kind == "change":
            if changes[c.marker] != 1 or change_facts[c.marker] != 1:
                problems.append(f"change {c.marker}: {changes[c.marker]} events, {change_facts[c.marker]} facts")
        elif c.kind == "resource":
            stream = f"resource-{c.answer['resource_id']}"
            if registered[stream] != 1 or (resource_facts is not None and resource_facts[stream] != 1):
                facts_seen = resource_facts[stream] if resource_facts is not None else "-"
                problems.append(f"resource {c.marker}: {registered[stream]} events, {facts_seen} facts")
    docs = {r.id: r.doc for r in projects.values()}
    for pid, count in planned.items():
        if reported_milestones.get(pid) != count:
            problems.append(
                f"project {pid}: {count} milestones planned, reporting counts {reported_milestones.get(pid)}"
            )
        if pid in docs and len(docs[pid]["milestones"]) != count:
            problems.append(f"project {pid}: {count} milestones planned, projects shows {len(docs[pid]['milestones'])}")
    assert not problems, f"{len(problems)} commands not reflected exactly once: {problems[:10]}"
    return checked


async def check_events(engine: AsyncEngine, foreign: set[str]) -> int:
    """Every event of every service's table reached every consumer of its topic once (its inbox), and nothing else
    did; every event about a project is a fact of the reporting ledger once, and every event about a resource a
    resource fact (the facts ledger is idempotent and keeps no inbox: its rows are the evidence)."""
    sources: dict[str, set[str]] = {}
    project_keyed: dict[str, set[str]] = {}
    resource_keyed: set[str] = set()
    for service, topic in TOPICS.items():
        rows = await _rows(
            engine,
            f"SELECT event_id::text AS id, partition_key ~ '{UUID_KEY}' AS p, partition_key LIKE 'resource:%' AS r "
            f"FROM {service}.events",
        )
        sources[topic] = {r.id for r in rows}
        project_keyed[service] = {r.id for r in rows if r.p}
        if service == "resources":
            resource_keyed = {r.id for r in rows if r.r}
    problems: list[str] = []
    checked = 0
    for c in consumers().values():
        if getattr(c.projection, "idempotent", False):
            continue  # no inbox: checked by its own rows below
        inbox = {
            r.id
            for r in await _rows(
                engine, f"SELECT event_id::text AS id FROM {c.service}.inbox WHERE consumer = :c", {"c": c.name}
            )
        }
        expected = set().union(*(sources[t] for t in c.topics))
        missing = expected - inbox
        extra = inbox - expected - foreign
        checked += len(expected)
        if missing:
            problems.append(f"{c.name}: {len(missing)} events never consumed, e.g. {sorted(missing)[:3]}")
        if extra:
            problems.append(f"{c.name}: {len(extra)} events consumed that no service wrote, e.g. {sorted(extra)[:3]}")
    facts = consumers().get("reporting.facts")
    for service, ids in project_keyed.items():
        if facts is None or TOPICS[service] not in facts.topics:
            continue
        stored = {
            r.id
            for r in await _rows(
                engine, "SELECT event_id::text AS id FROM reporting.facts WHERE service = :s", {"s": service}
            )
        }
        if ids - stored:
            problems.append(f"facts: {len(ids - stored)} {service} events missing")
        if stored - ids - foreign:
            problems.append(f"facts: {len(stored - ids - foreign)} {service} facts with no event")
        checked += len(ids)
    if facts is not None and TOPICS["resources"] in facts.topics:
        stored = {r.id for r in await _rows(engine, "SELECT event_id::text AS id FROM reporting.resource_facts")}
        if resource_keyed - stored:
            problems.append(f"resource facts: {len(resource_keyed - stored)} resources events missing")
        if stored - resource_keyed - foreign:
            problems.append(f"resource facts: {len(stored - resource_keyed - foreign)} with no event")
        checked += len(resource_keyed)
    assert not problems, "; ".join(problems)
    return checked


# --- holding a service at a chosen point ---------------------------------------------------------------------


@contextlib.asynccontextmanager
async def table_locked(engine: AsyncEngine, table: str) -> AsyncIterator[None]:
    """Hold ``LOCK TABLE ... IN EXCLUSIVE MODE`` (reads go on, writes wait) until the block ends.

    Locking ``relay_checkpoint`` stops a relay after Kafka acknowledged a batch and before the checkpoint is written
    (the window in which a crash re-publishes); locking ``consumer_offsets`` stops a consumer inside its batch
    transaction, after the inbox and the read model were written and before the commit.
    """
    async with engine.connect() as conn:
        transaction = await conn.begin()
        await conn.execute(text(f"LOCK TABLE {table} IN EXCLUSIVE MODE"))
        try:
            yield
        finally:
            await transaction.rollback()


async def blocked_on(engine: AsyncEngine, schema: str, table: str) -> int:
    """How many sessions of the service owning ``schema`` wait for a lock on ``table``."""
    return int(
        await _scalar(
            engine,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = :app AND wait_event_type = 'Lock' "
            "AND query ILIKE :q",
            {"app": f"pmo-{schema}", "q": f"%{table}%"},
        )
    )


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> float:
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout}s")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def append_outbox(world: PrivateWorld, service: str, events: Sequence[Any], stream: str, kind: str) -> None:
    """Append contract events to a service's event table (its outbox), as one command's transaction would.

    Used to give a relay a backlog where the workload sends no command (resources, invoicing).
    """
    from shared.contracts import REGISTRIES
    from shared.events import EventMetadata
    from shared.eventstore import EventStore, NewEvent

    engine = create_engine(world.infra.database_url, service, pool_size=1)
    try:
        async with engine.begin() as conn:
            await EventStore(REGISTRIES[service]).append(
                conn,
                stream_id=stream,
                stream_type=kind,
                expected_version=0,
                events=[NewEvent.of(e) for e in events],
                metadata=EventMetadata(actor="chaos-suite", correlation_id=f"chaos-{uuid.uuid4().hex[:8]}"),
            )
    finally:
        await engine.dispose()


def work_sheets(project_ids: Sequence[str], count: int) -> list[Any]:
    """Valid ``work-sheet-approved`` events (resources contract) on the given projects."""
    from shared.contracts import resources as r
    from shared.money import Money

    today = date.today()
    iso = today.isocalendar()
    return [
        r.WorkSheetApproved(
            resource_id=uuid.uuid4(),
            sheet_id=uuid.uuid4(),
            version=1,
            replaces_version=None,
            project_id=uuid.UUID(project_ids[i % len(project_ids)]),
            week=f"{iso.year}-W{iso.week:02d}",
            week_start=today - timedelta(days=today.weekday()),
            kind=r.ResourceKind.PERSON,
            role="developer",
            vendor_id=None,
            submitted_by="sam",
            approved_by="rita",
            approved_on=today,
            entries=[],
            deliverables=[],
            hours=Decimal(8),
            cost=Money.of("640.00", "EUR"),
            cost_by_milestone=[],
        )
        for i in range(count)
    ]


def disputes(project_ids: Sequence[str], count: int) -> list[Any]:
    """Valid ``invoice-disputed`` events (invoicing contract) on the given projects."""
    from shared.contracts import invoicing as inv

    return [
        inv.InvoiceDisputed(
            project_id=uuid.UUID(project_ids[i % len(project_ids)]),
            invoice_id=uuid.uuid4(),
            disputed_by="fiona.finance",
            reason=f"chaos {i}",
        )
        for i in range(count)
    ]


async def topic_duplicates(kafka: KafkaOptions, topic: str) -> tuple[int, int]:
    """Records on ``topic`` and how many of them repeat an event id already there (re-publishes)."""
    records = await read_topic(kafka, topic)
    ids = Counter(header(r, "ce_id") for r in records)
    return len(records), sum(n - 1 for i, n in ids.items() if i is not None)


# --- query tables against their event table ------------------------------------------------------------------


def aggregates(service: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The aggregates by stream type and the query tables of a service whose projector writes them."""
    import importlib

    bootstrap = importlib.import_module(f"{service}.bootstrap")
    tables = importlib.import_module(f"{service}.tables")  # every service with query tables keeps them there
    return dict(bootstrap.AGGREGATES), tuple(tables.TABLES)


async def rebuilt_equals_live(world: PrivateWorld, service: str) -> int:
    """Copy the service's event table into a fresh schema, rebuild its query tables there from the events
    (``CommandExecutor.rebuild``) and compare with the live tables: a command half applied (events without their
    query rows, or the reverse) shows as a difference. Returns the number of streams rebuilt."""
    from shared.commands import CommandExecutor
    from shared.db import migrate
    from shared.eventstore import EventStore

    spec = specs()[service]
    by_type, tables = aggregates(service)
    schema = f"rebuild_{service}_{uuid.uuid4().hex[:8]}"
    engine = create_engine(world.infra.database_url, schema, pool_size=2)
    live_engine = await world.open()
    try:
        await migrate(engine, schema, list(spec.ddl))
        async with engine.begin() as conn:
            await conn.execute(
                text(f"INSERT INTO {schema}.events OVERRIDING SYSTEM VALUE SELECT * FROM {service}.events")
            )
        executor = CommandExecutor(engine, EventStore(spec.registry), projector=spec.projector)
        streams = await executor.rebuild(by_type, tables)
        live = await table_digests(live_engine, service, tables)
        rebuilt = await table_digests(engine, schema, tables)
        assert live == rebuilt, f"{service}: query tables differ from a rebuild from the events: {live} != {rebuilt}"
        return streams
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await engine.dispose()


async def terminate_relay_session(engine: AsyncEngine, service: str) -> int:
    """End the database session holding the service's relay lock (``pmo-relay:<schema>:relay``)."""
    return int(
        await _scalar(
            engine,
            "SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
            "AND l.objid::bigint = (hashtext(:k)::bigint & 4294967295)",
            {"k": f"pmo-relay:{service}:relay"},
        )
    )


async def freshness(world: PrivateWorld, registrations: Sequence[Sent]) -> tuple[list[float], list[float]]:
    """Seconds from each registration's request to its event consumed into the reporting portfolio read model
    (the consumer's transaction start, ``inbox.received_at``), and from the event recorded to it consumed."""
    engine = await world.open()
    sent_at = {str(c.answer["project_id"]): c.sent_at for c in registrations}
    rows = await _rows(
        engine,
        "SELECT e.partition_key AS pid, extract(epoch FROM i.received_at) AS consumed, "
        "extract(epoch FROM e.recorded_at) AS recorded FROM projects.events e JOIN reporting.inbox i "
        "ON i.event_id = e.event_id AND i.consumer = 'reporting.portfolio' "
        "WHERE e.name = 'project-registered' AND e.partition_key = ANY(:pids)",
        {"pids": list(sent_at)},
    )
    fresh = [max(0.0, float(r.consumed) - sent_at[r.pid]) for r in rows]
    recorded = [max(0.0, float(r.consumed) - float(r.recorded)) for r in rows]
    return fresh, recorded


async def relay_lock_holder(engine: AsyncEngine, service: str) -> str:
    """Who holds the service's relay lock, and what that session last did (for diagnostics)."""
    rows = await _rows(
        engine,
        "SELECT a.pid, a.application_name, a.state, left(a.query, 60) AS query, a.state_change FROM pg_locks l "
        "JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND l.granted "
        "AND l.objid::bigint = (hashtext(:k)::bigint & 4294967295)",
        {"k": f"pmo-relay:{service}:relay"},
    )
    return "; ".join(f"pid {r.pid} {r.application_name} {r.state} {r.query!r} since {r.state_change}" for r in rows)
