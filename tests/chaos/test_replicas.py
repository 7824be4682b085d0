"""Replicas an operator can rely on (issue 21, item 3), on the chaos suite's private world (one broker):

* a consumer replica killed with SIGKILL: its partitions are taken over by the others within seconds (session
  timeout 6 s, static members named by ``PMO_REPLICA_ID``), while the partitions of the live replicas keep flowing;
* Kafka stopped for 20 s: the relay leader's process stays under 5 % of a core (its CPU time read from ``/proc``)
  and writes less than one log line a second; every service stays ready (200, ``"degraded"`` with a ``kafka`` note)
  and takes commands; once Kafka is back every command is reflected exactly once.

The figures are printed with the chaos suite's others.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment  # type: ignore[import-untyped]

from shared.infra.system import SERVICES, ServiceProcess
from shared.kafka import KafkaOptions
from tests.support.chaos import (
    FIGURES,
    PROBLEM,
    Ledger,
    PrivateWorld,
    Workload,
    _rows,
    check_commands,
    free_ports,
    percentile,
    wait_quiet,
    wait_ready,
)

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]

GROUP = "chaos.budget.read-models"
"""The budget service's consumer group (one member per replica for its read models; ``PMO_KAFKA_GROUP_PREFIX`` is
``chaos`` in the world)."""
TOPIC = "pmo.projects.v1"
OUTAGE = 20.0


# --- replicas, groups and processes ---------------------------------------------------------------------------


def start_replica(world: PrivateWorld, service: str, replica: str) -> ServiceProcess:
    """One more process of ``service`` named ``replica`` (``PMO_REPLICA_ID``: a static group member), on a port of
    its own; kept in the world's system under ``<service>@<replica>`` so that stopping the world stops it too."""
    assert world.system is not None
    services = world.system.services
    main = services[service]
    (port,) = free_ports(1)
    world.system.start_service(service, port, world.logs / f"{service}@{replica}.log", {
        **world.env, "PMO_REPLICA_ID": replica,
    })  # fmt: skip
    started = services[service]
    services[service] = main
    services[f"{service}@{replica}"] = started
    return started


def stop_replica(world: PrivateWorld, key: str) -> None:
    assert world.system is not None
    process = world.system.services.pop(key).process
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except Exception:
            process.kill()
            process.wait()


async def group_assignment(kafka: KafkaOptions, group: str) -> dict[str, set[int]]:
    """The partitions of :data:`TOPIC` each member of ``group`` holds, by client id (empty while it rebalances)."""
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    described = response.to_object()["groups"][0]
    if described.get("group_state", described.get("state")) != "Stable":
        return {}
    members: dict[str, set[int]] = {}
    for member in described["members"]:
        partitions: set[int] = set()
        if member["member_assignment"]:
            assignment = ConsumerProtocolMemberAssignment.decode(member["member_assignment"])
            for topic, numbers in assignment.assignment:
                if topic == TOPIC:
                    partitions.update(numbers)
        members[member["client_id"]] = partitions
    return members


async def stored_offsets(world: PrivateWorld, consumer: str) -> dict[int, int]:
    engine = await world.open()
    rows = await _rows(
        engine,
        "SELECT partition, next_offset FROM budget.consumer_offsets WHERE consumer = :c AND topic = :t",
        {"c": consumer, "t": TOPIC},
    )
    return {int(r.partition): int(r.next_offset) for r in rows}


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used (``/proc/<pid>/stat``, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def log_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in f)


# --- fixtures --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def replica_ledger() -> Ledger:
    return Ledger()


@pytest.fixture(scope="module")
def replica_workload(replica_ledger: Ledger) -> Workload:
    # the package's portfolio is made by another fixture; registering needs one that exists
    return Workload(replica_ledger, "replicas")


@pytest.fixture
async def replica_clients(world: PrivateWorld, replica_workload: Workload) -> AsyncIterator[dict[str, Any]]:
    from tests.support.chaos import DIRECTOR, clients_for

    async with httpx.AsyncClient(base_url=world.url("projects"), headers=DIRECTOR) as client:
        created = await client.post("/portfolios", json={"portfolio_id": "replicas", "name": "Replicas"})
        assert created.status_code in (201, 409), created.text
    async with clients_for(world) as clients:
        yield clients


# --- scenarios -------------------------------------------------------------------------------------------------


async def test_a_crashed_consumer_replicas_partitions_are_taken_over_within_seconds(
    world: PrivateWorld, replica_workload: Workload, replica_ledger: Ledger, replica_clients: dict[str, Any]
) -> None:
    kafka = world.infra.kafka_options
    replica_workload.phase = "takeover"
    started = time.monotonic()
    keys = []
    try:
        for replica in ("budget-r2", "budget-r3"):
            process = await asyncio.to_thread(start_replica, world, "budget", replica)
            keys.append(f"budget@{replica}")
            await asyncio.to_thread(wait_ready, process.url, 120)
        deadline = time.monotonic() + 90
        while True:  # the group has settled: three members, one partition each
            members = await group_assignment(kafka, GROUP)
            victim = [c for c, parts in members.items() if c.startswith("pmo-budget-budget-r3.") and parts]
            if len(members) == 3 and all(members.values()) and victim:
                break
            assert time.monotonic() < deadline, f"the group did not settle with three members: {members}"
            await asyncio.sleep(0.5)
        joined = time.monotonic() - started
        owned = members[victim[0]]
        before = await stored_offsets(world, "budget.projects")

        killed = time.monotonic()
        await asyncio.to_thread(world.kill, "budget@budget-r3")
        first_advance: dict[int, float] = {}
        sending: list[asyncio.Task[Any]] = []
        while time.monotonic() - killed < 30 and not owned <= set(first_advance):
            for _ in range(2):
                sending.append(asyncio.create_task(replica_ledger.send(replica_clients, replica_workload.register())))
            await asyncio.sleep(0.2)
            for partition, offset in (await stored_offsets(world, "budget.projects")).items():
                if offset > before.get(partition, 0) and partition not in first_advance:
                    first_advance[partition] = time.monotonic() - killed
        for command in await asyncio.gather(*sending):
            replica_workload.learn(command)
    finally:
        for key in keys:
            if world.system is not None and key in world.system.services:
                await asyncio.to_thread(stop_replica, world, key)

    assert owned <= set(first_advance), f"partitions {owned} of the killed replica not consumed within 30s"
    takeover = max(first_advance[p] for p in owned)
    others = [t for p, t in first_advance.items() if p not in owned]
    # The session timeout (6 s by default) bounds how long the coordinator waits for the dead member; its
    # partitions are assigned again at the next rebalance. Before the setting it was 11 s (aiokafka's 10 s).
    assert takeover < 15, f"the killed replica's partitions {owned} came back after {takeover:.1f}s"
    await replica_ledger.settle(replica_clients, replica_workload.learn)
    quiet = await wait_quiet(world)
    commands = await check_commands(await world.open(), replica_ledger)
    FIGURES.add(
        f"replicas: 3 budget consumers settled in {joined:.0f}s; budget-r3 (partitions {sorted(owned)}) SIGKILLed: "
        f"its partitions consumed again after {takeover:.1f}s (session timeout 6 s, static members), the live "
        f"replicas' partitions after {max(others, default=0):.1f}s at most; quiet {quiet:.1f}s later, {commands} 2xx "
        "commands each reflected once",
        scenarios=1,
    )


async def test_a_kafka_outage_keeps_the_relay_leader_quiet_and_every_replica_ready_taking_commands(
    world: PrivateWorld, replica_workload: Workload, replica_ledger: Ledger, replica_clients: dict[str, Any]
) -> None:
    assert world.system is not None
    await wait_quiet(world)
    leader = world.system.services["projects"]
    logs = {s: world.system.services[s].log_path for s in SERVICES}
    lines_before = {s: log_lines(p) for s, p in logs.items()}
    replica_workload.phase = "kafka-outage"
    answers: list[dict[str, Any]] = []
    not_ready: list[str] = []

    await asyncio.to_thread(world.infra.kafka.stop)
    stopped = time.monotonic()
    cpu_before = cpu_seconds(leader.process.pid)
    cpus = {s: cpu_seconds(world.system.services[s].process.pid) for s in SERVICES}
    try:
        async with httpx.AsyncClient(timeout=5) as probe:
            while time.monotonic() - stopped < OUTAGE:
                tick = time.monotonic()
                if len(replica_ledger.in_phase("kafka-outage")) < OUTAGE / 2:  # a command every 2 s: events pile up
                    command = await replica_ledger.send(replica_clients, replica_workload.register())
                    replica_workload.learn(command)
                for service in SERVICES:
                    ready = await probe.get(f"{world.url(service)}/readyz")
                    if ready.status_code != 200:
                        not_ready.append(f"{service} {ready.status_code} {ready.text[:200]}")
                    else:
                        answers.append(ready.json())
                await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
        elapsed = time.monotonic() - stopped
        cpu = (cpu_seconds(leader.process.pid) - cpu_before) / elapsed
        shares = {s: f"{(cpu_seconds(world.system.services[s].process.pid) - cpus[s]) / elapsed:.1%}" for s in SERVICES}
        lines = {s: log_lines(p) - lines_before[s] for s, p in logs.items()}
    finally:
        await asyncio.to_thread(world.infra.kafka.start)
    back = time.monotonic()

    during = replica_ledger.in_phase("kafka-outage")
    assert len(during) >= 5
    refused = [c for c in during if not c.ok]
    assert not refused, [(c.kind, c.outcome(), c.content_type == PROBLEM, c.answer) for c in refused[:5]]
    assert not not_ready, not_ready[:5]
    # Kafka's state is reported apart once the probe has noticed: degraded, with the reason
    noted = [a for a in answers if a["status"] == "degraded" and a.get("kafka", {}).get("reachable") is False]
    assert len(noted) >= len(answers) // 2, answers[-5:]
    # Not spinning (it used about 76 % of a core before the backoff); the 5 % target is a figure, printed, measured
    # in docs/operations.md, not asserted: on a shared 2-core machine it moves by several points from run to run.
    assert cpu < 0.25, f"the relay leader's process used {cpu:.1%} of a core while Kafka was down ({lines})"
    assert lines["projects"] < elapsed, f"{lines['projects']} log lines in {elapsed:.0f}s: {world.log_tail('projects')}"

    await replica_ledger.settle(replica_clients, replica_workload.learn)
    quiet = await wait_quiet(world)
    commands = await check_commands(await world.open(), replica_ledger)
    latencies = [c.latency for c in during]
    FIGURES.add(
        f"replicas: Kafka down {elapsed:.0f}s: relay leader (projects) process used {cpu:.1%} of a core and wrote "
        f"{lines['projects']} log lines (CPU of each service's process, serving only /readyz but projects: "
        f"{shares}; log lines: {lines}); {len(during)} commands meanwhile, all 2xx, p99 "
        f"{percentile(latencies, 99) * 1000:.0f} ms; every /readyz 200 ({len(noted)} of {len(answers)} answers "
        f"'degraded' with kafka unreachable); published and consumed {quiet:.1f}s after Kafka was back "
        f"({time.monotonic() - back:.0f}s with its start); {commands} 2xx commands each reflected once",
        scenarios=1,
    )
