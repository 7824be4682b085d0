"""The approvals read model applies a batch's changes with a run of closing decisions in one statement: on the real
PostgreSQL, random sequences of requests, corrections, parked items and decisions (closes of the version decided,
of older versions, of items never opened, twice) leave the same rows as applying every change by itself."""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from reporting.approvals import model, rules
from reporting.approvals.kinds import ApprovalKind
from shared.db import create_engine, migrate

pytestmark = pytest.mark.integration

PID = uuid.UUID(int=7)
T0 = datetime(2027, 3, 1, 9, tzinfo=UTC)


@pytest.fixture
async def engines(infra: Any) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    made = []
    for _ in range(2):
        schema = f"t_appr_{uuid.uuid4().hex[:8]}"
        eng = create_engine(infra.database_url, schema, pool_size=1)
        await migrate(eng, schema, model.DDL)
        made.append((eng, schema))
    try:
        yield made[0][0], made[1][0]
    finally:
        for eng, schema in made:
            async with eng.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            await eng.dispose()


def random_changes(rnd: random.Random) -> list[tuple[rules.Change, uuid.UUID]]:
    keys = [f"work-sheet:{n}" for n in range(4)]
    out: list[tuple[rules.Change, uuid.UUID]] = []
    for n in range(rnd.randint(1, 40)):
        key, version = rnd.choice(keys), rnd.randint(1, 4)
        kind = rnd.choice(["open", "open", "close", "close", "close", "close-any", "park"])
        change: rules.Change
        if kind == "open":
            change = rules.Open(
                key, ApprovalKind.WORK_SHEET, PID, f"sheet v{version}", None, "wanda.worker",
                T0 + timedelta(minutes=n), {"sheet": key}, version=version,
            )  # fmt: skip
        elif kind == "park":
            change = rules.Park(key, rnd.choice([True, False]), detail=f"parked {n}")
        else:
            change = rules.Close(key, version=version if kind == "close" else None)
        out.append((change, uuid.UUID(int=n + 1)))
    return out


async def rows(engine: AsyncEngine) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        found = await conn.execute(text("SELECT item_key, version, what, pending, detail FROM approval_items"))
        return sorted(tuple(r) for r in found)


async def test_a_batch_leaves_the_rows_that_applying_each_change_alone_leaves(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    batched, alone = engines
    closed_in_runs = 0
    for seed in range(60):
        changes = random_changes(random.Random(seed))
        async with batched.begin() as conn:
            await conn.execute(text("TRUNCATE approval_items"))
            await model.apply_changes(conn, changes)
        async with alone.begin() as conn:
            await conn.execute(text("TRUNCATE approval_items"))
            for change, event_id in changes:
                await model.apply_changes(conn, [(change, event_id)])
        assert await rows(batched) == await rows(alone), f"seed {seed}"
        closed_in_runs += sum(
            1
            for (a, _), (b, _) in itertools.pairwise(changes)
            if isinstance(a, rules.Close) and isinstance(b, rules.Close)
        )
    assert closed_in_runs > 50  # runs of closes were drawn, and applied in one statement each
