"""Object-level authorisation, route by route and caller by caller: portfolio and programme members reach their
projects, a project manager changes only the projects she manages, everyone else gets a 404 (never a 403 that
would tell a stranger the project exists) and lists hold only the projects in scope; rates only for resource
managers and finance. One set-up for the module (two portfolios, a project in each), one table of expectations."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from shared.auth import mint_token
from tests.integration.conftest import service_client
from tests.support.projects import project_body

pytestmark = pytest.mark.integration

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
}


@pytest.fixture(scope="module")
async def world(infra: Any) -> AsyncIterator[dict[str, Any]]:
    async with AsyncExitStack() as stack:
        projects = await service_client(stack, "projects", infra, CALLERS["director"])
        resources = await service_client(stack, "resources", infra, CALLERS["director"])
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
        yield {"projects": projects, "resources": resources, "ids": ids, "resource": resource.json()}


READ = {  # caller: (project a, project b)
    "director": (200, 200),
    "pmo of A": (200, 404),
    "pmo of programme A": (200, 404),
    "manager of a": (200, 404),
    "viewer of A": (200, 404),
    "viewer of none": (404, 404),
    "finance of B": (404, 200),
}
CHANGE = {  # planning a milestone (writers: pmo, service; director)
    "director": (201, 201),
    "pmo of A": (201, 404),
    "pmo of programme A": (201, 404),
    "manager of a": (201, 404),
    "viewer of A": (403, 403),  # the role already refuses: nothing about the object is told
    "viewer of none": (403, 403),
    "finance of B": (403, 403),
}
PROJECT_READS = ["/projects/{id}", "/projects/{id}/events", "/projects/{id}/milestones", "/projects/{id}/baselines"]


async def test_each_caller_reads_and_changes_only_the_projects_in_her_scope(world: dict[str, Any]) -> None:
    projects, ids = world["projects"], world["ids"]
    paths = [p for p in PROJECT_READS if any(p.replace("{id}", "{project_id}") == r for r in _routes(projects))]
    assert "/projects/{id}" in paths
    milestone = {"name": "M", "due_date": "2027-03-31", "planned_value": {"amount": "1.00", "currency": "EUR"}}
    for who, headers in CALLERS.items():
        for project, expected in zip(("a", "b"), READ[who], strict=True):
            for path in paths:
                response = await projects.get(path.replace("{id}", ids[project]), headers=headers)
                assert response.status_code == expected, (who, path, project, response.text)
                if expected == 404:
                    assert response.headers["content-type"] == "application/problem+json"
        for project, expected in zip(("a", "b"), CHANGE[who], strict=True):
            planned = await projects.post(f"/projects/{ids[project]}/milestones", json=milestone, headers=headers)
            assert planned.status_code == expected, (who, project, planned.text)


async def test_lists_hold_only_the_projects_in_scope(world: dict[str, Any]) -> None:
    projects, ids = world["projects"], world["ids"]
    for who, headers in CALLERS.items():
        listed = await projects.get("/projects", params={"limit": 500}, headers=headers)
        assert listed.status_code == 200, listed.text
        seen = {p["project_id"] for p in listed.json()["items"]} & set(ids.values())
        expected = {ids[name] for name, status in zip(("a", "b"), READ[who], strict=True) if status == 200}
        assert seen == expected, who
        assert listed.json()["total"] >= len(expected)


async def test_a_portfolio_outside_the_callers_is_a_404(world: dict[str, Any]) -> None:
    projects = world["projects"]
    assert (await projects.get(f"/portfolios/{PF_A}/programmes", headers=CALLERS["viewer of A"])).status_code == 200
    assert (await projects.get(f"/portfolios/{PF_B}/programmes", headers=CALLERS["viewer of A"])).status_code == 404
    assert (await projects.get(f"/portfolios/{PF_B}/programmes", headers=CALLERS["finance of B"])).status_code == 200


async def test_hourly_rates_only_for_resource_managers_and_finance(world: dict[str, Any]) -> None:
    resources, resource_id = world["resources"], world["resource"]["resource_id"]
    rate = {"hourly_rate": {"amount": "80.00", "currency": "EUR"}, "effective_from": "2027-01-01"}
    set_rate = await resources.post(f"/resources/{resource_id}/rates", json=rate)
    assert set_rate.status_code in (200, 201), set_rate.text
    readers = {"director": "director", "rm": "resource-manager", "finance": "finance"}
    others = {"pmo": "pmo", "viewer": "viewer"}
    for role in [*readers.values(), *others.values()]:
        headers = caller(f"{role}-user", role, ("*",))
        one = await resources.get(f"/resources/{resource_id}", headers=headers)
        assert one.status_code == 200, one.text
        assert bool(one.json()["rates"]) == (role in readers.values()), role
        listed = await resources.get("/resources", headers=headers)
        [mine] = [r for r in listed.json()["items"] if r["resource_id"] == resource_id]
        assert bool(mine["rates"]) == (role in readers.values()), role
        card = await resources.get("/roles/developer/rates", headers=headers)
        assert card.status_code == (200 if role in readers.values() else 403), (role, card.text)


def _routes(client: httpx.AsyncClient) -> set[str]:
    """The path templates the service declares, as its OpenAPI document lists them (the app keeps its included
    routers as branches, so ``app.routes`` holds no route of the API itself)."""
    return set(client.app.openapi()["paths"])  # type: ignore[attr-defined]
