"""Reporting's status reports: the RAID items a report refers to, folded from the log's events (kind, title, status
as the log stands now), listed by kind beside the report's free text; the dashboard's section escapes what it
shows."""

from __future__ import annotations

import uuid
from datetime import date

from reporting.dashboard_status import status_section
from reporting.views.status import raid_items, report_view
from shared.contracts import projects as p
from shared.contracts import raid as ev
from shared.events import DomainEvent
from shared.money import Money

PID = uuid.UUID(int=1)
RISK, ISSUE, ASSUMPTION, DECISION, DEPENDENCY, NEVER_SEEN = (uuid.UUID(int=n) for n in range(11, 17))
DAY = date(2027, 3, 1)


def log() -> list[DomainEvent]:
    assessment = ev.RiskAssessment(
        probability=3,
        impact=4,
        money_impact=Money.of("1000.00", "EUR"),
        owner="o",
        strategy=ev.RiskStrategy.MITIGATE,
        review_date=DAY,
    )
    return [
        ev.RiskRaised(
            project_id=PID,
            risk_id=RISK,
            title="Vendor",
            cause="",
            event="",
            effect="",
            assessment=assessment,
            raised_on=DAY,
        ),
        ev.IssueRaised(
            project_id=PID,
            issue_id=ISSUE,
            title="Env <down>",
            description="",
            severity=ev.IssueSeverity.HIGH,
            owner="ops",
            raised_on=DAY,
            due_date=DAY,
        ),
        ev.AssumptionRecorded(
            project_id=PID, assumption_id=ASSUMPTION, description="API stable", owner="a", recorded_on=DAY
        ),
        ev.DecisionLogged(
            project_id=PID,
            decision_id=DECISION,
            title="Cloud",
            decision="d",
            decided_by="x",
            decided_on=DAY,
            rationale="",
        ),
        ev.DependencyDeclared(
            project_id=PID,
            dependency_id=DEPENDENCY,
            provider_project_id=uuid.UUID(int=2),
            provider_milestone_id=None,
            needs="Customer API",
            needed_by=DAY,
            owner="o",
            declared_on=DAY,
        ),
        ev.RiskClosed(project_id=PID, risk_id=RISK, closed_on=DAY, closure=ev.RiskClosure.RETIRED, note=""),
        ev.IssueResolved(project_id=PID, issue_id=ISSUE, resolved_on=DAY, resolution="fixed"),
        ev.AssumptionValidated(project_id=PID, assumption_id=ASSUMPTION, holds=False, validated_on=DAY, note=""),
        ev.DependencyClosed(
            project_id=PID,
            dependency_id=DEPENDENCY,
            provider_project_id=uuid.UUID(int=2),
            outcome=ev.DependencyOutcome.MET,
            closed_on=DAY,
            note="",
        ),
    ]


def report(**references: list[uuid.UUID]) -> p.StatusReported:
    green = p.Rag.GREEN
    return p.StatusReported(
        project_id=PID,
        report_id=uuid.UUID(int=99),
        meeting_date=DAY,
        schedule=green,
        cost=p.Rag.AMBER,
        scope=green,
        quality=green,
        resources=green,
        overall=p.Rag.AMBER,
        overall_overridden=False,
        override_reason=None,
        narrative="slipping",
        decisions=["go"],
        risks=["free text"],
        next_steps=[],
        **references,
    )


def test_each_item_has_its_kind_title_and_status_as_the_log_stands_now() -> None:
    items = raid_items(log())
    assert items[RISK] == {"kind": "risk", "title": "Vendor", "status": "closed"}
    assert items[ISSUE] == {"kind": "issue", "title": "Env <down>", "status": "closed"}
    assert items[ASSUMPTION] == {"kind": "assumption", "title": "API stable", "status": "invalid"}
    assert items[DECISION] == {"kind": "decision", "title": "Cloud", "status": "logged"}
    assert items[DEPENDENCY] == {"kind": "dependency", "title": "Customer API", "status": "met"}
    assert raid_items(log()[:5])[RISK]["status"] == "open"


def test_a_report_lists_its_items_by_kind_beside_its_free_text_and_never_drops_one_not_yet_known() -> None:
    filed = report(decision_ids=[DECISION], risk_ids=[NEVER_SEEN, RISK], dependency_ids=[DEPENDENCY])
    view = report_view(filed, raid_items(log()), "2027-03-01T10:00:00+00:00")
    assert [(i["kind"], i["title"], i["status"]) for i in view["raid_items"]] == [
        ("risk", None, "unknown"),
        ("risk", "Vendor", "closed"),
        ("decision", "Cloud", "logged"),
        ("dependency", "Customer API", "met"),
    ]
    assert view["risks"] == ["free text"] and view["decisions"] == ["go"] and view["overall"] == "amber"
    assert report_view(report(), {}, "")["raid_items"] == []


def test_the_dashboard_section_shows_the_items_escaped_and_says_when_there_is_no_report() -> None:
    filed = report(issue_ids=[ISSUE])
    view = report_view(filed, raid_items(log()), "2027-03-01T10:00:00+00:00")
    section = status_section({"items": [view], "total": 4})
    assert "Env &lt;down&gt;" in section and "<down>" not in section
    assert "free text" in section and "slipping" in section and "4 reports in all" in section
    assert "No status report yet" in status_section({"items": [], "total": 0})
