"""Alerts: list with filters (JSON or CSV), acknowledge; thresholds per portfolio. Thin routes over
:mod:`reporting.handlers` and :mod:`reporting.queries`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from reporting import handlers, queries, views
from reporting.api.reports import Format
from shared.authz import InScope
from shared.bounds import RequestBody
from shared.service import Runtime
from shared.web import COMMAND_RESPONSES, Command, Paging, respond

router = APIRouter(tags=["alerts"], responses=COMMAND_RESPONSES)


class AcknowledgeBody(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"note": "Seen; the sponsor is informed"}]})

    note: Annotated[str, Field(max_length=2000)] = ""


class AlertAcknowledgedView(BaseModel):
    """The answer to acknowledging an alert (:func:`reporting.views.alerts.alert_acknowledged`)."""

    alert_id: str
    acknowledged_by: str | None
    status: Literal["open", "cleared"]


class ThresholdsView(BaseModel):
    """A portfolio's thresholds in force and the looser change awaiting approval, if any."""

    portfolio_id: str
    thresholds: dict[str, Any]
    change_requested: dict[str, Any] | None = Field(description="thresholds, requested_by and which are looser")


class ThresholdsBody(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"underfunding_risk": "0.10", "cpi_below": "0.85", "spi_below": "0.9"}]}
    )

    underfunding_risk: Annotated[str, Field(pattern=r"^0(\.\d{1,4})?$|^1(\.0{1,4})?$", examples=["0.05"])] = "0.05"
    cpi_below: Annotated[str, Field(pattern=r"^\d(\.\d{1,4})?$", examples=["0.9"])] = "0.9"
    spi_below: Annotated[str, Field(pattern=r"^\d(\.\d{1,4})?$", examples=["0.9"])] = "0.9"
    vac_below_bac_share: Annotated[str, Field(pattern=r"^-?0(\.\d{1,4})?$", examples=["-0.05"])] = "-0.05"
    status_report_days: Annotated[int, Field(ge=1, le=90)] = 7
    invoice_backing: Annotated[str, Field(pattern=r"^0(\.\d{1,4})?$|^1(\.0{1,4})?$", examples=["0.9"])] = "0.9"


@router.get("/alerts", operation_id="listAlerts")
async def list_alerts(
    rt: Runtime,
    paging: Paging,
    scope: InScope,
    status: Annotated[str | None, Query(pattern="^(open|cleared)$")] = None,
    rule: Annotated[str | None, Query(max_length=64)] = None,
    severity: Annotated[str | None, Query(pattern="^(warning|critical)$")] = None,
    project_id: Annotated[str | None, Query(max_length=36)] = None,
    portfolio_id: Annotated[str | None, Query(max_length=64)] = None,
    format: Format = "json",
) -> Any:
    """Alerts, newest first, filtered by status, rule, severity, project and portfolio (only the projects in the
    caller's scope)."""
    filters = {
        "status": status,
        "rule": rule,
        "severity": severity,
        "project_id": project_id,
        "portfolio_id": portfolio_id,
    }
    total, rows = await queries.alerts_page(rt.engine, filters, paging.limit, paging.offset, scope.where())
    items = [views.alert_item(row) for row in rows]
    if format == "csv":
        return views.csv_response(
            [{k: v for k, v in i.items() if k not in ("figures", "evidence")} for i in items], "alerts.csv"
        )
    return {"items": items, "total": total, "limit": paging.limit, "offset": paging.offset}


@router.post("/alerts/{alert_id}/acknowledge", operation_id="acknowledgeAlert", response_model=AlertAcknowledgedView)
async def acknowledge(
    alert_id: Annotated[str, Path(pattern="^[0-9a-f]{24}$")], body: AcknowledgeBody, ctx: Command, rt: Runtime
) -> JSONResponse:
    """A person acknowledges an open alert (it stays open until its condition ends)."""
    return respond(await handlers.acknowledge(rt.executor, ctx, alert_id, body.note))


PortfolioId = Annotated[str, Path(max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")]


@router.put(
    "/portfolios/{portfolio_id}/alert-thresholds", operation_id="setAlertThresholds", response_model=ThresholdsView
)
async def set_thresholds(portfolio_id: PortfolioId, body: ThresholdsBody, ctx: Command, rt: Runtime) -> JSONResponse:
    """The alert thresholds of a portfolio's projects (defaults: risk 5 %, CPI/SPI 0.9, VAC -5 % of BAC, 7 days).

    Stricter thresholds apply at once. Looser ones (any threshold that would raise fewer alerts) are only recorded
    as a request, shown in ``change_requested``, until another person approves them with
    ``POST /portfolios/{portfolio_id}/alert-thresholds/approve``: one user cannot silence a portfolio alone."""
    values = {k: str(v) for k, v in body.model_dump().items()}
    return respond(await handlers.set_thresholds(rt.executor, ctx, portfolio_id, values))


@router.post(
    "/portfolios/{portfolio_id}/alert-thresholds/approve",
    operation_id="approveAlertThresholds",
    response_model=ThresholdsView,
)
async def approve_thresholds(portfolio_id: PortfolioId, ctx: Command, rt: Runtime) -> JSONResponse:
    """Another person than the requester approves the loosening waiting for this portfolio; it applies at once."""
    return respond(await handlers.approve_thresholds(rt.executor, ctx, portfolio_id))


@router.get("/portfolios/{portfolio_id}/alert-thresholds", operation_id="getAlertThresholds")
async def get_thresholds(portfolio_id: Annotated[str, Path(max_length=64)], rt: Runtime) -> dict[str, Any]:
    return views.thresholds_row(portfolio_id, await queries.thresholds_row(rt.engine, portfolio_id))
