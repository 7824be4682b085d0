"""The resources service over HTTP refusing commands: the 422 / 409 / 412 / 403 answers of bad input, stale
versions, self-approval, roles and blocked over-allocation, each appending nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text

from tests.support import auth_header
from tests.support.clock import TODAY
from tests.support.http import ok, refused
from tests.support.resources import (
    APPROVER,
    LAST_WEEK,
    MAX,
    NEXT_WEEK,
    SUBMITTER,
    iso_week,
    project_known,
    rated_person,
    register_resource,
    resource_body,
    resources_client,
    week_entries,
)
from tests.support.stored import event_count

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(infra, schema) -> AsyncIterator[httpx.AsyncClient]:
    async with resources_client(infra, schema) as c:
        yield c


@pytest.mark.parametrize(
    ("entries", "week", "field"),
    [
        ([{"day": str(LAST_WEEK), "hours": "-1"}], LAST_WEEK, "entries.0.hours"),
        ([{"day": str(LAST_WEEK), "hours": 7.5}], LAST_WEEK, "entries.0.hours"),
        ([{"day": str(LAST_WEEK), "hours": "25"}], LAST_WEEK, "entries.0.hours"),
        (
            [
                {"day": str(LAST_WEEK), "hours": "16"},
                {"day": str(LAST_WEEK), "hours": "9", "milestone_id": "<the project's milestone>"},
            ],
            LAST_WEEK,
            "entries.1.hours",
        ),
        ([{"day": str(NEXT_WEEK), "hours": "8"}], NEXT_WEEK, "week"),
        ([{"day": str(LAST_WEEK - timedelta(days=1)), "hours": "8"}], LAST_WEEK, "entries.0.day"),
    ],
)
async def test_bad_work_sheet_input_is_a_422_problem_naming_the_field_and_appends_nothing(
    client, entries, week, field
) -> None:
    rid, base = await rated_person(client)
    project, (milestone,) = await project_known(client)
    entries = [{**e, "milestone_id": milestone} if "milestone_id" in e else e for e in entries]
    before = await event_count(client)
    body = {"project_id": project, "week": iso_week(week), "entries": entries}
    await refused(await client.post(f"{base}/work-sheets", json=body), 422, field)
    assert await event_count(client) == before
    assert (await ok(await client.get("/work-sheets", params={"resource_id": rid})))["total"] == 0


async def test_a_day_without_a_rate_is_a_422_naming_the_entry_and_appends_nothing(client) -> None:
    resource = await register_resource(client)
    base = f"/resources/{resource['resource_id']}"
    await ok(
        await client.post(
            f"{base}/rates",
            json={
                "hourly_rate": {"amount": "80.00", "currency": "EUR"},
                "effective_from": str(LAST_WEEK + timedelta(1)),
            },
        ),
        201,
    )
    project, _ = await project_known(client)
    before = await event_count(client)
    body = {"project_id": project, "week": iso_week(LAST_WEEK), "entries": week_entries(LAST_WEEK, days=2)}
    problem = await refused(await client.post(f"{base}/work-sheets", json=body), 422, "entries.0.day")
    assert "no cost rate in force" in problem["detail"]
    assert await event_count(client) == before
    # the role's default rate fills the gap
    role_rates = await ok(
        await client.post(
            "/roles/developer/rates",
            json={"hourly_rate": {"amount": "60.00", "currency": "EUR"}, "effective_from": "2020-01-01"},
        ),
        201,
    )
    assert role_rates["rates"] == [
        {"effective_from": "2020-01-01", "hourly_rate": {"amount": "60.00", "currency": "EUR"}}
    ]
    sheet = await ok(await client.post(f"{base}/work-sheets", json=body), 201)
    approved = await ok(await client.post(f"{base}/work-sheets/{sheet['sheet_id']}/approve", json={}, headers=MAX))
    costed = approved["versions"][0]["costed_entries"]
    assert [(c["rate_source"], c["cost"]["amount"]) for c in costed] == [("role", "480.00"), ("resource", "640.00")]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "capacity",
            {"weekly_capacity_hours": "30", "effective_from": str(LAST_WEEK + timedelta(days=1))},
            "effective_from",
        ),
        ("capacity", {"weekly_capacity_hours": "169", "effective_from": str(LAST_WEEK)}, "weekly_capacity_hours"),
        (
            "rates",
            {"hourly_rate": {"amount": "80.00", "currency": "USD"}, "effective_from": "2027-01-01"},
            "hourly_rate.currency",
        ),
        (
            "rates",
            {"hourly_rate": {"amount": "80.005", "currency": "EUR"}, "effective_from": "2027-01-01"},
            "hourly_rate",
        ),
        (
            "allocations",
            {
                "project_id": "<a known project>",
                "hours_per_week": "-8",
                "starts_on": "2027-01-04",
                "ends_on": "2027-02-26",
            },
            "hours_per_week",
        ),
        (
            "allocations",
            {
                "project_id": "<a known project>",
                "hours_per_week": "8",
                "starts_on": "2027-03-01",
                "ends_on": "2027-02-26",
            },
            "ends_on",
        ),
        ("skills", {"skill": "Kafka", "level": "basic", "acquired_on": str(TODAY + timedelta(days=1))}, "acquired_on"),
    ],
)
async def test_bad_resource_input_is_a_422_problem_naming_the_field_and_appends_nothing(
    client, path, body, field
) -> None:
    _, base = await rated_person(client)
    if "project_id" in body:
        body = {**body, "project_id": (await project_known(client))[0]}
    before = await event_count(client)
    await refused(await client.post(f"{base}/{path}", json=body), 422, field)
    assert await event_count(client) == before


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"kind": "robot"}, "kind"),
        ({"kind": "subcontractor"}, "vendor_id"),
        ({"weekly_capacity_hours": "-1"}, "weekly_capacity_hours"),
        ({"currency": "EUX"}, "currency"),
        ({"email": "not-an-email"}, "email"),
        ({"name": ""}, "name"),
    ],
)
async def test_bad_registration_is_a_422_problem_and_leaves_neither_event_nor_name(client, overrides, field) -> None:
    before = await event_count(client)
    await refused(await client.post("/resources", json=resource_body(**overrides)), 422, field)
    assert await event_count(client) == before
    assert (await ok(await client.get("/resources")))["total"] == 0
    async with client.app.state.runtime.engine.connect() as conn:  # type: ignore[attr-defined]
        assert (await conn.execute(text("SELECT count(*) FROM people"))).scalar_one() == 0


async def test_a_stale_if_match_gets_412_with_the_current_version_and_appends_nothing(client) -> None:
    _rid, base = await rated_person(client)  # version 2
    body = {"skill": "Kafka", "level": "basic"}
    first = await client.post(f"{base}/skills", json=body, headers={"If-Match": '"2"'})
    assert first.status_code == 201 and first.headers["etag"] == '"3"'
    before = await event_count(client)
    problem = await refused(
        await client.post(f"{base}/skills", json={"skill": "Rust", "level": "basic"}, headers={"If-Match": '"2"'}), 412
    )
    assert problem["current_version"] == 3
    assert await event_count(client) == before
    view = await ok(await client.get(base))
    assert [s["skill"] for s in view["skills"]] == ["Kafka"]


async def test_approval_by_the_submitter_is_a_409_and_a_retried_approval_appends_nothing(client) -> None:
    _, base = await rated_person(client)
    project, _ = await project_known(client)
    body = {"project_id": project, "week": iso_week(LAST_WEEK), "entries": week_entries(LAST_WEEK)}
    sheet = await ok(await client.post(f"{base}/work-sheets", json=body), 201)  # submitted by rita.rm
    assert sheet["submitted_by"] == SUBMITTER
    url = f"{base}/work-sheets/{sheet['sheet_id']}/approve"
    before = await event_count(client)
    problem = await refused(await client.post(url, json={}), 409)
    assert (
        f"{SUBMITTER} submitted version 1" in problem["detail"] and "someone else must approve it" in problem["detail"]
    )
    await refused(await client.post(url, json={"version": 2}, headers=MAX), 409)
    assert await event_count(client) == before
    key = {**MAX, "Idempotency-Key": str(uuid.uuid4())}
    responses = [await client.post(url, json={}, headers=key) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert len({json.dumps(r.json(), sort_keys=True) for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 2
    assert responses[0].json()["versions"][0]["reviewed_by"] == APPROVER
    assert await event_count(client) == before + 1
    rejected = await refused(
        await client.post(url.replace("/approve", "/reject"), json={"reason": "x"}, headers=MAX), 409
    )
    assert "approved" in rejected["detail"]


async def test_only_a_resource_manager_approves_and_reads_contact_details(client) -> None:
    rid, base = await rated_person(client)
    timesheets = auth_header("timesheet-app", "service")
    project, _ = await project_known(client)
    body = {"project_id": project, "week": iso_week(LAST_WEEK), "entries": week_entries(LAST_WEEK)}
    sheet = await ok(await client.post(f"{base}/work-sheets", json=body, headers=timesheets), 201)
    url = f"{base}/work-sheets/{sheet['sheet_id']}/approve"
    for role in ("service", "viewer", "pmo", "finance"):
        assert (await client.post(url, json={}, headers=auth_header("x", role))).status_code == 403, role
    assert (await client.get(f"{base}/personal-data", headers=auth_header("v", "viewer"))).status_code == 403
    assert (await client.delete(f"{base}/personal-data", headers=timesheets)).status_code == 403
    contact = await ok(await client.get(f"{base}/personal-data"))
    assert contact == {
        "resource_id": rid,
        "name": "Ada Lovelace",
        "email": "ada@example.org",
        "phone": "+44 20 7946 0000",
    }
    viewed = await ok(await client.get(base, headers=auth_header("v", "viewer")))
    assert viewed["name"] == "Ada Lovelace" and "email" not in viewed and "phone" not in viewed
    approved = await ok(await client.post(url, json={}))  # the client's user did not submit it: the timesheet app did
    assert approved["status"] == "approved" and approved["submitted_by"] == "timesheet-app"


async def test_a_department_that_blocks_over_allocation_gets_409_and_nothing_is_appended(client) -> None:
    department = f"ops-{uuid.uuid4().hex[:6]}"
    policy = await ok(await client.put(f"/departments/{department}/over-allocation-policy", json={"policy": "block"}))
    assert policy == {"department": department, "policy": "block"}
    assert (await ok(await client.get(f"/departments/{department}/over-allocation-policy")))["policy"] == "block"
    _, base = await rated_person(client, department=department)
    allocation = {
        "project_id": (await project_known(client))[0],
        "hours_per_week": "30",
        "starts_on": "2030-01-07",
        "ends_on": "2030-02-01",
    }
    await ok(await client.post(f"{base}/allocations", json=allocation), 201)
    before = await event_count(client)
    problem = await refused(
        await client.post(
            f"{base}/allocations",
            json={**allocation, "project_id": (await project_known(client))[0], "hours_per_week": "11"},
        ),
        409,
    )
    assert "blocks over-allocation" in problem["detail"] and "2030-W02 (+1 h)" in problem["detail"]
    assert await event_count(client) == before
    assert len((await ok(await client.get(base)))["allocations"]) == 1
