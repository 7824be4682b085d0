"""A project's time-phased forecast and cash flow per month, as JSON and as the rows of its CSV."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from reporting.domain import cashflow
from reporting.domain.amounts import shown, shown_or_none
from reporting.domain.ledger import ProjectBook
from reporting.views.parts import axes

CASH_FLOW_AMOUNTS = (
    "baseline",
    "baseline_cumulative",
    "committed",
    "committed_cumulative",
    "actual",
    "actual_cumulative",
    "cash",
    "cash_cumulative",
    "forecast",
    "forecast_cumulative",
)
"""The amounts of a month of the cash flow (its JSON and CSV columns after ``month``)."""

FORECAST_RULES = {
    "estimate": "actual cost to the estimate's date, then the latest estimate to complete, month by month",
    "baseline-phasing": "actual cost to the report's date, then BAC - EV spread over the months that still have "
    "planned value, in proportion to it (the baseline's phasing); all of it in the next month when none is left",
    "actual-only": "actual cost only: no budget baseline yet, or nothing left to spend (EV at or above BAC)",
}


def cash_flow_month(row: cashflow.MonthRow, currency: str) -> dict[str, str | None]:
    """One month of the cash flow, every amount rounded by the currency (``actual`` and ``cash`` empty after the
    report's month)."""
    return {"month": row.month, **{k: shown_or_none(getattr(row, k), currency) for k in CASH_FLOW_AMOUNTS}}


def cash_flow(
    project_id: uuid.UUID, books: ProjectBook, flow: cashflow.Report, day: date, known_at: datetime | None
) -> dict[str, Any]:
    """The project's time-phased forecast and cash flow per month (:mod:`reporting.domain.cashflow`)."""
    currency, plan, estimate = books.currency, flow.plan, flow.estimate
    months = [cash_flow_month(m, currency) for m in flow.months]
    totals = {
        k: shown(sum((getattr(m, k) or Decimal(0) for m in flow.months), Decimal(0)), currency)
        for k in ("baseline", "committed", "actual", "cash", "forecast")
    }
    return {
        "project_id": str(project_id),
        "currency": currency,
        **axes(day, known_at),
        "from": months[0]["month"] if months else None,
        "to": months[-1]["month"] if months else None,
        "span": {"from": flow.span[0], "to": flow.span[1]},
        "truncated": flow.truncated,
        "forecast": {
            "basis": plan.basis,
            "rule": FORECAST_RULES[plan.basis],
            "cut_off": plan.cut_off.isoformat(),
            "remaining": shown_or_none(plan.remaining, currency),
            "bac": shown_or_none(flow.bac, currency),
            "ev": shown(flow.ev, currency),
            "estimate": None
            if estimate is None
            else {
                "event_id": estimate.event_id,
                "as_of": estimate.as_of.isoformat(),
                "submitted_by": estimate.submitted_by,
                "total": shown(estimate.total, currency),
            },
        },
        "totals": totals,
        "months": months,
    }
