"""Underfunding risk over real Kafka and PostgreSQL: an unfunded milestone that fell due yesterday is still at risk
today (its alert raised on ``pmo.alerts.v1``, not cleared the day after its due date), the project report gives the
funding it needs for a risk of at most 5 % and the shortfall, the portfolio report its share of milestones at risk,
and funding that arrives today clears the alert (facts published as their services publish them)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.integration.conftest import service_client
from tests.support import auth_header, eventually
from tests.support.clock import TODAY
from tests.support.reporting import for_project, milestone, publish_facts, registered, secured, started

pytestmark = pytest.mark.integration

DIRECTOR = auth_header("dora.director", "director")


@pytest.fixture
async def reporting(infra: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with AsyncExitStack() as stack:
        yield await service_client(
            stack, "reporting", infra, DIRECTOR, evaluation_interval=0.05, full_evaluation_interval=3600
        )


async def test_an_overdue_unfunded_milestone_stays_at_risk_with_the_funding_it_needs(
    reporting: httpx.AsyncClient, kafka: Any
) -> None:
    """M1: 10000 EUR due yesterday, nothing earned or spent (CPI 1, no CPI history: cv 15 %), 4000 secured.
    Assessed today: needed 10000, sd 1500, risk = 1 - Phi(-4) = 0.999968 (shown 1.0000);
    funding needed (95 %) = 10000 + 1.644854 x 1500 = 12467.28; shortfall = 12467.28 - 4000 = 8467.28.
    9000 more secured from today: available 13000, risk = 1 - Phi(2) = 0.022750 < 5 %: the alert clears."""
    pid = uuid.uuid4()
    due = TODAY - timedelta(days=1)
    history = [
        registered(TODAY - timedelta(days=40)),
        started(TODAY - timedelta(days=30)),
        milestone(1, "10000.00", due, recorded=TODAY - timedelta(days=30)),
        secured("4000.00", TODAY - timedelta(days=20), recorded=TODAY - timedelta(days=25)),
    ]
    at = datetime.now(UTC) - timedelta(days=40)
    facts = [for_project(f, pid, at + timedelta(seconds=i)) for i, f in enumerate(history)]
    await publish_facts(kafka, facts)
    milestone_id = str(uuid.uuid5(pid, str(uuid.UUID(int=1))))

    async def at_risk() -> dict[str, Any]:
        report = (await reporting.get(f"/reports/projects/{pid}")).json()
        assert report.get("status") == "active" and report["underfunding_risk"], report
        assert report["underfunding_risk"][0]["available"] == "4000.00", report
        return dict(report)

    report = await eventually(at_risk, timeout=60)
    (risk,) = report["underfunding_risk"]
    assert (risk["milestone_id"], risk["due_date"], risk["assessed_on"]) == (milestone_id, str(due), str(TODAY))
    assert risk["overdue"] is True and risk["on_hold"] is False
    assert (risk["needed"], risk["probability"], risk["risk_limit"]) == ("10000.00", "1.0000", "0.0500")
    assert (risk["funding_needed_p95"], risk["shortfall"]) == ("12467.28", "8467.28")
    assert risk["inputs"]["spread"] == "1500.00" and risk["inputs"]["cv"] == "0.1500"

    # The day it fell due and a month later: still at risk (the first version dropped it the day after).
    for day in (due, TODAY + timedelta(days=30)):
        later = (await reporting.get(f"/reports/projects/{pid}", params={"as_of": str(day)})).json()
        assert [r["milestone_id"] for r in later["underfunding_risk"]] == [milestone_id], later
        assert later["underfunding_risk"][0]["funding_needed_p95"] == "12467.28"

    # The evaluator raised the alert today, the day after the due date, with the figures to act on.
    async def raised() -> dict[str, Any]:
        listed = (await reporting.get("/alerts", params={"project_id": str(pid), "status": "open"})).json()
        found = [a for a in listed["items"] if a["rule"] == "underfunding-risk"]
        assert found, listed
        # raised as soon as the milestone was known, updated once the tranche's topic was read too
        assert "8467.28 more to secure" in found[0]["title"], found[0]
        return dict(found[0])

    alert = await eventually(raised, timeout=30)
    assert alert["subject"] == f"milestone:{milestone_id}" and alert["severity"] == "critical"
    assert "is overdue and not funded" in alert["title"] and "8467.28 more to secure" in alert["title"]

    # The portfolio report counts it among the milestones at risk, with the amount to secure.
    portfolio = (await reporting.get("/reports/portfolio", params={"as_of": str(TODAY)})).json()
    (line,) = [row for row in portfolio["projects"] if row["project_id"] == str(pid)]
    assert (line["milestones_assessed"], line["milestones_at_risk"], line["to_secure"]) == (1, 1, "8467.28")
    share = portfolio["underfunding_risk"]
    assert share["milestones_at_risk"] >= 1 and share["milestones_assessed"] >= share["milestones_at_risk"]
    assert share["share_at_risk"] is not None

    # Funded today: the alert clears.
    await publish_facts(kafka, [for_project(secured("9000.00", TODAY), pid, datetime.now(UTC))])

    async def cleared() -> None:
        listed = (await reporting.get("/alerts", params={"project_id": str(pid)})).json()
        statuses = {a["rule"]: a["status"] for a in listed["items"]}
        assert statuses.get("underfunding-risk") == "cleared", statuses

    await eventually(cleared, timeout=30)
    funded = (await reporting.get(f"/reports/projects/{pid}")).json()
    (risk,) = funded["underfunding_risk"]
    assert (risk["available"], risk["probability"], risk["shortfall"]) == ("13000.00", "0.0228", "0.00")
