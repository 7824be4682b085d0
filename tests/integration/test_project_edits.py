"""The edits after the fact over HTTP and PostgreSQL, their events as Kafka records: a stale ``If-Match`` is 412 and
appends nothing; a move reaches every service that reads pmo.projects.v1 (the project's stored events, as CloudEvents
records, through each consumer's read model with its inbox, as tests/support/authorisation.py does: the shared topic
is too long to wait for) (a member of the new portfolio reaches the project there, one of the
old no longer does); reporting shows the new name, portfolio and a milestone's approved planned value; closing
refuses a portfolio with open projects and closes an empty programme, which then takes no project; the GET routes
the Location headers point to answer with their ETag."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from shared import authz
from shared.auth import mint_token
from shared.consumer import apply_event
from shared.contracts.projects import TOPIC
from shared.kafka import from_record, to_record
from tests.integration.conftest import service_client
from tests.support.authorisation import _known_everywhere as known_everywhere
from tests.support.projects import milestone_body, project_body
from tests.support.resources import NEXT_WEEK, resource_body

pytestmark = pytest.mark.integration

OLD, NEW = f"old-{uuid.uuid4().hex[:6]}", f"new-{uuid.uuid4().hex[:6]}"
PROGRAMME, EMPTY = f"pg-{uuid.uuid4().hex[:6]}", f"empty-{uuid.uuid4().hex[:6]}"
SERVICES = ("projects", "budget", "resources", "invoicing", "reporting")
ROUTE = {  # a read addressed by the project in each service
    "projects": "/projects/{p}",
    "budget": "/budgets/{p}/commitments",
    "resources": "/projects/{p}/costs",
    "invoicing": "/projects/{p}/expenses",
    "reporting": "/reports/projects/{p}",
}


def caller(subject: str, role: str, *portfolios: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(subject, [role], portfolios=portfolios)}"}


PMO_OLD, PMO_NEW, PMO_BOTH = (
    caller("olga.pmo", "pmo", OLD),
    caller("nina.pmo", "pmo", NEW),
    caller("bo.pmo", "pmo", OLD, NEW),
)


@pytest.fixture(scope="module")
async def world(infra: Any) -> AsyncIterator[dict[str, Any]]:
    """The five services (as the director), portfolios OLD and NEW (a programme in NEW, another empty one), a
    project in OLD with a milestone and a KPI."""
    director = caller("dora.director", "director")
    async with AsyncExitStack() as stack:
        clients = {name: await service_client(stack, name, infra, director) for name in SERVICES}
        projects = clients["projects"]
        for pf in (OLD, NEW):
            assert (await projects.post("/portfolios", json={"portfolio_id": pf, "name": pf})).status_code == 201
        for pg in (PROGRAMME, EMPTY):
            created = await projects.post(f"/portfolios/{NEW}/programmes", json={"programme_id": pg, "name": pg})
            assert created.status_code == 201, created.text
        registered = await projects.post("/projects", json=project_body(portfolio_id=OLD), headers=PMO_OLD)
        assert registered.status_code == 201, registered.text
        pid = registered.json()["project_id"]
        planned = await projects.post(f"/projects/{pid}/milestones", json=milestone_body())
        assert planned.status_code == 201, planned.text
        kpi = {"name": "Reach", "unit": "%", "target": "80", "direction": "at_least", "review_date": "2027-09-01"}
        defined = await projects.post(f"/projects/{pid}/kpis", json=kpi)
        assert defined.status_code == 201, defined.text
        yield {
            **clients,
            "pid": pid,
            "milestone": planned.json()["milestone_id"],
            "kpi": defined,
        }


async def _events(projects: httpx.AsyncClient, pid: str) -> list[str]:
    page = await projects.get(f"/projects/{pid}/events", params={"limit": 200})
    assert page.status_code == 200, page.text
    return [e["type"] for e in page.json()["items"]]


async def _scope(client: httpx.AsyncClient, pid: str) -> tuple[str | None, str | None]:
    async with client.app.state.runtime.engine.connect() as conn:  # type: ignore[attr-defined]
        row = (
            await conn.execute(
                text("SELECT portfolio_id, programme_id FROM project_scopes WHERE project_id = :p"),
                {"p": uuid.UUID(pid)},
            )
        ).first()
    assert row is not None
    return row.portfolio_id, row.programme_id


async def test_a_move_reaches_every_service_and_moves_who_reaches_the_project(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(authz, "SCOPE_MEMORY_SECONDS", 1.0)  # a scope read is trusted this long (5 s by default)
    projects, pid = world["projects"], world["pid"]
    clients = {name: world[name] for name in SERVICES}
    await known_everywhere(clients, [pid])
    for name in SERVICES:  # every service knows the project in OLD first
        assert await _scope(world[name], pid) == (OLD, None), name
    before = await _events(projects, pid)
    version = int((await projects.get(f"/projects/{pid}")).headers["ETag"].strip('"'))
    body = {"programme_id": PROGRAMME, "reason": "reorganisation"}
    stale = await projects.post(
        f"/projects/{pid}/move", json=body, headers={**PMO_BOTH, "If-Match": f'"{version - 1}"'}
    )
    assert stale.status_code == 412, stale.text
    refused = await projects.post(f"/projects/{pid}/move", json=body, headers=PMO_OLD)  # not a member of NEW
    assert refused.status_code == 404 and refused.json()["errors"][0]["field"] == "programme_id", refused.text
    assert await _events(projects, pid) == before
    moved = await projects.post(f"/projects/{pid}/move", json=body, headers={**PMO_BOTH, "If-Match": f'"{version}"'})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["portfolio_id"], moved.json()["programme_id"]) == (NEW, PROGRAMME)
    assert (await _events(projects, pid))[-1] == "project-moved"
    await known_everywhere(clients, [pid])
    await asyncio.sleep(authz.SCOPE_MEMORY_SECONDS)  # the scope olga's refused move read is no longer trusted
    for name in SERVICES:
        assert await _scope(world[name], pid) == (NEW, PROGRAMME), name
        path = ROUTE[name].format(p=pid)
        old, new = await world[name].get(path, headers=PMO_OLD), await world[name].get(path, headers=PMO_NEW)
        gone = {"status": 404, "detail": f"project {pid} does not exist"}
        assert {"status": old.status_code, "detail": old.json().get("detail")} == gone, (name, old.text)
        assert {"status": new.status_code, "detail": new.json().get("detail")} != gone, (name, new.text)


async def test_a_rename_shows_in_reporting_and_a_blank_name_is_refused_naming_it(world: dict[str, Any]) -> None:
    projects, pid = world["projects"], world["pid"]
    before = await _events(projects, pid)
    blank = await projects.post(f"/projects/{pid}/details", json={"name": ""})
    long = await projects.post(f"/projects/{pid}/details", json={"name": "x" * 201})
    for answer in (blank, long):
        assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "name", answer.text
    assert await _events(projects, pid) == before
    renamed = await projects.post(f"/projects/{pid}/details", json={"name": "CRM phase 2", "reason": "split"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "CRM phase 2", renamed.text

    async def reported() -> None:
        async with world["reporting"].app.state.runtime.engine.connect() as conn:  # type: ignore[attr-defined]
            row = (
                await conn.execute(
                    text("SELECT name, portfolio_id FROM portfolio_projects WHERE project_id = :p"),
                    {"p": uuid.UUID(pid)},
                )
            ).first()
        assert row is not None and (row.name, row.portfolio_id) == ("CRM phase 2", NEW)

    await known_everywhere({n: world[n] for n in SERVICES}, [pid])
    await reported()


async def test_a_milestone_value_changes_only_once_approved_by_another_and_reporting_follows(
    world: dict[str, Any],
) -> None:
    projects, pid, mid = world["projects"], world["pid"], world["milestone"]
    asked = await projects.post(
        f"/projects/{pid}/milestones/{mid}/value-changes",
        json={"planned_value": {"amount": "150000.00", "currency": "EUR"}, "reason": "scope added"},
        headers=PMO_BOTH,
    )
    assert asked.status_code == 201, asked.text
    location = asked.headers["Location"]
    change = asked.json()["change_id"]
    own = await projects.post(f"/projects/{pid}/value-changes/{change}/approve", json={}, headers=PMO_BOTH)
    assert own.status_code == 409, own.text
    read = await projects.get(location)
    assert read.status_code == 200 and read.json()["status"] == "pending" and "ETag" in read.headers
    approved = await projects.post(f"/projects/{pid}/value-changes/{change}/approve", json={})
    assert approved.status_code == 200 and approved.json()["status"] == "approved", approved.text
    milestone = await projects.get(f"/projects/{pid}/milestones/{mid}")
    assert milestone.json()["planned_value"] == {"amount": "150000.00", "currency": "EUR"}

    async def reported() -> None:
        async with world["reporting"].app.state.runtime.engine.connect() as conn:  # type: ignore[attr-defined]
            value = (
                await conn.execute(
                    text("SELECT planned_value FROM portfolio_projects WHERE project_id = :p"), {"p": uuid.UUID(pid)}
                )
            ).scalar()
        assert value == 150000

    await known_everywhere({n: world[n] for n in SERVICES}, [pid])
    await reported()


async def test_a_kpi_and_a_portfolio_are_read_where_their_location_points_and_revised_with_if_match(
    world: dict[str, Any],
) -> None:
    projects = world["projects"]
    location = world["kpi"].headers["Location"]
    kpi = await projects.get(location)
    assert kpi.status_code == 200 and kpi.json()["target"] == "80", kpi.text
    stale = await projects.post(
        f"{location}/revise", json={"target": "70", "reason": "board"}, headers={"If-Match": '"1"'}
    )
    assert stale.status_code == 412, stale.text
    revised = await projects.post(
        f"{location}/revise", json={"target": "70", "reason": "board"}, headers={"If-Match": kpi.headers["ETag"]}
    )
    assert revised.status_code == 200 and revised.json()["target"] == "70", revised.text
    portfolio = await projects.get(f"/portfolios/{NEW}")
    assert portfolio.status_code == 200 and portfolio.json()["closed_on"] is None, portfolio.text
    assert (await projects.get(f"/portfolios/{NEW}", headers=PMO_OLD)).status_code == 404
    assert (await projects.get(f"/programmes/{PROGRAMME}", headers=PMO_OLD)).status_code == 404
    assert (await projects.get(f"/programmes/{PROGRAMME}", headers=PMO_NEW)).status_code == 200


async def test_closing_refuses_open_work_listing_it_and_a_closed_programme_takes_no_project(
    world: dict[str, Any],
) -> None:
    projects = world["projects"]
    busy = await projects.post(f"/portfolios/{NEW}/close", json={"reason": "done"})
    assert busy.status_code == 409 and "project" in busy.json()["detail"], busy.text
    assert f"programme {EMPTY}" in busy.json()["detail"]
    programme = await projects.get(f"/programmes/{EMPTY}")
    stale = await projects.post(f"/programmes/{EMPTY}/close", json={"reason": "done"}, headers={"If-Match": '"9"'})
    assert stale.status_code == 412, stale.text
    closed = await projects.post(
        f"/programmes/{EMPTY}/close", json={"reason": "done"}, headers={"If-Match": programme.headers["ETag"]}
    )
    assert closed.status_code == 200 and closed.json()["closed_on"] is not None, closed.text
    placed = await projects.post("/projects", json=project_body(programme_id=EMPTY))
    assert placed.status_code == 409 and placed.json()["errors"][0]["field"] == "programme_id", placed.text
    moved = await projects.post(f"/projects/{world['pid']}/move", json={"programme_id": EMPTY, "reason": "r"})
    assert moved.status_code == 409 and moved.json()["errors"][0]["field"] == "programme_id", moved.text
    renamed = await projects.post(f"/programmes/{EMPTY}/rename", json={"name": "Other"})
    assert renamed.status_code == 409, renamed.text
    await _deliver_groupings(
        world, [f"portfolio:{OLD}", f"portfolio:{NEW}", f"programme:{PROGRAMME}", f"programme:{EMPTY}"]
    )
    listed = await world["reporting"].get("/portfolio/groupings", params={"limit": 500})
    assert listed.status_code == 200, listed.text
    closed = {g["grouping_id"]: g["closed_on"] for g in listed.json()["items"]}
    assert closed[EMPTY] is not None and closed[NEW] is None and closed[PROGRAMME] is None
    mine = await world["reporting"].get("/portfolio/groupings", params={"limit": 500}, headers=PMO_OLD)
    assert {g["grouping_id"] for g in mine.json()["items"]} == {OLD}, mine.text


async def _deliver_groupings(world: dict[str, Any], keys: list[str]) -> None:
    """The portfolios' and programmes' events, as Kafka records, through reporting's projections that read them."""
    projects = world["projects"].app.state.runtime
    async with projects.engine.connect() as conn:
        stored = [e for e in await projects.store.read_all(conn, limit=100_000) if e.partition_key in keys]
    events = [from_record(TOPIC, 0, n, *to_record("projects", e)) for n, e in enumerate(stored)]
    runtime = world["reporting"].app.state.runtime
    for consumer in runtime.consumers:
        if consumer.projection.name != "reporting.portfolio":
            continue
        async with runtime.engine.begin() as conn:
            claimed = await conn.execute(
                text(
                    "INSERT INTO inbox (consumer, event_id) SELECT :c, unnest(CAST(:ids AS uuid[])) "
                    "ON CONFLICT DO NOTHING RETURNING event_id"
                ),
                {"c": consumer.projection.name, "ids": [e.event_id for e in events]},
            )
            todo = {r.event_id for r in claimed}
            for event in events:
                if event.event_id in todo:
                    await apply_event(conn, consumer.projection, event, isolate=False)


async def test_an_allocation_is_read_where_its_location_points(world: dict[str, Any]) -> None:
    resources, pid = world["resources"], world["pid"]
    person = await resources.post("/resources", json=resource_body(name="Sam"))
    assert person.status_code == 201, person.text
    rid = person.json()["resource_id"]
    allocation = {"project_id": pid, "hours_per_week": "4", "starts_on": str(NEXT_WEEK), "ends_on": str(NEXT_WEEK)}
    allocated = await resources.post(f"/resources/{rid}/allocations", json=allocation)
    assert allocated.status_code == 201, allocated.text
    read = await resources.get(allocated.headers["Location"])
    assert read.status_code == 200 and read.json()["allocation_id"] == allocated.json()["allocation_id"], read.text
    assert read.headers["ETag"] == allocated.headers["ETag"]
    assert (await resources.get(allocated.headers["Location"], headers=PMO_OLD)).status_code == 404
    assert (await resources.get(f"/resources/{rid}/allocations/{uuid.uuid4()}")).status_code == 404
