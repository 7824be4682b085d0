"""Fault scenarios where the infrastructure fails under a steady stream of commands: Kafka stopped, a service
killed with SIGKILL mid-relay or mid-consume, PostgreSQL restarted, the relay's database session dropped.

After each scenario every command that got a 2xx answer is reflected exactly once in the read models, every event
reached every consumer of its topic exactly once, and the read models equal a fresh replay of the topics
(:func:`tests.support.chaos.verify`). Commands whose answer was lost (no answer, 5xx) are retried with their
``Idempotency-Key`` first, as a client would.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest

from shared.infra.system import SERVICES
from tests.support.chaos import (
    FIGURES,
    PROBLEM,
    TOPICS,
    Ledger,
    PrivateWorld,
    Workload,
    append_outbox,
    blocked_on,
    consumer_lag,
    consumers,
    disputes,
    rebuilt_equals_live,
    relay_backlog,
    relay_lock_holder,
    table_locked,
    terminate_relay_session,
    topic_duplicates,
    verify,
    wait_quiet,
    wait_until,
    work_sheets,
)

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]


async def test_kafka_stopped_during_a_steady_stream_commands_succeed_and_every_event_arrives_after(
    world: PrivateWorld, workload: Workload, ledger: Ledger, clients: dict[str, httpx.AsyncClient]
) -> None:
    stop = asyncio.Event()
    workload.phase = "kafka-up"
    stream = asyncio.create_task(workload.run(clients, rate=15, duration=120, concurrency=8, stop=stop))
    try:
        await asyncio.sleep(3)
        await asyncio.to_thread(world.infra.kafka.stop)
        workload.phase = "kafka-down"
        down = time.monotonic()
        await asyncio.sleep(6)
        workload.phase = "kafka-starting"
        await asyncio.to_thread(world.infra.kafka.start)
        down_for = time.monotonic() - down
        workload.phase = "kafka-back"
        await asyncio.sleep(2)
    finally:
        stop.set()
        figures = await stream

    during = ledger.in_phase("kafka-down") + ledger.in_phase("kafka-starting")
    assert len(during) > 60
    # Kafka is not on the command path: no command fails for want of it. Refusals of the business kind remain: a
    # budget command for a project whose registration is not consumed yet (404), a lost race on a stream (409).
    refused = [c for c in during if not (c.ok or (c.status in (404, 409) and c.content_type == PROBLEM))]
    assert not refused, [(c.kind, c.outcome(), c.answer) for c in refused[:5]]
    assert not [c for c in during if c.status == 404 and c.service != "budget"]
    accepted = sum(c.ok for c in during)
    await ledger.settle(clients, workload.learn)
    verdict = await verify(world, ledger)
    FIGURES.add(
        f"kafka down {down_for:.1f}s: {len(during)} commands meanwhile, {accepted} 2xx, none failed for want of "
        f"Kafka; stream {figures.line()}; {verdict.line()}",
        scenarios=1,
        commands=figures.sent,
        event_checks=verdict.events_checked,
    )


def kill_points(service: str) -> list[str]:
    """Where the service is held when it is killed (see ``table_locked``): after its relay published a batch and
    before the checkpoint (every service but reporting, whose relay only carries alerts), and inside a consumer
    batch transaction, before its commit (every service that consumes)."""
    points = [] if service == "reporting" else ["relay_checkpoint"]
    if any(c.service == service for c in consumers().values()):
        points.append("consumer_offsets")
    return points


async def held_at(engine: Any, service: str, table: str, ledger: Ledger, phase: str) -> None:
    """Wait until the service waits for the lock on ``table``; say what happened if it does not."""

    async def there() -> bool:
        return await blocked_on(engine, service, table) > 0

    try:
        await wait_until(there, 45, f"{service} waiting on {table}")
    except AssertionError as exc:
        mine = Counter(c.outcome() for c in ledger.in_phase(phase) if c.service == service)
        raise AssertionError(
            f"{exc}; {service} commands meanwhile: {dict(mine)}; relay backlog {await relay_backlog(engine, service)};"
            f" relay lock: {await relay_lock_holder(engine, service)}"
        ) from exc


@pytest.mark.parametrize("service", SERVICES)
async def test_a_service_killed_with_sigkill_mid_relay_or_mid_consume_restarts_with_nothing_lost_or_doubled(
    service: str, world: PrivateWorld, workload: Workload, ledger: Ledger, clients: dict[str, httpx.AsyncClient]
) -> None:
    engine = await world.open()
    kafka = world.infra.kafka_options
    topic = TOPICS[service]
    points = kill_points(service)
    records_before, duplicates_before = await topic_duplicates(kafka, topic)
    stop = asyncio.Event()
    workload.phase = f"kill-{service}"
    pids = (await workload.ensure_projects(clients, 5))[:20]
    stream = asyncio.create_task(workload.run(clients, rate=15, duration=60, concurrency=8, stop=stop))
    try:
        async with contextlib.AsyncExitStack() as held:
            # One point after the other: a consumer held inside its transaction keeps the relays' horizon (the
            # oldest running transaction) where it is, so the relay is held first.
            for table in points:
                await held.enter_async_context(table_locked(engine, f"{service}.{table}"))
                if table == "relay_checkpoint" and service in ("resources", "invoicing"):
                    # the stream does not command them: give their relay something to publish
                    events = work_sheets(pids, 40) if service == "resources" else disputes(pids, 40)
                    await append_outbox(world, service, events, f"chaos-{uuid.uuid4()}", "chaos")
                await held_at(engine, service, table, ledger, workload.phase)
            backlog = await relay_backlog(engine, service)
            lag = {k: v for k, v in (await consumer_lag(engine, kafka)).items() if v}
            world.kill(service)
        # The locks are released only now: PostgreSQL rolls back what the killed process left waiting.
        await asyncio.to_thread(world.restart, service)
        await asyncio.sleep(1)
    finally:
        stop.set()
        figures = await stream
    await ledger.settle(clients, workload.learn)
    verdict = await verify(world, ledger)
    records, duplicates = await topic_duplicates(kafka, topic)
    if "relay_checkpoint" in points:
        assert duplicates > duplicates_before, "the batch published before the kill was not published again"
    FIGURES.add(
        f"SIGKILL {service} held at {' and '.join(points)} (relay backlog {backlog}, consumer lag {lag}), restarted: "
        f"{records - records_before} records on {topic} meanwhile, {duplicates - duplicates_before} of them "
        f"re-published duplicates, dropped by the consumers; stream {figures.line()}; {verdict.line()}",
        scenarios=1,
        commands=figures.sent,
        event_checks=verdict.events_checked,
    )


async def test_postgres_restarted_under_load_commands_fail_cleanly_with_503_and_none_is_half_applied(
    world: PrivateWorld, workload: Workload, ledger: Ledger, clients: dict[str, httpx.AsyncClient]
) -> None:
    await workload.ensure_projects(clients, 5)
    stop = asyncio.Event()
    workload.phase = "pg-up"
    stream = asyncio.create_task(workload.run(clients, rate=30, duration=120, concurrency=16, stop=stop))
    try:
        await asyncio.sleep(3)
        workload.phase = "pg-stopping"
        await asyncio.to_thread(world.infra.postgres.stop)
        workload.phase = "pg-down"
        down = time.monotonic()
        await asyncio.sleep(4)
        workload.phase = "pg-starting"
        await asyncio.to_thread(world.infra.postgres.start)
        down_for = time.monotonic() - down
        workload.phase = "pg-back"
        await asyncio.sleep(3)
    finally:
        stop.set()
        figures = await stream

    during = [c for p in ("pg-stopping", "pg-down", "pg-starting") for c in ledger.in_phase(p)]
    failed = [c for c in during if not c.ok and c.status not in (404, 409)]
    assert len(failed) > 20, Counter(c.outcome() for c in during)
    # The services stay up and answer every command while the database is away (shutting down, gone, starting
    # up) with a 503 problem: no connection dropped, no 500, nothing but problem+json.
    unclean = [c for c in failed if c.status != 503 or c.content_type != PROBLEM or c.answer.get("status") != 503]
    assert not unclean, [(c.kind, c.phase, c.outcome(), c.content_type, c.answer) for c in unclean[:5]]
    # None half-applied: retried with their keys, each is applied once (verify), and the services' query tables
    # equal a rebuild from their event tables (a command applied in part would differ).
    retried = await ledger.settle(clients, workload.learn)
    streams = {s: await rebuilt_equals_live(world, s) for s in ("projects", "budget")}
    verdict = await verify(world, ledger)
    FIGURES.add(
        f"postgres down {down_for:.1f}s under load: {len(during)} commands meanwhile, {len(failed)} answered 503 "
        f"problem+json, none anything else; {retried} retries with their Idempotency-Key settled them; query tables "
        f"equal a rebuild from the events ({streams} streams); stream {figures.line()}; {verdict.line()}",
        scenarios=1,
        commands=figures.sent,
        event_checks=verdict.events_checked,
    )


async def test_a_relay_whose_database_session_drops_while_kafka_is_down_publishes_again_once_kafka_is_back(
    world: PrivateWorld, workload: Workload, ledger: Ledger, clients: dict[str, httpx.AsyncClient]
) -> None:
    """Kafka down, and meanwhile the relay's database session is ended (a failover, a connection proxy, an
    administrator): the relay must take over again once both are back, and publish what piled up."""
    engine = await world.open()
    workload.phase = "relay-session"
    await workload.ensure_projects(clients, 3)
    await asyncio.gather(*(ledger.send(clients, workload.register()) for _ in range(16)))  # a pool of sessions
    await wait_quiet(world)
    await asyncio.to_thread(world.infra.kafka.stop)
    try:
        ended = await terminate_relay_session(engine, "projects")
        assert ended == 1
        await asyncio.sleep(3)  # the relay retries while Kafka is still away
        for _ in range(5):
            workload.learn(await ledger.send(clients, workload.register()))
    finally:
        await asyncio.to_thread(world.infra.kafka.start)
    try:
        await wait_quiet(world, timeout=10)
    except AssertionError as exc:
        backlog = await relay_backlog(engine, "projects")
        holder = await relay_lock_holder(engine, "projects")
        raise AssertionError(
            f"the projects relay has published nothing since Kafka came back ({backlog} events waiting); its lock "
            f"is held by {holder or 'nobody'}"
        ) from exc
    finally:
        if await relay_backlog(engine, "projects"):  # heal the world for the scenarios after this one
            await asyncio.to_thread(world.terminate, "projects")
            await asyncio.to_thread(world.restart, "projects")
            await wait_quiet(world)
    await ledger.settle(clients, workload.learn)
    verdict = await verify(world, ledger)
    FIGURES.add(
        f"relay session ended while Kafka was down: the relay took over again once Kafka was back and published "
        f"what piled up; {verdict.line()}",
        scenarios=1,
        event_checks=verdict.events_checked,
    )
