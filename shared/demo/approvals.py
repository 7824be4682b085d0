"""The demo portfolio's pending approvals, so that the approvals inbox (``GET /approvals``) has something for each
deciding role: a budget change request and a commitment over its category waiting for a second finance user
(``carl.controller``; ``fiona.finance`` requested them), and a work sheet waiting for a resource manager
(``rita.rm``; ``sam.lead`` submitted it). None of them changes a report until it is decided."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from shared.demo.api import Api, ok, retry


def load_approvals(api: Api, portfolio: str, people: list[dict[str, Any]], today: date) -> int:
    """Leave decisions waiting on the portfolio's projects; the number of items left pending."""
    pmo = api.as_("projects", "pat.pmo", "pmo")
    projects = sorted(
        ok(pmo.get("/projects", params={"portfolio_id": portfolio, "limit": 500}))["items"], key=lambda p: p["code"]
    )
    by_code = {p["code"]: p["project_id"] for p in projects}
    if "APP" not in by_code or "CRM" not in by_code:
        return 0
    finance = api.as_("budget", "fiona.finance", "finance")
    app = by_code["APP"]

    def eur(amount: int) -> dict[str, str]:
        return {"amount": f"{amount}.00", "currency": "EUR"}

    reason = "security review found two more integrations to test"
    body = {"category": "labour", "amount": eur(12000), "reason": reason}
    ok(finance.post(f"/budgets/{app}/change-requests", json=body), 201)
    # a stricter policy applies at once; the purchase order then overruns its category and waits for approval
    ok(finance.put(f"/budgets/{app}/overrun-policy", json={"policy": "require_approval"}))
    order = {
        "kind": "purchase_order",
        "vendor": "Contoso Hardware",
        "reference": "PO-APP-HW",
        "category": "materials",
        "amount": eur(250000),
        "expected_invoices": [{"on": str(today + timedelta(days=30)), "amount": eur(250000)}],
    }
    ok(finance.post(f"/budgets/{app}/commitments", json=order), 201)

    # a sheet of the CRM team's first person, four weeks back (the demo's approved sheets cover the three weeks
    # before), submitted and not reviewed yet
    lead = api.as_("resources", "sam.lead", "resource-manager")
    person = next(p for p in people if p["kind"] == "person")
    monday = today - timedelta(days=today.weekday()) - timedelta(weeks=4)
    year, week, _ = monday.isocalendar()
    entries = [{"day": str(monday + timedelta(days=d)), "milestone_id": None, "hours": "3"} for d in range(5)]
    sheet = {"project_id": by_code["CRM"], "week": f"{year}-W{week:02d}", "entries": entries}
    retry(lambda: lead.post(f"/resources/{person['resource_id']}/work-sheets", json=sheet))
    return 3
