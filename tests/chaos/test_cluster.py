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
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

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
from tests.support.chaos.cluster import (
    ClusterWorld,
    active_controller,
    gauge,
    order_per_project,
    readiness,
    relay_metrics,
    stall_line,
    under_min_isr,
)
from tests.support.chaos.common import DIRECTOR, TOPICS
from tests.support.chaos.observe import wait_quiet

# Back in make test: one fresh-clone CI run found reporting's project books different from a fresh replay. Two ways
# the books could differ from a replay were found since and fixed, each with a test: a day's cost evidence kept in
# the order facts arrived (tests/unit/test_reporting_books.py, the interleaving property) and a second consumer
# overwriting a new project's first books (tests/integration/test_reporting_snapshots.py). This workload records no
# costs and runs one reporting process, so neither is shown to be that run's cause: a failing comparison now names
# the rows that differ and where inside them (tests/support/chaos/observe.py). The guard allows for a loaded machine.
pytestmark = [pytest.mark.chaos, pytest.mark.timeout(900)]


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


RECHECK_AFTER = 3.0
"""Seconds before the checks look again when the first look found a problem (reporting's evaluator looks at the
projects that changed up to 1.6 s apart)."""

PROBE_AFTER = 5.0
"""Seconds into an outage before a probe of the cluster runs (the dead brokers are fenced after 3 s)."""


@dataclass
class Fault:
    """What ``under_load`` saw: how long the nodes were down, the relay metrics and ``/readyz`` answers read just
    before their restart, and a line of figures."""

    down_for: float
    metrics: dict[str, dict[str, float]]
    ready: dict[str, tuple[int, dict[str, object]] | None]
    line: str
    probed: object = None


async def under_load(
    world: ClusterWorld,
    workload: Workload,
    clients: dict[str, httpx.AsyncClient],
    phase: str,
    down: list[int],
    *,
    outage: float,
    probe: Callable[[], object] | None = None,
) -> Fault:
    """Commands at 15/s; after 3 s the nodes ``down`` are killed, and started again (side by side) after ``outage``
    seconds and once ``probe``, run in a thread from :data:`PROBE_AFTER` seconds into the outage, answered; the
    stream goes on 3 s more."""
    stop = asyncio.Event()
    workload.phase = phase
    stream = asyncio.create_task(workload.run(clients, rate=15, duration=90, concurrency=8, stop=stop))
    try:
        await asyncio.sleep(3)
        killed, killed_at = time.monotonic(), time.time()
        for node in down:
            await asyncio.to_thread(world.cluster.kill, node)
        probed: object = None
        if probe is not None:
            await asyncio.sleep(PROBE_AFTER)
            probing = asyncio.create_task(asyncio.to_thread(probe))
            await asyncio.sleep(outage - PROBE_AFTER)
            probed = await probing
        else:
            await asyncio.sleep(outage)
        metrics = await asyncio.to_thread(relay_metrics, world)
        ready = await asyncio.to_thread(readiness, world)
        restarted_at = time.time()
        await asyncio.gather(*(asyncio.to_thread(world.cluster.start_node, node) for node in down))  # side by side
        down_for = time.monotonic() - killed
        await asyncio.sleep(3)
    finally:
        stop.set()
        await stream
    faulted = [c.latency for c in workload.ledger.in_phase(phase) if killed_at <= c.sent_at <= restarted_at]
    latency = f"{len(faulted)} commands sent meanwhile, latency p50 {percentile(faulted, 50) * 1000:.0f} ms p99 "
    stalled = sorted(s for s, answer in ready.items() if answer is not None and "relay_stalled" in answer[1])
    line = (
        f"{latency}{percentile(faulted, 99) * 1000:.0f} ms; relay metrics: {stall_line(metrics)}; "
        f"/readyz with a relay_stalled detail: {', '.join(stalled) or 'none'}"
    )
    return Fault(down_for, metrics, ready, line, probed)


async def settled_metrics(world: ClusterWorld, timeout: float = 20.0) -> dict[str, dict[str, float]]:
    """The relay metrics once every service answers them with no partition stalled, no event waiting (a service may
    write an event of its own, an alert, just then: read again for up to ``timeout`` seconds)."""
    names = ("stalled_partitions", "oldest_unpublished_age_seconds", "backlog_events")
    deadline = time.monotonic() + timeout
    while True:
        metrics = await asyncio.to_thread(relay_metrics, world)
        left = [(s, n, gauge(metrics, s, n)) for s in metrics for n in names if gauge(metrics, s, n) != 0]
        if not left:
            return metrics
        assert time.monotonic() < deadline, f"still stalled or waiting once caught up: {left}; {stall_line(metrics)}"
        await asyncio.sleep(0.5)


async def check(
    world: ClusterWorld, ledger: Ledger, workload: Workload, clients: dict[str, httpx.AsyncClient]
) -> tuple[str, dict[str, dict[str, float]]]:
    """Every 2xx command once, every event once per consumer, order per project, no partition still stalled once
    caught up; the figures as a line, and the relay metrics read then."""
    sent = ledger.in_phase(workload.phase)
    answered = [c for c in sent if c.status is not None]
    assert not [c for c in answered if c.status >= 500], [(c.kind, c.outcome()) for c in answered][:5]  # type: ignore[operator]
    assert all(c.ok or c.content_type == PROBLEM for c in answered)
    await ledger.settle(clients, workload.learn)
    caught_up = await wait_quiet(world, timeout=120)
    engine = await world.open()
    looked_again = ""
    try:
        commands, events, (records, copies) = await verified(world, engine, ledger)
    except AssertionError as first:
        # Quiet is a moment, not a state: a service may write an event of its own just then (reporting's evaluator
        # raising an alert for what it consumed last), and a check that read the events tables before it was
        # written finds it consumed or published "by no service". Every check again once quiet again: a real
        # loss, copy or disorder fails it the same way.
        looked_again = f" (checked again once quiet: the first look found {str(first)[:200]!r})"
        await asyncio.sleep(RECHECK_AFTER)
        await wait_quiet(world, timeout=120)
        commands, events, (records, copies) = await verified(world, engine, ledger)
    after = await settled_metrics(world)
    ok = sum(c.ok for c in sent)
    line = (
        f"{len(sent)} commands, {ok} 2xx; caught up {caught_up:.1f}s after the last answer; {commands} 2xx commands "
        f"each once, {events} event deliveries checked; {records} records, order per project kept, {copies} "
        f"copies after the first{looked_again}; relay metrics after: {stall_line(after)}"
    )
    return line, after


async def verified(world: ClusterWorld, engine: AsyncEngine, ledger: Ledger) -> tuple[int, int, tuple[int, int]]:
    """Every 2xx command reflected once, every event consumed once per consumer, each project's order on its topic."""
    return (
        await check_commands(engine, ledger),
        await check_events(engine, world.foreign_ids),
        await order_per_project(world),
    )


async def test_a_broker_killed_under_load_loses_nothing_and_keeps_each_project_in_order(
    cluster_world: ClusterWorld,
    cluster_workload: Workload,
    cluster_ledger: Ledger,
    clients: dict[str, httpx.AsyncClient],
) -> None:
    fault = await under_load(cluster_world, cluster_workload, clients, "broker-killed", [4], outage=8)
    line, _ = await check(cluster_world, cluster_ledger, cluster_workload, clients)
    FIGURES.add(f"cluster, broker 4 killed for {fault.down_for:.1f}s: {line}; while down: {fault.line}")


async def test_the_active_controller_killed_under_load_loses_nothing(
    cluster_world: ClusterWorld,
    cluster_workload: Workload,
    cluster_ledger: Ledger,
    clients: dict[str, httpx.AsyncClient],
) -> None:
    leader = await asyncio.to_thread(active_controller, cluster_world.cluster)
    assert leader in (1, 2, 3)
    fault = await under_load(cluster_world, cluster_workload, clients, "controller-killed", [leader], outage=6)
    new_leader = await asyncio.to_thread(active_controller, cluster_world.cluster)
    line, _ = await check(cluster_world, cluster_ledger, cluster_workload, clients)
    FIGURES.add(
        f"cluster, active controller {leader} killed for {fault.down_for:.1f}s (leader now {new_leader}): {line}; "
        f"while down: {fault.line}"
    )


async def test_two_brokers_down_below_min_isr_commands_still_succeed_and_every_event_arrives_once_after(
    cluster_world: ClusterWorld,
    cluster_workload: Workload,
    cluster_ledger: Ledger,
    clients: dict[str, httpx.AsyncClient],
) -> None:
    alerts_before = await asyncio.to_thread(relay_metrics, cluster_world)
    fault = await under_load(
        cluster_world, cluster_workload, clients, "below-min-isr", [5, 6], outage=10,
        probe=lambda: under_min_isr(cluster_world.cluster),
    )  # fmt: skip
    # What the operations guide says to run when the alert fires names the partitions that cannot take writes.
    listed, out = cast(tuple[set[tuple[str, int]], str], fault.probed)
    assert {topic for topic, _ in listed} >= set(TOPICS.values()), out
    below = cluster_ledger.in_phase("below-min-isr")
    assert sum(c.ok for c in below) > 60  # Kafka is not on the command path: commands go on being accepted
    # The stall shows while no partition can take writes: stalled partitions, the oldest event's age, a readiness
    # detail on an answer that stays 200 (commands keep working).
    stalled = [s for s in fault.metrics if (gauge(fault.metrics, s, "stalled_partitions") or 0) >= 1]
    assert stalled, stall_line(fault.metrics)
    assert all((gauge(fault.metrics, s, "oldest_unpublished_age_seconds") or 0) >= 3 for s in stalled)
    shown = {s: a for s, a in fault.ready.items() if a is not None and "relay_stalled" in a[1]}
    assert shown and all(status == 200 and body["status"] == "degraded" for status, body in shown.values()), fault.ready
    line, after = await check(cluster_world, cluster_ledger, cluster_workload, clients)
    alerts = {
        s: (gauge(after, s, "stall_alerts_total") or 0) - (gauge(alerts_before, s, "stall_alerts_total") or 0)
        for s in after
    }
    assert sum(alerts.values()) >= 1, alerts  # a stall past PMO_RELAY_STALL_ALERT_SECONDS raised the alert
    verdict = await verify(cluster_world, cluster_ledger)  # once for the module: read models equal a fresh replay
    FIGURES.add(
        f"cluster, brokers 5 and 6 down for {fault.down_for:.1f}s (below min ISR): {line}; while down: "
        f"{fault.line}; pmo kafka topics --under-min-isr-partitions listed {len(listed)} partitions; stall alerts "
        f"raised: {sum(alerts.values()):.0f}; {verdict.line()}",
        scenarios=3,
        commands=len(cluster_ledger.commands),
        event_checks=verdict.events_checked,
    )
