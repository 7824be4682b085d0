"""The explanations of every reported figure besides the EVM ones (the EVM ones: :func:`reporting.handlers.
explain_figure`): an open milestone's underfunding risk, a row of the category table, the invoice backing, a KPI's
attainment, a person's week of utilisation, each with the numbers it is computed from and the events behind them;
and, beside the EVM explanations, planned value item by item (which baseline version, each item's technique, budget,
span, planned and earned value) and actual cost by kind (work sheets, expenses, goods received, invoices beyond their
backing; the cash view; amounts left unconverted).

Explanations fold the project's whole ledger (every event is listed, not the latest few the stored books keep);
they answer on both time axes like the reports. Use cases like :mod:`reporting.handlers`, reading through its
:class:`reporting.handlers.ReportingFacts`.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from reporting.domain.amounts import shown
from reporting.domain.evm import item_earned, item_planned, planned_value, version_in_force
from reporting.domain.ledger import Fact, ProjectBook, book
from reporting.domain.rules import invoice_backing
from reporting.handlers import Now, ReportingFacts, as_of_day, checked_known_at, project_facts, report, utilisation_rows
from reporting.views import format_ratio
from shared.bounds import iso_week
from shared.errors import InvalidCommandError, NotFoundError


class _Ledger:
    """A project's facts on both axes, folded with every piece of evidence, and a way to describe its events."""

    def __init__(self, project_id: uuid.UUID, facts: list[Fact], day: date) -> None:
        self.project_id = project_id
        self.facts = facts
        self.day = day
        self.books: ProjectBook = book(project_id, facts, day)
        self._by_id = {f.event_id: f for f in facts}

    def money(self, value: Decimal) -> str:
        return shown(value, self.books.currency) if self.books.currency else format(value, "f")

    def event(self, event_id: uuid.UUID | None, what: str, amount: Decimal | None = None) -> dict[str, Any]:
        fact = self._by_id.get(event_id) if event_id is not None else None
        return {
            "event_id": None if event_id is None else str(event_id),
            "type": fact.name if fact else None,
            "service": fact.service if fact else None,
            "recorded_at": fact.recorded_at.isoformat() if fact else None,
            "what": what,
            "amount": None if amount is None else self.money(amount),
        }

    def head(self, subject: str, known_at: Any) -> dict[str, Any]:
        return {
            "project_id": str(self.project_id),
            "currency": self.books.currency,
            "explains": subject,
            "as_of": self.day.isoformat(),
            "known_at": None if known_at is None else known_at.isoformat(),
        }


async def _ledger(
    facts: ReportingFacts, now: Now, project_id: uuid.UUID, as_of: date | None, known_at: datetime | None
) -> _Ledger:
    found = await project_facts(facts, now, project_id, known_at)
    return _Ledger(project_id, found, as_of_day(now, as_of))


async def explain_risk(
    facts: ReportingFacts,
    now: Now,
    project_id: uuid.UUID,
    milestone_id: uuid.UUID,
    as_of: date | None,
    known_at: datetime | None,
) -> dict[str, Any]:
    """An open milestone's underfunding risk: cost needed by its date (actual cost, commitments' expected invoices,
    remaining planned value at the cost performance seen), funding available by then, the spread, and the events."""
    ledger = await _ledger(facts, now, project_id, as_of, known_at)
    thresholds = await facts.thresholds(ledger.books.portfolio_id)
    result = report(project_id, ledger.facts, ledger.day, thresholds)
    risk = next((r for r in result.risks if r.milestone_id == milestone_id), None)
    if risk is None:
        raise NotFoundError(f"milestone {milestone_id} is not an open milestone of project {project_id} on that date")
    books, d = ledger.books, risk.assessed_on  # its due date, or the report's date once it is overdue
    open_due = [m for m in books.milestones.values() if m.reached_on is None and not m.missed and m.due_date <= d]
    commitments = [c for c in books.commitments.values() if c.active]
    tranches = books.tranches_available(d)
    return {
        **ledger.head(f"underfunding risk of milestone {risk.name} due {risk.due_date.isoformat()}", known_at),
        "probability": format_ratio(risk.probability),
        "alert_above": format_ratio(thresholds.underfunding_risk),
        "computed_from": {
            "needed": ledger.money(risk.needed),
            "available": ledger.money(risk.available),
            "actual_cost": ledger.money(risk.actual_cost),
            "commitments_due": ledger.money(risk.commitments_due),
            "remaining_planned_value": ledger.money(risk.remaining_planned_value),
            "cpi_used": str(risk.cpi_used),
            "spread": ledger.money(risk.spread),
            "forecast": ledger.money(risk.forecast),
            "to_come": ledger.money(risk.to_come),
            "cv": format_ratio(risk.cv),
            "funding_needed_p95": ledger.money(risk.funding_needed),
            "shortfall": ledger.money(risk.shortfall),
            "planned_funding": ledger.money(risk.planned_funding),
        },
        "driver": risk.driver,
        "events": [
            *(ledger.event(a.event_id, f"actual cost: {a.label}", a.value) for a in books.cost_evidence),
            *(
                ledger.event(m.planned_event, f"milestone {m.name} planned, {m.earned_share}% earned", m.planned_value)
                for m in open_due
            ),
            *(
                ledger.event(c.event_id, f"commitment {c.reference}: expected invoice on {on.isoformat()}", amount)
                for c in commitments
                for on, amount in c.expected
                if ledger.day < on <= d
            ),
            *(
                ledger.event(
                    t.event_id,
                    f"tranche {'planned for' if t.planned else 'available'} {t.available_on.isoformat()}",
                    t.amount,
                )
                for t in tranches
            ),
        ],
    }


async def explain_category(
    facts: ReportingFacts,
    now: Now,
    project_id: uuid.UUID,
    category: str,
    as_of: date | None,
    known_at: datetime | None,
) -> dict[str, Any]:
    """A row of the category table: budget (baseline and approved changes), committed, actual, remaining."""
    ledger = await _ledger(facts, now, project_id, as_of, known_at)
    books = ledger.books
    actual = books.actual_by_category()
    if category not in books.category_budgets and category not in actual:
        raise NotFoundError(f"project {project_id} has no budget or cost in category {category}")
    budget = books.category_budgets.get(category, Decimal(0))
    commitments = [c for c in books.commitments.values() if c.active and c.category == category]
    committed = sum((c.amount for c in commitments), Decimal(0))
    spent = actual.get(category, Decimal(0))
    by_reference = {c.reference: c.category for c in books.commitments.values()}
    invoices = [
        x
        for x in books.invoices.values()
        if x.live
        and x.approved_event is not None
        and x.unbacked_cost > 0
        and by_reference.get(x.commitment_reference, "subcontracting") == category
    ]
    return {
        **ledger.head(f"cost category {category}", known_at),
        "computed_from": {
            "budget": ledger.money(budget),
            "committed": ledger.money(committed),
            "actual": ledger.money(spent),
            "remaining": ledger.money(budget - max(committed, spent)),
            "rule": "remaining = budget - max(committed, actual)",
        },
        "events": [
            *([ledger.event(books.baseline.event_id, "budget baselined")] if books.baseline else []),
            *(
                ledger.event(a.event_id, "budget change approved", a.value)
                for a in books.change_evidence
                if a.label == category  # a change's Amount is labelled with its category
            ),
            *(ledger.event(c.event_id, f"commitment {c.reference}", c.amount) for c in commitments),
            *(
                ledger.event(a.event_id, f"actual cost: {a.label}", a.value)
                for a in books.cost_evidence
                if a.category == category
            ),
            *(
                ledger.event(x.approved_event, f"invoice {x.number} approved beyond the work it cites", x.unbacked_cost)
                for x in invoices
            ),
        ],
    }


async def explain_invoice_backing(
    facts: ReportingFacts, now: Now, project_id: uuid.UUID, as_of: date | None, known_at: datetime | None
) -> dict[str, Any]:
    """Invoice backing: the invoiced amount backed by approved work, invoice by invoice, against the target."""
    ledger = await _ledger(facts, now, project_id, as_of, known_at)
    thresholds = await facts.thresholds(ledger.books.portfolio_id)
    invoiced, backed, ratio = invoice_backing(ledger.books)
    matched = [x for x in ledger.books.invoices.values() if x.live and x.backed is not None]
    return {
        **ledger.head("invoice backing", known_at),
        "computed_from": {
            "invoiced": ledger.money(invoiced),
            "backed": ledger.money(backed),
            "backing_ratio": None if ratio is None else format_ratio(ratio),
            "target": format_ratio(thresholds.invoice_backing),
        },
        "invoices": [
            {
                "invoice_id": str(x.invoice_id),
                "vendor": x.vendor,
                "number": x.number,
                "net": ledger.money(x.net),
                "backed": ledger.money(x.backed or Decimal(0)),
                "status": x.status,
                "events": [
                    ledger.event(x.received_event, "received", x.net),
                    ledger.event(x.match_event, "matched" if x.matched else "mismatched", x.backed),
                ],
            }
            for x in matched
        ],
    }


async def explain_kpi(
    facts: ReportingFacts,
    now: Now,
    project_id: uuid.UUID,
    kpi_id: uuid.UUID,
    as_of: date | None,
    known_at: datetime | None,
) -> dict[str, Any]:
    """A KPI's attainment: its target and direction, and every measurement up to the date with its event."""
    ledger = await _ledger(facts, now, project_id, as_of, known_at)
    kpi = ledger.books.kpis.get(kpi_id)
    if kpi is None:
        raise NotFoundError(f"project {project_id} has no KPI {kpi_id}")
    measurements = [
        (f, f.data)
        for f in ledger.facts
        if f.name == "kpi-measured"
        and f.data.get("kpi_id") == str(kpi_id)
        and date.fromisoformat(str(f.data["measured_on"])) <= ledger.day
    ]
    return {
        **ledger.head(f"KPI {kpi.name}", known_at),
        "computed_from": {
            "target": str(kpi.target),
            "direction": kpi.direction,
            "unit": kpi.unit,
            "review_date": kpi.review_date.isoformat(),
            "latest": None if kpi.latest is None else str(kpi.latest[1]),
            "target_met": None if kpi.latest is None else kpi.latest[2],
        },
        "events": [
            ledger.event(f.event_id, f"measured {data['value']} on {data['measured_on']}") for f, data in measurements
        ],
    }


async def explain_utilisation(
    facts: ReportingFacts, now: Now, resource_id: uuid.UUID, week: str, known_at: datetime | None
) -> dict[str, Any]:
    """One person's week of utilisation: capacity, allocated and approved hours, and the events behind them."""
    try:
        monday = iso_week(week)
    except ValueError as exc:
        raise InvalidCommandError(str(exc), field="week") from None
    moment = checked_known_at(now, known_at)
    rows = [r for r in await utilisation_rows(facts, monday, 1, moment) if r["resource_id"] == str(resource_id)]
    if not rows:
        raise NotFoundError(f"no capacity, allocation or approved work of resource {resource_id} in {week}")
    events = await _resource_facts(facts, resource_id, monday, moment)
    return {
        "resource_id": str(resource_id),
        "explains": f"utilisation in {week}",
        "known_at": None if moment is None else moment.isoformat(),
        "computed_from": rows[0],
        "events": events,
    }


async def _resource_facts(
    facts: ReportingFacts, resource_id: uuid.UUID, monday: date, known_at: datetime | None
) -> list[dict[str, Any]]:
    """The events about ``resource_id`` that bear on the week of ``monday``: its registration and capacity
    changes, allocations covering the week, and work sheets of that week."""
    sunday = monday + timedelta(days=6)
    out = []
    for row in await facts.resource_events(resource_id, known_at):
        data = row.data
        week_start = data.get("week_start")
        if week_start is not None and not monday <= date.fromisoformat(str(week_start)) <= sunday:
            continue
        start, end = data.get("weeks_from") or data.get("starts_on"), data.get("weeks_to") or data.get("ends_on")
        if start is not None and date.fromisoformat(str(start)) > sunday:
            continue
        if end is not None and date.fromisoformat(str(end)) < monday:
            continue
        out.append(
            {
                "event_id": str(row.event_id),
                "type": row.name,
                "recorded_at": row.recorded_at.isoformat(),
                "hours": data.get("hours") or data.get("hours_per_week") or data.get("weekly_capacity_hours"),
            }
        )
    return out


async def explain_planned_value(
    facts: ReportingFacts, now: Now, project_id: uuid.UUID, as_of: date | None, known_at: datetime | None
) -> dict[str, Any]:
    """PV on the date: the performance baseline version it comes from and each item's technique, budget, span,
    planned and earned value; the milestones no version includes (they plan and earn nothing until re-baselined).
    Without a PMB: the milestones due by the date at their planned value."""
    ledger = await _ledger(facts, now, project_id, as_of, known_at)
    books, day = ledger.books, ledger.day
    version = version_in_force(books, day)
    pv = planned_value(books, day)
    if version is None:
        due = [m for m in books.milestones.values() if m.due_date <= day]
        return {
            **ledger.head("planned value", known_at),
            "computed_from": {
                "pv": ledger.money(pv),
                "rule": "no performance baseline approved: the planned value of the milestones due by the date",
            },
            "events": [
                ledger.event(m.planned_event, f"milestone {m.name} due {m.due_date}", m.planned_value) for m in due
            ],
        }
    planned_ids = {x.milestone_id for x in version.items}
    return {
        **ledger.head("planned value", known_at),
        "computed_from": {
            "pv": ledger.money(pv),
            "bac": ledger.money(version.total),
            "version": version.version,
            "effective_on": version.effective_on.isoformat(),
            "versions": [{"version": v.version, "effective_on": v.effective_on.isoformat()} for v in books.pmb],
            "rule": "the version in force on the date (the first one before its effective date), item by item by "
            "its earned-value technique",
        },
        "items": [
            {
                "milestone_id": str(x.milestone_id),
                "name": x.name,
                "technique": x.technique,
                "budget": ledger.money(x.budget),
                "start": x.start.isoformat(),
                "due": x.due.isoformat(),
                "planned": ledger.money(item_planned(x, day)),
                "earned": ledger.money(item_earned(x, books.milestones.get(x.milestone_id), day)),
            }
            for x in version.items
        ],
        "not_in_baseline": [
            {"milestone_id": str(m.milestone_id), "name": m.name, "planned_value": ledger.money(m.planned_value)}
            for m in books.milestones.values()
            if m.milestone_id not in planned_ids
        ],
        "events": [ledger.event(version.event_id, f"performance baseline v{version.version} approved", version.total)],
    }


async def explain_actual_cost(
    facts: ReportingFacts, now: Now, project_id: uuid.UUID, as_of: date | None, known_at: datetime | None
) -> dict[str, Any]:
    """AC on the date by kind of cost (accrual basis), the cash view beside it, and the amounts in another currency
    left unconverted (no booking), each with the events behind it."""
    ledger = await _ledger(facts, now, project_id, as_of, known_at)
    books = ledger.books
    kinds = books.actual_by_kind()
    evidence: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    for a in books.cost_evidence:
        kind = (
            "expenses"
            if a.label.startswith("expense")
            else "goods_received"
            if a.label.startswith("goods")
            else "work_sheets"
        )
        evidence[kind].append(ledger.event(a.event_id, a.label, a.value))
    evidence["invoices_beyond_backing"] = [
        ledger.event(
            x.approved_event, f"invoice {x.vendor} {x.number} beyond the work and goods it cites", x.unbacked_cost
        )
        for x in books.approved_invoices()
    ]
    return {
        **ledger.head("actual cost", known_at),
        "computed_from": {
            "ac": ledger.money(sum(kinds.values(), Decimal(0))),
            **{kind: ledger.money(value) for kind, value in kinds.items()},
            "cash_cost": ledger.money(books.cash_cost),
            "rule": "accrual: work sheets from approval, expenses from approval, goods from receipt, invoices (net, "
            "after credit notes) beyond the work sheets and receipts backing them from approval; cash: invoices paid "
            "(net share), expenses reimbursed, people's work sheets from approval",
        },
        "by_kind": evidence,
        "unconverted": [
            {**ledger.event(a.event_id, a.label), "amount": format(a.value, "f"), "on": a.on.isoformat()}
            for a in books.unconverted
        ],
    }
