"""The relay wakes by PostgreSQL LISTEN/NOTIFY when another process commits (two replicas of the projects service on
one schema), and finds an event committed behind a transaction still open once that transaction ends, though it
wrote no event and wakes nobody; the relay's safety poll at its maximum (300 s) in both."""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from projects.bootstrap import create_app
from projects.settings import Settings
from shared.relay import BUSY_SECONDS
from tests.support import auth_header, eventually
from tests.support.projects import portfolio

SAFETY_POLL = 300.0


async def leading_replica(stack: AsyncExitStack, infra: Any, schema: str, group_prefix: str) -> tuple[Any, Any]:
    """The first replica on ``schema``, once its relay leads: its client and its runtime."""
    client = await replica(stack, infra, schema, group_prefix)
    runtime = client.app.state.runtime  # type: ignore[attr-defined]

    async def leads() -> None:
        assert runtime.relay.is_leader

    await eventually(leads)
    return client, runtime


async def replica(stack: AsyncExitStack, infra: Any, schema: str, group_prefix: str) -> httpx.AsyncClient:
    app = create_app(
        Settings(
            env="development",
            database_url=infra.database_url,
            kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
            db_schema=schema,
            kafka_group_prefix=group_prefix,
            relay_idle_poll_seconds=SAFETY_POLL,
        )
    )
    await stack.enter_async_context(app.router.lifespan_context(app))
    client = await stack.enter_async_context(
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://projects",
            headers=auth_header("dora.director", "director"),
        )
    )
    client.app = app  # type: ignore[attr-defined]
    return client


async def published(runtime: Any) -> None:
    """Every event of the schema is behind the relay's checkpoint."""
    async with runtime.engine.connect() as conn:
        last = (await conn.execute(text("SELECT max(position) FROM events"))).scalar()
        done = (await conn.execute(text("SELECT position FROM relay_checkpoint"))).scalar()
    assert last is not None and done is not None and done >= last


async def test_a_command_committed_by_another_process_is_published_without_waiting_for_the_safety_poll(
    infra: Any,
) -> None:
    """Replica B (its own engine and connections, its relay not the leader) commits a command; replica A's relay
    (the leader, idle on a 300 s safety poll) is woken by B's NOTIFY and publishes it within seconds."""
    schema, prefix = f"t_wake_{uuid.uuid4().hex[:8]}", f"test-{uuid.uuid4().hex[:8]}"
    async with AsyncExitStack() as stack:
        _, runtime_a = await leading_replica(stack, infra, schema, prefix)
        b = await replica(stack, infra, schema, prefix)
        runtime_b = b.app.state.runtime  # type: ignore[attr-defined]
        assert runtime_b.engine is not runtime_a.engine and not runtime_b.relay.is_leader
        await asyncio.sleep(BUSY_SECONDS + 0.5)  # A's relay is past its busy window: only its safety poll or a wake

        started = time.monotonic()
        await portfolio(b)

        await eventually(lambda: published(runtime_a), timeout=5)
        took = time.monotonic() - started
        print(f"\npublished {took * 1000:.0f} ms after the other process's command (safety poll {SAFETY_POLL:.0f} s)")
        assert took < 5 < SAFETY_POLL
        assert runtime_b.notifier.sent >= 1, "the other process sent no NOTIFY"


async def test_an_event_committed_behind_an_open_transaction_is_published_when_it_ends(infra: Any) -> None:
    """A transaction that writes no event (another application's, a consumer's) is open when a command commits: the
    relay cannot read the command's event until it ends, and its end notifies nobody. The relay, past its busy
    second, looks every 0.1 s while events wait behind an open transaction instead of resting for its safety poll."""
    schema, prefix = f"t_behind_{uuid.uuid4().hex[:8]}", f"test-{uuid.uuid4().hex[:8]}"
    async with AsyncExitStack() as stack:
        a, runtime = await leading_replica(stack, infra, schema, prefix)
        await portfolio(a)
        await eventually(lambda: published(runtime), timeout=5)
        async with runtime.engine.connect() as blocker:
            await blocker.execute(text("SELECT pg_current_xact_id()"))  # an open transaction with an xid
            await portfolio(a)  # committed after it: not readable while it is open
            await asyncio.sleep(BUSY_SECONDS + 1.5)  # past the busy second: the relay would rest for its safety poll
            with pytest.raises(AssertionError):  # held back (else this would not measure the wait)
                await published(runtime)
            await blocker.commit()  # ends, wrote nothing, notifies nobody
            started = time.monotonic()
        await eventually(lambda: published(runtime), timeout=5)
        took = time.monotonic() - started
        print(f"\npublished {took * 1000:.0f} ms after the transaction ahead ended (safety poll {SAFETY_POLL:.0f} s)")
        assert took < 5 < SAFETY_POLL
