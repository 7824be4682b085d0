"""The RAID log over HTTP against the real PostgreSQL: items entered and read back with the log's ETag, every bad
input refused naming its field with nothing appended (probability or impact outside 1-5, a negative money impact or
one in another currency, a response due before its risk was raised, a dependency on itself, on an unknown project or
closing a cycle, a stale If-Match), and the RAID events on the stream of the log, not of the project."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.support.clock import TODAY
from tests.support.http import ok, refused
from tests.support.projects import register
from tests.support.stored import event_count, stored_events

pytestmark = pytest.mark.integration


def risk_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Vendor capacity",
        "cause": "The vendor staffs two other programmes",
        "event": "Key developers are not available",
        "effect": "Integration slips by a month",
        "probability": 3,
        "impact": 4,
        "money_impact": {"amount": "50000.00", "currency": "EUR"},
        "owner": "j.doe",
        "strategy": "mitigate",
        "review_date": str(TODAY + timedelta(14)),
    }
    body.update(overrides)
    return body


async def test_a_raid_log_is_kept_with_its_etag_and_bad_input_appends_nothing(client: httpx.AsyncClient) -> None:
    pid = (await register(client))["project_id"]
    other = (await register(client, code="OTHER-1"))["project_id"]
    third = (await register(client, code="THIRD-1"))["project_id"]
    raid = f"/projects/{pid}/raid"

    empty = await client.get(raid)
    assert empty.status_code == 200 and empty.headers["etag"] == '"0"' and empty.json()["risks"] == []

    raised = await client.post(f"{raid}/risks", json=risk_body(raised_on=str(TODAY - timedelta(3))))
    risk = await ok(raised, 201)
    assert raised.headers["etag"] == '"1"' and raised.headers["location"].endswith(risk["item_id"])
    assert (risk["probability"], risk["impact"], risk["score"], risk["status"]) == (3, 4, 12, "open")

    before = await event_count(client)
    for body, status, field in [
        (risk_body(probability=6), 422, "probability"),
        (risk_body(impact=0), 422, "impact"),
        (risk_body(money_impact={"amount": "-1.00", "currency": "EUR"}), 422, "money_impact"),
        (risk_body(money_impact={"amount": "1.00", "currency": "USD"}), 422, "money_impact"),
        (risk_body(review_date=str(TODAY - timedelta(1))), 422, "review_date"),
        (risk_body(strategy="ignore"), 422, "strategy"),
    ]:
        await refused(await client.post(f"{raid}/risks", json=body), status, field)
    responses = f"{raid}/risks/{risk['item_id']}/responses"
    await refused(
        await client.post(responses, json={"description": "x", "owner": "o", "due_date": str(TODAY - timedelta(4))}),
        422,
        "due_date",
    )
    stale = await client.post(
        f"{raid}/assumptions", json={"description": "API stable", "owner": "arch"}, headers={"If-Match": '"0"'}
    )
    await refused(stale, 412)
    await refused(await client.post(f"{raid}/dependencies", json=dependency(pid)), 422, "provider_project_id")
    unknown = "00000000-0000-7000-8000-000000000001"
    await refused(await client.post(f"{raid}/dependencies", json=dependency(unknown)), 422, "provider_project_id")
    assert await event_count(client) == before  # nothing appended

    planned = await client.post(
        responses,
        json={"description": "Book a second team", "owner": "j.doe", "due_date": str(TODAY)},
        headers={"If-Match": '"1"'},
    )
    assert planned.status_code == 201 and planned.headers["etag"] == '"2"'
    assert [a["description"] for a in planned.json()["actions"]] == ["Book a second team"]

    # pid needs other, other needs third; third needing pid closes the cycle and is refused with it
    await ok(await client.post(f"{raid}/dependencies", json=dependency(other)), 201)
    await ok(await client.post(f"/projects/{other}/raid/dependencies", json=dependency(third)), 201)
    before = await event_count(client)
    cycle = await refused(
        await client.post(f"/projects/{third}/raid/dependencies", json=dependency(pid)), 422, "provider_project_id"
    )
    assert f"{third} -> {pid} -> {other} -> {third}" in cycle["detail"]
    assert await event_count(client) == before

    issue = await ok(
        await client.post(
            f"{raid}/issues",
            json={
                "title": "Env down",
                "severity": "high",
                "owner": "ops",
                "due_date": str(TODAY),
                "risk_id": risk["item_id"],
            },
        ),
        201,
    )
    decision = await ok(
        await client.post(
            f"{raid}/decisions", json={"title": "Cloud", "decision": "Group cloud", "rationale": "Contract"}
        ),
        201,
    )
    assert decision["decided_by"] == "dora.director" and decision["decided_on"] == str(TODAY)

    log = await client.get(raid)
    assert log.headers["etag"] == '"5"'
    body = log.json()
    assert [len(body[k]) for k in ("risks", "issues", "assumptions", "decisions", "dependencies")] == [1, 1, 0, 1, 1]
    listed = await ok(await client.get(f"{raid}/items", params={"kind": "issue", "status": "open"}))
    assert [i["item_id"] for i in listed["items"]] == [issue["item_id"]] and listed["total"] == 1
    await refused(await client.get(f"{raid}/items", params={"kind": "rumour"}), 422, "kind")

    names = [(e.name, e.data.get("project_id")) for e in await stored_events(client) if e.partition_key == pid]
    assert ("risk-raised", pid) in names and ("dependency-declared", pid) in names
    async with client.app.state.runtime.engine.connect() as conn:  # type: ignore[attr-defined]
        from sqlalchemy import text

        streams = {
            r.stream_id
            for r in await conn.execute(
                text("SELECT DISTINCT stream_id FROM events WHERE name LIKE 'risk-%' AND partition_key = :p"),
                {"p": pid},
            )
        }
    assert streams == {f"raid-{pid}"}


def dependency(provider: str) -> dict[str, Any]:
    return {
        "provider_project_id": provider,
        "needs": "Customer API",
        "needed_by": str(TODAY + timedelta(60)),
        "owner": "o",
    }
