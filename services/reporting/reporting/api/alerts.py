"""Alerts: list with filters (JSON or CSV), acknowledge; thresholds per portfolio."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import Field
from sqlalchemy import text

from reporting.api.reports import Format, csv_response
from reporting.domain import alerts
from reporting.evaluation import thresholds_from
from shared.bounds import RequestBody
from shared.service import Runtime
from shared.web import COMMAND_RESPONSES, Command, Paging, respond

router = APIRouter(tags=["alerts"], responses=COMMAND_RESPONSES)
ALERTS = alerts.ALERT
THRESHOLDS = alerts.THRESHOLDS


class AcknowledgeBody(RequestBody):
    note: Annotated[str, Field(max_length=2000)] = ""


class ThresholdsBody(RequestBody):
    underfunding_risk: Annotated[str, Field(pattern=r"^0(\.\d{1,4})?$|^1(\.0{1,4})?$", examples=["0.05"])] = "0.05"
    cpi_below: Annotated[str, Field(pattern=r"^\d(\.\d{1,4})?$", examples=["0.9"])] = "0.9"
    spi_below: Annotated[str, Field(pattern=r"^\d(\.\d{1,4})?$", examples=["0.9"])] = "0.9"
    vac_below_bac_share: Annotated[str, Field(pattern=r"^-?0(\.\d{1,4})?$", examples=["-0.05"])] = "-0.05"
    status_report_days: Annotated[int, Field(ge=1, le=90)] = 7
    invoice_backing: Annotated[str, Field(pattern=r"^0(\.\d{1,4})?$|^1(\.0{1,4})?$", examples=["0.9"])] = "0.9"


@router.get("/alerts")
async def list_alerts(
    rt: Runtime,
    paging: Paging,
    status: Annotated[str | None, Query(pattern="^(open|cleared)$")] = None,
    rule: Annotated[str | None, Query(max_length=64)] = None,
    severity: Annotated[str | None, Query(pattern="^(warning|critical)$")] = None,
    project_id: Annotated[str | None, Query(max_length=36)] = None,
    portfolio_id: Annotated[str | None, Query(max_length=64)] = None,
    format: Format = "json",
) -> Any:
    """Alerts, newest first, filtered by status, rule, severity, project and portfolio."""
    filters = {
        "status": status,
        "rule": rule,
        "severity": severity,
        "project_id": project_id,
        "portfolio_id": portfolio_id,
    }
    used = {k: v for k, v in filters.items() if v is not None}
    where = " AND ".join(["TRUE", *(f"{k}::text = :{k}" for k in used)])
    params: dict[str, Any] = {**used, "limit": paging.limit, "offset": paging.offset}
    async with rt.engine.connect() as conn:
        total = (await conn.execute(text(f"SELECT count(*) FROM alerts WHERE {where}"), params)).scalar_one()
        rows = (
            await conn.execute(
                text(
                    f"SELECT * FROM alerts WHERE {where} ORDER BY updated_at DESC, alert_id LIMIT :limit OFFSET :offset"
                ),
                params,
            )
        ).mappings()
        items = [
            {
                **{
                    k: (v.isoformat() if hasattr(v, "isoformat") else str(v) if k == "project_id" else v)
                    for k, v in row.items()
                }
            }
            for row in rows
        ]
    if format == "csv":
        return csv_response(
            [{k: v for k, v in i.items() if k not in ("figures", "evidence")} for i in items], "alerts.csv"
        )
    return {"items": items, "total": total, "limit": paging.limit, "offset": paging.offset}


@router.post("/alerts/{alert_id}/acknowledge")
async def acknowledge(
    alert_id: Annotated[str, Path(pattern="^[0-9a-f]{24}$")], body: AcknowledgeBody, ctx: Command, rt: Runtime
) -> JSONResponse:
    """A person acknowledges an open alert (it stays open until its condition ends)."""
    outcome = await rt.executor.execute(
        ctx,
        aggregate=ALERTS,
        stream_id=alerts.stream_id(alert_id),
        command=alerts.Acknowledge(ctx.metadata.actor, body.note),
        respond=lambda state, events, version: {
            "alert_id": alert_id,
            "acknowledged_by": state.acknowledged_by,
            "status": "open" if state.open else "cleared",
        },
    )
    return respond(outcome)


PortfolioId = Annotated[str, Path(max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")]


def _thresholds_view(portfolio_id: str, state: alerts.PortfolioThresholds) -> dict[str, Any]:
    return {
        "portfolio_id": portfolio_id,
        "thresholds": state.in_force,
        "change_requested": None
        if state.pending is None
        else {"thresholds": state.pending, "requested_by": state.requested_by, "looser": list(state.looser)},
    }


@router.put("/portfolios/{portfolio_id}/alert-thresholds")
async def set_thresholds(portfolio_id: PortfolioId, body: ThresholdsBody, ctx: Command, rt: Runtime) -> JSONResponse:
    """The alert thresholds of a portfolio's projects (defaults: risk 5 %, CPI/SPI 0.9, VAC -5 % of BAC, 7 days).

    Stricter thresholds apply at once. Looser ones (any threshold that would raise fewer alerts) are only recorded
    as a request, shown in ``change_requested``, until another person approves them with
    ``POST /portfolios/{portfolio_id}/alert-thresholds/approve``: one user cannot silence a portfolio alone."""
    values = {k: str(v) for k, v in body.model_dump().items()}
    thresholds_from(values)  # parses, or 422 through validation above
    outcome = await rt.executor.execute(
        ctx,
        aggregate=THRESHOLDS,
        stream_id=f"thresholds-{portfolio_id}",
        command=alerts.SetThresholds(portfolio_id, values, ctx.metadata.actor),
        respond=lambda state, events, version: _thresholds_view(portfolio_id, state),
    )
    return respond(outcome)


@router.post("/portfolios/{portfolio_id}/alert-thresholds/approve")
async def approve_thresholds(portfolio_id: PortfolioId, ctx: Command, rt: Runtime) -> JSONResponse:
    """Another person than the requester approves the loosening waiting for this portfolio; it applies at once."""
    outcome = await rt.executor.execute(
        ctx,
        aggregate=THRESHOLDS,
        stream_id=f"thresholds-{portfolio_id}",
        command=alerts.ApproveThresholds(portfolio_id, ctx.metadata.actor),
        respond=lambda state, events, version: _thresholds_view(portfolio_id, state),
    )
    return respond(outcome)


@router.get("/portfolios/{portfolio_id}/alert-thresholds")
async def get_thresholds(portfolio_id: Annotated[str, Path(max_length=64)], rt: Runtime) -> dict[str, Any]:
    async with rt.engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT thresholds, pending, requested_by FROM thresholds WHERE portfolio_id = :p"),
                {"p": portfolio_id},
            )
        ).first()
    return {
        "portfolio_id": portfolio_id,
        "thresholds": thresholds_from(row.thresholds if row else {}).as_dict(),
        "configured": row is not None,
        "change_requested": None
        if row is None or row.pending is None
        else {"thresholds": row.pending, "requested_by": row.requested_by},
    }
