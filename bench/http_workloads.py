"""What the HTTP benchmark sends: the typical command of each service (its setup once the server is ready, and each
client's requests), and the project registrations other benchmarks send too."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

import httpx

from bench.common import auth_headers
from bench.synthetic import recorded, registration
from shared.kafka import KafkaOptions, new_producer, to_record

STREAMS = 64
"""Budgets (projects) and portfolios a keyed command spreads over, at least one per client (more if more clients)."""


def project_body(code: str, portfolio_id: str) -> dict[str, Any]:
    """As the integration tests' ``project_body``, with the given unique code and portfolio."""
    return {
        "code": code,
        "name": "CRM replacement",
        "objectives": "Replace the legacy CRM",
        "sponsor": "dora.director",
        "manager": "max.manager",
        "planned_start": "2027-01-04",
        "planned_end": "2027-12-17",
        "currency": "EUR",
        "portfolio_id": portfolio_id,
    }


async def create_portfolio(url: str) -> str:
    """The portfolio the projects are registered in (the projects service refuses an unknown one)."""
    slug = f"bench-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=url, timeout=30, headers=auth_headers()) as client:
        response = await client.post("/portfolios", json={"portfolio_id": slug, "name": "Benchmark portfolio"})
    if response.status_code not in (201, 404, 405):  # 404/405: a server without portfolios (the bare one)
        raise RuntimeError(f"cannot create portfolio: {response.status_code} {response.text[:300]}")
    return slug


def eur(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "EUR"}


# ---------------------------------------------------------------------------------------------------------------
# The typical command of each service

Request = tuple[str, str, dict[str, Any]]
"""Method, path and JSON body."""


class Workload:
    """A service's typical command: its setup (``prepare``, once the server is ready) and each client's requests.

    ``request(client, clients, turn)`` is the ``turn``-th request of client ``client`` out of ``clients``; a
    command on an existing stream takes it from :meth:`own`, so two clients never write the same stream.
    """

    service: ClassVar[str]
    command: ClassVar[str]
    """The route, as in the access policy."""
    setup: ClassVar[str]
    subject: ClassVar[str] = "bench.pmo"
    roles: ClassVar[tuple[str, ...]] = ("pmo",)

    def __init__(self, tag: str, streams: int) -> None:
        self.tag = tag
        self.streams = streams
        self.keys: list[str] = []
        self._seq = itertools.count()

    def headers(self) -> dict[str, str]:
        return auth_headers(self.subject, self.roles)

    def next_seq(self) -> int:
        """A number unique in the run, for unique codes, numbers and values."""
        return next(self._seq)

    def own(self, client: int, clients: int, turn: int) -> str:
        """Client ``client``'s key for its ``turn``-th request: it rotates over ``keys[client::clients]``."""
        mine = self.keys[client::clients]
        return mine[turn % len(mine)]

    async def prepare(self, url: str, kafka: KafkaOptions, source: str | None) -> None:
        """Setup once the server is ready; ``source`` is the topic its read models consume (if it has any)."""

    def request(self, client: int, clients: int, turn: int) -> Request:
        raise NotImplementedError


class RegisterProject(Workload):
    service = "projects"
    command = "POST /projects"
    setup = "one portfolio; every project a unique code"

    portfolio_id = ""

    async def prepare(self, url: str, kafka: KafkaOptions, source: str | None) -> None:
        self.portfolio_id = await create_portfolio(url)

    def request(self, client: int, clients: int, turn: int) -> Request:
        return "POST", "/projects", project_body(f"B{self.tag}-{self.next_seq()}", self.portfolio_id)


class Commit(Workload):
    """A purchase order against a baselined budget; each client on budgets of its own."""

    service = "budget"
    command = "POST /budgets/{project_id}/commitments"
    setup = (
        f"{STREAMS} projects (project-registered on the run's projects topic, consumed by the service), "
        "each baselined; each client commits on projects of its own"
    )
    subject = "fiona.finance"
    roles = ("finance",)
    BASELINE: ClassVar[dict[str, Any]] = {
        "total": eur("10000000.00"),
        "categories": [{"category": "labour", "amount": eur("10000000.00")}],
    }

    async def prepare(self, url: str, kafka: KafkaOptions, source: str | None) -> None:
        assert source is not None
        pids = [uuid.uuid4() for _ in range(self.streams)]
        self.keys = [str(pid) for pid in pids]
        at = datetime.now(UTC)
        producer = new_producer(kafka)
        await producer.start()
        try:
            sent = []
            for i, pid in enumerate(pids):
                event = recorded(registration(pid, i, f"bench-{self.tag}"), f"project-{pid}", "project", 1, at)
                key, value, headers = to_record("projects", event)
                sent.append(await producer.send(source, value=value, key=key, headers=headers))
            await asyncio.gather(*sent)
        finally:
            await producer.stop()
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(base_url=url, timeout=30, headers=self.headers()) as client:
            for pid in self.keys:  # 404 until the service has consumed the project's registration
                while (
                    response := await client.post(f"/budgets/{pid}/baseline", json=self.BASELINE)
                ).status_code == 404:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"budget service does not know project {pid} after 60 s: {response.text}")
                    await asyncio.sleep(0.1)
                if response.status_code != 201:
                    raise RuntimeError(f"cannot baseline {pid}: {response.status_code} {response.text[:300]}")

    def request(self, client: int, clients: int, turn: int) -> Request:
        body = {
            "kind": "purchase_order",
            "vendor": "acme",
            "reference": f"PO-{self.tag}-{self.next_seq()}",
            "category": "labour",
            "amount": eur("1250.00"),
        }
        return "POST", f"/budgets/{self.own(client, clients, turn)}/commitments", body


class RegisterResource(Workload):
    service = "resources"
    command = "POST /resources"
    setup = "none; a person with a unique name each time"
    subject = "rita.resources"
    roles = ("resource-manager",)

    def request(self, client: int, clients: int, turn: int) -> Request:
        body = {
            "name": f"Person {self.tag}-{self.next_seq()}",
            "email": "person@example.org",
            "kind": "person",
            "role": "developer",
            "department": "engineering",
            "weekly_capacity_hours": "40",
            "currency": "EUR",
        }
        return "POST", "/resources", body


class ReceiveInvoice(Workload):
    """A one-line invoice billing a work sheet the service has never heard of: received, then mismatched."""

    service = "invoicing"
    command = "POST /invoices"
    setup = (
        f"none; a unique invoice number each time, {STREAMS} projects (one per client at 64 clients); the work "
        "sheet billed is unknown, so the invoice is received and mismatched"
    )
    subject = "fiona.finance"
    roles = ("finance",)

    async def prepare(self, url: str, kafka: KafkaOptions, source: str | None) -> None:
        self.keys = [str(uuid.uuid4()) for _ in range(self.streams)]

    def request(self, client: int, clients: int, turn: int) -> Request:
        today = date.today()
        line = {
            "description": "Consulting, one week",
            "quantity": "1",
            "unit_price": eur("4000.00"),
            "amount": eur("4000.00"),
            "tax_rate": "0.20",
            "tax": eur("800.00"),
            "bills": [{"sheet_id": str(uuid.uuid4())}],
        }
        body = {
            "project_id": self.own(client, clients, turn),
            "vendor": "acme",
            "number": f"INV-{self.tag}-{self.next_seq()}",
            "issued_on": str(today - timedelta(days=3)),
            "due_on": str(today + timedelta(days=27)),
            "currency": "EUR",
            "commitment_reference": "PO-2027-0042",
            "lines": [line],
            "total": eur("4800.00"),
        }
        return "POST", "/invoices", body


class SetThresholds(Workload):
    """New alert thresholds for a portfolio (values that differ from its current ones, so an event each time)."""

    service = "reporting"
    command = "PUT /portfolios/{portfolio_id}/alert-thresholds"
    setup = f"none; {STREAMS} portfolios, each client on portfolios of its own, new values each time"

    async def prepare(self, url: str, kafka: KafkaOptions, source: str | None) -> None:
        self.keys = [f"bench-{self.tag}-{k:03d}" for k in range(self.streams)]

    def request(self, client: int, clients: int, turn: int) -> Request:
        seq = self.next_seq()
        body = {"cpi_below": f"0.{seq % 10000:04d}", "spi_below": f"0.{seq // 10000 % 10000:04d}"}
        return "PUT", f"/portfolios/{self.own(client, clients, turn)}/alert-thresholds", body


WORKLOADS: dict[str, type[Workload]] = {
    w.service: w for w in (RegisterProject, Commit, RegisterResource, ReceiveInvoice, SetThresholds)
}
