"""``PMO_WORKERS=2``: a service as uvicorn's supervisor and two worker processes on one port, as the image runs it.

Both workers answer; one of them (the holder of the replica's background lease) runs the relay; a command accepted by
either is published without waiting for the relay's safety poll; ``/metrics`` shows every worker; when the holder is
killed, uvicorn starts another worker and the lease moves, and commands are still published.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]
import pytest
from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from shared.infra.system import Endpoints, System, create_database, drop_database
from tests.support import auth_header

pytestmark = pytest.mark.e2e
DIRECTOR = auth_header("dora.director", "director")
LEADER = re.compile(r'^pmo_relay_leader\{pid="(\d+)",service="projects"\} 1\.0$', re.MULTILINE)
PUBLISHED = re.compile(r'^pmo_relay_published_total\{service="projects"\} ([0-9.e+]+)$', re.MULTILINE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def service(infra: Endpoints) -> Iterator[tuple[System, str]]:
    run = uuid.uuid4().hex[:8]
    database = f"pmo_workers_{run}"
    asyncio.run(create_database(infra.database_url, database))
    url = make_url(infra.database_url).set(database=database).render_as_string(hide_password=False)
    running = System(Endpoints(url, infra.kafka_bootstrap_servers))
    logs = Path(tempfile.mkdtemp(prefix="pmo-workers-"))
    env = {"PMO_WORKERS": "2", "PMO_KAFKA_GROUP_PREFIX": f"workers-{run}", "PMO_RELAY_IDLE_POLL_SECONDS": "300"}
    for name in ("projects", "budget"):  # budget: a service with a read model fed by Kafka
        running.start_service(name, free_port(), logs / f"{name}.log", env)
    try:
        running.wait_ready(timeout=90)
        yield running, f"workers-{run}."
    finally:
        running.stop()
        asyncio.run(drop_database(infra.database_url, database))


def workers(system: System, service: str = "projects") -> list[psutil.Process]:
    """uvicorn's worker processes (not multiprocessing's resource tracker)."""
    children = psutil.Process(system.services[service].process.pid).children()
    return [p for p in children if "spawn_main" in " ".join(p.cmdline())]


def metrics(base: str) -> str:
    return httpx.get(f"{base}/metrics", headers=DIRECTOR, timeout=5).text


def leader_pids(base: str) -> set[int]:
    return {int(pid) for pid in LEADER.findall(metrics(base))}


def published(base: str) -> float:
    found = PUBLISHED.search(metrics(base))
    return float(found.group(1)) if found else 0.0


def wait_for(check, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.1)


def register(base: str, portfolio: str, count: int) -> None:
    """``count`` registrations, eight at once, each on a connection of its own (kept-alive connections all accepted by
    one worker would leave the other nothing to answer), so that both workers take some."""

    async def send() -> None:
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=base, headers=DIRECTOR, timeout=15, limits=limits) as client:
            semaphore = asyncio.Semaphore(8)

            async def one() -> None:
                async with semaphore:
                    code = f"W-{uuid.uuid4().hex[:10]}"
                    body = {
                        "code": code, "name": "Worker check", "sponsor": "dora", "manager": "max",
                        "planned_start": "2027-01-04", "planned_end": "2027-06-30", "currency": "EUR",
                        "portfolio_id": portfolio,
                    }  # fmt: skip
                    answer = await client.post("/projects", json=body)
                    assert answer.status_code == 201, answer.text

            await asyncio.gather(*(one() for _ in range(count)))

    asyncio.run(send())


async def group_members(bootstrap: str, prefix: str) -> dict[str, list[str]]:
    """The client ids of the members of each consumer group whose id starts with ``prefix``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        groups = [g[0] for g in await admin.list_consumer_groups() if g[0].startswith(prefix)]
        members: dict[str, list[str]] = {}
        for response in await admin.describe_consumer_groups(groups):
            for group in response.to_object()["groups"]:
                members[group["group"]] = [m["client_id"] for m in group["members"]]
        return members
    finally:
        await admin.close()


def test_a_replica_with_two_workers_is_one_member_of_each_consumer_group(
    service: tuple[System, str], infra: Endpoints
) -> None:
    system, prefix = service
    assert len(workers(system, "budget")) == 2
    found = wait_for(
        lambda: (m := asyncio.run(group_members(infra.kafka_bootstrap_servers, prefix))) and all(m.values()) and m,
        30,
        "the budget's consumer groups",
    )
    assert found and all(name.startswith(prefix + "budget.") for name in found), found
    time.sleep(3)  # a second member would have joined by now (the workers started together)
    found = asyncio.run(group_members(infra.kafka_bootstrap_servers, prefix))
    assert all(len(members) == 1 for members in found.values()), found


def test_two_workers_one_relay_every_command_published_and_the_lease_moves_when_its_holder_dies(
    service: tuple[System, str],
) -> None:
    system, _ = service
    base = system.services["projects"].url
    first = workers(system)
    assert len(first) == 2, [p.pid for p in first]

    # exactly one worker leads the relay, and /metrics (multiprocess) names it whichever worker answers
    holder = wait_for(lambda: leader_pids(base), 30, "a worker leads the relay")
    assert len(holder) == 1 and holder <= {p.pid for p in first}, (holder, [p.pid for p in first])
    for _ in range(6):
        assert leader_pids(base) == holder

    portfolio = f"pf-{uuid.uuid4().hex[:6]}"
    answer = httpx.post(f"{base}/portfolios", json={"portfolio_id": portfolio, "name": "W"}, headers=DIRECTOR)
    assert answer.status_code == 201, answer.text
    before = published(base)
    cpu_before = {p.pid: sum(p.cpu_times()[:2]) for p in first}
    register(base, portfolio, 40)
    # the relay's safety poll is 300 s here: commands committed by the other worker wake it by NOTIFY
    wait_for(lambda: published(base) >= before + 40, 15, "every registration published")
    busy = [pid for pid, cpu in cpu_before.items() if sum(psutil.Process(pid).cpu_times()[:2]) - cpu > 0.05]
    assert len(busy) == 2, f"both workers should have answered some of the 40 requests: {busy}"

    # the holder dies: uvicorn starts a new worker, the lease and the relay move, commands are still published
    (dead,) = holder
    os.kill(dead, signal.SIGKILL)
    moved = wait_for(lambda: (pids := leader_pids(base)) and dead not in pids and pids, 60, "the relay's new leader")
    assert len(moved) == 1
    wait_for(lambda: len([p for p in workers(system) if p.is_running()]) == 2, 30, "uvicorn replaces the worker")
    before = published(base)
    register(base, portfolio, 10)
    wait_for(lambda: published(base) >= before + 10, 15, "registrations after the handover published")
