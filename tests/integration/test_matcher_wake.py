"""The invoicing matcher is woken, not polling: with a safety poll of ten minutes, a request queued by another
process's commit (a consumer's, with its notification) and one queued by a command of the matcher's own process
are worked off within a second; a request queued without a notification waits (so the wake-up is what was
measured). The service's own consumers are stopped: the other tests' records on the topics would queue requests
all along."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from invoicing.bootstrap import create_app
from invoicing.matcher import notify_matcher
from invoicing.projections import enqueue
from invoicing.settings import Settings
from invoicing.tables import Rematch
from shared import relay_wake
from tests.support import auth_header
from tests.support.invoicing import invoice_body, line_body

pytestmark = pytest.mark.integration

SAFETY_POLL = 600.0
PROMPT = 1.5  # seconds: a pass of the matcher, far below the safety poll


@pytest.fixture(scope="module")
async def invoicing(infra: Any) -> AsyncIterator[httpx.AsyncClient]:
    schema = f"t_matcher_{uuid.uuid4().hex[:10]}"
    settings = Settings(
        env="development",
        database_url=infra.database_url,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        db_schema=schema,
        kafka_group_prefix=f"test-{uuid.uuid4().hex[:8]}",
        matcher_poll_interval=SAFETY_POLL,
    )
    app = create_app(settings)
    headers = auth_header("rita.finance", "finance")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://invoicing", headers=headers) as c,
    ):
        c.app = app  # type: ignore[attr-defined]
        runtime = app.state.runtime
        consumers = [t for t in runtime._tasks if t.get_name().endswith("-consumer")]
        for task in consumers:  # the topics' backlog of other tests would queue requests all along
            task.cancel()
        await asyncio.gather(*consumers, return_exceptions=True)
        yield c
    async with app.state.runtime.engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    await app.state.runtime.engine.dispose()


def _engine(client: httpx.AsyncClient) -> Any:
    return client.app.state.runtime.engine  # type: ignore[attr-defined]


async def _queued(client: httpx.AsyncClient) -> int:
    async with _engine(client).connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM rematch_queue"))).scalar_one())


async def _version(client: httpx.AsyncClient, invoice_id: str) -> int:
    answer = await client.get(f"/invoices/{invoice_id}")
    assert answer.status_code == 200, answer.text
    return int(answer.json()["version"])


async def _until(check: Any, timeout: float) -> float | None:
    """Seconds until ``check()`` holds (None: not within ``timeout``)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if await check():
            return time.monotonic() - started
        await _pause()
    return None


async def _pause() -> None:
    await asyncio.sleep(0.02)


async def _received(client: httpx.AsyncClient, sheet_id: uuid.UUID) -> tuple[str, str]:
    project_id = str(uuid.uuid4())
    answer = await client.post("/invoices", json=invoice_body(project_id, line_body("100.00", str(sheet_id))))
    assert answer.status_code == 201, answer.text
    assert any("not approved" in d["detail"] for d in answer.json()["match"]["discrepancies"])
    return answer.json()["invoice_id"], project_id


async def _approve_elsewhere(client: httpx.AsyncClient, sheet: uuid.UUID, project: str, *, notify: bool) -> None:
    """What the resources consumer of another process commits when the sheet's approval arrives."""
    async with _engine(client).begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO approved_sheets (sheet_id, project_id, resource_id, version, week, cost, currency, "
                "deliverables, in_force, approved_on) VALUES (:s, :p, :r, 1, '2027-W01', 100, 'EUR', '[]', true, "
                "'2027-01-08')"
            ),
            {"s": sheet, "p": uuid.UUID(project), "r": uuid.uuid4()},
        )
        await enqueue(conn, Rematch.SHEET, str(sheet))
        if notify:
            await notify_matcher(conn)
            await notify_matcher(conn)  # a second request of the batch: one notification per transaction


async def test_a_request_queued_by_another_process_is_matched_on_its_notification(
    invoicing: httpx.AsyncClient,
) -> None:
    assert await _until(lambda: _nothing_queued(invoicing), 10) is not None  # the receipt's own request worked off
    quiet_sheet, woken_sheet = uuid.uuid4(), uuid.uuid4()
    quiet, quiet_project = await _received(invoicing, quiet_sheet)
    woken, woken_project = await _received(invoicing, woken_sheet)
    assert await _until(lambda: _nothing_queued(invoicing), PROMPT) is not None
    before = {i: await _version(invoicing, i) for i in (quiet, woken)}

    await _approve_elsewhere(invoicing, quiet_sheet, quiet_project, notify=False)
    waited = await _until(lambda: _moved(invoicing, quiet, before[quiet]), 1.0)
    assert waited is None, "matched without a notification: the wake-up was not what was measured"

    await _approve_elsewhere(invoicing, woken_sheet, woken_project, notify=True)
    took = await _until(lambda: _moved(invoicing, woken, before[woken]), PROMPT)
    assert took is not None, f"not matched within {PROMPT} s of the notification (safety poll {SAFETY_POLL} s)"
    assert await _version(invoicing, quiet) > before[quiet]  # the same pass took the quiet request too
    print(f"matcher: matched {took * 1000:.0f} ms after another process's commit (safety poll {SAFETY_POLL:.0f} s)")


async def test_a_command_of_the_matchers_own_process_wakes_it(invoicing: httpx.AsyncClient) -> None:
    """Receiving an invoice queues one more match of it (in the command's transaction, which sends no
    notification): the command's after-commit hook wakes the matcher."""
    assert await _until(lambda: _nothing_queued(invoicing), 10) is not None
    started = time.monotonic()
    await _received(invoicing, uuid.uuid4())
    took = await _until(lambda: _nothing_queued(invoicing), PROMPT)
    assert took is not None, f"the invoice's own request waited for the safety poll ({SAFETY_POLL} s)"
    print(f"matcher: own command's request worked off {(time.monotonic() - started) * 1000:.0f} ms after it")


async def _nothing_queued(client: httpx.AsyncClient) -> bool:
    return await _queued(client) == 0


async def _moved(client: httpx.AsyncClient, invoice_id: str, version: int) -> bool:
    return await _version(client, invoice_id) > version


async def test_a_command_of_a_worker_that_does_not_run_the_matcher_wakes_it_by_notification(
    invoicing: httpx.AsyncClient, infra: Any
) -> None:
    """``PMO_WORKERS`` > 1: a worker without the replica's background lease runs no matcher; its command's commit
    sends ``NOTIFY`` on the matcher's channel, which the worker running it (here: the fixture's process) listens on."""
    runtime = invoicing.app.state.runtime  # type: ignore[attr-defined]
    settings = Settings(
        env="development",
        database_url=infra.database_url,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        db_schema=runtime.schema,
        kafka_group_prefix=f"test-{uuid.uuid4().hex[:8]}",
        matcher_poll_interval=SAFETY_POLL,
        workers=2,
    )
    lease = relay_wake.lock_key_for(runtime.schema, f"workers:{settings.replica()}")
    async with runtime.engine.connect() as holder:  # another worker holds the lease
        assert await holder.scalar(text("SELECT pg_try_advisory_lock(hashtext(:k))"), {"k": lease})
        await holder.commit()
        app = create_app(settings)
        headers = auth_header("rita.finance", "finance")
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://invoicing", headers=headers) as other,
        ):
            worker = app.state.runtime
            assert worker.lease is not None and not worker.lease.started
            assert not [t for t in worker._tasks if t.get_name() != "invoicing-lease"]  # no matcher, relay, consumer
            assert await _until(lambda: _nothing_queued(invoicing), 10) is not None
            await _received(other, uuid.uuid4())  # queues a match of the invoice in the command's transaction
            took = await _until(lambda: _nothing_queued(invoicing), PROMPT)
            assert took is not None, f"the other worker's request waited for the safety poll ({SAFETY_POLL} s)"
            assert [n.sent for n in worker.task_notifiers] != [0]
        await holder.execute(text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": lease})
        await holder.commit()
    print(f"matcher: another worker's command's request worked off {took * 1000:.0f} ms after it")
