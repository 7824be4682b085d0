"""A project's whole life over HTTP against the real PostgreSQL and Kafka: every command, its event on the topic
as a CloudEvent with the right type, subject and key, and the 409 / 404 / 422 answers for refused commands."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from shared.kafka import from_record
from tests.support import auth_header, eventually, read_topic
from tests.support.clock import TODAY
from tests.support.http import ok, refused
from tests.support.projects import milestone_body, portfolio, project_body, register
from tests.support.stored import event_count

pytestmark = pytest.mark.integration


EVERY_EVENT = [
    "project-registered",
    "project-approved",
    "project-started",
    "milestone-planned",
    "milestone-planned",
    "milestone-rescheduled",
    "milestone-progress-reported",
    "milestone-reached",
    "status-reported",
    "kpi-defined",
    "kpi-measured",
    "partner-registered",
    "communication-logged",
    "follow-up-closed",
    "gate-decided",
    "project-put-on-hold",
    "project-resumed",
    "project-put-on-hold",
    "project-terminated",
]
"""What the life below records, in order."""


async def test_a_project_lives_through_every_command_and_each_event_reaches_kafka(client, kafka) -> None:
    pid = await register_in_a_programme_of_a_new_portfolio(client)
    base = f"/projects/{pid}"
    await approve_and_start(client, base)
    await plan_reschedule_progress_and_reach_two_milestones(client, base)
    await file_a_status_report_whose_overall_is_its_worst_dimension(client, base)
    await measure_a_kpi_below_its_target(client, base)
    await log_a_communication_and_close_its_overdue_follow_up(client, base)
    await hold_at_a_gate_resume_hold_again_and_terminate(client, base)
    await the_view_shows_the_terminated_project_and_its_milestones(client, base)
    await the_audit_trail_lists_every_event_with_its_actor(client, base)
    await every_event_reaches_kafka_in_order_as_a_cloudevent_of_the_project(kafka, pid)


async def register_in_a_programme_of_a_new_portfolio(client: httpx.AsyncClient) -> str:
    pf = await portfolio(client)
    programme = await ok(
        await client.post(
            f"/portfolios/{pf}/programmes", json={"programme_id": f"pg-{uuid.uuid4().hex[:8]}", "name": "CX"}
        ),
        201,
    )
    project = await register(client, programme_id=programme["grouping_id"], planned_start=str(TODAY - timedelta(60)))
    assert project["portfolio_id"] == pf  # taken from the programme
    return str(project["project_id"])


async def approve_and_start(client: httpx.AsyncClient, base: str) -> None:
    await ok(await client.post(f"{base}/approve", json={}))
    await ok(await client.post(f"{base}/start", json={}))


async def plan_reschedule_progress_and_reach_two_milestones(client: httpx.AsyncClient, base: str) -> None:
    m1 = await ok(await client.post(f"{base}/milestones", json=milestone_body(due_date=str(TODAY - timedelta(5)))), 201)
    m2 = await ok(
        await client.post(
            f"{base}/milestones",
            json=milestone_body(
                name="Build",
                due_date=str(TODAY + timedelta(30)),
                planned_value={"amount": "80000.00", "currency": "EUR"},
            ),
        ),
        201,
    )
    await ok(
        await client.post(
            f"{base}/milestones/{m2['milestone_id']}/reschedule",
            json={"due_date": str(TODAY + timedelta(45)), "reason": "vendor delay"},
        )
    )
    progress = await ok(
        await client.post(f"{base}/milestones/{m2['milestone_id']}/progress", json={"percent_complete": "40"})
    )
    assert progress["percent_complete"] == "40"
    reached = await ok(
        await client.post(f"{base}/milestones/{m1['milestone_id']}/reached", json={"acceptance_note": "signed"})
    )
    assert reached["status"] == "reached" and reached["reached_on"] == str(TODAY)


async def file_a_status_report_whose_overall_is_its_worst_dimension(client: httpx.AsyncClient, base: str) -> None:
    report = await ok(
        await client.post(
            f"{base}/status-reports",
            json={
                "meeting_date": str(TODAY),
                "schedule": "green",
                "cost": "amber",
                "scope": "green",
                "quality": "red",
                "resources": "green",
                "narrative": "quality issue on the build",
                "risks": ["test environment late"],
            },
        ),
        201,
    )
    assert report["overall"] == "red"


async def measure_a_kpi_below_its_target(client: httpx.AsyncClient, base: str) -> None:
    kpi = await ok(
        await client.post(
            f"{base}/kpis",
            json={
                "name": "Campaign reach",
                "unit": "%",
                "target": "80",
                "direction": "at_least",
                "review_date": str(TODAY),
            },
        ),
        201,
    )
    measured = await ok(await client.post(f"{base}/kpis/{kpi['kpi_id']}/measurements", json={"value": "76.5"}), 201)
    assert measured["measurements"][-1]["target_met"] is False


async def log_a_communication_and_close_its_overdue_follow_up(client: httpx.AsyncClient, base: str) -> None:
    partner = await ok(
        await client.post(
            f"{base}/partners",
            json={"name": "Acme", "kind": "external_partner", "organisation": "Acme Ltd", "role": "integrator"},
        ),
        201,
    )
    comm = await ok(
        await client.post(
            f"{base}/communications",
            json={
                "partner_id": partner["partner_id"],
                "on": str(TODAY - timedelta(10)),
                "channel": "meeting",
                "summary": "kick-off",
                "follow_up_due": str(TODAY - timedelta(3)),
            },
        ),
        201,
    )
    overdue = (await client.get(f"{base}/communications", params={"follow_up_overdue_on": str(TODAY)})).json()
    assert [c["communication_id"] for c in overdue] == [comm["communication_id"]]
    await ok(await client.post(f"{base}/communications/{comm['communication_id']}/close-follow-up", json={}))
    assert (await client.get(f"{base}/communications", params={"follow_up_overdue_on": str(TODAY)})).json() == []


async def hold_at_a_gate_resume_hold_again_and_terminate(client: httpx.AsyncClient, base: str) -> None:
    held = await ok(
        await client.post(
            f"{base}/gate-decisions",
            json={"gate": "G3", "decision": "hold", "rationale": "quality red"},
        ),
        201,
    )
    assert held["project_status"] == "on_hold"
    assert held["snapshot"]["earned_value"] == {"amount": "152000.00", "currency": "EUR"}  # 120000 + 40 % of 80000
    await ok(await client.post(f"{base}/resume", json={"note": "fixed"}))
    await ok(await client.post(f"{base}/hold", json={"reason": "budget review"}))
    final = await ok(await client.post(f"{base}/terminate", json={"reason": "business case gone"}))
    assert final["status"] == "terminated"


async def the_view_shows_the_terminated_project_and_its_milestones(client: httpx.AsyncClient, base: str) -> None:
    view = await ok(await client.get(base))
    assert view["status"] == "terminated" and view["status_reason"] == "business case gone"
    assert [m["name"] for m in view["milestones"]] == ["Design approved", "Build"]
    assert view["milestones"][1]["reschedules"][0]["reason"] == "vendor delay"


async def the_audit_trail_lists_every_event_with_its_actor(client: httpx.AsyncClient, base: str) -> None:
    audit = (await client.get(f"{base}/events", params={"limit": 100})).json()
    types = [e["type"] for e in audit["items"]]
    assert types == EVERY_EVENT
    assert all(
        e["actor"] == ("pat.pmo" if e["type"] == "project-registered" else "dora.director") and e["correlation_id"]
        for e in audit["items"]
    )


async def every_event_reaches_kafka_in_order_as_a_cloudevent_of_the_project(kafka: Any, pid: str) -> None:
    expected = EVERY_EVENT

    async def all_on_kafka() -> list[Any]:
        records = [r for r in await read_topic(kafka, "pmo.projects.v1", expect=0, timeout=1) if r.key == pid.encode()]
        assert len(records) == len(expected)
        return records

    records = await eventually(all_on_kafka, timeout=30)
    decoded = [from_record(r.topic, r.partition, r.offset, r.key, r.value, r.headers) for r in records]
    assert [e.name for e in decoded] == expected
    versions = {"milestone-planned": 2, "partner-registered": 2}  # as produced now (docs/consuming-events.md)
    assert [dict(r.headers)["ce_type"].decode() for r in records] == [
        f"pmo.projects.{t}.v{versions.get(t, 1)}" for t in expected
    ]
    assert {e.subject for e in decoded} == {f"project-{pid}"}
    assert len({r.partition for r in records}) == 1
    reached_event = decoded[expected.index("milestone-reached")].data
    assert reached_event["planned_value"] == {"amount": "120000.00", "currency": "EUR"}
    assert {"project_id", "milestone_id", "due_date", "reached_on", "name"} <= set(reached_event)


async def test_refused_commands_say_why_and_append_nothing(client) -> None:
    project = await register(client)
    base = f"/projects/{project['project_id']}"
    before = await event_count(client)
    problem = await refused(await client.post(f"{base}/complete", json={}), 409)
    assert "cannot complete a proposed project" in problem["detail"]
    await refused(await client.post(f"{base}/hold", json={}), 422, "reason")
    await refused(await client.post(f"{base}/approve", json={"approved_on": "2999-01-01"}), 422, "approved_on")
    await refused(await client.post(f"/projects/{uuid.uuid4()}/approve", json={}), 404)
    await refused(await client.post(f"{base}/milestones/{uuid.uuid4()}/progress", json={"percent_complete": "5"}), 404)
    await refused(await client.post(f"{base}/status-reports", json={"meeting_date": str(TODAY)}), 422, "schedule")
    await refused(
        await client.post(
            f"{base}/kpis",
            json={"name": "k", "unit": "%", "target": 1.5, "direction": "at_least", "review_date": str(TODAY)},
        ),
        422,
        "target",
    )
    assert await event_count(client) == before
    await ok(await client.post(f"{base}/terminate", json={"reason": "cancelled"}))
    after_termination = await event_count(client)
    problem = await refused(await client.post(f"{base}/approve", json={}), 409)
    assert "terminated" in problem["detail"]
    await refused(await client.post(f"{base}/milestones", json=milestone_body()), 409)
    assert await event_count(client) == after_termination


async def test_progress_backwards_needs_a_correction_reason_over_http(client) -> None:
    project = await register(client, planned_start=str(TODAY - timedelta(30)))
    base = f"/projects/{project['project_id']}"
    milestone = await ok(await client.post(f"{base}/milestones", json=milestone_body(due_date=str(TODAY))), 201)
    url = f"{base}/milestones/{milestone['milestone_id']}/progress"
    await ok(await client.post(url, json={"percent_complete": "60"}))
    await refused(await client.post(url, json={"percent_complete": "40"}), 422, "correction_reason")
    await refused(await client.post(url, json={"percent_complete": "101"}), 422, "percent_complete")
    await refused(await client.post(url, json={"percent_complete": 50.5}), 422, "percent_complete")
    corrected = await ok(await client.post(url, json={"percent_complete": "40", "correction_reason": "recount"}))
    assert corrected["percent_complete"] == "40"


async def test_registration_checks_the_portfolio_and_programme_exist_and_match(client) -> None:
    await refused(
        await client.post("/projects", json={**_minimal(), "portfolio_id": "no-such-portfolio"}), 404, "portfolio_id"
    )
    pf_a, pf_b = await portfolio(client), await portfolio(client)
    pg = f"pg-{uuid.uuid4().hex[:8]}"
    await ok(await client.post(f"/portfolios/{pf_a}/programmes", json={"programme_id": pg, "name": "P"}), 201)
    await refused(
        await client.post("/projects", json={**_minimal(), "portfolio_id": pf_b, "programme_id": pg}),
        422,
        "programme_id",
    )
    await refused(await client.post(f"/portfolios/{pf_a}/programmes", json={"programme_id": pg, "name": "P"}), 409)
    programmes = (await client.get(f"/portfolios/{pf_a}/programmes")).json()
    assert [p["grouping_id"] for p in programmes["items"]] == [pg]


def _minimal() -> dict[str, Any]:
    return {
        "code": f"C-{uuid.uuid4().hex[:6]}",
        "name": "n",
        "sponsor": "s",
        "manager": "m",
        "planned_start": "2027-01-01",
        "planned_end": "2027-02-01",
        "currency": "EUR",
    }


async def test_the_query_tables_are_a_projection_rebuilt_equal_from_the_event_table(client) -> None:
    from sqlalchemy import text

    from projects import domain
    from projects.tables import TABLES

    pf = await portfolio(client)
    for _ in range(3):
        project = await register(client, portfolio_id=pf, planned_start=str(TODAY - timedelta(10)))
        base = f"/projects/{project['project_id']}"
        await ok(await client.post(f"{base}/milestones", json=milestone_body(due_date=str(TODAY))), 201)
        await ok(await client.post(f"{base}/approve", json={}))

    runtime = client.app.state.runtime  # type: ignore[attr-defined]

    async def snapshot() -> list[Any]:
        async with runtime.engine.connect() as conn:
            projects = (await conn.execute(text("SELECT * FROM projects ORDER BY project_id"))).all()
            groupings = (await conn.execute(text("SELECT * FROM groupings ORDER BY kind, grouping_id"))).all()
            return [tuple(r) for r in projects] + [tuple(r) for r in groupings]

    live = await snapshot()
    rebuilt_streams = await runtime.executor.rebuild({"project": domain.PROJECT, "grouping": domain.GROUPING}, TABLES)
    assert rebuilt_streams == 4  # three projects and the portfolio
    assert await snapshot() == live


async def test_a_director_does_not_approve_her_own_project_and_acceptance_is_the_callers(client) -> None:
    dora_fullwidth = auth_header("\uff44ora.director", "director")
    body = project_body(manager="max.manager", planned_start=str(TODAY - timedelta(30)))
    created = await client.post("/projects", json=body)  # registered by dora
    assert created.status_code == 201, created.text
    base = f"/projects/{created.json()['project_id']}"
    before = await event_count(client)
    own = await refused(await client.post(f"{base}/approve", json={}), 409)
    assert own["title"] == "Separation of duties" and "registered project" in own["detail"]
    await refused(await client.post(f"{base}/approve", json={}, headers=dora_fullwidth), 409)
    manager = auth_header("max.manager", "director")
    assert (
        "manages project"
        in (await refused(await client.post(f"{base}/approve", json={}, headers=manager), 409))["detail"]
    )
    assert await event_count(client) == before
    approved = await ok(await client.post(f"{base}/approve", json={}, headers=auth_header("dirk.director", "director")))
    assert approved["status"] == "approved"
    await ok(await client.post(f"{base}/start", json={}))
    gate = {"gate": "G1", "decision": "continue", "rationale": "on track"}
    await refused(await client.post(f"{base}/gate-decisions", json=gate), 409)  # dora registered it
    m = await ok(await client.post(f"{base}/milestones", json=milestone_body(due_date=str(TODAY))), 201)
    url = f"{base}/milestones/{m['milestone_id']}/reached"
    await refused(await client.post(url, json={"accepted_by": "the.client"}), 422, "accepted_by")
    reached = await ok(await client.post(url, json={}, headers=auth_header("pat.pmo", "pmo")))
    assert reached["accepted_by"] == "pat.pmo"
