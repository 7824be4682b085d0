"""The project reports' answers (:mod:`reporting.views`), described for OpenAPI; answers are never re-validated.
Amounts are exact decimal text in the project's currency, rounded once (half-even to its minor unit)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

Amount = str
"""An exact decimal amount in the project's currency, rounded once."""


class CashFlowMonth(BaseModel):
    """One month of the cash flow (:func:`reporting.views.cash_flow_month`): ``actual`` and ``cash`` are null after
    the report's month."""

    month: str = Field(description="YYYY-MM")
    baseline: Amount
    baseline_cumulative: Amount
    committed: Amount
    committed_cumulative: Amount
    actual: Amount | None
    actual_cumulative: Amount | None
    cash: Amount | None
    cash_cumulative: Amount | None
    forecast: Amount
    forecast_cumulative: Amount


class MonthSpan(BaseModel):
    from_: str = Field(alias="from", description="YYYY-MM")
    to: str = Field(description="YYYY-MM")


class EstimateUsed(BaseModel):
    """The estimate to complete the forecast follows."""

    event_id: str
    as_of: date
    submitted_by: str
    total: Amount


class CashFlowForecast(BaseModel):
    """How the forecast is made: its basis and rule, the cut-off, what remains, BAC and EV, the estimate used."""

    basis: Literal["estimate", "baseline-phasing", "actual-only"]
    rule: str
    cut_off: date
    remaining: Amount | None
    bac: Amount | None
    ev: Amount
    estimate: EstimateUsed | None


class CashFlowTotals(BaseModel):
    baseline: Amount
    committed: Amount
    actual: Amount
    cash: Amount
    forecast: Amount


class CashFlow(BaseModel):
    """A project's time-phased forecast and cash flow per month (:func:`reporting.views.cash_flow`)."""

    project_id: uuid.UUID
    currency: str
    as_of: date
    known_at: datetime | None
    from_: str | None = Field(alias="from", description="the first month shown, YYYY-MM")
    to: str | None = Field(description="the last month shown, YYYY-MM")
    span: MonthSpan = Field(description="the project's months by default (before the 120-month cut)")
    truncated: bool
    forecast: CashFlowForecast
    totals: CashFlowTotals
    months: list[CashFlowMonth]


class UtilisationRow(BaseModel):
    """A person's ISO week (:func:`reporting.views.utilisation_row`): hours as exact decimal text, ratios with 4
    decimals (null without capacity)."""

    resource_id: uuid.UUID
    role: str
    week: str = Field(description="the ISO week, e.g. 2027-W05")
    week_start: date
    capacity_hours: str
    allocated_hours: str
    approved_hours: str
    allocation: str | None = Field(description="allocated / capacity")
    utilisation: str | None = Field(description="approved / capacity")
    over_allocated: bool


class UtilisationReport(BaseModel):
    """Per person and ISO week from the week of ``from``, ``weeks`` weeks, as known at ``known_at``."""

    from_: date = Field(alias="from")
    weeks: int
    known_at: datetime | None
    rows: list[UtilisationRow]


class SCurvePoint(BaseModel):
    """The EVM figures at the end of one week (:func:`reporting.views.s_curve_point`): amounts in the project's
    currency, CPI and SPI with 4 decimals; null where a figure is undefined."""

    date: date
    pv: str | None
    ev: str | None
    ac: str | None
    cpi: str | None
    spi: str | None


class SCurve(BaseModel):
    """PV, EV, AC, CPI and SPI at the end of every week from the project's start to ``as_of``
    (:func:`reporting.handlers.s_curve`)."""

    project_id: uuid.UUID
    currency: str
    as_of: date
    known_at: datetime | None
    points: list[SCurvePoint]


class EvidenceEvent(BaseModel):
    """An event behind a figure: its id, type, producing service and recording time (null when the event is not
    among the facts read), what it contributes and its amount."""

    event_id: str | None
    type: str | None
    service: str | None
    recorded_at: datetime | None
    what: str
    amount: str | None


class ExplainedFigure(BaseModel):
    """An EVM figure with the figures it is computed from and the events behind it
    (:func:`reporting.views.explained_figure`)."""

    project_id: uuid.UUID
    figure: str
    as_of: date
    known_at: datetime | None
    value: str | None = Field(description="null when the figure is undefined (see reason)")
    kind: Literal["money", "ratio", "percent"]
    reason: str | None
    computed_from: dict[str, str | None] = Field(description="each input figure by name, as shown")
    events: list[EvidenceEvent]
