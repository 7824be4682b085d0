"""The world of the object-level authorisation tests: two portfolios, a project in each with its objects, and who
each caller is and what she may see (tests/integration/test_authorisation.py holds the expectations)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import text

from shared.auth import Role, mint_token
from shared.consumer import apply_event
from shared.contracts.projects import TOPIC
from shared.kafka import from_record, to_record
from tests.integration.conftest import service_client
from tests.support.invoicing import invoice_body, line_body
from tests.support.projects import project_body
from tests.support.resources import LAST_WEEK, NEXT_WEEK, iso_week, resource_body, week_entries

PF_A, PF_B = f"pf-a-{uuid.uuid4().hex[:6]}", f"pf-b-{uuid.uuid4().hex[:6]}"
PG_A = f"pg-a-{uuid.uuid4().hex[:6]}"


def caller(subject: str, role: str, portfolios: tuple[str, ...] = (), programmes: tuple[str, ...] = ()) -> Any:
    token = mint_token(subject, [role], portfolios=portfolios, programmes=programmes)
    return {"Authorization": f"Bearer {token}"}


CALLERS = {
    "director": caller("dora.director", "director"),
    "pmo of A": caller("pat.pmo", "pmo", (PF_A,)),
    "pmo of programme A": caller("gus.pmo", "pmo", programmes=(PG_A,)),
    "manager of a": caller("Max.Manager", "pmo"),  # her subject spelt otherwise: the same person
    "viewer of A": caller("vera.viewer", "viewer", (PF_A,)),
    "viewer of none": caller("nell.viewer", "viewer"),
    "finance of B": caller("fiona.finance", "finance", (PF_B,)),
    "rm of A": caller("rex.rm", "resource-manager", (PF_A,)),
}
ROLE = {
    "director": Role.DIRECTOR,
    "pmo of A": Role.PMO,
    "pmo of programme A": Role.PMO,
    "manager of a": Role.PMO,
    "viewer of A": Role.VIEWER,
    "viewer of none": Role.VIEWER,
    "finance of B": Role.FINANCE,
    "rm of A": Role.RESOURCE_MANAGER,
}
SEES = {  # caller: the projects in her scope
    "director": {"a", "b"},
    "pmo of A": {"a"},
    "pmo of programme A": {"a"},
    "manager of a": {"a"},
    "viewer of A": {"a"},
    "viewer of none": set(),
    "finance of B": {"b"},
    "rm of A": {"a"},
}
MEMBER = {  # caller: the portfolios she belongs to ("a" = PF_A, "b" = PF_B)
    "director": {"a", "b"},
    "pmo of A": {"a"},
    "viewer of A": {"a"},
    "finance of B": {"b"},
    "rm of A": {"a"},
}
SERVICES = ("projects", "budget", "resources", "invoicing", "reporting")


@asynccontextmanager
async def world_of(infra: Any) -> AsyncIterator[dict[str, Any]]:
    """The five services as a director reaches them, two portfolios (a programme in the first), a project in each
    with an invoice, an allocation, a work sheet and an alert."""
    async with AsyncExitStack() as stack:
        clients = {name: await service_client(stack, name, infra, CALLERS["director"]) for name in SERVICES}
        projects, resources = clients["projects"], clients["resources"]
        for pf in (PF_A, PF_B):
            assert (await projects.post("/portfolios", json={"portfolio_id": pf, "name": pf})).status_code == 201
        programme = {"programme_id": PG_A, "name": "Programme A"}
        assert (await projects.post(f"/portfolios/{PF_A}/programmes", json=programme)).status_code == 201
        ids = {}
        for name, body in {
            "a": project_body(portfolio_id=PF_A, programme_id=PG_A, manager="max.manager"),
            "b": project_body(portfolio_id=PF_B, manager="mia.manager"),
        }.items():
            created = await projects.post("/projects", json=body)
            assert created.status_code == 201, created.text
            ids[name] = created.json()["project_id"]
        resource = await resources.post(
            "/resources",
            json={
                "name": "Rita",
                "kind": "person",
                "role": "developer",
                "department": "it",
                "weekly_capacity_hours": "40",
                "currency": "EUR",
            },
        )
        await _known_everywhere(clients, list(ids.values()))
        objects = await _objects_of_each_project(clients, ids)
        yield {**clients, "ids": ids, "resource": resource.json(), "objects": objects}


async def _known_everywhere(clients: dict[str, httpx.AsyncClient], project_ids: list[str]) -> None:
    """Every service learns both projects as its consumer would, without waiting for it to read the whole topic:
    the projects' events, as the projects service stored them, go through each read model that consumes
    ``pmo.projects.v1``, with their inbox rows in the same transaction (the consumer skips them when it gets there;
    an idempotent read model keeps no inbox and absorbs the second copy itself)."""
    projects = clients["projects"].app.state.runtime  # type: ignore[attr-defined]
    async with projects.engine.connect() as conn:
        stored = [e for e in await projects.store.read_all(conn, limit=100_000) if e.partition_key in project_ids]
    events = [from_record(TOPIC, 0, n, *to_record("projects", e)) for n, e in enumerate(stored)]
    for name, client in clients.items():
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        for consumer in runtime.consumers:
            projection = consumer.projection
            if name == "projects" or TOPIC not in projection.topics:
                continue
            async with runtime.engine.begin() as conn:
                todo = {e.event_id for e in events}
                if not getattr(projection, "idempotent", False):  # what the consumer applied already is left out
                    claimed = await conn.execute(
                        text(
                            "INSERT INTO inbox (consumer, event_id) SELECT :c, unnest(CAST(:ids AS uuid[])) "
                            "ON CONFLICT DO NOTHING RETURNING event_id"
                        ),
                        {"c": projection.name, "ids": [e.event_id for e in events]},
                    )
                    todo = {r.event_id for r in claimed}
                for event in events:
                    if event.event_id in todo:
                        await apply_event(conn, projection, event, isolate=False)
        async with runtime.engine.connect() as conn:
            known = (
                await conn.execute(
                    text("SELECT count(*) FROM project_scopes WHERE project_id = ANY(CAST(:p AS uuid[]))"),
                    {"p": project_ids},
                )
            ).scalar_one()
        assert known == len(project_ids), name


async def _objects_of_each_project(clients: dict[str, httpx.AsyncClient], ids: dict[str, str]) -> dict[str, Any]:
    """Per project ("a", "b"): the path parameters that address one of its objects in some service."""
    resources = clients["resources"]
    person = await resources.post("/resources", json=resource_body(name="Sam"))
    assert person.status_code == 201, person.text
    rid = person.json()["resource_id"]
    rate = {"hourly_rate": {"amount": "80.00", "currency": "EUR"}, "effective_from": "2020-01-01"}
    assert (await resources.post(f"/resources/{rid}/rates", json=rate)).status_code == 201
    objects: dict[str, Any] = {}
    for n, (name, pid) in enumerate(ids.items()):
        allocation = {"project_id": pid, "hours_per_week": "4", "starts_on": str(NEXT_WEEK), "ends_on": str(NEXT_WEEK)}
        allocated = await resources.post(f"/resources/{rid}/allocations", json=allocation)
        assert allocated.status_code == 201, allocated.text
        sheet = {"project_id": pid, "week": iso_week(LAST_WEEK), "entries": week_entries(LAST_WEEK, "1", days=1 + n)}
        submitted = await resources.post(f"/resources/{rid}/work-sheets", json=sheet)
        assert submitted.status_code == 201, submitted.text
        bills = line_body("100.00", submitted.json()["sheet_id"])
        invoice = await clients["invoicing"].post("/invoices", json=invoice_body(pid, bills))
        assert invoice.status_code == 201, invoice.text
        objects[name] = {
            "project_id": pid,
            "portfolio_id": {"a": PF_A, "b": PF_B}[name],
            "resource_id": rid,
            "allocation_id": allocated.json()["allocation_id"],
            "sheet_id": submitted.json()["sheet_id"],
            "invoice_id": invoice.json()["invoice_id"],
            "alert_id": await _alert_of(clients["reporting"], pid, {"a": PF_A, "b": PF_B}[name]),
        }
    return objects


async def _alert_of(reporting: httpx.AsyncClient, project_id: str, portfolio_id: str) -> str:
    """An open alert of the project in reporting's read model (as the evaluator stores one), without waiting days
    for a rule to fire."""
    alert_id = uuid.uuid4().hex[:24]
    now = datetime.now(UTC)
    async with reporting.app.state.runtime.engine.begin() as conn:  # type: ignore[attr-defined]
        await conn.execute(
            text(
                "INSERT INTO alerts (alert_id, project_id, portfolio_id, rule, subject, status, severity, title, "
                "figures, evidence, raised_at, updated_at, version) VALUES (:a, :p, :pf, 'status-overdue', :s, "
                "'open', 'warning', 'No status report', CAST(:j AS jsonb), CAST(:j AS jsonb), :t, :t, 1)"
            ),
            {"a": alert_id, "p": uuid.UUID(project_id), "s": project_id, "pf": portfolio_id, "j": "{}", "t": now},
        )
    return alert_id
