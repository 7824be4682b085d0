"""On a three-controller, three-broker KRaft cluster (replication factor 3, min.insync.replicas 2), under a steady
stream of commands: a broker killed, the active controller killed, two brokers down at once (below min ISR).

After each: every command that got a 2xx answer is reflected exactly once in the read models, every event reached
every consumer of its topic once, and each project's events are on its topic in the order they were written (first
copies); the catch-up time and the relay's stall metrics are printed. The last scenario also compares the read models
with a fresh replay of the topics. One cluster and one set of services for the module (they start in about a minute).
"""

from __future__ import annotations

import asyncio
import atexit
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support.chaos import (
    FIGURES,
    PROBLEM,
    Ledger,
    Workload,
    check_commands,
    check_events,
    clients_for,
    percentile,
    verify,
)
from tests.support.chaos.cluster import ClusterWorld, active_controller, order_per_project, relay_metrics, stall_line
from tests.support.chaos.common import DIRECTOR
from tests.support.chaos.observe import wait_quiet

# Pending: the relay's re-read and out-of-order publication seen here after a broker kill were its read sorted by the
# text of transaction ids (fixed, tests/integration/test_relay_xid_order.py); not yet run three times since on the
# cluster, so still left out of make test (docs/operations.md, "Kafka cluster").
pytestmark = [pytest.mark.chaos, pytest.mark.pending, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
async def cluster_world(infra: object) -> AsyncIterator[ClusterWorld]:
    """Depends on ``infra`` only so that the broker's jars are there (the cluster runs from them)."""
    world = ClusterWorld(Path(tempfile.mkdtemp(prefix="pmo-cl-")))
    atexit.register(world.stop)  # the JVMs and PostgreSQL outlive their starter: never leave them behind
    started = time.monotonic()
    try:
        await asyncio.to_thread(world.start)
        FIGURES.add(f"cluster: 3 controllers + 3 brokers and 5 services up in {time.monotonic() - started:.0f}s")
        yield world
    finally:
        await world.close()
        await asyncio.to_thread(world.stop)


@pytest.fixture(scope="module")
def cluster_ledger() -> Ledger:
    return Ledger()


@pytest.fixture(scope="module")
async def cluster_workload(cluster_world: ClusterWorld, cluster_ledger: Ledger) -> Workload:
    async with httpx.AsyncClient(base_url=cluster_world.url("projects"), headers=DIRECTOR) as client:
        created = await client.post("/portfolios", json={"portfolio_id": "cluster", "name": "Cluster"})
        assert created.status_code == 201, created.text
    workload = Workload(cluster_ledger, "cluster")
    async with clients_for(cluster_world) as clients:
        await workload.ensure_projects(clients, 10)
    return workload


@pytest.fixture
async def clients(cluster_world: ClusterWorld) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    async with clients_for(cluster_world) as c:
        yield c


async def under_load(
    world: ClusterWorld,
    workload: Workload,
    clients: dict[str, httpx.AsyncClient],
    phase: str,
    down: list[int],
    *,
    outage: float,
) -> tuple[float, str]:
    """Commands at 15/s; after 3 s the nodes ``down`` are killed, and started again after ``outage`` seconds; the
    stream goes on 3 s more. Returns how long the nodes were down, and a line with the relay metrics read before
    their restart and the latency of the commands sent while they were down."""
    stop = asyncio.Event()
    workload.phase = phase
    stream = asyncio.create_task(workload.run(clients, rate=15, duration=90, concurrency=8, stop=stop))
    try:
        await asyncio.sleep(3)
        killed, killed_at = time.monotonic(), time.time()
        for node in down:
            await asyncio.to_thread(world.cluster.kill, node)
        await asyncio.sleep(outage)
        metrics = stall_line(await asyncio.to_thread(relay_metrics, world))
        restarted_at = time.time()
        for node in down:
            await asyncio.to_thread(world.cluster.start_node, node)
        down_for = time.monotonic() - killed
        await asyncio.sleep(3)
    finally:
        stop.set()
        await stream
    faulted = [c.latency for c in workload.ledger.in_phase(phase) if killed_at <= c.sent_at <= restarted_at]
    latency = f"{len(faulted)} commands sent meanwhile, latency p50 {percentile(faulted, 50) * 1000:.0f} ms p99 "
    return down_for, f"{latency}{percentile(faulted, 99) * 1000:.0f} ms; relay metrics: {metrics}"


async def check(world: ClusterWorld, ledger: Ledger, workload: Workload, clients: dict[str, httpx.AsyncClient]) -> str:
    """Every 2xx command once, every event once per consumer, order per project; the figures as a line."""
    sent = ledger.in_phase(workload.phase)
    answered = [c for c in sent if c.status is not None]
    assert not [c for c in answered if c.status >= 500], [(c.kind, c.outcome()) for c in answered][:5]  # type: ignore[operator]
    assert all(c.ok or c.content_type == PROBLEM for c in answered)
    await ledger.settle(clients, workload.learn)
    caught_up = await wait_quiet(world, timeout=120)
    engine = await world.open()
    commands = await check_commands(engine, ledger)
    events = await check_events(engine, world.foreign_ids)
    records, copies = await order_per_project(world)
    after = stall_line(await asyncio.to_thread(relay_metrics, world))
    ok = sum(c.ok for c in sent)
    return (
        f"{len(sent)} commands, {ok} 2xx; caught up {caught_up:.1f}s after the last answer; {commands} 2xx commands "
        f"each once, {events} event deliveries checked; {records} records, order per project kept, {copies} "
        f"copies after the first; relay metrics after: {after}"
    )


async def test_a_broker_killed_under_load_loses_nothing_and_keeps_each_project_in_order(
    cluster_world: ClusterWorld,
    cluster_workload: Workload,
    cluster_ledger: Ledger,
    clients: dict[str, httpx.AsyncClient],
) -> None:
    down_for, during = await under_load(cluster_world, cluster_workload, clients, "broker-killed", [4], outage=8)
    line = await check(cluster_world, cluster_ledger, cluster_workload, clients)
    FIGURES.add(f"cluster, broker 4 killed for {down_for:.1f}s: {line}; while down: {during}")


async def test_the_active_controller_killed_under_load_loses_nothing(
    cluster_world: ClusterWorld,
    cluster_workload: Workload,
    cluster_ledger: Ledger,
    clients: dict[str, httpx.AsyncClient],
) -> None:
    leader = await asyncio.to_thread(active_controller, cluster_world.cluster)
    assert leader in (1, 2, 3)
    down_for, during = await under_load(
        cluster_world, cluster_workload, clients, "controller-killed", [leader], outage=6
    )
    new_leader = await asyncio.to_thread(active_controller, cluster_world.cluster)
    line = await check(cluster_world, cluster_ledger, cluster_workload, clients)
    FIGURES.add(
        f"cluster, active controller {leader} killed for {down_for:.1f}s (leader now {new_leader}): {line}; "
        f"while down: {during}"
    )


async def test_two_brokers_down_below_min_isr_commands_still_succeed_and_every_event_arrives_once_after(
    cluster_world: ClusterWorld,
    cluster_workload: Workload,
    cluster_ledger: Ledger,
    clients: dict[str, httpx.AsyncClient],
) -> None:
    down_for, during = await under_load(cluster_world, cluster_workload, clients, "below-min-isr", [5, 6], outage=10)
    below = cluster_ledger.in_phase("below-min-isr")
    assert sum(c.ok for c in below) > 60  # Kafka is not on the command path: commands go on being accepted
    line = await check(cluster_world, cluster_ledger, cluster_workload, clients)
    verdict = await verify(cluster_world, cluster_ledger)  # once for the module: read models equal a fresh replay
    FIGURES.add(
        f"cluster, brokers 5 and 6 down for {down_for:.1f}s (below min ISR): {line}; while down: "
        f"{during}; {verdict.line()}",
        scenarios=3,
        commands=len(cluster_ledger.commands),
        event_checks=verdict.events_checked,
    )
