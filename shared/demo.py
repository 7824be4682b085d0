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

from shared.auth import mint_token

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
SUBCONTRACTORS = [("Acme Consulting", "acme"), ("Globex Integration", "globex"), ("Initech Services", "initech")]


class DemoError(RuntimeError):
    pass


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


class _Api:
    def __init__(self, urls: Mapping[str, str]) -> None:
        self.urls = urls
        self.clients: dict[str, httpx.Client] = {}

    def as_(self, service: str, subject: str, role: str) -> httpx.Client:
        key = f"{service}|{subject}|{role}"
        if key not in self.clients:
            token = mint_token(subject, [role], ttl_seconds=3600)
            self.clients[key] = httpx.Client(
                base_url=self.urls[service], timeout=30, headers={"Authorization": f"Bearer {token}"}
            )
        return self.clients[key]

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


def _ok(response: httpx.Response, *expected: int) -> dict[str, Any]:
    if response.status_code not in (expected or (200, 201)):
        raise DemoError(
            f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text}"
        )
    return dict(response.json()) if response.content else {}


def _retry(call: Any, timeout: float = 60.0) -> dict[str, Any]:
    """Retry while the other service has not consumed the project yet (404)."""
    deadline = time.monotonic() + timeout
    while True:
        response = call()
        if response.status_code != 404 or time.monotonic() > deadline:
            return _ok(response)
        time.sleep(0.2)


def load_demo(urls: Mapping[str, str], today: date | None = None, seed: int = 7) -> str:
    """Load the demo portfolio into the running services at ``urls`` (service name -> base URL)."""
    today = today or date.today()
    rng = random.Random(seed)
    api = _Api(urls)
    try:
        pmo = api.as_("projects", "pat.pmo", "pmo")
        director = api.as_("projects", "dora.director", "director")
        if any(p["grouping_id"] == PORTFOLIO for p in pmo.get("/portfolios", params={"limit": 500}).json()["items"]):
            return f"portfolio {PORTFOLIO} already exists: the demo is not loaded again"
        _ok(pmo.post("/portfolios", json={"portfolio_id": PORTFOLIO, "name": "Enterprise portfolio"}))
        for slug, name in PROGRAMMES.items():
            _ok(pmo.post(f"/portfolios/{PORTFOLIO}/programmes", json={"programme_id": slug, "name": name}))
        people = _resources(api, today, rng)
        counts = {"projects": 0, "work_sheets": 0, "status_reports": 0}
        for index, (code, name) in enumerate(PROJECT_NAMES):
            counts_project = _project(api, pmo, director, index, code, name, today, rng, people)
            for key, value in counts_project.items():
                counts[key] = counts.get(key, 0) + value
        return (
            f"demo portfolio loaded: {counts['projects']} projects, {len(people)} people and subcontractors, "
            f"{counts['work_sheets']} approved work sheets, {counts['status_reports']} status reports"
        )
    finally:
        api.close()


def _resources(api: _Api, today: date, rng: random.Random) -> list[dict[str, Any]]:
    rm = api.as_("resources", "rita.rm", "resource-manager")
    people = []
    for name, role, rate in PEOPLE:
        person = _ok(
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
        _ok(
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
        sub = _ok(
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
    api: _Api,
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
    project = _ok(
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
    _ok(director.post(f"{base}/approve", json={"approved_on": str(start)}))
    _ok(pmo.post(f"{base}/start", json={"started_on": str(start)}))
    values = [rng.choice([40, 60, 80, 120]) * 1000 for _ in range(4)]
    dues = [start + timedelta(days=45 + 75 * i) for i in range(4)]
    milestones = []
    for i, (value, due) in enumerate(zip(values, dues, strict=True)):
        milestones.append(
            _ok(
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
            _ok(director.post(f"{base}/milestones/{m['milestone_id']}/reached", json=reached))
            earned += value
        elif due <= today + timedelta(days=75):
            percent = 30 if behind else 25 if overspent else rng.choice([40, 50, 60])
            progress = {"percent_complete": str(percent), "as_of": str(today - timedelta(days=1))}
            _ok(pmo.post(f"{base}/milestones/{m['milestone_id']}/progress", json=progress))
            earned += value * percent // 100
            if behind or overspent:
                break
    reports = 0
    stale = index == 2  # no weekly meeting for 12 days
    last = today - timedelta(days=12 if stale else 3)
    for week in range(4):
        meeting = last - timedelta(weeks=week)
        cost = "red" if index in (0, 5) else rng.choice(["green", "green", "amber"])
        _ok(
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
        kpi = _ok(
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
        _ok(
            pmo.post(
                f"{base}/kpis/{kpi['kpi_id']}/measurements",
                json={"value": "76.5" if index == 8 else "84", "measured_on": str(today - timedelta(3))},
            ),
            201,
        )
    partner = _ok(
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
    _ok(
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
    committed = _budget(api, pid, index, values, dues, today)
    spend = earned * 13 // 10 if overspent else earned * 9 // 10  # what the work done cost
    sheets, delivered = _work(api, pid, index, milestones, today, rng, people, spend, committed)
    if delivered is not None:
        _invoice(api, pid, index, today, *delivered)
    return {"projects": 1, "status_reports": reports, "work_sheets": sheets}


def _budget(api: _Api, pid: str, index: int, values: list[int], dues: list[date], today: date) -> int:
    """Baseline, funding, a subcontract commitment and an approved change; returns the commitment's amount."""
    finance = api.as_("budget", "fiona.finance", "finance")
    controller = api.as_("budget", "carl.controller", "finance")
    total = sum(values) * 11 // 10
    labour, sub = total * 6 // 10, total * 3 // 10
    contingency = total - labour - sub

    def eur(amount: int) -> dict[str, str]:
        return {"amount": f"{amount}.00", "currency": "EUR"}

    _retry(
        lambda: finance.post(
            f"/budgets/{pid}/baseline",
            json={
                "total": eur(total),
                "categories": [
                    {"category": "labour", "amount": eur(labour)},
                    {"category": "subcontracting", "amount": eur(sub)},
                    {"category": "contingency", "amount": eur(contingency)},
                ],
            },
        )
    )
    source = _ok(
        finance.post(f"/budgets/{pid}/funding-sources", json={"name": "Corporate budget", "kind": "internal"}), 201
    )
    underfunded = index in (3, 7)  # funding arrives too late and too thin for the next milestones
    for value, due in zip(values, dues, strict=True):  # a tranche a month ahead of each milestone, with margin
        amount = value * 4 // 10 if underfunded else value * 14 // 10
        tranche = {"amount": eur(amount), "available_on": str(due - timedelta(days=30))}
        _ok(finance.post(f"/budgets/{pid}/funding-sources/{source['source_id']}/tranches", json=tranche), 201)
    vendor = SUBCONTRACTORS[index % 3]
    amount = sub + (sub // 5 if index == 9 else -sub // 4)  # one commitment above the category budget
    _ok(
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
    change = _ok(
        finance.post(
            f"/budgets/{pid}/change-requests",
            json={"category": "labour", "amount": eur(5000), "reason": "additional analysis"},
        ),
        201,
    )
    _ok(controller.post(f"/budgets/{pid}/change-requests/{change['change_id']}/approve", json={}))
    return amount


def _work(
    api: _Api,
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
        _retry(lambda p=person, a=allocation: lead.post(f"/resources/{p['resource_id']}/allocations", json=a))
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
            sheet = _ok(lead.post(f"/resources/{person['resource_id']}/work-sheets", json=body), 201)
            _ok(approver.post(f"/resources/{person['resource_id']}/work-sheets/{sheet['sheet_id']}/approve", json={}))
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
        sheet = _ok(lead.post(f"/resources/{vendor['resource_id']}/work-sheets", json=body), 201)
        _ok(approver.post(f"/resources/{vendor['resource_id']}/work-sheets/{sheet['sheet_id']}/approve", json={}))
        sheets += 1
        delivered = (vendor["vendor"], sheet["sheet_id"], rest)
    return sheets, delivered


def _invoice(api: _Api, pid: str, index: int, today: date, vendor: str, sheet_id: str, delivered: int) -> None:
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
    invoice = _ok(clerk.post("/invoices", json=body), 201)
    url = f"/invoices/{invoice['invoice_id']}"
    deadline = time.monotonic() + 60
    while (status := clerk.get(url).json()["status"]) != "matched" and time.monotonic() < deadline:
        if overbilled and status == "mismatched" and time.monotonic() > deadline - 50:
            break  # the work is known; it backs only 80 % of the invoice
        time.sleep(0.3)
    if overdue:
        return
    approval = {"override_reason": "agreed extra scope with the vendor"} if status != "matched" else {}
    _ok(finance.post(f"{url}/approve", json=approval))
    _ok(treasury.post(f"{url}/payments", json={"amount": eur(net + tax), "paid_on": str(today)}), 201)
