"""Alerts: list with filters (JSON or CSV), acknowledge; thresholds per portfolio. Thin routes over
:mod:`reporting.handlers` and :mod:`reporting.queries`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from reporting import handlers, queries, views
from reporting.api.reports import Format
from shared.authz import InScope
from shared.bounds import RequestBody
from shared.service import Runtime
from shared.web import COMMAND_RESPONSES, Command, Page, Paging, respond

router = APIRouter(tags=["alerts"], responses=COMMAND_RESPONSES)


class AcknowledgeBody(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"note": "Seen; the sponsor is informed"}]})

    note: Annotated[str, Field(max_length=2000)] = ""


class AlertItem(BaseModel):
    """An alert as listed (:func:`reporting.views.alerts.alert_item`): its rule, subject, severity and life, the
    figures that raised it and the ids of the events behind them."""

    alert_id: str
    project_id: uuid.UUID
    portfolio_id: str | None
    rule: str
    subject: str
    status: Literal["open", "cleared"]
    severity: Literal["warning", "critical"]
    title: str
    figures: dict[str, Any] = Field(description="the figures of the alert's rule: their names depend on the rule")
    evidence: list[uuid.UUID] = Field(description="the events behind the figures")
    acknowledged_by: str | None
    raised_at: datetime
    updated_at: datetime
    cleared_at: datetime | None
    version: int


class AlertAcknowledgedView(BaseModel):
    """The answer to acknowledging an alert (:func:`reporting.views.alerts.alert_acknowledged`)."""

    alert_id: str
    acknowledged_by: str | None
    status: Literal["open", "cleared"]


class ThresholdsChange(BaseModel):
    """Looser thresholds requested, waiting for another person's approval."""

    thresholds: dict[str, str] = Field(description="every threshold as requested, by name (exact decimals as text)")
    requested_by: str | None
    looser: list[str] = Field(default=[], description="the thresholds that would raise fewer alerts (commands only)")


class ThresholdsView(BaseModel):
    """A portfolio's thresholds in force (by name: ``underfunding_risk``, ``invoice_backing``, ``cpi_below``,
    ``spi_below``, ``vac_below_bac_share``, ``status_report_days``; exact decimals as text) and the looser change
    awaiting approval, if any (:func:`reporting.views.alerts.thresholds_state`)."""

    portfolio_id: str
    thresholds: dict[str, str]
    change_requested: ThresholdsChange | None


class ThresholdsRead(ThresholdsView):
    """A portfolio's thresholds as read (:func:`reporting.views.alerts.thresholds_row`): the defaults until
    ``configured``."""

    configured: bool


class ThresholdsBody(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"underfunding_risk": "0.10", "cpi_below": "0.85", "spi_below": "0.9"}]}
    )

    underfunding_risk: Annotated[str, Field(pattern=r"^0(\.[0-9]{1,4})?$|^1(\.0{1,4})?$", examples=["0.05"])] = "0.05"
    cpi_below: Annotated[str, Field(pattern=r"^[0-9](\.[0-9]{1,4})?$", examples=["0.9"])] = "0.9"
    spi_below: Annotated[str, Field(pattern=r"^[0-9](\.[0-9]{1,4})?$", examples=["0.9"])] = "0.9"
    vac_below_bac_share: Annotated[str, Field(pattern=r"^-?0(\.[0-9]{1,4})?$", examples=["-0.05"])] = "-0.05"
    status_report_days: Annotated[int, Field(ge=1, le=90)] = 7
    invoice_backing: Annotated[str, Field(pattern=r"^0(\.[0-9]{1,4})?$|^1(\.0{1,4})?$", examples=["0.9"])] = "0.9"


@router.get("/alerts", operation_id="listAlerts", response_model=None, responses={200: {"model": Page[AlertItem]}})
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


@router.get(
    "/portfolios/{portfolio_id}/alert-thresholds",
    operation_id="getAlertThresholds",
    response_model=None,
    responses={200: {"model": ThresholdsRead}},
)
async def get_thresholds(portfolio_id: Annotated[str, Path(max_length=64)], rt: Runtime) -> dict[str, Any]:
    return views.thresholds_row(portfolio_id, await queries.thresholds_row(rt.engine, portfolio_id))
