"""The resources service over HTTP (in process) against the real PostgreSQL and Kafka: a person's rates,
allocations and work sheets with their CloudEvents on ``pmo.resources.v1`` (type, key, exact-decimal costs), the
queries, a subcontractor's deliverables, and the query tables rebuilt equal from the event table."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from shared.kafka import from_record
from tests.support import auth_header, eventually, read_topic
from tests.support.http import ok, refused
from tests.support.resources import (
    LAST_WEEK,
    MAX,
    NEXT_WEEK,
    iso_week,
    project_known,
    rated_person,
    register_resource,
    resources_client,
    week_entries,
)
from tests.support.stored import event_count

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(infra, schema) -> AsyncIterator[httpx.AsyncClient]:
    async with resources_client(infra, schema) as c:
        yield c


async def test_a_person_is_allocated_works_and_is_paid_for_and_each_event_reaches_kafka_with_exact_costs(
    client, kafka
) -> None:
    resource, rid, base = await a_person_with_a_rate_changing_last_week(client)
    project, other_project, milestone, over_weeks = await allocated_to_two_projects_past_capacity_in_two_weeks(
        client, kafka, base
    )
    sid = await a_week_worked_approved_corrected_and_approved_again(client, base, project, milestone)
    await the_queries_show_the_approved_cost_who_is_allocated_and_the_weeks_over(
        client, resource, rid, project, milestone, sid, over_weeks
    )
    await every_event_reaches_kafka_in_order_keyed_by_project_with_exact_costs_and_no_name(
        kafka, rid, project, other_project, milestone, over_weeks
    )


async def a_person_with_a_rate_changing_last_week(client: httpx.AsyncClient) -> tuple[dict[str, Any], str, str]:
    """Grace Hopper at 80.00 EUR an hour, 90.00 from last Thursday on; returns the resource, its id and URL."""
    resource = await register_resource(client, name="Grace Hopper", role="developer")
    rid, base = resource["resource_id"], f"/resources/{resource['resource_id']}"
    assert resource["name"] == "Grace Hopper" and resource["version"] == 1
    await ok(
        await client.post(
            f"{base}/rates",
            json={"hourly_rate": {"amount": "80.00", "currency": "EUR"}, "effective_from": "2020-01-01"},
        ),
        201,
    )
    await ok(
        await client.post(
            f"{base}/rates",
            json={
                "hourly_rate": {"amount": "90.00", "currency": "EUR"},
                "effective_from": str(LAST_WEEK + timedelta(days=3)),
            },
        ),
        201,
    )
    return resource, rid, base


async def allocated_to_two_projects_past_capacity_in_two_weeks(
    client: httpx.AsyncClient, kafka: Any, base: str
) -> tuple[str, str, str, list[str]]:
    """30 h a week on a milestone of one project, then 20 h on another overlapping two weeks (both projects
    published on pmo.projects.v1 and consumed first); returns the two projects, the milestone and the weeks over
    capacity."""
    project, (milestone,) = await project_known(client, kafka)
    other_project, _ = await project_known(client, kafka, milestones=0)
    first = await ok(
        await client.post(
            f"{base}/allocations",
            json={
                "project_id": project,
                "milestone_id": milestone,
                "hours_per_week": "30",
                "starts_on": str(NEXT_WEEK),
                "ends_on": str(NEXT_WEEK + timedelta(days=25)),
            },
        ),
        201,
    )
    assert first["over_allocated"] is False
    second = await ok(
        await client.post(
            f"{base}/allocations",
            json={
                "project_id": other_project,
                "hours_per_week": "20",
                "starts_on": str(NEXT_WEEK + timedelta(days=14)),
                "ends_on": str(NEXT_WEEK + timedelta(days=39)),
            },
        ),
        201,
    )
    over_weeks = [iso_week(NEXT_WEEK + timedelta(days=14)), iso_week(NEXT_WEEK + timedelta(days=21))]
    assert [(w["week"], w["allocated_hours"], w["over_hours"]) for w in second["over_allocation"]] == [
        (over_weeks[0], "50", "10"),
        (over_weeks[1], "50", "10"),
    ]
    return project, other_project, milestone, over_weeks


async def a_week_worked_approved_corrected_and_approved_again(
    client: httpx.AsyncClient, base: str, project: str, milestone: str
) -> str:
    """Last week's 40 hours approved at the rates in force each day, then corrected to 32 hours and approved
    again; returns the sheet id."""
    sheet = await ok(
        await client.post(
            f"{base}/work-sheets",
            json={
                "project_id": project,
                "week": iso_week(LAST_WEEK),
                "entries": week_entries(LAST_WEEK, milestone=milestone),
            },
        ),
        201,
    )
    sid = sheet["sheet_id"]
    assert sheet["status"] == "submitted" and sheet["hours"] == "40"
    approved = await ok(await client.post(f"{base}/work-sheets/{sid}/approve", json={}, headers=MAX))
    assert approved["approved_cost"] == {"amount": "3360.00", "currency": "EUR"}  # 24 h x 80 + 16 h x 90
    corrected = await ok(
        await client.post(
            f"{base}/work-sheets/{sid}/corrections",
            json={
                "entries": week_entries(LAST_WEEK, milestone=milestone, days=4),
                "reason": "Friday was a holiday",
            },
        ),
        201,
    )
    assert corrected["version"] == 2 and corrected["approved_version"] == 1
    final = await ok(await client.post(f"{base}/work-sheets/{sid}/approve", json={"version": 2}, headers=MAX))
    assert final["approved_version"] == 2 and final["approved_cost"] == {"amount": "2640.00", "currency": "EUR"}
    return str(sid)


async def the_queries_show_the_approved_cost_who_is_allocated_and_the_weeks_over(
    client: httpx.AsyncClient,
    resource: dict[str, Any],
    rid: str,
    project: str,
    milestone: str,
    sid: str,
    over_weeks: list[str],
) -> None:
    """The project's approved cost (32 h, per milestone, per resource with her name), who is allocated to it, the
    resource in its department, the approved sheet, and the capacity grid with the two weeks over."""
    costs = await ok(await client.get(f"/projects/{project}/costs"))
    assert costs["totals"] == [{"currency": "EUR", "hours": "32", "cost": {"amount": "2640.00", "currency": "EUR"}}]
    assert [(m["milestone_id"], m["cost"]["amount"]) for m in costs["by_milestone"]] == [(milestone, "2640.00")]
    assert costs["by_resource"][0]["name"] == "Grace Hopper"
    who = await ok(await client.get("/allocations", params={"project_id": project}))
    assert [(a["resource_id"], a["name"], a["role"], a["hours_per_week"]) for a in who["items"]] == [
        (rid, "Grace Hopper", "developer", "30")
    ]
    listed = await ok(await client.get("/resources", params={"department": resource["department"]}))
    assert [(r["resource_id"], r["name"], len(r["allocations"])) for r in listed["items"]] == [(rid, "Grace Hopper", 2)]
    sheets = await ok(await client.get("/work-sheets", params={"project_id": project, "status": "approved"}))
    assert [(s["sheet_id"], s["version"], s["approved_cost"]["amount"]) for s in sheets["items"]] == [
        (sid, 2, "2640.00")
    ]
    grid = await ok(
        await client.get(
            "/capacity",
            params={"from_week": iso_week(NEXT_WEEK), "to_week": over_weeks[1], "resource_id": rid},
        )
    )
    assert [(w["week"], w["allocated_hours"], w["over_hours"]) for w in grid["items"]] == [
        (iso_week(NEXT_WEEK), "30", "0"),
        (iso_week(NEXT_WEEK + timedelta(days=7)), "30", "0"),
        (over_weeks[0], "50", "10"),
        (over_weeks[1], "50", "10"),
    ]
    over = await ok(
        await client.get(
            "/capacity",
            params={
                "from_week": iso_week(NEXT_WEEK),
                "to_week": over_weeks[1],
                "over_only": "true",
                "resource_id": rid,
            },
        )
    )
    assert over["total"] == 2


async def every_event_reaches_kafka_in_order_keyed_by_project_with_exact_costs_and_no_name(
    kafka: Any, rid: str, project: str, other_project: str, milestone: str, over_weeks: list[str]
) -> None:
    expected = [
        ("resource-registered", f"resource:{rid}"),
        ("rate-set", f"resource:{rid}"),
        ("rate-set", f"resource:{rid}"),
        ("resource-allocated", project),
        ("resource-allocated", other_project),
        ("work-sheet-submitted", project),
        ("work-sheet-approved", project),
        ("work-sheet-corrected", project),
        ("work-sheet-approval-reversed", project),
        ("work-sheet-approved", project),
    ]

    async def all_on_kafka() -> list[Any]:
        records = await read_topic(kafka, "pmo.resources.v1", expect=0, timeout=1)
        mine = [r for r in records if dict(r.headers)["ce_subject"] == f"resource-{rid}".encode()]
        assert len(mine) == len(expected)
        return mine

    records = await eventually(all_on_kafka, timeout=30)
    records.sort(key=lambda r: int(dict(r.headers)["ce_streamversion"]))
    decoded = [from_record(r.topic, r.partition, r.offset, r.key, r.value, r.headers) for r in records]
    assert [(e.name, e.key) for e in decoded] == expected
    assert [dict(r.headers)["ce_type"].decode() for r in records] == [f"pmo.resources.{n}.v1" for n, _ in expected]
    assert all(e.service == "resources" for e in decoded)
    assert len({r.partition for r in records if r.key == project.encode()}) == 1
    first_approval = decoded[6].data
    assert first_approval["cost"] == {"amount": "3360.00", "currency": "EUR"}
    assert [
        (e["day"], e["hours"], e["hourly_rate"]["amount"], e["cost"]["amount"]) for e in first_approval["entries"]
    ] == [
        (str(LAST_WEEK + timedelta(days=i)), "8", "80.00" if i < 3 else "90.00", "640.00" if i < 3 else "720.00")
        for i in range(5)
    ]
    assert first_approval["cost_by_milestone"] == [
        {"milestone_id": milestone, "hours": "40", "cost": {"amount": "3360.00", "currency": "EUR"}}
    ]
    reversal = decoded[8].data
    assert (reversal["version"], reversal["superseded_by_version"], reversal["cost"]["amount"]) == (1, 2, "3360.00")
    assert (decoded[9].data["replaces_version"], decoded[9].data["cost"]["amount"]) == (1, "2640.00")
    assert decoded[4].data["over_allocation"][0] == {
        "week": over_weeks[0],
        "week_start": str(NEXT_WEEK + timedelta(days=14)),
        "capacity_hours": "40",
        "allocated_hours": "50",
        "over_hours": "10",
    }
    assert all(b"Grace" not in r.value for r in records)


async def test_a_subcontractor_reports_accepted_deliverables_at_their_agreed_amount(client) -> None:
    vendor = await register_resource(
        client, kind="subcontractor", vendor_id="acme", name="Acme Ltd", email=None, phone=None
    )
    base = f"/resources/{vendor['resource_id']}"
    project, (milestone,) = await project_known(client)
    sheet = await ok(
        await client.post(
            f"{base}/work-sheets",
            json={
                "project_id": project,
                "week": iso_week(LAST_WEEK),
                "deliverables": [
                    {
                        "milestone_id": milestone,
                        "description": "data migration",
                        "amount": {"amount": "4000.00", "currency": "EUR"},
                        "accepted_on": str(LAST_WEEK + timedelta(days=2)),
                    }
                ],
            },
        ),
        201,
    )
    approved = await ok(await client.post(f"{base}/work-sheets/{sheet['sheet_id']}/approve", json={}, headers=MAX))
    assert approved["approved_cost"] == {"amount": "4000.00", "currency": "EUR"}
    costs = await ok(await client.get(f"/projects/{project}/costs"))
    assert costs["by_milestone"] == [
        {"milestone_id": milestone, "currency": "EUR", "hours": "0", "cost": {"amount": "4000.00", "currency": "EUR"}}
    ]


async def test_the_query_tables_are_a_projection_rebuilt_equal_from_the_event_table(client) -> None:
    from resources.bootstrap import AGGREGATES
    from resources.tables import TABLES

    await ok(await client.put("/departments/eng/over-allocation-policy", json={"policy": "block"}))
    await ok(
        await client.post(
            "/roles/developer/rates",
            json={"hourly_rate": {"amount": "60.00", "currency": "EUR"}, "effective_from": "2020-01-01"},
        ),
        201,
    )
    for i in range(2):
        _rid, base = await rated_person(client, department="eng")
        project, _ = await project_known(client)
        await ok(
            await client.post(
                f"{base}/allocations",
                json={
                    "project_id": project,
                    "hours_per_week": "20",
                    "starts_on": str(LAST_WEEK),
                    "ends_on": str(NEXT_WEEK),
                },
            ),
            201,
        )
        await ok(
            await client.post(
                f"{base}/capacity", json={"weekly_capacity_hours": "16", "effective_from": str(NEXT_WEEK)}
            )
        )
        sheet = await ok(
            await client.post(
                f"{base}/work-sheets",
                json={
                    "project_id": project,
                    "week": iso_week(LAST_WEEK),
                    "entries": week_entries(LAST_WEEK),
                },
            ),
            201,
        )
        await ok(await client.post(f"{base}/work-sheets/{sheet['sheet_id']}/approve", json={}, headers=MAX))
        if i == 1:
            assert (await client.delete(f"{base}/personal-data")).status_code == 204

    runtime = client.app.state.runtime  # type: ignore[attr-defined]

    async def snapshot() -> list[Any]:
        rows: list[Any] = []
        async with runtime.engine.connect() as conn:
            for table in (*TABLES, "people"):
                result = await conn.execute(text(f"SELECT * FROM {table}"))
                rows.append((table, sorted(json.dumps([str(v) for v in r]) for r in result)))
        return rows

    live = await snapshot()
    assert await runtime.executor.rebuild(AGGREGATES, TABLES) == 4  # two resources, one role, one department
    assert await snapshot() == live


async def test_a_resource_manager_neither_sets_her_own_rate_nor_approves_her_own_hours_submitted_by_a_service(
    client,
) -> None:
    rita = await register_resource(client, subject="rita.rm")  # the client's own user is rita.rm
    base = f"/resources/{rita['resource_id']}"
    rate = {"hourly_rate": {"amount": "500.00", "currency": "EUR"}, "effective_from": "2020-01-01"}
    own_rate = await refused(await client.post(f"{base}/rates", json=rate), 409)
    assert own_rate["title"] == "Separation of duties"
    await refused(
        await client.post(f"{base}/rates", json=rate, headers=auth_header("RITA.rm", "resource-manager")), 409
    )
    await ok(await client.post(f"{base}/rates", json=rate, headers=MAX), 201)
    project, _ = await project_known(client)
    before = await event_count(client)
    body = {"project_id": project, "week": iso_week(LAST_WEEK), "entries": week_entries(LAST_WEEK, "12")}
    sheet = await ok(
        await client.post(f"{base}/work-sheets", json=body, headers=auth_header("timeclock", "service")), 201
    )
    own_work = await refused(await client.post(f"{base}/work-sheets/{sheet['sheet_id']}/approve", json={}), 409)
    assert own_work["title"] == "Separation of duties" and "own work" in own_work["detail"]
    assert await event_count(client) == before + 1
    await ok(await client.post(f"{base}/work-sheets/{sheet['sheet_id']}/approve", json={}, headers=MAX))


async def test_who_accepted_a_deliverable_is_the_caller_never_a_field_of_the_body(client) -> None:
    vendor = await register_resource(
        client, kind="subcontractor", vendor_id="acme", name="Acme", email=None, phone=None
    )
    deliverable = {
        "description": "data migration",
        "amount": {"amount": "4000.00", "currency": "EUR"},
        "accepted_on": str(LAST_WEEK + timedelta(days=2)),
    }
    body = {"project_id": (await project_known(client))[0], "week": iso_week(LAST_WEEK), "deliverables": [deliverable]}
    url = f"/resources/{vendor['resource_id']}/work-sheets"
    smuggled = {**body, "deliverables": [{**deliverable, "accepted_by": "the.sponsor"}]}
    await refused(await client.post(url, json=smuggled), 422, "deliverables.0.accepted_by")
    sheet = await ok(await client.post(url, json=body), 201)
    approved = await ok(await client.post(f"{url}/{sheet['sheet_id']}/approve", json={}, headers=MAX))
    assert approved["approved_cost"] == {"amount": "4000.00", "currency": "EUR"}
    async with client.app.state.runtime.engine.connect() as conn:
        data = (
            await conn.execute(
                text("SELECT data FROM events WHERE name = 'work-sheet-submitted' ORDER BY position DESC")
            )
        ).scalar()
    data = data if isinstance(data, dict) else json.loads(data)
    assert data["deliverables"][0]["accepted_by"] == "rita.rm"
