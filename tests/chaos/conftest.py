"""Fixtures of the chaos suite: one private world (PostgreSQL, Kafka and the five services as processes, all of its
own, in a temporary folder) shared by the scenarios, with one ledger of every command sent to it.

The shared PostgreSQL and Kafka other test runs use are never stopped, killed or restarted here.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.chaos import DIRECTOR, FIGURES, Ledger, PrivateWorld, Workload, clients_for


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "chaos: breaks a private PostgreSQL, Kafka or service process on purpose (fault, load, concurrency)"
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("chaos figures")
        for line in FIGURES.lines():
            terminalreporter.write_line(line)


@pytest.fixture(scope="package")
async def world(infra: Any) -> AsyncIterator[PrivateWorld]:
    """One world for the chaos package, stopped when its last test is done. Depends on ``infra`` only so that the
    broker's jars are there (the private broker reuses them)."""
    running = PrivateWorld.create(jars_from=infra.kafka_instance)
    try:
        await asyncio.to_thread(running.start)
        yield running
    finally:
        await running.close()
        await asyncio.to_thread(running.stop)


@pytest.fixture(scope="package")
def ledger() -> Ledger:
    return Ledger()


@pytest.fixture(scope="package")
async def workload(world: PrivateWorld, ledger: Ledger) -> Workload:
    portfolio = f"chaos-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=world.url("projects"), headers=DIRECTOR) as client:
        created = await client.post("/portfolios", json={"portfolio_id": portfolio, "name": "Chaos"})
        assert created.status_code == 201, created.text
    return Workload(ledger, portfolio)


@pytest.fixture
async def clients(world: PrivateWorld) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    async with clients_for(world) as c:
        yield c
