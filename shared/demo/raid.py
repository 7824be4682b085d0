"""The demo portfolio's RAID logs: on the first project, a risk register (one risk with a response action already
overdue, one past its review date), an issue, an assumption, a decision, and a dependency on another project's
milestone that is late (overdue, or due after the date it is needed): every RAID alert rule fires somewhere."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx

from shared.demo.api import ok


def load_raid(pmo: httpx.Client, portfolio: str, today: date) -> int:
    """Enter the RAID log of the portfolio's first project; the number of items entered."""
    projects = ok(pmo.get("/projects", params={"portfolio_id": portfolio, "limit": 500}))["items"]
    projects = sorted(projects, key=lambda p: p["code"])
    if len(projects) < 2:
        return 0
    consumer, others = projects[0], projects[1:]
    raid = f"/projects/{consumer['project_id']}/raid"

    def risk(title: str, probability: int, impact: int, amount: int, review: date, **extra: Any) -> dict[str, Any]:
        body = {
            "title": title,
            "cause": extra.pop("cause", ""),
            "event": extra.pop("event", ""),
            "effect": extra.pop("effect", ""),
            "probability": probability,
            "impact": impact,
            "money_impact": {"amount": f"{amount}.00", "currency": consumer["currency"]},
            "owner": "margaret.hamilton",
            "strategy": extra.pop("strategy", "mitigate"),
            "review_date": str(review),
            "raised_on": str(today - timedelta(days=20)),
        }
        return ok(pmo.post(f"{raid}/risks", json=body), 201)

    vendor = risk(
        "Vendor capacity",
        4,
        4,
        90_000,
        today + timedelta(days=14),
        cause="The integrator staffs two other programmes",
        event="Its senior developers are not available in the next quarter",
        effect="Integration slips by a month",
    )
    ok(
        pmo.post(
            f"{raid}/risks/{vendor['item_id']}/responses",
            json={"description": "Book a second integrator", "owner": "pat.pmo", "due_date": str(today - timedelta(3))},
        ),
        201,
    )
    risk("Data migration quality", 2, 5, 40_000, today - timedelta(days=2), strategy="avoid")
    risk("Licence price rise", 3, 2, 15_000, today + timedelta(days=30), strategy="accept")
    ok(
        pmo.post(
            f"{raid}/issues",
            json={"title": "Test environment down", "severity": "high", "owner": "ops", "due_date": str(today)},
        ),
        201,
    )
    # a status report names the log's items instead of repeating them as free text (filed a day before the
    # project's latest meeting, which stays twelve days old: the demo's stale-status alert)
    ok(
        pmo.post(
            f"/projects/{consumer['project_id']}/status-reports",
            json={
                "meeting_date": str(today - timedelta(days=13)),
                "schedule": "amber",
                "cost": "amber",
                "scope": "green",
                "quality": "green",
                "resources": "amber",
                "narrative": "Integration at risk: the vendor's capacity is on the RAID log.",
                "risk_ids": [vendor["item_id"]],
            },
        ),
        201,
    )
    ok(pmo.post(f"{raid}/assumptions", json={"description": "The CRM API stays compatible", "owner": "arch"}), 201)
    ok(
        pmo.post(
            f"{raid}/decisions",
            json={"title": "Hosting", "decision": "Host on the group cloud", "rationale": "Existing contract"},
        ),
        201,
    )
    late = _late_milestone(others, today)
    if late is None:
        return 6
    provider, milestone = late
    needed_by = min(date.fromisoformat(milestone["due_date"]) - timedelta(days=7), today + timedelta(days=30))
    ok(
        pmo.post(
            f"{raid}/dependencies",
            json={
                "provider_project_id": provider["project_id"],
                "provider_milestone_id": milestone["milestone_id"],
                "needs": f"{milestone['name']} of {provider['code']}",
                "needed_by": str(needed_by),
                "owner": "margaret.hamilton",
            },
        ),
        201,
    )
    return 7


def _late_milestone(projects: list[dict[str, Any]], today: date) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """An open milestone of another project: an overdue one if any, else the next one due (needed a week before
    it is due, so its forecast is after the needed-by date)."""
    open_ = [(p, m) for p in projects for m in p.get("milestones", []) if m.get("status") == "planned"]
    if not open_:
        return None
    overdue = [(p, m) for p, m in open_ if date.fromisoformat(m["due_date"]) < today]
    return (overdue or sorted(open_, key=lambda pm: pm[1]["due_date"]))[0]
