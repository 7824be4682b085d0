"""Dead letters an operator can act on, against the real PostgreSQL and Kafka: the budget service's projects reference
dead-letters an event its table refuses (a constraint an operator later removes); ``pmo dlq redrive`` and
``POST /operations/dead-letters/{event_id}/redrive`` then apply it exactly once, through the consumer's own path."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.cli import main as pmo
from shared.contracts import projects
from shared.db import create_engine
from tests.integration.conftest import service_client
from tests.support import auth_header, eventually
from tests.support.http import ok, refused
from tests.support.publishing import publish

pytestmark = pytest.mark.integration

CONSUMER = "budget.projects"
OPERATOR = auth_header("olga.operator", "pmo")
CAUSE = [
    "CREATE TABLE dlq_cause (blocked boolean NOT NULL)",
    "INSERT INTO dlq_cause VALUES (true)",
    "CREATE TABLE dlq_applied (code text NOT NULL)",
    """
    CREATE FUNCTION dlq_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.code LIKE 'POISON-%' THEN
            IF (SELECT blocked FROM dlq_cause) THEN
                RAISE EXCEPTION 'project code % refused by a constraint', NEW.code;
            END IF;
            INSERT INTO dlq_applied VALUES (NEW.code);
        END IF;
        RETURN NEW;
    END $$
    """,
    "CREATE TRIGGER dlq_guard BEFORE INSERT OR UPDATE ON known_projects FOR EACH ROW EXECUTE FUNCTION dlq_guard()",
]
"""The cause: a constraint on the reference table refusing the projects coded POISON-... while ``dlq_cause`` says
so; ``dlq_applied`` counts the rows the read model really wrote for them (exactly once is one row)."""


@dataclass
class World:
    client: httpx.AsyncClient
    engine: AsyncEngine
    schema: str
    database_url: str
    kafka: Any


@pytest.fixture(scope="module")
async def world(infra: Any, kafka: Any) -> AsyncIterator[World]:
    async with AsyncExitStack() as stack:
        client = await service_client(stack, "budget", infra, OPERATOR)
        schema = client.app.state.runtime.schema  # type: ignore[attr-defined]
        engine = create_engine(infra.database_url, schema, pool_size=2)
        try:
            async with engine.begin() as conn:
                for statement in CAUSE:
                    await conn.execute(text(statement))
            yield World(client, engine, schema, infra.database_url, kafka)
        finally:
            async with engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            await engine.dispose()


async def scalar(world: World, sql: str, **params: Any) -> Any:
    async with world.engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar()


async def block(world: World, blocked: bool) -> None:
    async with world.engine.begin() as conn:
        await conn.execute(text("UPDATE dlq_cause SET blocked = :b"), {"b": blocked})


async def poisoned(world: World) -> tuple[uuid.UUID, str]:
    """A project registration the read model refuses, published and dead-lettered: its event id and code."""
    pid = uuid.uuid4()
    code = f"POISON-{pid.hex[:8]}"
    registered = projects.ProjectRegistered(
        project_id=pid,
        portfolio_id=None,
        programme_id=None,
        code=code,
        name="Poisoned",
        objectives="None",
        sponsor="sam.sponsor",
        manager="max.manager",
        planned_start=date(2027, 1, 4),
        planned_end=date(2027, 12, 31),
        currency="EUR",
    )
    (event_id,) = await publish(world.kafka, "projects", projects.TOPIC, [registered], f"project-{pid}")

    async def dead_lettered() -> None:
        status = await scalar(
            world, "SELECT status FROM dead_letters WHERE consumer = :c AND event_id = :e", c=CONSUMER, e=event_id
        )
        assert status == "dead-lettered"

    await eventually(dead_lettered, timeout=30)
    return event_id, code


async def applied(world: World, code: str) -> int:
    return int(await scalar(world, "SELECT count(*) FROM dlq_applied WHERE code = :c", c=code))


def cli(world: World, *args: str) -> int:
    return pmo(["dlq", *args, "--schema", world.schema, "--database-url", world.database_url])


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_poisoned_event_is_kept_shown_and_redriven_exactly_once_by_pmo_dlq_once_its_cause_is_removed(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    await block(world, True)
    event_id, code = await poisoned(world)
    assert metric("pmo_dead_letters", service="budget", consumer=CONSUMER) >= 1

    listed = await ok(await world.client.get("/operations/dead-letters", params={"consumer": CONSUMER}))
    (mine,) = [x for x in listed["items"] if x["event_id"] == str(event_id)]
    assert mine["status"] == "dead-lettered" and mine["attempts"] == 1
    assert mine["event_type"] == "pmo.projects.project-registered.v1" and mine["topic"] == projects.TOPIC
    assert f"project code {code} refused" in mine["error"]
    shown = await ok(await world.client.get(f"/operations/dead-letters/{event_id}"))
    (letter,) = shown["dead_letters"]
    assert f'"code":"{code}"' in letter["data"] and letter["headers"]["ce_id"] == str(event_id)
    assert await scalar(world, "SELECT dead_lettered FROM inbox WHERE event_id = :e", e=event_id) is True

    # Redriven while the cause is still there: fails again, stays dead-lettered with one more attempt.
    assert await asyncio.to_thread(cli, world, "redrive", "budget", str(event_id), "--reason", "first try") == 1
    assert await scalar(world, "SELECT attempts FROM dead_letters WHERE event_id = :e", e=event_id) == 2
    assert await scalar(world, "SELECT dead_lettered FROM inbox WHERE event_id = :e", e=event_id) is True
    assert await applied(world, code) == 0

    await block(world, False)  # the operator removes the cause
    before = metric("pmo_dead_letter_redrives_total", service="budget", outcome="applied")
    args = ("redrive", "budget", str(event_id), "--reason", "constraint dropped", "--by", "olga.operator")
    assert await asyncio.to_thread(cli, world, *args) == 0
    assert f"{event_id} {CONSUMER}: applied" in capsys.readouterr().out
    assert await applied(world, code) == 1
    assert await scalar(world, "SELECT count(*) FROM known_projects WHERE code = :c", c=code) == 1
    assert await scalar(world, "SELECT dead_lettered FROM inbox WHERE event_id = :e", e=event_id) is False
    assert metric("pmo_dead_letter_redrives_total", service="budget", outcome="applied") == before + 1

    # Again: nothing to redrive (CLI exit 1, HTTP 409), nothing applied twice.
    assert await asyncio.to_thread(cli, world, "redrive", "budget", str(event_id), "--reason", "again") == 1
    again = await world.client.post(f"/operations/dead-letters/{event_id}/redrive", json={"reason": "again"})
    await refused(again, 409)
    assert await applied(world, code) == 1

    shown = await ok(await world.client.get(f"/operations/dead-letters/{event_id}"))
    (letter,) = shown["dead_letters"]
    assert letter["status"] == "redriven" and letter["redriven_by"] == "olga.operator"
    assert letter["redrive_reason"] == "constraint dropped" and letter["redriven_at"]
    assert [(r["outcome"], r["reason"]) for r in shown["redrives"]] == [
        ("failed", "first try"),
        ("applied", "constraint dropped"),
    ]
    assert await asyncio.to_thread(cli, world, "show", "budget", str(event_id)) == 0
    assert "redriven" in capsys.readouterr().out


async def test_two_concurrent_redrives_over_http_apply_the_event_once(world: World) -> None:
    await block(world, True)
    event_id, code = await poisoned(world)
    await block(world, False)
    url = f"/operations/dead-letters/{event_id}/redrive"
    answers = await asyncio.gather(*(world.client.post(url, json={"reason": "fixed"}) for _ in range(2)))
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    (done,) = [a.json() for a in answers if a.status_code == 200]
    assert done["dead_letters"][0]["status"] == "redriven"
    assert done["dead_letters"][0]["redriven_by"] == "olga.operator"
    assert await applied(world, code) == 1
    assert await scalar(world, "SELECT dead_lettered FROM inbox WHERE event_id = :e", e=event_id) is False
    redriven = await ok(await world.client.get("/operations/dead-letters", params={"status": "redriven"}))
    assert str(event_id) in [x["event_id"] for x in redriven["items"]]
    still = await ok(await world.client.get("/operations/dead-letters"))
    assert str(event_id) not in [x["event_id"] for x in still["items"]]


async def test_dead_letter_routes_refuse_bad_input_unknown_events_and_other_roles(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    client, unknown = world.client, uuid.uuid4()
    await refused(await client.get(f"/operations/dead-letters/{unknown}"), 404)
    await refused(await client.post(f"/operations/dead-letters/{unknown}/redrive", json={"reason": "x"}), 404)
    await refused(await client.get("/operations/dead-letters/not-an-id"), 422, "event_id")
    await refused(await client.get("/operations/dead-letters", params={"limit": 10**9}), 422, "limit")
    await refused(await client.get("/operations/dead-letters", params={"consumer": "Robert'); DROP"}), 422, "consumer")
    redrive = f"/operations/dead-letters/{unknown}/redrive"
    await refused(await client.post(redrive, json={"reason": "a\x00b"}), 422, "reason")
    await refused(await client.post(redrive, json={"reason": "x" * 4096}), 422, "reason")
    await refused(await client.post(redrive, json={}), 422, "reason")
    await refused(await client.post(redrive, json={"reason": "x", "extra": 1}), 422, "extra")
    for role in ("viewer", "finance"):
        headers = auth_header("vic.viewer", role)
        await refused(await client.get("/operations/dead-letters", headers=headers), 403)
        await refused(await client.post(redrive, json={"reason": "x"}, headers=headers), 403)

    capsys.readouterr()
    refusals = {
        ("list", "--service", "budget", "--limit", str(10**9)): "--limit",
        ("show", "budget", "garbage"): "EVENT_ID",
        ("redrive", "budget", str(unknown), "--reason", "a\x00b"): "--reason",
        ("redrive", "budget", str(unknown), "--reason", "x" * 4096): "--reason",
        ("redrive", "budget"): "EVENT_ID",
        ("redrive", "budget", str(unknown), "--consumer", "no such"): "--consumer",
    }
    for args, argument in refusals.items():
        assert await asyncio.to_thread(cli, world, *args) == 2, args
        assert argument in capsys.readouterr().err, args
    assert await asyncio.to_thread(cli, world, "redrive", "budget", str(unknown), "--reason", "x") == 1
    assert "was not dead-lettered" in capsys.readouterr().err
