"""Explanations of every reported figure besides the EVM ones (``/reports/projects/{id}/explain/{figure}``): an
open milestone's underfunding risk, a row of the category table, the invoice backing, a KPI's attainment, a person's
week of utilisation, each with the numbers it is computed from and the events behind them.

Explanations fold the project's whole ledger (every event is listed, not the latest few the stored books keep);
they answer on both time axes like the reports.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from reporting.api.reports import AsOf, KnownAt, ProjectIdPath, _as_of, _known_at, _project_facts, format_ratio
from reporting.domain.ledger import Fact, ProjectBook, book
from reporting.domain.rules import invoice_backing
from reporting.evaluation import load_thresholds, report
from shared.errors import NotFoundError
from shared.money import quantize
from shared.service import Runtime, ServiceRuntime
from shared.web import COMMAND_RESPONSES

router = APIRouter(tags=["reports"], responses={404: COMMAND_RESPONSES[404]})


class _Ledger:
    """A project's facts on both axes, folded with every piece of evidence, and a way to describe its events."""

    def __init__(self, project_id: uuid.UUID, facts: list[Fact], day: date) -> None:
        self.project_id = project_id
        self.facts = facts
        self.day = day
        self.books: ProjectBook = book(project_id, facts, day)
        self._by_id = {f.event_id: f for f in facts}

    def money(self, value: Decimal) -> str:
        return format(quantize(value, self.books.currency), "f") if self.books.currency else format(value, "f")

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


async def _ledger(rt: ServiceRuntime, project_id: uuid.UUID, as_of: date | None, known_at: Any) -> _Ledger:
    facts = await _project_facts(rt, project_id, _known_at(rt, known_at))
    return _Ledger(project_id, facts, _as_of(rt, as_of))


@router.get("/reports/projects/{project_id}/explain/risk/{milestone_id}")
async def explain_risk(
    project_id: ProjectIdPath,
    milestone_id: Annotated[uuid.UUID, Path(description="An open milestone")],
    rt: Runtime,
    as_of: AsOf = None,
    known_at: KnownAt = None,
) -> dict[str, Any]:
    """An open milestone's underfunding risk: cost needed by its date (actual cost, commitments' expected invoices,
    remaining planned value at the cost performance seen), funding available by then, the spread, and the events."""
    ledger = await _ledger(rt, project_id, as_of, known_at)
    thresholds = await load_thresholds(rt.engine, ledger.books.portfolio_id)
    result = report(project_id, ledger.facts, ledger.day, thresholds)
    risk = next((r for r in result.risks if r.milestone_id == milestone_id), None)
    if risk is None:
        raise NotFoundError(f"milestone {milestone_id} is not an open milestone of project {project_id} on that date")
    books, d = ledger.books, risk.due_date
    open_due = [m for m in books.milestones.values() if m.reached_on is None and not m.missed and m.due_date <= d]
    commitments = [c for c in books.commitments.values() if c.active]
    tranches = [
        t for t in books.tranches.values() if t.available_on <= d and (t.withdrawn_on is None or t.withdrawn_on > d)
    ]
    return {
        **ledger.head(f"underfunding risk of milestone {risk.name} due {d.isoformat()}", known_at),
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
            *(ledger.event(t.event_id, f"tranche available {t.available_on.isoformat()}", t.amount) for t in tranches),
        ],
    }


@router.get("/reports/projects/{project_id}/explain/categories/{category}")
async def explain_category(
    project_id: ProjectIdPath,
    category: Annotated[str, Path(pattern="^[a-z_]{1,32}$")],
    rt: Runtime,
    as_of: AsOf = None,
    known_at: KnownAt = None,
) -> dict[str, Any]:
    """A row of the category table: budget (baseline and approved changes), committed, actual, remaining."""
    ledger = await _ledger(rt, project_id, as_of, known_at)
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


@router.get("/reports/projects/{project_id}/explain/invoice-backing")
async def explain_invoice_backing(
    project_id: ProjectIdPath, rt: Runtime, as_of: AsOf = None, known_at: KnownAt = None
) -> dict[str, Any]:
    """Invoice backing: the invoiced amount backed by approved work, invoice by invoice, against the target."""
    ledger = await _ledger(rt, project_id, as_of, known_at)
    thresholds = await load_thresholds(rt.engine, ledger.books.portfolio_id)
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


@router.get("/reports/projects/{project_id}/explain/kpis/{kpi_id}")
async def explain_kpi(
    project_id: ProjectIdPath,
    kpi_id: Annotated[uuid.UUID, Path()],
    rt: Runtime,
    as_of: AsOf = None,
    known_at: KnownAt = None,
) -> dict[str, Any]:
    """A KPI's attainment: its target and direction, and every measurement up to the date with its event."""
    ledger = await _ledger(rt, project_id, as_of, known_at)
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


@router.get("/reports/utilisation/explain")
async def explain_utilisation(
    rt: Runtime,
    resource_id: Annotated[uuid.UUID, Query()],
    week: Annotated[str, Query(pattern=r"^[0-9]{4}-W[0-9]{2}$", examples=["2027-W05"])],
    known_at: KnownAt = None,
) -> dict[str, Any]:
    """One person's week of utilisation: capacity, allocated and approved hours, and the events behind them."""
    from reporting.api.reports import utilisation_rows
    from shared.bounds import iso_week

    try:
        monday = iso_week(week)
    except ValueError as exc:
        from shared.errors import InvalidCommandError

        raise InvalidCommandError(str(exc), field="week") from None
    moment = _known_at(rt, known_at)
    rows = [r for r in await utilisation_rows(rt, monday, 1, moment) if r["resource_id"] == str(resource_id)]
    if not rows:
        raise NotFoundError(f"no capacity, allocation or approved work of resource {resource_id} in {week}")
    facts = await _resource_facts(rt, resource_id, monday, moment)
    return {
        "resource_id": str(resource_id),
        "explains": f"utilisation in {week}",
        "known_at": None if moment is None else moment.isoformat(),
        "computed_from": rows[0],
        "events": facts,
    }


async def _resource_facts(
    rt: ServiceRuntime, resource_id: uuid.UUID, monday: date, known_at: Any
) -> list[dict[str, Any]]:
    """The events about ``resource_id`` that bear on the week of ``monday``: its registration and capacity
    changes, allocations covering the week, and work sheets of that week."""
    from sqlalchemy import text

    sunday = monday + timedelta(days=6)
    async with rt.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT event_id, name, recorded_at, data FROM resource_facts WHERE resource_id = :r "
                "AND (CAST(:k AS timestamptz) IS NULL OR recorded_at <= :k) "
                "UNION ALL SELECT event_id, name, recorded_at, data FROM facts WHERE service = 'resources' "
                "AND data->>'resource_id' = :rs AND (CAST(:k AS timestamptz) IS NULL OR recorded_at <= :k) "
                "ORDER BY recorded_at"
            ),
            {"r": resource_id, "rs": str(resource_id), "k": known_at},
        )
        out = []
        for row in rows:
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
