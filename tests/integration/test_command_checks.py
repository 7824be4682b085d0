"""A command's checks (``shared.commands.Check``) over real PostgreSQL: they read on the connection the command
already holds, inside its transaction and before its first write, and a check that refuses leaves
nothing appended; registering a project into a closed portfolio is refused that way, naming the field."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from projects import domain
from projects.domain.groupings import GroupingClosedError
from shared.commands import CommandContext, command_connection
from shared.events import EventMetadata
from shared.pg import driver
from tests.integration.conftest import service_client
from tests.support import auth_header
from tests.support.projects import project_body

pytestmark = pytest.mark.integration


@pytest.fixture
async def projects(infra: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with AsyncExitStack() as stack:
        yield await service_client(stack, "projects", infra, auth_header("dora.director", "director"))


def registration() -> tuple[uuid.UUID, domain.RegisterProject]:
    pid = domain.ProjectId(uuid.uuid4())
    command = domain.RegisterProject(
        project_id=pid, portfolio_id=None, programme_id=None, code=f"C-{pid.hex[:8]}", name="Checked", objectives="",
        sponsor="dora.director", manager="max.manager", planned_start=date(2027, 1, 4), planned_end=date(2027, 6, 30),
        currency="EUR", registered_by="dora.director",
    )  # fmt: skip
    return pid, command


async def events_of(rt: Any, pid: uuid.UUID) -> int:
    async with rt.engine.connect() as conn:
        found = await conn.execute(
            text("SELECT count(*) FROM events WHERE stream_id = :s"), {"s": domain.stream_id(pid)}
        )
        return int(found.scalar_one())


async def test_a_check_reads_in_the_commands_transaction_and_its_refusal_appends_nothing(
    projects: httpx.AsyncClient,
) -> None:
    rt = projects.app.state.runtime  # type: ignore[attr-defined]
    ctx = CommandContext(metadata=EventMetadata(actor="dora.director", correlation_id=str(uuid.uuid4())))
    seen: dict[str, Any] = {}

    async def looking() -> None:
        conn = command_connection()
        assert conn is not None
        seen["in_transaction"] = conn.in_transaction()
        session = await driver(conn)
        seen["session_in_transaction"] = session.is_in_transaction()  # BEGIN was sent on it
        seen["no_write_yet"] = await session.fetchval("SELECT pg_current_xact_id_if_assigned() IS NULL")

    async def refusing() -> None:
        await looking()
        raise GroupingClosedError("portfolio p is closed: nothing is placed in it", field="portfolio_id")

    pid, command = registration()
    with pytest.raises(GroupingClosedError):
        await rt.executor.execute(
            ctx, aggregate=domain.PROJECT, stream_id=domain.stream_id(pid), command=command,
            respond=lambda s, e, v: {}, new_stream=True, check=refusing,
        )  # fmt: skip
    assert seen == {"in_transaction": True, "session_in_transaction": True, "no_write_yet": True}
    assert await events_of(rt, pid) == 0 and command_connection() is None

    pid, command = registration()
    outcome = await rt.executor.execute(
        ctx, aggregate=domain.PROJECT, stream_id=domain.stream_id(pid), command=command,
        respond=lambda s, e, v: {"version": v}, new_stream=True, check=looking,
    )  # fmt: skip
    assert outcome.version == 1 and await events_of(rt, pid) == 1


async def test_a_project_is_not_registered_into_a_closed_portfolio(projects: httpx.AsyncClient) -> None:
    slug = f"closing-{uuid.uuid4().hex[:6]}"
    assert (await projects.post("/portfolios", json={"portfolio_id": slug, "name": "Closing"})).status_code == 201
    placed = await projects.post("/projects", json=project_body(portfolio_id=slug))
    assert placed.status_code == 201, placed.text
    assert (await projects.post(f"/projects/{placed.json()['project_id']}/terminate", json={"reason": "x"})).is_success
    closed = await projects.post(f"/portfolios/{slug}/close", json={"reason": "done"})
    assert closed.status_code == 200, closed.text
    refused = await projects.post("/projects", json=project_body(portfolio_id=slug))
    assert refused.status_code == 409, refused.text
    assert refused.json()["errors"][0]["field"] == "portfolio_id"
    listed = await projects.get("/projects", params={"portfolio_id": slug})
    assert [p["project_id"] for p in listed.json()["items"]] == [placed.json()["project_id"]]
