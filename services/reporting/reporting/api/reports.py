"""Reports: EVM figures per project, portfolio and programme, as of any date; S-curves; explanations; CSV."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from sqlalchemy import text

from reporting.domain.evm import Evm, evm
from reporting.domain.ledger import book
from reporting.evaluation import (
    BooksOn,
    book_versions,
    load_books_of,
    load_facts,
    load_facts_of,
    load_thresholds,
    report_on,
    week_ends,
)
from shared.bounds import Day, Instant
from shared.csvsafe import csv_text
from shared.errors import InvalidCommandError, NotFoundError
from shared.service import Runtime, ServiceRuntime
from shared.web import COMMAND_RESPONSES

router = APIRouter(tags=["reports"], responses={404: COMMAND_RESPONSES[404]})
ProjectIdPath = Annotated[uuid.UUID, Path(description="Project id")]
AsOf = Annotated[
    Day | None,
    Query(description="business date: the figures effective at the end of this day, with everything known now "
          "(default: today)"),
]  # fmt: skip
KnownAt = Annotated[
    Instant | None,
    Query(description="only what had been recorded by then: a date (its end, UTC) or an ISO 8601 timestamp; "
          "reproduces a report as it was shown at that moment (default: everything known now)"),
]  # fmt: skip
Format = Annotated[str, Query(pattern="^(json|csv)$", description="json (default) or csv")]
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
)


def _as_of(rt: ServiceRuntime, as_of: date | None) -> date:
    return as_of or rt.executor.clock.now().date()


def _known_at(rt: ServiceRuntime, known_at: datetime | None) -> datetime | None:
    """``known_at`` checked: a moment in the future cannot have been known (422)."""
    if known_at is not None and known_at > rt.executor.clock.now() + timedelta(seconds=1):
        raise InvalidCommandError("known_at must not be in the future", field="known_at")
    return known_at


def _axes(day: date, known_at: datetime | None) -> dict[str, str | None]:
    return {"as_of": day.isoformat(), "known_at": None if known_at is None else known_at.isoformat()}


def figures_view(result: Evm) -> dict[str, Any]:
    return {
        name: {"value": fig.shown(result.currency), "kind": fig.kind, "reason": fig.reason}
        for name, fig in result.figures.items()
    }


def csv_response(rows: list[dict[str, Any]], filename: str) -> Response:
    """``rows`` as a CSV attachment; every cell goes through :func:`shared.csvsafe.neutralise` (no formulas)."""
    return Response(
        csv_text(rows), media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


async def _project_facts(rt: ServiceRuntime, project_id: uuid.UUID, known_at: datetime | None = None) -> list[Any]:
    facts = await load_facts(rt.engine, project_id, _known_at(rt, known_at))
    if not any(f.name == "project-registered" for f in facts):
        if known_at is not None and await load_facts(rt.engine, project_id):
            raise NotFoundError(f"project {project_id} was registered after {known_at.isoformat()}: not yet known then")
        raise NotFoundError(f"project {project_id} is not known to reporting (yet)")
    return facts


async def _books_on(rt: ServiceRuntime, project_id: uuid.UUID, known_at: datetime | None) -> BooksOn:
    """The project's books on any date: its stored books (kept as facts arrive: the cost does not grow with its
    history), or, as known at a moment, the ledger's fold of the facts recorded by then."""
    if known_at is not None:
        facts = await _project_facts(rt, project_id, known_at)
        return lambda day: book(project_id, facts, day)
    stored = (await load_books_of(rt.engine, [project_id])).get(project_id)
    if stored is None or not stored.registrations:
        raise NotFoundError(f"project {project_id} is not known to reporting (yet)")
    return stored.at


@router.get("/reports/projects/{project_id}")
async def project_report(
    project_id: ProjectIdPath, rt: Runtime, as_of: AsOf = None, format: Format = "json", known_at: KnownAt = None
) -> Any:
    """EVM figures (null with a reason when undefined), underfunding risk per open milestone, status freshness,
    KPI attainment, and the alert conditions that hold, as of a business date and as known at a moment."""
    day = _as_of(rt, as_of)
    books_on = await _books_on(rt, project_id, known_at)
    books = books_on(day)
    result = report_on(books_on, day, await load_thresholds(rt.engine, books.portfolio_id))
    figures = figures_view(result.figures)
    if format == "csv":
        return csv_response([{"figure": k, **v} for k, v in figures.items()], f"project-{project_id}-{day}.csv")
    last_report = books.last_report_on
    return {
        "project_id": str(project_id),
        "code": books.code,
        "name": books.name,
        "status": books.status,
        "portfolio_id": books.portfolio_id,
        "programme_id": books.programme_id,
        "currency": books.currency,
        **_axes(day, known_at),
        "figures": figures,
        "underfunding_risk": [
            {
                "milestone_id": str(r.milestone_id),
                "name": r.name,
                "due_date": r.due_date.isoformat(),
                "probability": format_ratio(r.probability),
                "needed": _money(r.needed),
                "available": _money(r.available),
                "inputs": {
                    "actual_cost": _money(r.actual_cost),
                    "commitments_due": _money(r.commitments_due),
                    "remaining_planned_value": _money(r.remaining_planned_value),
                    "cpi_used": str(r.cpi_used),
                    "spread": _money(r.spread),
                },
                "driver": r.driver,
            }
            for r in result.risks
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
            "categories": _categories(books),
            "funding_available": _money(
                sum(
                    (
                        t.amount
                        for t in books.tranches.values()
                        if t.available_on <= day and (t.withdrawn_on is None or t.withdrawn_on > day)
                    ),
                    Decimal(0),
                )
            ),
            "spent": figures["ac"]["value"],
        },
        "invoices": _invoices(books, day),
        "conditions": [
            {"rule": c.rule, "subject": c.subject, "severity": c.severity, "title": c.title} for c in result.conditions
        ],
    }


def _categories(books: Any) -> list[dict[str, Any]]:
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
                "budget": _money(budget),
                "committed": _money(committed),
                "actual": _money(spent),
                "remaining": _money(budget - max(committed, spent)),
            }
        )
    return rows


def _invoices(books: Any, day: date) -> dict[str, Any]:
    from reporting.domain.rules import invoice_backing

    invoiced, backed, ratio = invoice_backing(books)
    live = [x for x in books.invoices.values() if x.live]
    unpaid = sum((x.total - x.paid for x in live if not x.fully_paid), Decimal(0))
    overdue = sum((x.total - x.paid for x in live if not x.fully_paid and x.due_on < day), Decimal(0))
    return {
        "invoiced": _money(invoiced),
        "backed": _money(backed),
        "backing_ratio": format_ratio(ratio) if ratio is not None else None,
        "unpaid": _money(unpaid),
        "overdue": _money(overdue),
        "without_backing": [
            {
                "invoice_id": str(x.invoice_id),
                "vendor": x.vendor,
                "number": x.number,
                "net": _money(x.net),
                "backed": _money(x.backed or Decimal(0)),
                "status": x.status,
            }
            for x in live
            if x.matched is False
        ],
    }


def format_ratio(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.0001")), "f")


def _money(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")), "f")


@router.get("/reports/projects/{project_id}/s-curve")
async def s_curve(
    project_id: ProjectIdPath, rt: Runtime, as_of: AsOf = None, format: Format = "json", known_at: KnownAt = None
) -> Any:
    """PV, EV, AC, CPI and SPI at the end of every week from the project's start to the date (as known at a
    moment, when given)."""
    day = _as_of(rt, as_of)
    books_on = await _books_on(rt, project_id, known_at)
    books = books_on(day)
    start = books.planned_start or day
    points = []
    for week_end in week_ends(min(start, day), day):
        result = evm(books_on(week_end), week_end)
        points.append(
            {
                "date": week_end.isoformat(),
                **{k: result[k].shown(books.currency) for k in ("pv", "ev", "ac", "cpi", "spi")},
            }
        )
    if format == "csv":
        return csv_response(points, f"s-curve-{project_id}-{day}.csv")
    return {"project_id": str(project_id), "currency": books.currency, **_axes(day, known_at), "points": points}


@router.get("/reports/projects/{project_id}/explain/{figure}")
async def explain(
    project_id: ProjectIdPath,
    figure: Annotated[str, Path(pattern="^[a-z_]+$")],
    rt: Runtime,
    as_of: AsOf = None,
    known_at: KnownAt = None,
) -> dict[str, Any]:
    """The events behind a figure (ids, types, amounts), and the figures it is computed from."""
    if figure not in FIGURES:
        raise NotFoundError(f"no figure named {figure}; one of: {', '.join(FIGURES)}")
    day = _as_of(rt, as_of)
    facts = await _project_facts(rt, project_id, known_at)
    by_id = {f.event_id: f for f in facts}
    books = book(project_id, facts, day)
    result = evm(books, day)
    fig = result[figure]
    return {
        "project_id": str(project_id),
        "figure": figure,
        **_axes(day, known_at),
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
                "amount": None if e.amount is None else format(e.amount, "f"),
            }
            for e in fig.evidence
        ],
    }


@router.get("/reports/portfolio")
async def portfolio_report(
    rt: Runtime,
    as_of: AsOf = None,
    portfolio_id: Annotated[str | None, Query(max_length=64)] = None,
    programme_id: Annotated[str | None, Query(max_length=64)] = None,
    format: Format = "json",
    known_at: KnownAt = None,
) -> Any:
    """Every project's headline figures as of a date (and as known at a moment), and the totals per currency
    (portfolio or programme)."""
    day = _as_of(rt, as_of)
    rows: list[dict[str, Any]] = []
    totals: dict[str, dict[str, Decimal]] = {}
    if known_at is None:
        headlines = await _current_headlines(rt, day)
    else:  # what was known then: the facts recorded by then, folded
        known = await load_facts_of(rt.engine, None, _known_at(rt, known_at))
        headlines = [_headline(pid, book(pid, facts, day), day) for pid, facts in known.items()]
    for h in headlines:
        if h.row is None:
            continue
        if portfolio_id is not None and h.row["portfolio_id"] != portfolio_id:
            continue
        if programme_id is not None and h.row["programme_id"] != programme_id:
            continue
        rows.append(dict(h.row))
        total = totals.setdefault(h.row["currency"], dict.fromkeys(("bac", "pv", "ev", "ac"), Decimal(0)))
        for k in total:
            total[k] += h.values[k]
    rows.sort(key=lambda r: str(r["code"]))
    if format == "csv":
        return csv_response(rows, f"portfolio-{day}.csv")
    rollup = []
    for currency, t in sorted(totals.items()):
        cpi = t["ev"] / t["ac"] if t["ac"] else None
        spi = t["ev"] / t["pv"] if t["pv"] else None
        rollup.append(
            {
                "currency": currency,
                **{k: _money(v) for k, v in t.items()},
                "cpi": format_ratio(cpi) if cpi is not None else None,
                "spi": format_ratio(spi) if spi is not None else None,
            }
        )
    return {
        **_axes(day, known_at),
        "portfolio_id": portfolio_id,
        "programme_id": programme_id,
        "projects": rows,
        "totals": rollup,
    }


@dataclass(frozen=True)
class _Headline:
    """A project's line of the portfolio report on a date (``row`` None before its registration arrived) and the
    exact amounts the totals add up."""

    row: dict[str, Any] | None
    values: dict[str, Decimal]


HEADLINES_KEPT = 50_000
"""Lines of the portfolio report a reporting process remembers: one per project, books version and date."""


def _headline(project_id: uuid.UUID, books: Any, day: date) -> _Headline:
    if not books.currency:
        return _Headline(None, {})
    result = evm(books, day)
    row = {
        "project_id": str(project_id),
        "code": books.code,
        "name": books.name,
        "status": books.status,
        "portfolio_id": books.portfolio_id,
        "programme_id": books.programme_id,
        "currency": books.currency,
        **{k: result[k].shown(books.currency) for k in ("bac", "pv", "ev", "ac", "cpi", "spi", "eac_cpi", "vac")},
    }
    return _Headline(row, {k: result.value(k) or Decimal(0) for k in ("bac", "pv", "ev", "ac")})


async def _current_headlines(rt: Any, day: date) -> list[_Headline]:
    """Every project's line on ``day`` from its stored books. A line depends only on the books' version (their
    count of facts) and the date, so a process remembers it and reads again only the books that changed since:
    the report's cost is one small query plus the projects whose facts moved."""
    memo = getattr(rt, "memo", None)
    kept: OrderedDict[tuple[uuid.UUID, int, date], _Headline] = (
        memo.setdefault("portfolio-headlines", OrderedDict()) if memo is not None else OrderedDict()
    )
    versions = await book_versions(rt.engine)
    missing = [pid for pid, n in versions.items() if (pid, n, day) not in kept]
    loaded = await load_books_of(rt.engine, missing) if missing else {}
    out = []
    for pid, n in versions.items():
        key = (pid, n, day)
        if key in kept:
            kept.move_to_end(key)
        elif pid in loaded:
            kept[key] = _headline(pid, loaded[pid].at(day), day)
        else:
            continue  # its books changed between the two queries: on the next report
        out.append(kept[key])
    while len(kept) > HEADLINES_KEPT:
        kept.popitem(last=False)
    return out


async def utilisation_rows(
    rt: ServiceRuntime, start: date, weeks: int, known_at: datetime | None = None
) -> list[dict[str, Any]]:
    from reporting.domain.ledger import Fact
    from reporting.domain.utilisation import loads

    async with rt.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT event_id, 'resources' AS service, name, version, recorded_at, data FROM resource_facts "
                "WHERE CAST(:k AS timestamptz) IS NULL OR recorded_at <= :k "
                "UNION ALL SELECT event_id, service, name, version, recorded_at, data FROM facts "
                "WHERE service = 'resources' AND (CAST(:k AS timestamptz) IS NULL OR recorded_at <= :k)"
            ),
            {"k": known_at},
        )
        facts = [Fact(r.event_id, r.service, r.name, r.version, r.recorded_at, r.data) for r in rows]
    monday = start - timedelta(days=start.weekday())
    return [
        {
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
        for w in loads(facts, [monday + timedelta(weeks=i) for i in range(weeks)])
    ]


@router.get("/reports/utilisation")
async def utilisation(
    rt: Runtime,
    from_date: Annotated[
        Day | None, Query(description="first week (the week of this date); default: 4 weeks ago")
    ] = None,
    weeks: Annotated[int, Query(ge=1, le=104)] = 12,
    format: Format = "json",
    known_at: KnownAt = None,
) -> Any:
    """Per person and ISO week: capacity, allocated and approved hours, allocation and utilisation ratios, and
    whether the person is allocated past capacity."""
    start = from_date or (rt.executor.clock.now().date() - timedelta(weeks=4))
    rows = await utilisation_rows(rt, start, weeks, _known_at(rt, known_at))
    if format == "csv":
        return csv_response(rows, f"utilisation-{start}.csv")
    known = None if known_at is None else known_at.isoformat()
    return {"from": start.isoformat(), "weeks": weeks, "known_at": known, "rows": rows}
