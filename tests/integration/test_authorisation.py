"""Object-level authorisation, route by route and caller by caller: portfolio and programme members reach their
projects, a project manager changes only the projects she manages, everyone else gets a 404 (never a 403 that
would tell a stranger the project exists) and lists hold only the projects in scope; rates and personal data only
for resource managers and finance. One set-up for the module (the five services, two portfolios, a project in each
with an invoice, an allocation, a work sheet and an alert), one table of expectations."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from invoicing.handlers import STEWARDS
from shared.auth import Role
from tests.support.authorisation import (
    CALLERS,
    MEMBER,
    PF_A,
    PF_B,
    PG_A,
    ROLE,
    SEES,
    SERVICES,
    caller,
    world_of,
)
from tests.support.invoicing import invoice_body, line_body
from tests.support.projects import project_body
from tests.support.resources import LAST_WEEK, NEXT_WEEK, iso_week, week_entries

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def world(infra: Any) -> AsyncIterator[dict[str, Any]]:
    async with world_of(infra) as built:
        yield built


READ = {  # caller: (project a, project b)
    "director": (200, 200),
    "pmo of A": (200, 404),
    "pmo of programme A": (200, 404),
    "manager of a": (200, 404),
    "viewer of A": (200, 404),
    "viewer of none": (404, 404),
    "finance of B": (404, 200),
    "rm of A": (200, 404),
}
CHANGE = {  # planning a milestone (writers: pmo, service; director)
    "director": (201, 201),
    "pmo of A": (201, 404),
    "pmo of programme A": (201, 404),
    "manager of a": (201, 404),
    "viewer of A": (403, 403),  # the role already refuses: nothing about the object is told
    "viewer of none": (403, 403),
    "finance of B": (403, 403),
    "rm of A": (403, 403),
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


OBJECTS = ("project_id", "portfolio_id", "invoice_id", "alert_id", "sheet_id", "allocation_id")
"""Path parameters that address an object of a project (or a portfolio): what the matrix below checks."""
FILLERS = {"version": "1", "figure": "cpi", "category": "labour"}
"""Other path parameters: a value that parses (ids: a random UUID, an object the route looks for in vain)."""
PROBE = {"not_a_field": True}
"""The body of a write: refused (422) by every route that reads a body, once the object is in scope."""


def _operations(client: httpx.AsyncClient) -> list[tuple[str, str, bool]]:
    """``(method, template, takes a body)`` of every operation addressing an object of a project or portfolio."""
    found = []
    for template, item in client.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        params = {part[1:-1] for part in template.split("/") if part.startswith("{")}
        if not params & set(OBJECTS):
            continue
        for method, operation in item.items():
            found.append((method.upper(), template, "requestBody" in operation))
    return found


def _concrete(template: str, objects: dict[str, str]) -> str:
    parts = []
    for part in template.split("/"):
        name = part[1:-1] if part.startswith("{") else None
        if name is None:
            parts.append(part)
        elif name in objects:
            parts.append(objects[name])
        else:
            parts.append(FILLERS.get(name, str(uuid.uuid4())))
    return "/".join(parts)


def _reaches(who: str, template: str, project: str) -> bool:
    params = {part[1:-1] for part in template.split("/") if part.startswith("{")}
    if params & set(OBJECTS) == {"portfolio_id"}:
        return project in MEMBER.get(who, set())
    return project in SEES[who]


async def test_every_route_with_an_object_answers_each_caller_by_her_scope(world: dict[str, Any]) -> None:
    """For every route of every service that addresses a project's object (or a portfolio), every caller whose
    role the route allows, and the objects of both projects: in scope, the answer the director gets (a read) or
    the body's own refusal (a write: nothing is changed); out of scope, 404 problem+json, the same as for an
    object that does not exist. Bodiless writes are sent only out of scope (in scope they would act)."""
    checked = {service: 0 for service in SERVICES}
    for service in SERVICES:
        client = world[service]
        access = client.app.state.access
        for method, template, has_body in _operations(client):
            allowed = access.allowed(method, template)
            for project in ("a", "b"):
                path = _concrete(template, world["objects"][project])
                body = PROBE if method != "GET" else None
                director = None
                if method == "GET":
                    director = (await client.get(path)).status_code
                for who, headers in CALLERS.items():
                    if who == "director" or ROLE[who] not in allowed:
                        continue
                    reaches = _reaches(who, template, project)
                    if reaches and method != "GET" and not has_body:
                        continue
                    answer = await client.request(method, path, json=body, headers=headers)
                    where = (service, method, template, project, who, answer.text[:200])
                    if not reaches:
                        assert answer.status_code == 404, where
                        assert answer.headers["content-type"] == "application/problem+json", where
                    elif method == "GET":
                        assert answer.status_code == director, where
                    else:
                        assert answer.status_code == 422, where
                    checked[service] += 1
    assert all(checked.values()), checked
    print(f"authorisation matrix: {sum(checked.values())} answers checked {checked}")


LISTS: dict[str, list[tuple[str, str, str | None]]] = {  # service: (path, the key naming the project, items under)
    "invoicing": [("/invoices", "project_id", "items")],
    "reporting": [
        ("/alerts", "project_id", "items"),
        ("/portfolio/projects", "project_id", "items"),
        ("/reports/portfolio", "project_id", "projects"),
    ],
    "resources": [
        ("/allocations", "project_id", "items"),
        ("/work-sheets", "project_id", "items"),
        ("/resources/{resource_id}/allocations", "project_id", None),
        ("/resources/{resource_id}/work-sheets", "project_id", "items"),
        ("/resources/{resource_id}", "project_id", "allocations"),
    ],
}


async def test_every_list_holds_only_the_objects_of_projects_in_scope(world: dict[str, Any]) -> None:
    ids, objects = world["ids"], world["objects"]
    for service, lists in LISTS.items():
        for template, key, under in lists:
            path = template.replace("{resource_id}", objects["a"]["resource_id"])
            for who, headers in CALLERS.items():
                answer = await world[service].get(
                    path, params={"limit": 500} if under == "items" else {}, headers=headers
                )
                assert answer.status_code == 200, (service, path, who, answer.text)
                doc = answer.json()
                items = doc if under is None else doc[under]
                seen = {str(i[key]) for i in items} & set(ids.values())
                assert seen == {ids[p] for p in SEES[who]}, (service, path, who)
    for who, headers in CALLERS.items():
        listed = await world["projects"].get("/portfolios", params={"limit": 500}, headers=headers)
        seen = {p["grouping_id"] for p in listed.json()["items"]} & {PF_A, PF_B}
        assert seen == {{"a": PF_A, "b": PF_B}[p] for p in MEMBER.get(who, set())}, who


async def test_contact_details_only_for_resource_managers_and_finance(world: dict[str, Any]) -> None:
    resources, rid = world["resources"], world["objects"]["a"]["resource_id"]
    for role in ("director", "resource-manager", "finance", "pmo", "viewer", "service"):
        answer = await resources.get(f"/resources/{rid}/personal-data", headers=caller(f"{role}-u", role, ("*",)))
        if role in ("director", "resource-manager", "finance"):
            assert answer.status_code == 200, (role, answer.text)
            assert answer.json()["email"], role
        else:
            assert answer.status_code == 403, (role, answer.text)
            assert "email" not in answer.text, role


def _routes(client: httpx.AsyncClient) -> set[str]:
    """The path templates the service declares, as its OpenAPI document lists them (the app keeps its included
    routers as branches, so ``app.routes`` holds no route of the API itself)."""
    return set(client.app.openapi()["paths"])  # type: ignore[attr-defined]


# --- commands that name a project (or an object of another project) in their body ----------------------------

BODY_CALLERS = {**CALLERS, "service": caller("billing-system", "service", ())}
BODY_ROLE = {**ROLE, "service": Role.SERVICE}
BODY_SEES = {**SEES, "service": {"a", "b"}}
_weeks = iter(range(2, 400))
"""Weeks back from today for each work sheet submitted below (one sheet per resource, week and project)."""


async def _events(client: httpx.AsyncClient) -> int:
    async with client.app.state.runtime.engine.connect() as conn:  # type: ignore[attr-defined]
        return int((await conn.execute(text("SELECT count(*) FROM events"))).scalar_one())


def _as_unknown(answer: httpx.Response, unknown: httpx.Response, named: str, unknown_id: str, where: Any) -> None:
    """Out of scope, the answer is the one for an id that names nothing: the same status and problem (its id
    aside), a refusal."""
    assert answer.status_code == unknown.status_code, where
    assert answer.status_code in (404, 422), where
    assert answer.headers["content-type"] == "application/problem+json", where
    assert answer.text.replace(named, "<id>") == unknown.text.replace(unknown_id, "<id>"), where


def _sheet(project_id: str) -> dict[str, Any]:
    monday = LAST_WEEK - timedelta(weeks=next(_weeks))
    return {"project_id": project_id, "week": iso_week(monday), "entries": week_entries(monday, "1", days=1)}


def _allocation(project_id: str) -> dict[str, Any]:
    return {"project_id": project_id, "hours_per_week": "1", "starts_on": str(NEXT_WEEK), "ends_on": str(NEXT_WEEK)}


async def _answers_by_scope(
    world: dict[str, Any], service: str, template: str, body: Any, checked: dict[str, list[str]], name: str
) -> None:
    """``body(project_id)`` sent to ``path`` by every caller whose role the route allows, naming each project: in
    scope it acts (201); out of scope the answer is the one for a project that does not exist, and nothing is
    appended."""
    client = world[service]
    allowed = client.app.state.access.allowed("POST", template)
    path = template.replace("{resource_id}", world["objects"]["a"]["resource_id"])
    for who, headers in BODY_CALLERS.items():
        if BODY_ROLE[who] not in allowed and who != "director":
            continue
        unknown_id = str(uuid.uuid4())
        unknown = None
        for project in ("a", "b"):
            pid = world["ids"][project]
            before = await _events(client)
            answer = await client.post(path, json=body(pid), headers=headers)
            where = (name, who, project, answer.text[:300])
            if project in BODY_SEES[who]:
                assert answer.status_code == 201, where
                checked[name].append("in")
                continue
            unknown = unknown or await client.post(path, json=body(unknown_id), headers=headers)
            _as_unknown(answer, unknown, pid, unknown_id, where)
            assert await _events(client) == before, where  # nothing appended, not even the unknown's refusal
            checked[name].append("out")


async def test_commands_naming_a_project_in_their_body_answer_by_the_callers_scope(world: dict[str, Any]) -> None:
    """Receiving an invoice, allocating a resource and submitting a work sheet name their project in the body: in
    the caller's scope they act, out of it the answer is the route's own for a project it does not know."""
    commands = {
        "invoice": ("invoicing", "/invoices", lambda pid: invoice_body(pid, line_body("10.00", str(uuid.uuid4())))),
        "allocation": ("resources", "/resources/{resource_id}/allocations", _allocation),
        "work sheet": ("resources", "/resources/{resource_id}/work-sheets", _sheet),
    }
    checked: dict[str, list[str]] = {name: [] for name in commands}
    for name, (service, path, body) in commands.items():
        await _answers_by_scope(world, service, path, body, checked, name)
    assert all({"in", "out"} <= set(kinds) for kinds in checked.values()), checked
    print(f"body-scoped commands: {sum(len(k) for k in checked.values())} answers checked")


async def test_a_dependency_on_a_project_out_of_scope_is_one_on_a_project_that_does_not_exist(
    world: dict[str, Any],
) -> None:
    projects, ids = world["projects"], world["ids"]
    allowed = projects.app.state.access.allowed("POST", "/projects/{project_id}/raid/dependencies")
    checked = 0
    for who, headers in BODY_CALLERS.items():
        if BODY_ROLE[who] not in allowed and who != "director":
            continue
        consumer = "a" if "a" in BODY_SEES[who] else "b"
        provider = "b" if consumer == "a" else "a"

        def body(pid: str) -> dict[str, Any]:
            return {"provider_project_id": pid, "needs": "An API", "needed_by": "2027-06-01", "owner": "max"}

        path = f"/projects/{ids[consumer]}/raid/dependencies"
        before = await _events(projects)
        answer = await projects.post(path, json=body(ids[provider]), headers=headers)
        where = (who, answer.text[:300])
        if provider in BODY_SEES[who]:
            assert answer.status_code == 201, where
        else:
            unknown_id = str(uuid.uuid4())
            unknown = await projects.post(path, json=body(unknown_id), headers=headers)
            assert "provider_project_id" in unknown.text, unknown.text
            _as_unknown(answer, unknown, ids[provider], unknown_id, where)
            assert await _events(projects) == before, where
        checked += 1
    assert checked >= 4


async def _commitment_of(invoicing: httpx.AsyncClient, project_id: str) -> str:
    """An open commitment of the project as invoicing knows it from pmo.budget.v1 (stored as its consumer does)."""
    commitment_id = str(uuid.uuid4())
    async with invoicing.app.state.runtime.engine.begin() as conn:  # type: ignore[attr-defined]
        await conn.execute(
            text(
                "INSERT INTO known_commitments (commitment_id, project_id, vendor, reference, amount, currency, "
                "status) VALUES (:c, :p, 'acme', :r, 1000, 'EUR', 'committed')"
            ),
            {"c": uuid.UUID(commitment_id), "p": uuid.UUID(project_id), "r": f"PO-{commitment_id[:8]}"},
        )
    return commitment_id


async def test_goods_against_a_commitment_of_a_project_out_of_scope_are_against_an_unknown_one(
    world: dict[str, Any],
) -> None:
    invoicing, ids = world["invoicing"], world["ids"]
    commitments = {name: await _commitment_of(invoicing, pid) for name, pid in ids.items()}
    allowed = invoicing.app.state.access.allowed("POST", "/projects/{project_id}/receipts") & STEWARDS

    def body(commitment_id: str) -> dict[str, Any]:
        amount = {"amount": "10.00", "currency": "EUR"}
        return {"commitment_id": commitment_id, "category": "materials", "description": "Cables", "amount": amount}

    checked = 0
    for who, headers in BODY_CALLERS.items():
        if BODY_ROLE[who] not in allowed or not BODY_SEES[who]:
            continue
        own = sorted(BODY_SEES[who])[0]
        other = "b" if own == "a" else "a"
        path = f"/projects/{ids[own]}/receipts"
        received = await invoicing.post(path, json=body(commitments[own]), headers=headers)
        assert received.status_code == 201, (who, received.text)
        before = await _events(invoicing)
        answer = await invoicing.post(path, json=body(commitments[other]), headers=headers)
        assert answer.status_code == 422, (who, answer.text)
        if other in BODY_SEES[who]:
            assert "not on this one" in answer.text, (who, answer.text)  # the director is told where it is
        else:
            unknown_id = str(uuid.uuid4())
            unknown = await invoicing.post(path, json=body(unknown_id), headers=headers)
            _as_unknown(answer, unknown, commitments[other], unknown_id, (who, answer.text))
        assert await _events(invoicing) == before, who
        checked += 1
    assert checked >= 3


async def test_an_invoice_citing_work_of_a_project_out_of_scope_cites_work_that_names_nothing(
    world: dict[str, Any],
) -> None:
    """Finance of B bills, on project b's invoice, an approved sheet of project a: to her it is a sheet not approved
    (yet), as an id that names nothing; the director is told it is work on project a."""
    invoicing, ids = world["invoicing"], world["ids"]
    sheet_id = uuid.uuid4()
    async with invoicing.app.state.runtime.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO approved_sheets (sheet_id, project_id, resource_id, version, week, cost, currency, "
                "deliverables, in_force, approved_on) VALUES (:s, :p, :r, 1, '2027-W01', 100, 'EUR', '[]', true, "
                "'2027-01-08')"
            ),
            {"s": sheet_id, "p": uuid.UUID(ids["a"]), "r": uuid.uuid4()},
        )

    async def details(who: str, cited: uuid.UUID) -> list[str]:
        body = invoice_body(ids["b"], line_body("100.00", str(cited)))
        received = await invoicing.post("/invoices", json=body, headers=BODY_CALLERS[who])
        assert received.status_code == 201, (who, received.text)
        return [d["detail"].replace(str(cited), "<sheet>") for d in received.json()["match"]["discrepancies"]]

    told = await details("director", sheet_id)
    assert any(f"work on project {ids['a']}" in d for d in told), told
    hidden, unknown = await details("finance of B", sheet_id), await details("finance of B", uuid.uuid4())
    assert hidden == unknown, (hidden, unknown)
    assert not any(ids["a"] in d for d in hidden), hidden


async def test_a_project_is_registered_only_within_the_callers_scope(world: dict[str, Any]) -> None:
    """A portfolio or programme the caller may not name is one that does not exist (404 naming it); a project she
    would not see once registered is refused on ``manager``; within her scope she registers it."""
    projects = world["projects"]
    unknown_pf, unknown_pg = f"pf-none-{uuid.uuid4().hex[:6]}", f"pg-none-{uuid.uuid4().hex[:6]}"
    cases = [  # caller, placement, expected: 201, or the field refused
        ("pmo of A", {"portfolio_id": PF_A}, 201),
        ("pmo of A", {"programme_id": PG_A}, 201),
        ("pmo of A", {"portfolio_id": PF_B}, "portfolio_id"),
        ("pmo of A", {}, "manager"),
        ("pmo of programme A", {"programme_id": PG_A}, 201),
        ("pmo of programme A", {"portfolio_id": PF_A}, "portfolio_id"),
        ("pmo of programme A", {"portfolio_id": PF_B}, "portfolio_id"),
        ("manager of a", {}, 201),  # she manages it
        ("manager of a", {"manager": "mia.manager"}, "manager"),
        ("manager of a", {"portfolio_id": PF_A}, "portfolio_id"),
        ("manager of a", {"programme_id": PG_A}, "programme_id"),
        ("director", {"portfolio_id": PF_B}, 201),
        ("service", {"portfolio_id": PF_B, "manager": "mia.manager"}, 201),
    ]
    for who, placement, expected in cases:
        headers = BODY_CALLERS[who]
        before = await _events(projects)
        answer = await projects.post("/projects", json=project_body(**placement), headers=headers)
        where = (who, placement, answer.text[:300])
        if expected == 201:
            assert answer.status_code == 201, where
            continue
        assert await _events(projects) == before, where
        if expected == "manager":
            assert answer.status_code == 422, where
            assert "manager" in answer.text, where
            continue
        field = str(expected)
        stand_in = unknown_pf if field == "portfolio_id" else unknown_pg
        unknown = await projects.post("/projects", json=project_body(**{field: stand_in}), headers=headers)
        _as_unknown(answer, unknown, placement[field], stand_in, where)
