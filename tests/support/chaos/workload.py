"""Commands and their answers: the ledger of what was sent, and the workload that sends it."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx

from shared.infra.system import SERVICES
from tests.support.chaos.common import DIRECTOR, percentile
from tests.support.chaos.world import PrivateWorld
from tests.support.money import money

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
        body = {"name": name, "due_date": str(date.today() + timedelta(days=60)), "planned_value": money("1000.00")}
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
        body = {"total": money("100000.00"), "categories": [{"category": "labour", "amount": money("100000.00")}]}
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
        body = {"category": "labour", "amount": money("250.00"), "reason": reason}
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
