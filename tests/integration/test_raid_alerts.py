"""RAID alerts and exposure over real Kafka and PostgreSQL: the RAID events and the project facts published as the
projects and budget services publish them; the reporting service raises an overdue response, a late dependency (the
provider's milestone fell due and is not reached) and a high exposure against the remaining budget, clears the
dependency's alert once the provider reaches its milestone (a provider's facts re-evaluate its dependants) and the
response's once it is completed, and reports the exposure per project, programme and portfolio (hand-computed) with
the probability-impact map and its drill-down."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from reporting.domain.ledger import Fact
from shared.contracts import projects as p
from shared.contracts import raid
from shared.events import DomainEvent
from shared.money import Money
from tests.integration.conftest import service_client
from tests.support import auth_header, eventually
from tests.support.clock import TODAY
from tests.support.reporting import baseline, fact, for_project, milestone, publish_facts, reached, started

pytestmark = pytest.mark.integration

DIRECTOR = auth_header("dora.director", "director")


@pytest.fixture
async def reporting(infra: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with AsyncExitStack() as stack:
        yield await service_client(
            stack, "reporting", infra, DIRECTOR, evaluation_interval=0.05, full_evaluation_interval=3600
        )


def registered(pid: uuid.UUID, portfolio: str, programme: str) -> Fact:
    return fact(
        p.ProjectRegistered(
            project_id=pid,
            portfolio_id=portfolio,
            programme_id=programme,
            code=f"C-{pid.hex[:6]}",
            name="RAID test",
            objectives="",
            sponsor="s",
            manager="m",
            planned_start=TODAY - timedelta(40),
            planned_end=TODAY + timedelta(300),
            currency="EUR",
        ),
        TODAY - timedelta(40),
    )


def risk(pid: uuid.UUID, rid: uuid.UUID, probability: int, impact: int, amount: str) -> DomainEvent:
    return raid.RiskRaised(
        project_id=pid,
        risk_id=rid,
        title=f"risk {probability}x{impact}",
        cause="c",
        event="e",
        effect="f",
        assessment=raid.RiskAssessment(
            probability=probability,
            impact=impact,
            money_impact=Money.of(amount, "EUR"),
            owner="o",
            strategy=raid.RiskStrategy.MITIGATE,
            review_date=TODAY + timedelta(30),
        ),
        raised_on=TODAY - timedelta(10),
    )


async def test_raid_alerts_rise_and_clear_and_exposure_adds_up(reporting: httpx.AsyncClient, kafka: Any) -> None:
    """P (programme A): R1 3/5 x 50000.00 = 30000.00, R2 5/5 x 40000.00 = 40000.00: 70000.00, above half its
    remaining budget (100000.00 - 0): a warning. Q (programme B): R3 1/5 x 1000.00 = 200.00. Portfolio: 70200.00."""
    pid, qid = uuid.uuid4(), uuid.uuid4()
    portfolio = f"raid-{pid.hex[:8]}"
    r1, r2, r3, action, dependency = (uuid.uuid4() for _ in range(5))
    q_milestone = uuid.uuid5(qid, str(uuid.UUID(int=1)))  # for_project's id of milestone 1 of Q
    at = datetime.now(UTC) - timedelta(days=40)
    history: list[tuple[uuid.UUID, Fact]] = [
        (qid, registered(qid, portfolio, "prg-b")),
        (qid, started(TODAY - timedelta(30))),
        (qid, milestone(1, "10000.00", TODAY - timedelta(2), recorded=TODAY - timedelta(30))),
        (qid, fact(risk(qid, r3, 1, 2, "1000.00"), TODAY - timedelta(10))),
        (pid, registered(pid, portfolio, "prg-a")),
        (pid, started(TODAY - timedelta(30))),
        (pid, baseline("100000.00", TODAY - timedelta(30))),
        (pid, fact(risk(pid, r1, 3, 4, "50000.00"), TODAY - timedelta(10))),
        (pid, fact(risk(pid, r2, 5, 5, "40000.00"), TODAY - timedelta(10))),
        (
            pid,
            fact(
                raid.RiskResponsePlanned(
                    project_id=pid,
                    risk_id=r1,
                    action_id=action,
                    description="second vendor team",
                    owner="j.doe",
                    due_date=TODAY - timedelta(1),
                ),
                TODAY - timedelta(9),
            ),
        ),
        (
            pid,
            fact(
                raid.DependencyDeclared(
                    project_id=pid,
                    dependency_id=dependency,
                    provider_project_id=qid,
                    provider_milestone_id=q_milestone,
                    needs="Customer API",
                    needed_by=TODAY + timedelta(30),
                    owner="o",
                    declared_on=TODAY - timedelta(9),
                ),
                TODAY - timedelta(9),
            ),
        ),
    ]
    await publish_facts(kafka, [for_project(f, pid_, at + timedelta(seconds=i)) for i, (pid_, f) in enumerate(history)])

    async def open_alerts() -> dict[str, dict[str, Any]]:
        listed = (await reporting.get("/alerts", params={"project_id": str(pid), "status": "open"})).json()
        found = {a["rule"]: a for a in listed["items"] if a["rule"].startswith("raid-")}
        assert {"raid-response-overdue", "raid-dependency-late", "raid-exposure-high"} <= set(found), listed
        return found

    found = await eventually(open_alerts, timeout=240)
    overdue = found["raid-response-overdue"]
    assert overdue["subject"] == f"risk-action:{action}" and overdue["figures"]["days_overdue"] == 1
    late = found["raid-dependency-late"]
    assert late["subject"] == f"dependency:{dependency}" and late["severity"] == "warning"
    assert f"was due {TODAY - timedelta(2)}" in late["figures"]["reason"]
    high = found["raid-exposure-high"]
    assert (high["figures"]["exposure"], high["figures"]["remaining_budget"], high["severity"]) == (
        "70000.00",
        "100000.00",
        "warning",
    )

    # Q's risk is on another partition than P's records, and the RAID register reads its partitions on its own: the
    # alerts above say P's records are in, not yet Q's.
    async def raid_report() -> dict[str, Any]:
        report = (await reporting.get("/reports/raid", params={"portfolio_id": portfolio})).json()
        assert report["exposure"] == {"EUR": "70200.00"}, report
        return dict(report)

    report = await eventually(raid_report, timeout=60)
    assert {x["programme_id"]: x["exposure"] for x in report["programmes"]} == {
        "prg-a": {"EUR": "70000.00"},
        "prg-b": {"EUR": "200.00"},
    }
    assert report["portfolios"] == [{"portfolio_id": portfolio, "exposure": {"EUR": "70200.00"}}]
    assert [r["risk_id"] for r in report["top_risks"]] == [str(r2), str(r1), str(r3)]
    assert {(c["probability"], c["impact"]): c["count"] for c in report["map"] if c["count"]} == {
        (5, 5): 1,
        (3, 4): 1,
        (1, 2): 1,
    }
    cell = (await reporting.get("/reports/raid/map/3/4", params={"portfolio_id": portfolio})).json()
    assert [(r["risk_id"], r["exposure"]) for r in cell["risks"]] == [(str(r1), "30000.00")]
    project = (await reporting.get(f"/reports/projects/{pid}/raid")).json()
    assert project["exposure"] == {"EUR": "70000.00"} and project["open_risks"] == 2
    page = await reporting.get("/dashboard/risks", params={"portfolio_id": portfolio, "probability": 3, "impact": 4})
    assert page.status_code == 200 and "id='cell-risks'" in page.text and "70200.00" in page.text

    # The provider reaches its milestone (its own facts only): the dependant's alert clears; the response is done.
    later = datetime.now(UTC)
    done = fact(
        raid.RiskResponseCompleted(project_id=pid, risk_id=r1, action_id=action, completed_on=TODAY, note="staffed"),
        TODAY,
    )
    await publish_facts(
        kafka,
        [
            for_project(reached(1, "10000.00", TODAY), qid, later),
            for_project(done, pid, later + timedelta(seconds=1)),
        ],
    )

    async def cleared() -> None:
        listed = (await reporting.get("/alerts", params={"project_id": str(pid)})).json()
        statuses = {a["rule"]: a["status"] for a in listed["items"]}
        assert statuses.get("raid-dependency-late") == "cleared", statuses
        assert statuses.get("raid-response-overdue") == "cleared", statuses
        assert statuses.get("raid-exposure-high") == "open", statuses

    await eventually(cleared, timeout=180)
