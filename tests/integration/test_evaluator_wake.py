"""The alert evaluator is woken, not polling: with its safety poll at ten minutes, a project marked for evaluation by
another process's consumer transaction (which notifies at commit) is evaluated within seconds, while a mark written
without a notification waits (so the wake-up is what was measured). The service's own consumers are stopped: the
other tests' records on the topics would mark projects all along."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import text

from shared.db import create_engine
from tests.support.reporting.replicas import drop_schema, replica

pytestmark = pytest.mark.integration

SAFETY_POLL = 600.0
QUIET = 3.0  # seconds a mark without a notification is left alone (far below the safety poll)
PROMPT = 5.0  # seconds a notified mark may wait under a loaded machine (a pass takes milliseconds)


@pytest.fixture
async def reporting(infra: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FastAPI]:
    from reporting import evaluation

    monkeypatch.setattr(evaluation, "SAFETY_POLL", SAFETY_POLL)
    schema = f"t_evalwake_{uuid.uuid4().hex[:10]}"
    try:
        async with replica(infra, schema, f"test-{uuid.uuid4().hex[:8]}") as app:
            consumers = [t for t in app.state.runtime._tasks if t.get_name().endswith("-consumer")]
            for task in consumers:
                task.cancel()
            await asyncio.gather(*consumers, return_exceptions=True)
            yield app
    finally:
        await drop_schema(infra, schema)


async def _marked(app: FastAPI) -> set[uuid.UUID]:
    async with app.state.runtime.engine.connect() as conn:
        return {r.project_id for r in await conn.execute(text("SELECT project_id FROM dirty_projects"))}


async def _until(check: Any, timeout: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if await check():
            return time.monotonic() - started
        await asyncio.sleep(0.02)
    return None


async def test_a_project_marked_by_another_process_is_evaluated_on_its_notification(reporting: FastAPI) -> None:
    from reporting.raid_model import mark_dirty

    runtime = reporting.state.runtime

    async def leads() -> bool:
        return bool(runtime.memo.get("evaluator_leader"))

    assert await _until(leads, 20) is not None, "the evaluator does not lead"
    await asyncio.sleep(1.0)  # the start's full pass and the listener's first wake-up are over
    other = create_engine(runtime.settings.database_url, runtime.schema, pool_size=1)  # another process's sessions
    try:
        quiet, woken = uuid.uuid4(), uuid.uuid4()
        async with other.begin() as conn:
            await conn.execute(text("INSERT INTO dirty_projects (project_id) VALUES (:p)"), {"p": quiet})
        await asyncio.sleep(QUIET)
        assert quiet in await _marked(reporting), "a mark without a notification was taken: not a measure of waking"

        started = time.monotonic()
        async with other.begin() as conn:
            await mark_dirty(conn, [woken])
            await mark_dirty(conn, [woken])  # a second batch in one transaction: one notification
        took = await _until(lambda: _empty(reporting), PROMPT)
        print(f"\nevaluated {(time.monotonic() - started) * 1000:.0f} ms after the other process's commit")
        assert took is not None, f"the notified mark waited more than {PROMPT} s (safety poll {SAFETY_POLL:.0f} s)"
    finally:
        await other.dispose()


async def _empty(app: FastAPI) -> bool:
    return not await _marked(app)
