"""A project's answers: its report, its S-curve points and the explanation of one of its EVM figures."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from reporting.domain.amounts import shown
from reporting.domain.evm import curve_point, evm, plan_check
from reporting.domain.ledger import Fact, ProjectBook
from reporting.domain.rules import Condition, invoice_backing
from reporting.views.parts import axes, figures_view, format_ratio, identity

FIGURES = (
    "bac",
    "pv",
    "ev",
    "ac",
    "cv",
    "sv",
    "cpi",
    "spi",
    "eac_cpi",
    "eac_cpi_spi",
    "etc",
    "vac",
    "tcpi_bac",
    "tcpi_eac",
    "cv_percent",
    "sv_percent",
    "etc_bottom_up",
    "eac_bottom_up",
    "vac_bottom_up",
    "tcpi_bottom_up",
    "bac_original",
    "pv_original",
    "sv_original",
    "management_reserve",
)
"""The EVM figures a report shows and explains (every one :func:`reporting.domain.evm.evm` computes)."""


def project_report(
    project_id: uuid.UUID,
    books: ProjectBook,
    report: Any,
    day: date,
    known_at: datetime | None,
) -> dict[str, Any]:
    """The project report's JSON: ``report`` is the :class:`reporting.handlers.ProjectReport` on ``day``."""
    figures = figures_view(report.figures)
    last_report = books.last_report_on
    currency = books.currency
    return {
        **identity(project_id, books),
        **axes(day, known_at),
        "figures": figures,
        "underfunding_risk": [
            {
                "milestone_id": str(r.milestone_id),
                "name": r.name,
                "due_date": r.due_date.isoformat(),
                "assessed_on": r.assessed_on.isoformat(),
                "overdue": r.overdue,
                "on_hold": r.on_hold,
                "probability": format_ratio(r.probability),
                "needed": shown(r.needed, currency),
                "available": shown(r.available, currency),
                "risk_limit": format_ratio(r.limit),
                "funding_needed_p95": shown(r.funding_needed, currency),
                "shortfall": shown(r.shortfall, currency),
                "if_planned_funding_secured": {
                    "planned_funding": shown(r.planned_funding, currency),
                    "probability": format_ratio(r.probability_if_planned_secured),
                    "shortfall": shown(r.shortfall_if_planned_secured, currency),
                },
                "inputs": {
                    "actual_cost": shown(r.actual_cost, currency),
                    "commitments_due": shown(r.commitments_due, currency),
                    "remaining_planned_value": shown(r.remaining_planned_value, currency),
                    "cpi_used": str(r.cpi_used),
                    "forecast": shown(r.forecast, currency),
                    "to_come": shown(r.to_come, currency),
                    "cv": format_ratio(r.cv),
                    "spread": shown(r.spread, currency),
                },
                "driver": r.driver,
            }
            for r in report.risks
        ],
        "status_freshness": {
            "last_report": last_report.isoformat() if last_report else None,
            "days_since": (day - last_report).days if last_report else None,
        },
        "kpis": [
            {
                "kpi_id": str(k.kpi_id),
                "name": k.name,
                "unit": k.unit,
                "target": str(k.target),
                "direction": k.direction,
                "review_date": k.review_date.isoformat(),
                "latest": (str(k.latest[1]) if k.latest else None),
                "target_met": (k.latest[2] if k.latest else None),
            }
            for k in books.kpis.values()
        ],
        "budget": {
            "categories": categories(books),
            "funding_available": shown(books.funding_available(day), currency),
            "spent": figures["ac"]["value"],
        },
        "invoices": invoices(books, day),
        "conditions": [conditions_view(c) for c in report.conditions],
        "plan_check": plan_check(books, day),
    }


def conditions_view(c: Condition) -> dict[str, Any]:
    return {"rule": c.rule, "subject": c.subject, "severity": c.severity, "title": c.title}


def categories(books: Any) -> list[dict[str, Any]]:
    """Budget vs committed vs actual vs remaining per cost category (remaining = budget - max(committed, actual))."""
    actual = books.actual_by_category()
    rows = []
    for category in sorted(set(books.category_budgets) | set(actual)):
        budget = books.category_budgets.get(category, Decimal(0))
        committed = sum(
            (x.amount for x in books.commitments.values() if x.active and x.category == category), Decimal(0)
        )
        spent = actual.get(category, Decimal(0))
        rows.append(
            {
                "category": category,
                "budget": shown(budget, books.currency),
                "committed": shown(committed, books.currency),
                "actual": shown(spent, books.currency),
                "remaining": shown(budget - max(committed, spent), books.currency),
            }
        )
    return rows


def invoices(books: Any, day: date) -> dict[str, Any]:
    invoiced, backed, ratio = invoice_backing(books)
    live = [x for x in books.invoices.values() if x.live]
    unpaid = sum((x.total - x.paid for x in live if not x.fully_paid), Decimal(0))
    overdue = sum((x.total - x.paid for x in live if not x.fully_paid and x.due_on < day), Decimal(0))
    return {
        "invoiced": shown(invoiced, books.currency),
        "backed": shown(backed, books.currency),
        "backing_ratio": format_ratio(ratio) if ratio is not None else None,
        "unpaid": shown(unpaid, books.currency),
        "overdue": shown(overdue, books.currency),
        "without_backing": [
            {
                "invoice_id": str(x.invoice_id),
                "vendor": x.vendor,
                "number": x.number,
                "net": shown(x.net, books.currency),
                "backed": shown(x.backed or Decimal(0), books.currency),
                "status": x.status,
            }
            for x in live
            if x.matched is False
        ],
    }


def s_curve_point(books: ProjectBook, week_end: date, currency: str) -> dict[str, Any]:
    result = curve_point(books, week_end)
    return {"date": week_end.isoformat(), **{k: result[k].shown(currency) for k in ("pv", "ev", "ac", "cpi", "spi")}}


def explained_figure(
    project_id: uuid.UUID, figure: str, books: ProjectBook, facts: list[Fact], day: date, known_at: datetime | None
) -> dict[str, Any]:
    """An EVM figure with the figures it is computed from and the events behind it."""
    by_id = {f.event_id: f for f in facts}
    result = evm(books, day)
    fig = result[figure]
    return {
        "project_id": str(project_id),
        "figure": figure,
        **axes(day, known_at),
        "value": fig.shown(books.currency),
        "kind": fig.kind,
        "reason": fig.reason,
        "computed_from": {name: result[name].shown(books.currency) for name in fig.inputs},
        "events": [
            {
                "event_id": str(e.event_id),
                "type": by_id[e.event_id].name if e.event_id in by_id else None,
                "service": by_id[e.event_id].service if e.event_id in by_id else None,
                "recorded_at": by_id[e.event_id].recorded_at.isoformat() if e.event_id in by_id else None,
                "what": e.what,
                "amount": None if e.amount is None else shown(e.amount, books.currency),
            }
            for e in fig.evidence
        ],
    }
