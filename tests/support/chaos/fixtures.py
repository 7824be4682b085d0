"""What the chaos tests' worlds are made of: a started private world and a workload in a portfolio of its own (the
package's shared world in tests/chaos/conftest.py, and the recovery drills' own)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from tests.support.chaos.common import DIRECTOR
from tests.support.chaos.workload import Ledger, Workload
from tests.support.chaos.world import PrivateWorld


@asynccontextmanager
async def started_world(infra: Any) -> AsyncIterator[PrivateWorld]:
    """A private world started, stopped when the block ends. Its broker reuses the jars of the tests' private broker
    (``kafka-test``), fetched here when missing: with ``PMO_TEST_INFRA=containers`` the suite's own Kafka is a
    container and fetched none. Depends on ``infra`` so that the suite's infrastructure starts first."""
    running = PrivateWorld.create(jars_from="kafka-test")
    try:
        await asyncio.to_thread(running.start)
        yield running
    finally:
        await running.close()
        await asyncio.to_thread(running.stop)


async def new_workload(world: PrivateWorld, ledger: Ledger) -> Workload:
    """The commands of a run in a portfolio of its own."""
    portfolio = f"chaos-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=world.url("projects"), headers=DIRECTOR) as client:
        created = await client.post("/portfolios", json={"portfolio_id": portfolio, "name": "Chaos"})
        assert created.status_code == 201, created.text
    return Workload(ledger, portfolio)
