"""Load: a bounded load generator on loopback, a few hundred commands per second across the services for a fixed
time, against the five services as processes. Throughput, error rate, latency and freshness (command sent ->
visible in the reporting read model) are printed, never asserted; what is asserted is that nothing is lost."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.support.chaos import (
    FIGURES,
    PROBLEM,
    Ledger,
    PrivateWorld,
    Workload,
    freshness,
    percentile,
    verify,
    wait_quiet,
)

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]

RATE = 300  # commands per second asked of the generator
DURATION = 10.0  # seconds
CONCURRENCY = 64  # commands in flight at most


async def test_a_burst_of_a_few_hundred_commands_per_second_loses_nothing(
    world: PrivateWorld, workload: Workload, ledger: Ledger, clients: dict[str, httpx.AsyncClient]
) -> None:
    await workload.ensure_projects(clients, 20)
    await asyncio.sleep(workload.budget_after)  # so that budget commands find their projects from the start
    workload.phase = "load"
    figures = await workload.run(clients, rate=RATE, duration=DURATION, concurrency=CONCURRENCY)
    sent = ledger.in_phase("load")
    # Every answer is a 2xx or a problem, and none a 5xx: under load the services may refuse, never break. A request
    # without an answer (the connection closed under the client) is counted in the error rate and retried with
    # its key below, like every other.
    answered = [c for c in sent if c.status is not None]
    assert all(c.ok or c.content_type == PROBLEM for c in answered), figures.errors
    assert not [c for c in answered if c.status >= 500], figures.errors  # type: ignore[operator]
    retried = await ledger.settle(clients, workload.learn)
    drained = await wait_quiet(world)
    fresh, recorded = await freshness(world, [c for c in sent if c.kind == "register" and c.ok])
    verdict = await verify(world, ledger)
    by_service = {s: sum(1 for c in sent if c.service == s) for s in sorted({c.service for c in sent})}
    FIGURES.add(
        f"load: asked {RATE}/s for {DURATION:.0f}s, at most {CONCURRENCY} in flight: {figures.line()}; by service "
        f"{by_service}; freshness command -> reporting read model p50 {percentile(fresh, 50) * 1000:.0f} ms, p99 "
        f"{percentile(fresh, 99) * 1000:.0f} ms, max {max(fresh, default=0) * 1000:.0f} ms over {len(fresh)} "
        f"registrations (event recorded -> consumed p50 {percentile(recorded, 50) * 1000:.0f} ms, p99 "
        f"{percentile(recorded, 99) * 1000:.0f} ms); drained {drained:.1f}s after the last answer; {retried} "
        f"retried for want of an answer; {verdict.line()}",
        scenarios=1,
        commands=figures.sent,
        event_checks=verdict.events_checked,
    )
