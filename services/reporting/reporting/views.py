"""The reporting service's answers: reports, portfolio lines and totals, S-curve points, explanations of EVM
figures, utilisation rows, alerts, thresholds and the portfolio read model, shaped as JSON (or CSV)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi.responses import Response

from reporting import tables
from reporting.domain import alerts, cashflow
from reporting.domain.amounts import shown, shown_or_none, shown_ratio
from reporting.domain.evm import Evm, evm, plan_check
from reporting.domain.ledger import Fact, ProjectBook
from reporting.domain.risk import RISK_LIMIT, MilestoneRisk, RiskSummary, summary
from reporting.domain.rules import Condition, Thresholds, invoice_backing
from reporting.domain.utilisation import WeekLoad
from shared.csvsafe import csv_text
from shared.money import Money

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


format_ratio = shown_ratio
"""A ratio as reports show it (4 decimals); amounts go through :func:`reporting.domain.amounts.shown`."""


def axes(day: date, known_at: datetime | None) -> dict[str, str | None]:
    return {"as_of": day.isoformat(), "known_at": None if known_at is None else known_at.isoformat()}


def identity(project_id: uuid.UUID, books: ProjectBook) -> dict[str, Any]:
    """The project as a report names it."""
    return {
        "project_id": str(project_id),
        "code": books.code,
        "name": books.name,
        "status": books.status,
        "portfolio_id": books.portfolio_id,
        "programme_id": books.programme_id,
        "currency": books.currency,
    }


def figures_view(result: Evm) -> dict[str, Any]:
    return {
        name: {"value": fig.shown(result.currency), "kind": fig.kind, "reason": fig.reason}
        for name, fig in result.figures.items()
    }


def csv_response(rows: list[dict[str, Any]], filename: str, columns: list[str] | None = None) -> Response:
    """``rows`` as a CSV attachment (``columns``: the header even with no row; default the first row's keys); every
    cell goes through :func:`shared.csvsafe.neutralise` (no formulas)."""
    return Response(
        csv_text(rows, columns),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# --- a project's report -------------------------------------------------------------------------------------


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
    result = evm(books, week_end)
    return {"date": week_end.isoformat(), **{k: result[k].shown(currency) for k in ("pv", "ev", "ac", "cpi", "spi")}}


# --- a project's cash flow ----------------------------------------------------------------------------------

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


# --- the portfolio report -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Headline:
    """A project's line of the portfolio report on a date (``row`` None before its registration arrived) and the
    exact amounts the totals add up."""

    row: dict[str, Any] | None
    values: dict[str, Decimal]
    risks: tuple[MilestoneRisk, ...] = ()
    """Its open milestones' underfunding risk (summed by :func:`portfolio_lines` at its portfolio's threshold)."""


def headline(project_id: uuid.UUID, books: Any, day: date, risks: Iterable[MilestoneRisk] = ()) -> Headline:
    if not books.currency:
        return Headline(None, {})
    result = evm(books, day)
    row = {
        **identity(project_id, books),
        **{k: result[k].shown(books.currency) for k in ("bac", "pv", "ev", "ac", "cpi", "spi", "eac_cpi", "vac")},
    }
    return Headline(row, {k: result.value(k) or Decimal(0) for k in ("bac", "pv", "ev", "ac")}, tuple(risks))


def portfolio_lines(
    headlines: Iterable[Headline],
    portfolio_id: str | None,
    programme_id: str | None,
    risk_limits: Mapping[str | None, Decimal] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The lines of the projects in the portfolio or programme (by code) and their totals per currency; each line's
    and total's milestones assessed for underfunding, at risk (above the project's portfolio's ``risk_limits``,
    default 5 %) and the amount to secure."""
    rows: list[dict[str, Any]] = []
    totals: dict[str, dict[str, Decimal]] = {}
    underfunded: dict[str, list[RiskSummary]] = {}
    for h in headlines:
        if h.row is None:
            continue
        if portfolio_id is not None and h.row["portfolio_id"] != portfolio_id:
            continue
        if programme_id is not None and h.row["programme_id"] != programme_id:
            continue
        risk = summary(h.risks, (risk_limits or {}).get(h.row["portfolio_id"], RISK_LIMIT))
        underfunded.setdefault(h.row["currency"], []).append(risk)
        rows.append({**h.row, **underfunding_columns([risk], h.row["currency"])})
        total = totals.setdefault(h.row["currency"], dict.fromkeys(("bac", "pv", "ev", "ac"), Decimal(0)))
        for k in total:
            total[k] += h.values[k]
    rows.sort(key=lambda r: str(r["code"]))
    rollup = []
    for currency, t in sorted(totals.items()):
        cpi = t["ev"] / t["ac"] if t["ac"] else None
        spi = t["ev"] / t["pv"] if t["pv"] else None
        rollup.append(
            {
                "currency": currency,
                **{k: shown(v, currency) for k, v in t.items()},
                "cpi": format_ratio(cpi) if cpi is not None else None,
                "spi": format_ratio(spi) if spi is not None else None,
                **underfunding_columns(underfunded[currency], currency),
            }
        )
    return rows, rollup


def underfunding_columns(risks: Iterable[RiskSummary], currency: str) -> dict[str, Any]:
    """Milestones assessed, at risk, and the amount to secure (the projects' amounts added) of some projects."""
    found = list(risks)
    return {
        "milestones_assessed": sum(r.assessed for r in found),
        "milestones_at_risk": sum(r.at_risk for r in found),
        "to_secure": shown(sum((r.to_secure for r in found), Decimal(0)), currency),
    }


def underfunding_share(totals: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The portfolio's share of milestones at risk (at risk / assessed) and the amount to secure per currency."""
    found = list(totals)
    assessed = sum(t["milestones_assessed"] for t in found)
    at_risk = sum(t["milestones_at_risk"] for t in found)
    return {
        "milestones_assessed": assessed,
        "milestones_at_risk": at_risk,
        "share_at_risk": format_ratio(Decimal(at_risk) / assessed) if assessed else None,
        "reason": None if assessed else "no open milestone of a project that can still spend",
        "to_secure": [{"currency": t["currency"], "amount": t["to_secure"]} for t in found],
    }


# --- the portfolio in its reporting currency ------------------------------------------------------------------

ROLLED_UP = ("bac", "pv", "ev", "ac")


def in_scope(headlines: Iterable[Headline], portfolio_id: str | None, programme_id: str | None) -> list[Headline]:
    """The lines of the projects in the portfolio or programme (every project's when neither is given)."""
    return [
        h
        for h in headlines
        if h.row is not None
        and (portfolio_id is None or h.row["portfolio_id"] == portfolio_id)
        and (programme_id is None or h.row["programme_id"] == programme_id)
    ]


def rollup(
    headlines: Iterable[Headline], currency: str, rates: Mapping[str, Decimal | None], day: date
) -> dict[str, Any]:
    """The lines' BAC, PV, EV and AC converted into ``currency`` (1 unit of a project's currency = ``rates[it]``
    units of ``currency``, the rate in force on ``day``) and added, each total rounded once; CPI and SPI on the
    converted totals. A project whose currency has no rate is listed under ``unconverted``, never dropped or
    guessed."""
    totals = dict.fromkeys(ROLLED_UP, Decimal(0))
    used: dict[str, Decimal] = {}
    unconverted = []
    counted = 0
    for h in headlines:
        if h.row is None:
            continue  # its registration has not arrived: no line (see in_scope)
        own = h.row["currency"]
        rate = Decimal(1) if own == currency else rates.get(own)
        if rate is None:
            unconverted.append(
                {
                    "project_id": h.row["project_id"],
                    "code": h.row["code"],
                    "currency": own,
                    "reason": f"no {own}-{currency} exchange rate in force on {day.isoformat()}",
                }
            )
            continue
        if own != currency:
            used[own] = rate
        for k in ROLLED_UP:
            totals[k] += h.values[k] * rate
        counted += 1
    cpi = totals["ev"] / totals["ac"] if totals["ac"] else None
    spi = totals["ev"] / totals["pv"] if totals["pv"] else None
    return {
        "currency": currency,
        "rate_date": day.isoformat(),
        **{k: shown(v, currency) for k, v in totals.items()},
        "cpi": format_ratio(cpi) if cpi is not None else None,
        "spi": format_ratio(spi) if spi is not None else None,
        "projects": counted,
        "rates": [{"from": c, "to": currency, "rate": format(r, "f")} for c, r in sorted(used.items())],
        "unconverted": sorted(unconverted, key=lambda x: str(x["code"])),
    }


def converted_columns(
    rows: list[dict[str, Any]], headlines: Iterable[Headline], currency: str, rates: Mapping[str, Decimal | None]
) -> list[dict[str, Any]]:
    """``rows`` (portfolio lines) with their BAC, PV, EV and AC in ``currency`` and the rate used (empty when their
    currency has no rate): what the CSV export adds up to the roll-up."""
    values = {h.row["project_id"]: h.values for h in headlines if h.row is not None}
    out = []
    for row in rows:
        own = row["currency"]
        rate = Decimal(1) if own == currency else rates.get(own)
        exact = values.get(row["project_id"], {})
        out.append(
            {
                **row,
                "reporting_currency": currency,
                "exchange_rate": None if rate is None else format(rate, "f"),
                **{
                    f"{k}_reporting": None if rate is None or k not in exact else shown(exact[k] * rate, currency)
                    for k in ROLLED_UP
                },
            }
        )
    return out


# --- utilisation, alerts, thresholds, the portfolio read model ----------------------------------------------


def utilisation_row(w: WeekLoad) -> dict[str, Any]:
    return {
        "resource_id": str(w.resource_id),
        "role": w.role,
        "week": w.week,
        "week_start": w.week_start.isoformat(),
        "capacity_hours": format(w.capacity, "f"),
        "allocated_hours": f"{w.allocated:.2f}",
        "approved_hours": format(w.approved, "f"),
        "allocation": format_ratio(w.allocation) if w.allocation is not None else None,
        "utilisation": format_ratio(w.utilisation) if w.utilisation is not None else None,
        "over_allocated": w.over_allocated,
    }


def alert_item(row: Any) -> dict[str, Any]:
    return {
        **{
            k: (v.isoformat() if hasattr(v, "isoformat") else str(v) if k == "project_id" else v)
            for k, v in row.items()
        }
    }


def alert_acknowledged(alert_id: str, state: alerts.Alert) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "acknowledged_by": state.acknowledged_by,
        "status": "open" if state.open else "cleared",
    }


def thresholds_state(portfolio_id: str, state: alerts.PortfolioThresholds) -> dict[str, Any]:
    return {
        "portfolio_id": portfolio_id,
        "thresholds": state.in_force,
        "change_requested": None
        if state.pending is None
        else {"thresholds": state.pending, "requested_by": state.requested_by, "looser": list(state.looser)},
    }


def thresholds_row(portfolio_id: str, row: Any) -> dict[str, Any]:
    return {
        "portfolio_id": portfolio_id,
        "thresholds": Thresholds.of(row.thresholds if row else {}).as_dict(),
        "configured": row is not None,
        "change_requested": None
        if row is None or row.pending is None
        else {"thresholds": row.pending, "requested_by": row.requested_by},
    }


PORTFOLIO_PROJECT_FIELDS = tuple(c for c in tables.PROJECT_COLUMNS if c not in ("currency", "planned_value"))
"""The columns of ``portfolio_projects`` a project's line shows as they are (``planned_value`` is Money)."""


def portfolio_project(row: Any) -> dict[str, Any]:
    view = {k: row[k] for k in PORTFOLIO_PROJECT_FIELDS}
    view["planned_value"] = Money.of(shown(Decimal(row["planned_value"]), row["currency"]), row["currency"])
    return view


def milestone_line(m: Any) -> dict[str, Any]:
    return {
        "milestone_id": m["milestone_id"],
        "name": m["name"],
        "due_date": m["due_date"],
        "planned_value": Money.of(shown(Decimal(m["planned_value"]), m["currency"]), m["currency"]),
    }
