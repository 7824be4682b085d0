"""The demo portfolio: a realistic, deterministic portfolio loaded through the services' HTTP APIs.

Three programmes, twelve projects, ten people and three subcontractors, budgets, funding, commitments,
allocations, approved work sheets, weekly status reports, KPIs and partners; dates are relative to today so the
dashboard is alive whenever it is loaded. It is built so that every alert rule fires somewhere: underfunding risk,
CPI and SPI below 0.9, forecast overrun (VAC), commitments above budget, over-allocation, a missing weekly
status report, a KPI below target at review, and an overdue partner follow-up. Loading it twice adds nothing the
second time (it checks for its portfolio first).
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx

from shared.demo import money
from shared.demo.api import Api, DemoError, ok, retry
from shared.demo.approvals import load_approvals
from shared.demo.raid import load_raid

__all__ = ["DemoError", "load_demo"]

PORTFOLIO = "enterprise"
PROGRAMMES = {"digital": "Digital channels", "operations": "Operations excellence", "growth": "Market growth"}
PROJECT_NAMES = [
    ("CRM", "CRM replacement"),
    ("WEB", "Website relaunch"),
    ("APP", "Mobile app"),
    ("DWH", "Data warehouse"),
    ("ERP", "ERP upgrade"),
    ("SCM", "Supply chain visibility"),
    ("HR", "HR self-service"),
    ("SEC", "Security uplift"),
    ("MKT", "Spring campaign"),
    ("INT", "Market entry Iberia"),
    ("PRC", "Pricing engine"),
    ("LOY", "Loyalty programme"),
]
PEOPLE = [
    ("Ada Lovelace", "architect", 110),
    ("Grace Hopper", "developer", 95),
    ("Alan Turing", "developer", 95),
    ("Edsger Dijkstra", "developer", 90),
    ("Barbara Liskov", "analyst", 85),
    ("Donald Knuth", "analyst", 80),
    ("Margaret Hamilton", "project-manager", 100),
    ("Ken Thompson", "developer", 90),
    ("Frances Allen", "tester", 70),
    ("Tim Berners-Lee", "designer", 75),
]
CHANGE = 5000
"""The approved labour change every project's budget carries (its PMB includes it in the build)."""
SUBCONTRACTORS = [("Acme Consulting", "acme"), ("Globex Integration", "globex"), ("Initech Services", "initech")]


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def load_demo(urls: Mapping[str, str], today: date | None = None, seed: int = 7) -> str:
    """Load the demo portfolio into the running services at ``urls`` (service name -> base URL)."""
    today = today or date.today()
    rng = random.Random(seed)
    api = Api(urls)
    try:
        pmo = api.as_("projects", "pat.pmo", "pmo")
        director = api.as_("projects", "dora.director", "director")
        if any(p["grouping_id"] == PORTFOLIO for p in pmo.get("/portfolios", params={"limit": 500}).json()["items"]):
            return f"portfolio {PORTFOLIO} already exists: the demo is not loaded again"
        ok(pmo.post("/portfolios", json={"portfolio_id": PORTFOLIO, "name": "Enterprise portfolio"}))
        for slug, name in PROGRAMMES.items():
            ok(pmo.post(f"/portfolios/{PORTFOLIO}/programmes", json={"programme_id": slug, "name": name}))
        money.record_rates(api, today)
        people = _resources(api, today, rng)
        counts = {"projects": 0, "work_sheets": 0, "status_reports": 0}
        for index, (code, name) in enumerate(PROJECT_NAMES):
            counts_project = _project(api, pmo, director, index, code, name, today, rng, people)
            for key, value in counts_project.items():
                counts[key] = counts.get(key, 0) + value
        counts["raid_items"] = load_raid(pmo, PORTFOLIO, today)
        counts["pending_approvals"] = load_approvals(api, PORTFOLIO, people, today)
        return (
            f"demo portfolio loaded: {counts['projects']} projects, {len(people)} people and subcontractors, "
            f"{counts['work_sheets']} approved work sheets, {counts['status_reports']} status reports, "
            f"{counts['raid_items']} RAID items, {counts['pending_approvals']} pending approvals"
        )
    finally:
        api.close()


def _resources(api: Api, today: date, rng: random.Random) -> list[dict[str, Any]]:
    rm = api.as_("resources", "rita.rm", "resource-manager")
    people = []
    for name, role, rate in PEOPLE:
        person = ok(
            rm.post(
                "/resources",
                json={
                    "name": name,
                    "email": f"{name.split()[0].lower()}@example.com",
                    "kind": "person",
                    "role": role,
                    "department": "engineering" if role != "project-manager" else "pmo",
                    "weekly_capacity_hours": "40",
                    "currency": "EUR",
                },
            ),
            201,
        )
        ok(
            rm.post(
                f"/resources/{person['resource_id']}/rates",
                json={
                    "hourly_rate": {"amount": f"{rate}.00", "currency": "EUR"},
                    "effective_from": str(today - timedelta(400)),
                },
            )
        )
        people.append({**person, "rate": rate, "kind": "person"})
    for name, vendor in SUBCONTRACTORS:
        sub = ok(
            rm.post(
                "/resources",
                json={
                    "name": name,
                    "kind": "subcontractor",
                    "vendor_id": vendor,
                    "role": "subcontractor",
                    "department": "procurement",
                    "weekly_capacity_hours": "160",
                    "currency": "EUR",
                },
            ),
            201,
        )
        people.append({**sub, "rate": 0, "kind": "subcontractor", "vendor": vendor})
    return people


def _project(
    api: Api,
    pmo: httpx.Client,
    director: httpx.Client,
    index: int,
    code: str,
    name: str,
    today: date,
    rng: random.Random,
    people: list[dict[str, Any]],
) -> dict[str, int]:
    programme = list(PROGRAMMES)[index % 3]
    start = today - timedelta(days=70 + 10 * index)
    project = ok(
        pmo.post(
            "/projects",
            json={
                "code": code,
                "name": name,
                "objectives": f"{name}: deliver on time and on budget",
                "sponsor": "dora.director",
                "manager": "margaret.hamilton",
                "planned_start": str(start),
                "planned_end": str(start + timedelta(days=330)),
                "currency": "EUR",
                "portfolio_id": PORTFOLIO,
                "programme_id": programme,
            },
        ),
        201,
    )
    pid = project["project_id"]
    base = f"/projects/{pid}"
    ok(director.post(f"{base}/approve", json={"approved_on": str(start)}))
    ok(pmo.post(f"{base}/start", json={"started_on": str(start)}))
    values = [rng.choice([40, 60, 80, 120]) * 1000 for _ in range(4)]
    dues = [start + timedelta(days=45 + 75 * i) for i in range(4)]
    milestones = []
    for i, (value, due) in enumerate(zip(values, dues, strict=True)):
        milestones.append(
            ok(
                pmo.post(
                    f"{base}/milestones",
                    json={
                        "name": ["Design", "Build", "Test", "Go-live"][i],
                        "due_date": str(due),
                        "planned_value": {"amount": f"{value}.00", "currency": "EUR"},
                        "acceptance_criteria": "signed off by the sponsor",
                    },
                ),
                201,
            )
        )
    behind = index in (1, 4)  # schedule slips: SPI below 0.9
    overspent = index in (0, 5)  # costs run ahead of progress: CPI below 0.9, forecast overrun
    earned = 0
    for m, due, value in zip(milestones, dues, values, strict=True):
        if due <= today and not (behind or overspent):
            reached = {"reached_on": str(due)}  # accepted by the sponsor, who signs it off
            ok(director.post(f"{base}/milestones/{m['milestone_id']}/reached", json=reached))
            earned += value
        elif due <= today + timedelta(days=75):
            percent = 30 if behind else 25 if overspent else rng.choice([40, 50, 60])
            progress = {"percent_complete": str(percent), "as_of": str(today - timedelta(days=1))}
            ok(pmo.post(f"{base}/milestones/{m['milestone_id']}/progress", json=progress))
            earned += value * percent // 100
            if behind or overspent:
                break
    reports = 0
    stale = index == 2  # no weekly meeting for 12 days
    last = today - timedelta(days=12 if stale else 3)
    for week in range(4):
        meeting = last - timedelta(weeks=week)
        cost = "red" if index in (0, 5) else rng.choice(["green", "green", "amber"])
        ok(
            pmo.post(
                f"{base}/status-reports",
                json={
                    "meeting_date": str(meeting),
                    "schedule": "amber" if behind else "green",
                    "cost": cost,
                    "scope": "green",
                    "quality": "green",
                    "resources": "amber" if index == 3 else "green",
                    "narrative": f"Week {_iso_week(meeting)}: progress as planned on the main work packages.",
                    "decisions": ["continue"],
                    "risks": ["supplier capacity"],
                    "next_steps": ["prepare the next gate"],
                },
            ),
            201,
        )
        reports += 1
    if index in (8, 11):  # a marketing KPI below its 80 % target at review
        kpi = ok(
            pmo.post(
                f"{base}/kpis",
                json={
                    "name": "Campaign reach",
                    "unit": "%",
                    "target": "80",
                    "direction": "at_least",
                    "review_date": str(today - timedelta(2)),
                },
            ),
            201,
        )
        ok(
            pmo.post(
                f"{base}/kpis/{kpi['kpi_id']}/measurements",
                json={"value": "76.5" if index == 8 else "84", "measured_on": str(today - timedelta(3))},
            ),
            201,
        )
    partner = ok(
        pmo.post(
            f"{base}/partners",
            json={
                "name": "Client steering group",
                "kind": "external_partner",
                "organisation": "Client",
                "role": "steering",
            },
        ),
        201,
    )
    follow_up = today - timedelta(days=4) if index == 6 else today + timedelta(days=7)
    ok(
        pmo.post(
            f"{base}/communications",
            json={
                "partner_id": partner["partner_id"],
                "on": str(today - timedelta(days=10)),
                "channel": "meeting",
                "summary": "Steering committee",
                "follow_up_due": str(follow_up),
            },
        ),
        201,
    )
    committed, materials = _budget(api, pid, index, values, dues, today)
    money.baseline(api, pid, index, milestones, values, dues, start, CHANGE, sum(values) // 10, today)
    spend = earned * 13 // 10 if overspent else earned * 9 // 10  # what the work done cost
    sheets, delivered = _work(api, pid, index, milestones, today, rng, people, spend, committed)
    if delivered is not None:
        _invoice(api, pid, index, today, *delivered)
    if index in money.LICENCES:
        money.licences(api, pid, index, materials, today)
    if index in money.EXPENSES:
        money.expense(api, pid, index, today)
    if index in money.ESTIMATES:
        remaining = sum(values) + CHANGE - earned
        factor = 13 if overspent else 10  # the overspent projects' managers expect the overrun to go on
        money.estimate(api, pid, remaining * factor * 6 // 100, remaining * factor * 4 // 100, today)
    return {"projects": 1, "status_reports": reports, "work_sheets": sheets}


def _budget(api: Api, pid: str, index: int, values: list[int], dues: list[date], today: date) -> tuple[int, int]:
    """Baseline (the milestones' planned value by category, and a 10 % contingency: the management reserve),
    funding, a subcontract commitment and an approved change; returns the commitment's amount and the materials
    budget."""
    finance = api.as_("budget", "fiona.finance", "finance")
    controller = api.as_("budget", "carl.controller", "finance")
    planned = sum(values)
    contingency = planned // 10
    total = planned + contingency
    sub, materials, travel = planned * 3 // 10, planned // 10, planned // 20
    labour = planned - sub - materials - travel

    def eur(amount: int) -> dict[str, str]:
        return {"amount": f"{amount}.00", "currency": "EUR"}

    retry(
        lambda: finance.post(
            f"/budgets/{pid}/baseline",
            json={
                "total": eur(total),
                "categories": [
                    {"category": "labour", "amount": eur(labour)},
                    {"category": "subcontracting", "amount": eur(sub)},
                    {"category": "materials", "amount": eur(materials)},
                    {"category": "travel", "amount": eur(travel)},
                    {"category": "contingency", "amount": eur(contingency)},
                ],
            },
        )
    )
    source = ok(
        finance.post(f"/budgets/{pid}/funding-sources", json={"name": "Corporate budget", "kind": "internal"}), 201
    )
    underfunded = index in (3, 7)  # funding arrives too late and too thin for the next milestones
    for value, due in zip(values, dues, strict=True):  # a tranche a month ahead of each milestone, with margin
        amount = value * 4 // 10 if underfunded else value * 14 // 10
        tranche = {"amount": eur(amount), "available_on": str(due - timedelta(days=30))}
        ok(finance.post(f"/budgets/{pid}/funding-sources/{source['source_id']}/tranches", json=tranche), 201)
    vendor = SUBCONTRACTORS[index % 3]
    amount = sub + (sub // 5 if index == 9 else -sub // 4)  # one commitment above the category budget
    ok(
        finance.post(
            f"/budgets/{pid}/commitments",
            json={
                "kind": "subcontract",
                "vendor": vendor[1],
                "reference": f"PO-{index:03d}",
                "category": "subcontracting",
                "amount": eur(amount),
                "expected_invoices": [
                    {"on": str(today + timedelta(days=20)), "amount": eur(amount // 2)},
                    {"on": str(today + timedelta(days=80)), "amount": eur(amount - amount // 2)},
                ],
            },
        ),
        201,
    )
    change = ok(
        finance.post(
            f"/budgets/{pid}/change-requests",
            json={"category": "labour", "amount": eur(CHANGE), "reason": "additional analysis"},
        ),
        201,
    )
    ok(controller.post(f"/budgets/{pid}/change-requests/{change['change_id']}/approve", json={}))
    return amount, materials


def _work(
    api: Api,
    pid: str,
    index: int,
    milestones: list[dict[str, Any]],
    today: date,
    rng: random.Random,
    people: list[dict[str, Any]],
    spend: int,
    committed: int,
) -> tuple[int, tuple[str, str, int] | None]:
    """Staff hours for the last weeks, and a subcontractor's accepted deliverable for the rest of ``spend``."""
    lead = api.as_("resources", "sam.lead", "resource-manager")
    approver = api.as_("resources", "rita.rm", "resource-manager")
    staff = [p for p in people if p["kind"] == "person"]
    team = [staff[(index + k) % len(staff)] for k in range(2)]
    last_monday = _monday(today) - timedelta(weeks=1)
    over = index == 0  # one person booked past capacity
    for person in team:
        allocation = {
            "project_id": pid,
            "hours_per_week": "30" if over else "16",
            "starts_on": str(last_monday - timedelta(weeks=6)),
            "ends_on": str(last_monday + timedelta(weeks=8)),
        }
        retry(lambda p=person, a=allocation: lead.post(f"/resources/{p['resource_id']}/allocations", json=a))
    sheets, staff_cost = 0, 0
    milestone = milestones[0]["milestone_id"]
    for week in range(3):
        monday = last_monday - timedelta(weeks=week)
        for person in team:
            hours = [3, 3, 3, 3, rng.choice([2, 3])]  # people work on two or three projects each
            entries = [
                {"day": str(monday + timedelta(days=d)), "milestone_id": milestone, "hours": str(h)}
                for d, h in enumerate(hours)
            ]
            body = {"project_id": pid, "week": _iso_week(monday), "entries": entries}
            sheet = retry(lambda p=person, b=body: lead.post(f"/resources/{p['resource_id']}/work-sheets", json=b))
            ok(approver.post(f"/resources/{person['resource_id']}/work-sheets/{sheet['sheet_id']}/approve", json={}))
            staff_cost += sum(hours) * person["rate"]
            sheets += 1
    rest = min(spend - staff_cost, committed * 8 // 10)  # the subcontractor's share, within its commitment
    delivered = None
    if rest > 0:
        vendor = [p for p in people if p["kind"] == "subcontractor"][index % 3]
        deliverable = {
            "milestone_id": milestone,
            "description": "work package delivered and accepted",
            "amount": {"amount": f"{rest}.00", "currency": "EUR"},
            "accepted_on": str(last_monday + timedelta(days=2)),
        }
        body = {"project_id": pid, "week": _iso_week(last_monday), "deliverables": [deliverable]}
        sheet = retry(lambda: lead.post(f"/resources/{vendor['resource_id']}/work-sheets", json=body))
        ok(approver.post(f"/resources/{vendor['resource_id']}/work-sheets/{sheet['sheet_id']}/approve", json={}))
        sheets += 1
        delivered = (vendor["vendor"], sheet["sheet_id"], rest)
    return sheets, delivered


def _invoice(api: Api, pid: str, index: int, today: date, vendor: str, sheet_id: str, delivered: int) -> None:
    """The subcontractor invoices its deliverable: matched, approved and paid; three projects go wrong on purpose."""
    clerk = api.as_("invoicing", "ivan.ap", "service")
    finance = api.as_("invoicing", "fiona.finance", "finance")
    treasury = api.as_("invoicing", "tom.treasury", "finance")  # pays: never whoever received or approved
    overbilled = index == 10  # 25 % more than the work accepted: backing below 90 %, paid anyway with an override
    overdue = index == 6  # due ten days ago, not paid
    net = Decimal(delivered * 5 // 4 if overbilled else delivered)
    tax = (net * Decimal("0.20")).quantize(Decimal("0.01"))

    def eur(amount: Decimal) -> dict[str, str]:
        return {"amount": f"{amount:.2f}", "currency": "EUR"}

    body = {
        "project_id": pid,
        "vendor": vendor,
        "number": f"{vendor.upper()}-{today.year}-{index:03d}",
        "issued_on": str(today - timedelta(days=40 if overdue else 5)),
        "due_on": str(today - timedelta(days=10) if overdue else today + timedelta(days=25)),
        "currency": "EUR",
        "commitment_reference": f"PO-{index:03d}",
        "lines": [
            {
                "description": "work package delivered and accepted",
                "quantity": "1",
                "unit_price": eur(net),
                "amount": eur(net),
                "tax_rate": "0.20",
                "tax": eur(tax),
                "bills": [{"sheet_id": sheet_id, "deliverable": 0}],
            }
        ],
        "total": eur(net + tax),
    }
    invoice = ok(clerk.post("/invoices", json=body), 201)
    url = f"/invoices/{invoice['invoice_id']}"
    deadline = time.monotonic() + 60
    while (status := clerk.get(url).json()["status"]) != "matched" and time.monotonic() < deadline:
        if overbilled and status == "mismatched" and time.monotonic() > deadline - 50:
            break  # the work is known; it backs only 80 % of the invoice
        time.sleep(0.3)
    if overdue:
        return
    approval = {"override_reason": "agreed extra scope with the vendor"} if status != "matched" else {}
    ok(finance.post(f"{url}/approve", json=approval))
    ok(treasury.post(f"{url}/payments", json={"amount": eur(net + tax), "paid_on": str(today)}), 201)
