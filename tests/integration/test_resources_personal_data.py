"""Personal data over HTTP against the real PostgreSQL and Kafka: names and contact details never enter an event, a
stored answer or a Kafka record; erasing a person leaves every event and every cost intact and the name gone."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from shared.kafka import from_record
from tests.support import auth_header, eventually, read_topic
from tests.support.clock import TODAY
from tests.support.http import ok
from tests.support.resources import APPROVER, project_known, register_resource, resources_client

pytestmark = pytest.mark.integration
LAST_WEEK = TODAY - timedelta(days=TODAY.weekday() + 7)
NAME, EMAIL, PHONE = "Ada Lovelace", "ada.lovelace@example.org", "+44 20 7946 0123"
PERSONAL = (NAME, "Lovelace", EMAIL, PHONE)


@pytest.fixture
async def client(infra, schema) -> AsyncIterator[httpx.AsyncClient]:
    async with resources_client(infra, schema) as c:
        yield c


async def every_row_as_text(client: httpx.AsyncClient) -> str:
    """Every row of every table of the service's schema, as text: where a name could hide."""
    async with client.app.state.runtime.engine.connect() as conn:  # type: ignore[attr-defined]
        tables = (
            await conn.execute(
                text("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
            )
        ).scalars()
        dump = []
        for table in list(tables):
            rows = await conn.execute(text(f'SELECT t::text FROM "{table}" t'))
            dump.extend(f"{table}: {r[0]}" for r in rows)
    return "\n".join(dump)


async def events(client: httpx.AsyncClient) -> list[tuple[Any, ...]]:
    async with client.app.state.runtime.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = await conn.execute(
            text("SELECT event_id, name, version, partition_key, data, metadata FROM events ORDER BY position")
        )
        return [tuple(r) for r in rows]


async def test_erasing_a_person_leaves_every_event_and_cost_intact_and_the_name_gone(client, kafka) -> None:
    body, key, rid, base, project, rate = await a_person_registered_rated_skilled_allocated_and_paid_for(client)
    before_events, costs_before = await names_live_only_in_the_erasable_table(client, project)
    after_events = await erasing_appends_only_the_erasure_and_leaves_no_name_anywhere(client, base, rid, before_events)
    await costs_allocations_and_sheets_stay_with_a_null_name(client, base, rid, project, rate, costs_before)
    await neither_a_replayed_registration_nor_an_update_brings_the_name_back(client, body, key, base, rid, after_events)
    await every_event_reaches_kafka_with_the_approved_cost_and_never_the_name(kafka, rid)


async def a_person_registered_rated_skilled_allocated_and_paid_for(
    client: httpx.AsyncClient,
) -> tuple[dict[str, Any], dict[str, str], str, str, str, dict[str, Any]]:
    """Ada registered (with an Idempotency-Key), at 92.50 EUR an hour, with a skill, allocated to a project's
    milestone, her 30 hours of last week approved; returns the registration body and key, her id and URL, the
    project and the rate."""
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {
        "kind": "person",
        "name": NAME,
        "email": EMAIL,
        "phone": PHONE,
        "role": "developer",
        "department": "engineering",
        "weekly_capacity_hours": "40",
        "currency": "EUR",
    }
    registered = await ok(await client.post("/resources", json=body, headers=key), 201)
    rid = registered["resource_id"]
    base = f"/resources/{rid}"
    assert registered["name"] == NAME
    project, (milestone,) = await project_known(client)
    rate = {"hourly_rate": {"amount": "92.50", "currency": "EUR"}, "effective_from": "2020-01-01"}
    await ok(await client.post(f"{base}/rates", json=rate), 201)
    await ok(await client.post(f"{base}/skills", json={"skill": "Analytical engines", "level": "expert"}), 201)
    allocation = {
        "project_id": project,
        "milestone_id": milestone,
        "hours_per_week": "20",
        "starts_on": str(LAST_WEEK),
        "ends_on": str(LAST_WEEK + timedelta(days=60)),
    }
    await ok(await client.post(f"{base}/allocations", json=allocation), 201)
    entries = [{"day": str(LAST_WEEK + timedelta(days=i)), "hours": "7.5", "milestone_id": milestone} for i in range(4)]
    sheet = await ok(
        await client.post(
            f"{base}/work-sheets",
            json={"project_id": project, "week": LAST_WEEK.strftime("%G-W%V"), "entries": entries},
        ),
        201,
    )
    await ok(
        await client.post(
            f"{base}/work-sheets/{sheet['sheet_id']}/approve",
            json={},
            headers=auth_header(APPROVER, "resource-manager"),
        )
    )
    return body, key, rid, base, project, rate


async def names_live_only_in_the_erasable_table(
    client: httpx.AsyncClient, project: str
) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    """Names and contact details are only in ``people``; returns the events and the project's costs so far."""
    dump = await every_row_as_text(client)
    assert [line.split(":")[0] for line in dump.splitlines() if NAME in line] == ["people"]
    assert all(p not in line for p in PERSONAL for line in dump.splitlines() if not line.startswith("people:"))
    before_events = await events(client)
    costs_before = await ok(await client.get(f"/projects/{project}/costs"))
    assert costs_before["totals"][0]["cost"] == {"amount": "2775.00", "currency": "EUR"}  # 30 h x 92.50
    assert costs_before["by_resource"][0]["name"] == NAME
    return before_events, costs_before


async def erasing_appends_only_the_erasure_and_leaves_no_name_anywhere(
    client: httpx.AsyncClient, base: str, rid: str, before_events: list[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """``personal-data-erased`` (the id only) follows the untouched history; no table holds the name any more."""
    erased = await client.delete(f"{base}/personal-data")
    assert erased.status_code == 204 and erased.content == b""
    after_events = await events(client)
    assert after_events[: len(before_events)] == before_events  # history untouched
    (erasure,) = after_events[len(before_events) :]
    assert (erasure[1], erasure[3], erasure[4]) == (
        "personal-data-erased",
        f"resource:{rid}",
        {"resource_id": rid, "erased_on": str(TODAY)},
    )
    dump = await every_row_as_text(client)
    assert all(p not in dump for p in PERSONAL), [
        line for line in dump.splitlines() if any(p in line for p in PERSONAL)
    ]
    return after_events


async def costs_allocations_and_sheets_stay_with_a_null_name(
    client: httpx.AsyncClient, base: str, rid: str, project: str, rate: dict[str, Any], costs_before: dict[str, Any]
) -> None:
    """Every cost, allocation and sheet of the person stays as it was, under her id, with a null name."""
    costs_after = await ok(await client.get(f"/projects/{project}/costs"))
    assert costs_after["totals"] == costs_before["totals"]
    assert costs_after["by_milestone"] == costs_before["by_milestone"]
    assert costs_after["by_resource"] == [{**costs_before["by_resource"][0], "name": None}]
    view = await ok(await client.get(base))
    assert view["name"] is None and view["personal_data_erased_on"] == str(TODAY)
    assert view["rates"] == registered_rates(rate) and view["allocations"][0]["hours_per_week"] == "20"
    gone = await client.get(f"{base}/personal-data")  # erased by the DELETE: no representation left (RFC 9110)
    assert gone.status_code == 404 and gone.headers["content-type"] == "application/problem+json"
    assert f"erased on {TODAY}" in gone.json()["detail"]
    who = await ok(await client.get("/allocations", params={"project_id": project}))
    assert [(a["resource_id"], a["name"]) for a in who["items"]] == [(rid, None)]
    sheets = await ok(await client.get(f"{base}/work-sheets"))
    assert sheets["items"][0]["approved_cost"] == {"amount": "2775.00", "currency": "EUR"}


async def neither_a_replayed_registration_nor_an_update_brings_the_name_back(
    client: httpx.AsyncClient,
    body: dict[str, Any],
    key: dict[str, str],
    base: str,
    rid: str,
    after_events: list[tuple[Any, ...]],
) -> None:
    """A replayed registration answers without the name; an update is refused; erasing again records nothing."""
    replay = await client.post("/resources", json=body, headers=key)
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["resource_id"] == rid and replay.json()["name"] is None
    refused = await client.put(f"{base}/personal-data", json={"name": NAME})
    assert refused.status_code == 409 and refused.headers["content-type"] == "application/problem+json"
    assert (await client.delete(f"{base}/personal-data")).status_code == 204
    assert len(await events(client)) == len(after_events)
    dump = await every_row_as_text(client)
    assert all(p not in dump for p in PERSONAL)


async def every_event_reaches_kafka_with_the_approved_cost_and_never_the_name(kafka: Any, rid: str) -> None:
    """On Kafka: every event of the resource, the approved cost among them, and never the name."""
    expected = [
        "resource-registered",
        "rate-set",
        "skill-recorded",
        "resource-allocated",
        "work-sheet-submitted",
        "work-sheet-approved",
        "personal-data-erased",
    ]

    async def published() -> list[Any]:
        records = await read_topic(kafka, "pmo.resources.v1", expect=0, timeout=1)
        mine = [r for r in records if dict(r.headers)["ce_subject"] == f"resource-{rid}".encode()]
        assert len(mine) == len(expected)
        return mine

    records = await eventually(published, timeout=30)
    records.sort(key=lambda r: int(dict(r.headers)["ce_streamversion"]))
    decoded = [from_record(r.topic, r.partition, r.offset, r.key, r.value, r.headers) for r in records]
    assert [e.name for e in decoded] == expected
    assert decoded[5].data["cost"] == {"amount": "2775.00", "currency": "EUR"}
    assert all(p.encode() not in r.value + b"".join(v for _, v in r.headers) for p in PERSONAL for r in records)


def registered_rates(rate: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"effective_from": rate["effective_from"], "hourly_rate": rate["hourly_rate"]}]


async def test_contact_details_are_updated_outside_the_events(client) -> None:
    resource = await register_resource(client, name="Grace Hopper", email=None, phone=None)
    base = f"/resources/{resource['resource_id']}"
    updated = await ok(await client.put(f"{base}/personal-data", json={"name": "Grace B. Hopper", "email": EMAIL}))
    assert updated["name"] == "Grace B. Hopper" and updated["email"] == EMAIL and updated["phone"] is None
    assert (await ok(await client.get(base)))["name"] == "Grace B. Hopper"
    async with client.app.state.runtime.engine.connect() as conn:  # type: ignore[attr-defined]
        assert (await conn.execute(text("SELECT count(*) FROM events"))).scalar_one() == 1
    missing = await client.put(f"/resources/{uuid.uuid4()}/personal-data", json={"name": "x"})
    assert missing.status_code == 404
    bad = await client.put(f"{base}/personal-data", json={"name": "x", "email": "nope"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "email"
