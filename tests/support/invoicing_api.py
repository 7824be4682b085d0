"""The invoicing service in process for the API tests, and the steps they share: facts published on the topics it
consumes, invoices received, statuses and records awaited."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import text

from invoicing.bootstrap import create_app
from invoicing.settings import Settings
from shared.contracts import budget, resources
from shared.kafka import KafkaOptions
from tests.support import auth_header, eventually, read_topic
from tests.support.invoicing import (
    DUE,
    budget_committed,
    work_sheet_approved,
)
from tests.support.publishing import publish
from tests.support.stored import scalar

RITA = auth_header("rita.finance", "finance")  # receives the invoices (the fixture's default)
PAUL = auth_header("paul.finance", "finance")
MATCHER = "system:invoicing-matcher"
AFTER_DUE = DUE + timedelta(days=4)


@asynccontextmanager
async def invoicing_client(infra: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The invoicing service in process on a schema of its own (dropped after), called as Rita of finance; the
    client's ``app`` attribute is the application."""
    schema = f"t_invoicing_{uuid.uuid4().hex[:10]}"
    settings = Settings(
        env="development",
        database_url=infra.database_url,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        db_schema=schema,
        kafka_group_prefix=f"test-{uuid.uuid4().hex[:8]}",
        matcher_poll_interval=0.05,
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://invoicing", headers=RITA) as c,
    ):
        c.app = app  # type: ignore[attr-defined]
        yield c
    async with app.state.runtime.engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    await app.state.runtime.engine.dispose()


async def commitment_known(
    client: httpx.AsyncClient, kafka: KafkaOptions, project_id: uuid.UUID, amount: str = "10000.00"
) -> uuid.UUID:
    """A commitment PO-1 with Acme on the project, published on pmo.budget.v1 and consumed."""
    cid = uuid.uuid4()
    await publish(kafka, "budget", budget.TOPIC, [budget_committed(project_id, cid, amount)], f"budget-{project_id}")

    async def consumed() -> None:
        assert await scalar(client, "SELECT count(*) FROM known_commitments WHERE commitment_id = :c", c=cid) == 1

    await eventually(consumed, timeout=30)
    return cid


async def sheet_approved(
    client: httpx.AsyncClient, kafka: KafkaOptions, project_id: uuid.UUID, sheet_id: uuid.UUID, cost: str
) -> uuid.UUID:
    """``work-sheet-approved`` published on pmo.resources.v1; returns its event id."""
    event = work_sheet_approved(project_id, sheet_id, cost)
    (event_id,) = await publish(kafka, "resources", resources.TOPIC, [event], f"resource-{event.resource_id}")
    return event_id


async def sheet_consumed(client: httpx.AsyncClient, sheet_id: uuid.UUID) -> None:
    async def consumed() -> None:
        assert await scalar(client, "SELECT count(*) FROM approved_sheets WHERE sheet_id = :s", s=sheet_id) == 1

    await eventually(consumed, timeout=30)


async def receive(client: httpx.AsyncClient, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    response = await client.post("/invoices", json=body, **kwargs)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/invoices/{response.json()['invoice_id']}"
    return dict(response.json())


async def status_becomes(client: httpx.AsyncClient, invoice_id: str, status: str) -> dict[str, Any]:
    async def check() -> dict[str, Any]:
        doc = (await client.get(f"/invoices/{invoice_id}")).json()
        assert doc["status"] == status, doc["status"]
        return dict(doc)

    return await eventually(check, timeout=30)


async def nothing_left_to_match(client: httpx.AsyncClient) -> None:
    async def empty() -> None:
        assert await scalar(client, "SELECT count(*) FROM rematch_queue") == 0

    await eventually(empty, timeout=30)


def checks(doc: dict[str, Any]) -> list[tuple[str, int | None]]:
    return [(d["check"], d["line"]) for d in doc["match"]["discrepancies"]]


async def invoicing_records(kafka: KafkaOptions, project_id: uuid.UUID, expected: int) -> list[Any]:
    async def on_topic() -> list[Any]:
        records = [
            r
            for r in await read_topic(kafka, "pmo.invoicing.v1", expect=0, timeout=1)
            if r.key == str(project_id).encode()
        ]
        assert len(records) == expected, [dict(r.headers)["ce_type"] for r in records]
        return records

    return await eventually(on_topic, timeout=30)
