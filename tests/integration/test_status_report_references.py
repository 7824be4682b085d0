"""Weekly status reports that refer to the project's RAID items, over HTTP, the real PostgreSQL and Kafka: the projects
service refuses an unknown item, an item of another kind or of another project (422 naming the list and position,
nothing appended) and records the ids on ``status-reported``; the reporting service, fed from the topic, lists the
report with its free text and each item's kind, title and status as the log stands now (a risk closed after the
meeting shows closed), and the dashboard's project page shows them."""

from __future__ import annotations

from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.integration.conftest import service_client
from tests.support import auth_header, eventually
from tests.support.clock import TODAY
from tests.support.http import ok, refused
from tests.support.projects import register
from tests.support.stored import event_count, stored_events

pytestmark = pytest.mark.integration
DIRECTOR = auth_header("dora.director", "director")


def report_body(**references: Any) -> dict[str, Any]:
    dimensions = {d: "green" for d in ("schedule", "cost", "scope", "quality", "resources")}
    return {
        "meeting_date": str(TODAY),
        **dimensions,
        "narrative": "vendor slipping",
        "risks": ["free text"],
        **references,
    }


async def active(projects: httpx.AsyncClient, **overrides: Any) -> str:
    pid = str((await register(projects, planned_start=str(TODAY - timedelta(30)), **overrides))["project_id"])
    await ok(await projects.post(f"/projects/{pid}/approve", json={}))
    await ok(await projects.post(f"/projects/{pid}/start", json={}))
    return pid


async def test_status_reports_refer_to_raid_items_and_reporting_shows_them(infra: Any) -> None:
    async with AsyncExitStack() as stack:
        # Reporting first: it reads the topics from their start while the projects service is used.
        reporting = await service_client(stack, "reporting", infra, DIRECTOR, full_evaluation_interval=3600)
        projects = await service_client(stack, "projects", infra, DIRECTOR)
        pid, other = await active(projects), await active(projects)
        raid = f"/projects/{pid}/raid"
        risk = await ok(
            await projects.post(
                f"{raid}/risks",
                json={
                    "title": "Vendor capacity",
                    "cause": "c",
                    "event": "e",
                    "effect": "f",
                    "probability": 4,
                    "impact": 3,
                    "money_impact": {"amount": "20000.00", "currency": "EUR"},
                    "owner": "j.doe",
                    "strategy": "mitigate",
                    "review_date": str(TODAY + timedelta(14)),
                },
            ),
            201,
        )
        issue = await ok(
            await projects.post(
                f"{raid}/issues",
                json={"title": "Env down", "severity": "high", "owner": "ops", "due_date": str(TODAY + timedelta(3))},
            ),
            201,
        )
        decision = await ok(
            await projects.post(
                f"{raid}/decisions", json={"title": "Second vendor", "decision": "Hire", "rationale": "Capacity"}
            ),
            201,
        )
        dependency = await ok(
            await projects.post(
                f"{raid}/dependencies",
                json={
                    "provider_project_id": other,
                    "needs": "Customer API",
                    "needed_by": str(TODAY + timedelta(60)),
                    "owner": "o",
                },
            ),
            201,
        )
        theirs = await ok(
            await projects.post(
                f"/projects/{other}/raid/decisions", json={"title": "Theirs", "decision": "d", "rationale": "r"}
            ),
            201,
        )

        before = await event_count(projects)
        base = f"/projects/{pid}/status-reports"
        for body, field in [
            (report_body(risk_ids=[risk["item_id"], theirs["item_id"]]), "risk_ids.1"),  # another project's
            (report_body(decision_ids=[theirs["item_id"]]), "decision_ids.0"),  # another project's
            (report_body(issue_ids=[risk["item_id"]]), "issue_ids.0"),  # a risk listed as an issue
            (report_body(risk_ids=[risk["item_id"], risk["item_id"]]), "risk_ids.1"),
            (report_body(dependency_ids=["not-an-id"]), "dependency_ids.0"),
            (report_body(risk_ids=[risk["item_id"]] * 51), "risk_ids"),
        ]:
            await refused(await projects.post(base, json=body), 422, field)
        assert await event_count(projects) == before  # nothing appended

        filed = await ok(
            await projects.post(
                base,
                json=report_body(
                    risk_ids=[risk["item_id"]],
                    issue_ids=[issue["item_id"]],
                    decision_ids=[decision["item_id"]],
                    dependency_ids=[dependency["item_id"]],
                ),
            ),
            201,
        )
        assert filed["risk_ids"] == [risk["item_id"]] and filed["dependency_ids"] == [dependency["item_id"]]
        assert filed["risks"] == ["free text"] and filed["assumption_ids"] == []
        plain = report_body(meeting_date=str(TODAY - timedelta(7)), narrative="the week before")
        await ok(await projects.post(base, json=plain), 201)  # free text alone, as before
        (recorded,) = [
            e
            for e in await stored_events(projects)
            if e.name == "status-reported" and e.data["narrative"] != plain["narrative"]
        ]
        assert recorded.data["issue_ids"] == [issue["item_id"]] and recorded.data["decision_ids"] == [
            decision["item_id"]
        ]
        await ok(
            await projects.post(f"{raid}/risks/{risk['item_id']}/close", json={"closure": "retired", "note": "staffed"})
        )

        expected = [
            ("risk", risk["item_id"], "Vendor capacity", "closed"),  # as the log stands now
            ("issue", issue["item_id"], "Env down", "open"),
            ("decision", decision["item_id"], "Second vendor", "logged"),
            ("dependency", dependency["item_id"], "Customer API", "open"),
        ]

        async def listed() -> dict[str, Any]:
            page = await ok(await reporting.get(f"/reports/projects/{pid}/status-reports"))
            assert page["total"] == 2, page
            latest = page["items"][0]
            seen = [(i["kind"], i["item_id"], i["title"], i["status"]) for i in latest["raid_items"]]
            assert seen == expected, seen
            return page

        page = await eventually(listed, timeout=120, interval=0.2)
        latest, earlier = page["items"]
        assert latest["narrative"] == "vendor slipping" and latest["risks"] == ["free text"]
        assert earlier["narrative"] == "the week before" and earlier["raid_items"] == []
        one = await ok(await reporting.get(f"/reports/projects/{pid}/status-reports", params={"limit": 1, "offset": 1}))
        assert [r["narrative"] for r in one["items"]] == ["the week before"] and one["total"] == 2
        await refused(await reporting.get(f"/reports/projects/{other}/status-reports", params={"limit": 0}), 422)

        html = (await reporting.get(f"/dashboard/projects/{pid}")).text
        assert "id='status-reports'" in html and "Vendor capacity" in html and "Customer API" in html
        assert "vendor slipping" in html and "free text" in html

        # Signing in keeps a dashboard page with a plain query (a risk map cell), and nothing else.
        token = DIRECTOR["Authorization"].removeprefix("Bearer ")
        cell = "/dashboard/risks?probability=4&impact=5"
        signed = await reporting.get("/dashboard/login", params={"token": token, "next": cell})
        assert signed.status_code == 303 and signed.headers["location"] == cell
        for elsewhere in ("https://evil.example/dashboard", "//evil.example", "/dashboard?x=<script>", "/alerts"):
            await refused(await reporting.get("/dashboard/login", params={"token": token, "next": elsewhere}), 422)
