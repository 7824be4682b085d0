"""Holding a service at a chosen point, injecting events, and comparing query tables with their event table."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_engine
from shared.kafka import KafkaOptions
from tests.support.chaos.common import specs
from tests.support.chaos.observe import _rows, _scalar, header, read_topic, table_digests
from tests.support.chaos.workload import Sent
from tests.support.chaos.world import PrivateWorld

# --- holding a service at a chosen point ---------------------------------------------------------------------


@contextlib.asynccontextmanager
async def table_locked(engine: AsyncEngine, table: str) -> AsyncIterator[None]:
    """Hold ``LOCK TABLE ... IN EXCLUSIVE MODE`` (reads go on, writes wait) until the block ends.

    Locking ``relay_checkpoint`` stops a relay after Kafka acknowledged a batch and before the checkpoint is written
    (the window in which a crash re-publishes); locking ``consumer_offsets`` stops a consumer inside its batch
    transaction, after the inbox and the read model were written and before the commit.
    """
    async with engine.connect() as conn:
        transaction = await conn.begin()
        await conn.execute(text(f"LOCK TABLE {table} IN EXCLUSIVE MODE"))
        try:
            yield
        finally:
            await transaction.rollback()


async def blocked_on(engine: AsyncEngine, schema: str, table: str) -> int:
    """How many sessions of the service owning ``schema`` wait for a lock on ``table``."""
    return int(
        await _scalar(
            engine,
            "SELECT count(*) FROM pg_stat_activity WHERE (application_name = :app OR application_name LIKE :replica) "
            "AND wait_event_type = 'Lock' AND query ILIKE :q",
            {"app": f"pmo-{schema}", "replica": f"pmo-{schema}-%", "q": f"%{table}%"},  # one name per replica
        )
    )


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> float:
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout}s")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def append_outbox(world: PrivateWorld, service: str, events: Sequence[Any], stream: str, kind: str) -> None:
    """Append contract events to a service's event table (its outbox), as one command's transaction would.

    Used to give a relay a backlog where the workload sends no command (resources, invoicing).
    """
    from shared.contracts import REGISTRIES
    from shared.events import EventMetadata
    from shared.eventstore import EventStore, NewEvent

    engine = create_engine(world.infra.database_url, service, pool_size=1)
    try:
        async with engine.begin() as conn:
            await EventStore(REGISTRIES[service]).append(
                conn,
                stream_id=stream,
                stream_type=kind,
                expected_version=0,
                events=[NewEvent.of(e) for e in events],
                metadata=EventMetadata(actor="chaos-suite", correlation_id=f"chaos-{uuid.uuid4().hex[:8]}"),
            )
    finally:
        await engine.dispose()


def work_sheets(project_ids: Sequence[str], count: int) -> list[Any]:
    """Valid ``work-sheet-approved`` events (resources contract) on the given projects."""
    from shared.contracts import resources as r
    from shared.money import Money

    today = date.today()
    iso = today.isocalendar()
    return [
        r.WorkSheetApproved(
            resource_id=uuid.uuid4(),
            sheet_id=uuid.uuid4(),
            version=1,
            replaces_version=None,
            project_id=uuid.UUID(project_ids[i % len(project_ids)]),
            week=f"{iso.year}-W{iso.week:02d}",
            week_start=today - timedelta(days=today.weekday()),
            kind=r.ResourceKind.PERSON,
            role="developer",
            vendor_id=None,
            submitted_by="sam",
            approved_by="rita",
            approved_on=today,
            entries=[],
            deliverables=[],
            hours=Decimal(8),
            cost=Money.of("640.00", "EUR"),
            cost_by_milestone=[],
        )
        for i in range(count)
    ]


def disputes(project_ids: Sequence[str], count: int) -> list[Any]:
    """Valid ``invoice-disputed`` events (invoicing contract) on the given projects."""
    from shared.contracts import invoicing as inv

    return [
        inv.InvoiceDisputed(
            project_id=uuid.UUID(project_ids[i % len(project_ids)]),
            invoice_id=uuid.uuid4(),
            disputed_by="fiona.finance",
            reason=f"chaos {i}",
        )
        for i in range(count)
    ]


async def topic_duplicates(kafka: KafkaOptions, topic: str) -> tuple[int, int]:
    """Records on ``topic`` and how many of them repeat an event id already there (re-publishes)."""
    records = await read_topic(kafka, topic)
    ids = Counter(header(r, "ce_id") for r in records)
    return len(records), sum(n - 1 for i, n in ids.items() if i is not None)


# --- query tables against their event table ------------------------------------------------------------------


def aggregates(service: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The aggregates by stream type and the query tables of a service whose projector writes them."""
    import importlib

    bootstrap = importlib.import_module(f"{service}.bootstrap")
    tables = importlib.import_module(f"{service}.tables")  # every service with query tables keeps them there
    return dict(bootstrap.AGGREGATES), tuple(tables.TABLES)


async def rebuilt_equals_live(world: PrivateWorld, service: str) -> int:
    """Copy the service's event table into a fresh schema, rebuild its query tables there from the events
    (``CommandExecutor.rebuild``) and compare with the live tables: a command half applied (events without their
    query rows, or the reverse) shows as a difference. Returns the number of streams rebuilt."""
    from shared import authz
    from shared.commands import CommandExecutor
    from shared.db import migrate
    from shared.eventstore import EventStore

    spec = specs()[service]
    by_type, tables = aggregates(service)
    schema = f"rebuild_{service}_{uuid.uuid4().hex[:8]}"
    engine = create_engine(world.infra.database_url, schema, pool_size=2)
    live_engine = await world.open()
    try:
        await migrate(engine, schema, [*authz.DDL, *spec.ddl])  # the projects' scopes: the projectors keep them too
        async with engine.begin() as conn:
            await conn.execute(
                text(f"INSERT INTO {schema}.events OVERRIDING SYSTEM VALUE SELECT * FROM {service}.events")
            )
        executor = CommandExecutor(engine, EventStore(spec.registry), projector=spec.projector)
        streams = await executor.rebuild(by_type, tables)
        live = await table_digests(live_engine, service, tables)
        rebuilt = await table_digests(engine, schema, tables)
        assert live == rebuilt, f"{service}: query tables differ from a rebuild from the events: {live} != {rebuilt}"
        return streams
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await engine.dispose()


async def terminate_relay_session(engine: AsyncEngine, service: str) -> int:
    """End the database session holding the service's relay lock (``pmo-relay:<schema>:relay``)."""
    return int(
        await _scalar(
            engine,
            "SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
            "AND l.objid::bigint = (hashtext(:k)::bigint & 4294967295)",
            {"k": f"pmo-relay:{service}:relay"},
        )
    )


async def freshness(world: PrivateWorld, registrations: Sequence[Sent]) -> tuple[list[float], list[float]]:
    """Seconds from each registration's request to its event consumed into the reporting portfolio read model
    (the consumer's transaction start, ``inbox.received_at``), and from the event recorded to it consumed."""
    engine = await world.open()
    sent_at = {str(c.answer["project_id"]): c.sent_at for c in registrations}
    rows = await _rows(
        engine,
        "SELECT e.partition_key AS pid, extract(epoch FROM i.received_at) AS consumed, "
        "extract(epoch FROM e.recorded_at) AS recorded FROM projects.events e JOIN reporting.inbox i "
        "ON i.event_id = e.event_id AND i.consumer = 'reporting.portfolio' "
        "WHERE e.name = 'project-registered' AND e.partition_key = ANY(:pids)",
        {"pids": list(sent_at)},
    )
    fresh = [max(0.0, float(r.consumed) - sent_at[r.pid]) for r in rows]
    recorded = [max(0.0, float(r.consumed) - float(r.recorded)) for r in rows]
    return fresh, recorded


async def relay_lock_holder(engine: AsyncEngine, service: str) -> str:
    """Who holds the service's relay lock, and what that session last did (for diagnostics)."""
    rows = await _rows(
        engine,
        "SELECT a.pid, a.application_name, a.state, left(a.query, 60) AS query, a.state_change FROM pg_locks l "
        "JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND l.granted "
        "AND l.objid::bigint = (hashtext(:k)::bigint & 4294967295)",
        {"k": f"pmo-relay:{service}:relay"},
    )
    return "; ".join(f"pid {r.pid} {r.application_name} {r.state} {r.query!r} since {r.state_change}" for r in rows)
