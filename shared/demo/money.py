"""The demo's money model: exchange rates, performance measurement baselines (one project re-baselined), a
software supplier paid in US dollars with its licences received and invoiced three ways, expense claims, and
estimates to complete.

Each project's PMB has one item per milestone and shows the four techniques a plan mixes: the design earns by
percent complete, the build 50/50, the tests by weighted steps (plan, execution, sign-off), the go-live 0/100. The
PMB adds up to the milestones' planned value plus the approved labour change; the budget's contingency is the
management reserve beside it, so the plan and the budget agree.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from shared.demo.api import Api, ok, retry

RATES = [  # (base, quote, rate, days before today it takes effect, source)
    ("USD", "EUR", "0.9210", 400, "ECB euro foreign exchange reference rate"),
    ("USD", "EUR", "0.9150", 60, "ECB euro foreign exchange reference rate"),
    ("GBP", "EUR", "1.1650", 400, "ECB euro foreign exchange reference rate"),
]
LICENCES = (2, 7)
"""Projects buying software licences from a US supplier, in US dollars."""
EXPENSES = {0: ("EUR", "640.00"), 3: ("USD", "1180.00"), 6: ("GBP", "412.50"), 9: ("EUR", "1275.40")}
"""Projects with a travel expense claim (currency and amount of the receipt)."""
ESTIMATES = (0, 5, 8, 11)
"""Projects whose manager submitted an estimate to complete."""
REBASELINED = 4
"""The project whose design slipped: rescheduled and re-baselined after a gate decision."""


def eur(amount: Decimal | int) -> dict[str, str]:
    return {"amount": f"{Decimal(amount):.2f}", "currency": "EUR"}


def record_rates(api: Api, today: date) -> None:
    finance = api.as_("budget", "fiona.finance", "finance")
    for base, quote, rate, days, source in RATES:
        on = today - timedelta(days=days)
        ok(finance.put(f"/exchange-rates/{base}/{quote}/{on}", json={"rate": rate, "source": source}))


def _items(milestones: list[dict[str, Any]], budgets: list[int], dues: list[date], start: date) -> list[dict[str, Any]]:
    items = []
    techniques = ["percent_complete", "50/50", "weighted_milestones", "0/100"]
    for i, (m, budget, due) in enumerate(zip(milestones, budgets, dues, strict=True)):
        begins = start if i == 0 else dues[i - 1]
        item: dict[str, Any] = {
            "milestone_id": m["milestone_id"],
            "budget": eur(budget),
            "start": str(begins),
            "due": str(due),
            "technique": techniques[i],
        }
        if techniques[i] == "weighted_milestones":
            span = (due - begins).days
            item["steps"] = [
                {"name": "test plan approved", "weight": "30", "on": str(begins + timedelta(days=span // 4))},
                {"name": "test execution", "weight": "50", "on": str(begins + timedelta(days=span * 3 // 4))},
                {"name": "sign-off", "weight": "20", "on": str(due)},
            ]
        items.append(item)
    return items


def baseline(
    api: Api,
    pid: str,
    index: int,
    milestones: list[dict[str, Any]],
    values: list[int],
    dues: list[date],
    start: date,
    change: int,
    reserve: int,
    today: date,
) -> None:
    """PMB version 1 from the project's start (the approved labour change adds to the build); the re-baselined
    project then slips its design, its director decides to continue at the gate, and version 2 moves the plan."""
    pmo = api.as_("projects", "pat.pmo", "pmo")
    director = api.as_("projects", "dora.director", "director")
    base = f"/projects/{pid}/baselines"
    budgets = [v + (change if i == 1 else 0) for i, v in enumerate(values)]
    proposal = {
        "effective_on": str(start),
        "items": _items(milestones, budgets, dues, start),
        "management_reserve": eur(reserve),
        "reason": "Initial performance measurement baseline",
    }
    first = ok(pmo.post(base, json=proposal), 201)
    ok(director.post(f"{base}/{first['version']}/approve", json={}))
    if index != REBASELINED:
        return
    design = milestones[0]["milestone_id"]
    slipped = today + timedelta(days=20)
    ok(
        director.post(
            f"/projects/{pid}/gate-decisions",
            json={
                "gate": "G2 - design",
                "decision": "continue",
                "rationale": "Supplier delay on the design; continue on a re-planned schedule",
                "decided_on": str(today - timedelta(days=8)),
            },
        ),
        201,
    )
    reschedule = {"due_date": str(slipped), "reason": "supplier delay on the design review"}
    ok(pmo.post(f"/projects/{pid}/milestones/{design}/reschedule", json=reschedule))
    later = [slipped if i == 0 else max(due, slipped + timedelta(days=30 * i)) for i, due in enumerate(dues)]
    replan = {
        "effective_on": str(today - timedelta(days=7)),
        "items": _items(milestones, budgets, later, start),
        "management_reserve": eur(reserve),
        "reason": "Re-baseline after the G2 decision: design slipped by the supplier delay",
    }
    second = ok(pmo.post(base, json=replan), 201)
    ok(director.post(f"{base}/{second['version']}/approve", json={}))


def licences(api: Api, pid: str, index: int, budget: int, today: date) -> None:
    """A US supplier's licences, in US dollars: committed, received (the licence keys delivered), invoiced
    against the receipt (3-way match), approved and paid; booked in euros at the dated rates."""
    finance = api.as_("budget", "fiona.finance", "finance")
    usd = budget * 8 // 10  # within the materials budget at about 0.92 EUR per USD
    commitment = ok(
        finance.post(
            f"/budgets/{pid}/commitments",
            json={
                "kind": "purchase_order",
                "vendor": "contoso",
                "reference": f"LIC-{index:03d}",
                "category": "materials",
                "amount": {"amount": f"{usd}.00", "currency": "USD"},
                "expected_invoices": [
                    {"on": str(today + timedelta(days=10)), "amount": {"amount": f"{usd}.00", "currency": "USD"}}
                ],
            },
        ),
        201,
    )
    clerk = api.as_("invoicing", "ivan.ap", "service")
    receiver = api.as_("invoicing", "pat.pmo", "pmo")
    received = {
        "commitment_id": commitment["commitment_id"],
        "category": "materials",
        "description": "annual licences, keys delivered and installed",
        "amount": {"amount": f"{usd}.00", "currency": "USD"},
        "received_on": str(today - timedelta(days=20)),
    }
    receipt = retry(lambda: receiver.post(f"/projects/{pid}/receipts", json=received))
    price = {"amount": f"{usd}.00", "currency": "USD"}
    invoice = ok(
        clerk.post(
            "/invoices",
            json={
                "project_id": pid,
                "vendor": "contoso",
                "number": f"CONTOSO-{today.year}-{index:03d}",
                "issued_on": str(today - timedelta(days=15)),
                "due_on": str(today + timedelta(days=15)),
                "currency": "USD",
                "commitment_reference": f"LIC-{index:03d}",
                "lines": [
                    {
                        "description": "annual licences",
                        "quantity": "1",
                        "unit_price": price,
                        "amount": price,
                        "tax_rate": "0",
                        "tax": {"amount": "0.00", "currency": "USD"},
                        "bills": [],
                        "receipts": [receipt["receipt_id"]],
                    }
                ],
                "total": price,
            },
        ),
        201,
    )
    url = f"/invoices/{invoice['invoice_id']}"
    retry(lambda: _matched(clerk.get(url)))
    ok(api.as_("invoicing", "fiona.finance", "finance").post(f"{url}/approve", json={}))
    ok(
        api.as_("invoicing", "tom.treasury", "finance").post(
            f"{url}/payments", json={"amount": price, "paid_on": str(today)}
        ),
        201,
    )


def _matched(response: Any) -> Any:
    """The invoice's answer, as a 404 until it is matched (so ``retry`` waits for the match)."""
    if response.status_code == 200 and response.json()["status"] == "received":
        response.status_code = 404
    return response


def expense(api: Api, pid: str, index: int, today: date) -> None:
    """A travel expense claimed by the team lead, approved by the PMO, reimbursed by treasury."""
    currency, amount = EXPENSES[index]
    claimant = api.as_("invoicing", "sam.lead", "resource-manager")
    claim = {
        "category": "travel",
        "description": "client workshop: travel and hotel",
        "amount": {"amount": amount, "currency": currency},
        "incurred_on": str(today - timedelta(days=12)),
        "receipt_reference": f"RCPT-{index:03d}-01",
    }
    claimed = retry(lambda: claimant.post(f"/projects/{pid}/expenses", json=claim))
    url = f"/projects/{pid}/expenses/{claimed['expense_id']}"
    ok(api.as_("invoicing", "pat.pmo", "pmo").post(f"{url}/approve", json={}))
    paid = {"paid_on": str(today), "reference": f"PAY-{index:03d}"}
    ok(api.as_("invoicing", "tom.treasury", "finance").post(f"{url}/reimburse", json=paid))


def estimate(api: Api, pid: str, labour: int, subcontracting: int, today: date) -> None:
    """The manager's estimate to complete, by category and over the next four months."""
    pmo = api.as_("budget", "pat.pmo", "pmo")
    total = labour + subcontracting
    months = []
    first = today.replace(day=1)
    for k in range(4):
        month = (first + timedelta(days=32 * k)).replace(day=1)
        share = total // 4 if k < 3 else total - 3 * (total // 4)
        months.append({"month": month.strftime("%Y-%m"), "amount": eur(share)})
    body = {
        "as_of": str(today),
        "categories": [
            {"category": "labour", "amount": eur(labour)},
            {"category": "subcontracting", "amount": eur(subcontracting)},
        ],
        "months": months,
        "note": "bottom-up from the team's remaining work packages",
    }
    ok(pmo.post(f"/budgets/{pid}/estimates", json=body), 201)
