"""The portfolio report: a line per project, totals per currency with the underfunding risk, and the roll-up of
every line in the reporting currency."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from reporting.domain.amounts import shown
from reporting.domain.evm import evm
from reporting.domain.risk import RISK_LIMIT, MilestoneRisk, RiskSummary, summary
from reporting.views.parts import format_ratio, identity


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
