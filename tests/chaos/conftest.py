"""Fixtures of the chaos suite: one private world (PostgreSQL, Kafka and the five services as processes, all of its
own, in a temporary folder) shared by the scenarios, with one ledger of every command sent to it.

The shared PostgreSQL and Kafka other test runs use are never stopped, killed or restarted here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.chaos import FIGURES, Ledger, PrivateWorld, Workload, clients_for
from tests.support.chaos.fixtures import new_workload, started_world


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
    """One world for the chaos package, stopped when its last test is done (the recovery drills have their own)."""
    async with started_world(infra) as running:
        yield running


@pytest.fixture(scope="package")
def ledger() -> Ledger:
    return Ledger()


@pytest.fixture(scope="package")
async def workload(world: PrivateWorld, ledger: Ledger) -> Workload:
    return await new_workload(world, ledger)


@pytest.fixture
async def clients(world: PrivateWorld) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    async with clients_for(world) as c:
        yield c
