"""Reports: EVM figures per project, portfolio and programme, as of any date; S-curves; explanations; CSV.

Thin routes over :mod:`reporting.handlers`; the dashboard and a benchmark may call them as functions too.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from reporting import handlers, queries
from reporting.api import report_models as rm
from reporting.queries import reading
from reporting.views import CASH_FLOW_AMOUNTS, csv_response
from shared.authz import InScope
from shared.bounds import Day, Instant
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


@router.get(
    "/reports/projects/{project_id}",
    operation_id="getProjectReport",
    response_model=None,
    responses={200: {"model": rm.ProjectReport}},
)
async def project_report(
    project_id: ProjectIdPath, rt: Runtime, as_of: AsOf = None, format: Format = "json", known_at: KnownAt = None
) -> Any:
    """EVM figures (null with a reason when undefined), underfunding risk per open milestone, status freshness,
    KPI attainment, and the alert conditions that hold, as of a business date and as known at a moment."""
    day, report = await handlers.project_report(*reading(rt), project_id, as_of, known_at)
    if format == "csv":
        rows = [{"figure": k, **v} for k, v in report["figures"].items()]
        return csv_response(rows, f"project-{project_id}-{day}.csv")
    return report


@router.get(
    "/reports/projects/{project_id}/s-curve",
    operation_id="getSCurve",
    response_model=None,
    responses={200: {"model": rm.SCurve}},
)
async def s_curve(
    project_id: ProjectIdPath, rt: Runtime, as_of: AsOf = None, format: Format = "json", known_at: KnownAt = None
) -> Any:
    """PV, EV, AC, CPI and SPI at the end of every week from the project's start to the date (as known at a
    moment, when given)."""
    day, curve = await handlers.s_curve(*reading(rt), project_id, as_of, known_at)
    if format == "csv":
        return csv_response(curve["points"], f"s-curve-{project_id}-{day}.csv")
    return curve


MONTH = r"^(19[0-9]{2}|2[01][0-9]{2})-(0[1-9]|1[0-2])$"
FromMonth = Annotated[
    str | None,
    Query(alias="from", pattern=MONTH, description="first month, YYYY-MM (default: the project's start)"),
]
ToMonth = Annotated[
    str | None,
    Query(alias="to", pattern=MONTH, description="last month, YYYY-MM; at most 120 months after from (default: the "
          "later of the project's end and its last forecast month)"),
]  # fmt: skip


@router.get(
    "/reports/projects/{project_id}/cashflow",
    operation_id="getCashFlow",
    response_model=None,
    responses={200: {"model": rm.CashFlow}},
)
async def cash_flow(
    project_id: ProjectIdPath,
    rt: Runtime,
    as_of: AsOf = None,
    known_at: KnownAt = None,
    from_month: FromMonth = None,
    to_month: ToMonth = None,
) -> dict[str, Any]:
    """The time-phased forecast and cash flow per month (at most 120): planned value of the baseline, commitments'
    expected invoices, accrual and cash actual cost, and the forecast (the latest estimate to complete, else BAC - EV
    spread by the baseline's phasing), in the project's currency, as of a date and as known at a moment."""
    _, flow = await handlers.cash_flow(*reading(rt), project_id, as_of, known_at, from_month, to_month)
    return flow


@router.get(
    "/reports/projects/{project_id}/cashflow.csv",
    operation_id="getCashFlowCsv",
    response_class=Response,
    responses={200: {"description": "One row a month", "content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def cash_flow_csv(
    project_id: ProjectIdPath,
    rt: Runtime,
    as_of: AsOf = None,
    known_at: KnownAt = None,
    from_month: FromMonth = None,
    to_month: ToMonth = None,
) -> Response:
    """The cash flow's months as CSV (one row a month; ``actual`` and ``cash`` empty after the report's month)."""
    day, flow = await handlers.cash_flow(*reading(rt), project_id, as_of, known_at, from_month, to_month)
    return csv_response(flow["months"], f"cashflow-{project_id}-{day}.csv", ["month", *CASH_FLOW_AMOUNTS])


@router.get(
    "/reports/projects/{project_id}/explain/{figure}",
    operation_id="explainFigure",
    response_model=None,
    responses={200: {"model": rm.ExplainedFigure}},
)
async def explain(
    project_id: ProjectIdPath,
    figure: Annotated[str, Path(pattern="^[a-z_]+$")],
    rt: Runtime,
    as_of: AsOf = None,
    known_at: KnownAt = None,
) -> dict[str, Any]:
    """The events behind a figure (ids, types, amounts), and the figures it is computed from."""
    return await handlers.explain_figure(*reading(rt), project_id, figure, as_of, known_at)


@router.get(
    "/reports/portfolio",
    operation_id="getPortfolioReport",
    response_model=None,
    responses={200: {"model": rm.PortfolioReport}},
)
async def portfolio_report(
    rt: Runtime,
    scope: InScope,
    as_of: AsOf = None,
    portfolio_id: Annotated[str | None, Query(max_length=64)] = None,
    programme_id: Annotated[str | None, Query(max_length=64)] = None,
    format: Format = "json",
    known_at: KnownAt = None,
    currency: Annotated[
        str | None,
        Query(pattern="^[A-Z]{3}$", description="ISO 4217 currency of the roll-up (default: PMO_REPORTING_CURRENCY)"),
    ] = None,
) -> Any:
    """Every project's headline figures as of a date (and as known at a moment), the totals per currency, and their
    roll-up in the reporting currency at the exchange rates in force on the date (a project whose currency has no
    rate listed under ``unconverted``), of the portfolio or programme; only the projects in the caller's scope."""
    day, rows, report = await handlers.portfolio_report(
        *reading(rt, await scope.project_ids(rt.engine)),
        getattr(rt, "memo", None),
        as_of=as_of,
        portfolio_id=portfolio_id,
        programme_id=programme_id,
        known_at=known_at,
        currency=currency or queries.reporting_currency(rt),
    )
    if format == "csv":
        return csv_response(rows, f"portfolio-{day}.csv")
    return report


async def utilisation_rows(
    rt: ServiceRuntime, start: date, weeks: int, known_at: datetime | None = None
) -> list[dict[str, Any]]:
    """:func:`reporting.handlers.utilisation_rows` over the runtime's tables."""
    return await handlers.utilisation_rows(queries.Ledger(rt.engine), start, weeks, known_at)


@router.get(
    "/reports/utilisation",
    operation_id="getUtilisationReport",
    response_model=None,
    responses={200: {"model": rm.UtilisationReport}},
)
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
    facts, now = reading(rt)
    start = from_date or (now().date() - timedelta(weeks=4))
    rows = await handlers.utilisation_rows(facts, start, weeks, handlers.checked_known_at(now, known_at))
    if format == "csv":
        return csv_response(rows, f"utilisation-{start}.csv")
    known = None if known_at is None else known_at.isoformat()
    return {"from": start.isoformat(), "weeks": weeks, "known_at": known, "rows": rows}
