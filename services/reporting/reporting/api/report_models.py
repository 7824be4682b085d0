"""The project reports' answers (:mod:`reporting.views`), described for OpenAPI; answers are never re-validated.
Amounts are exact decimal text in the project's currency, rounded once (half-even to its minor unit)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from shared.money import Money

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


# --- a project's report (:func:`reporting.views.project_report`) ------------------------------------------------

Ratio = str
"""A ratio (CPI, SPI, a probability, a share) as exact decimal text with 4 decimals (:func:`reporting.views.
format_ratio`)."""
FigureKind = Literal["money", "ratio", "percent"]


class ReportedFigure(BaseModel):
    """An EVM figure as a report shows it: money in the project's currency, a ratio or a percentage (4 decimals);
    null with the reason when it is undefined (:func:`reporting.views.figures_view`)."""

    value: str | None
    kind: FigureKind
    reason: str | None


class ProjectFigures(BaseModel):
    """Every EVM figure of the report by name (:data:`reporting.views.FIGURES`); each can be explained
    (``/reports/projects/{project_id}/explain/{figure}``)."""

    bac: ReportedFigure
    pv: ReportedFigure
    ev: ReportedFigure
    ac: ReportedFigure
    cv: ReportedFigure
    sv: ReportedFigure
    cpi: ReportedFigure
    spi: ReportedFigure
    eac_cpi: ReportedFigure
    eac_cpi_spi: ReportedFigure
    etc: ReportedFigure
    vac: ReportedFigure
    tcpi_bac: ReportedFigure
    tcpi_eac: ReportedFigure
    cv_percent: ReportedFigure
    sv_percent: ReportedFigure
    etc_bottom_up: ReportedFigure
    eac_bottom_up: ReportedFigure
    vac_bottom_up: ReportedFigure
    tcpi_bottom_up: ReportedFigure
    bac_original: ReportedFigure
    pv_original: ReportedFigure
    sv_original: ReportedFigure
    management_reserve: ReportedFigure


class PlannedFundingCase(BaseModel):
    """The milestone's risk if the planned (not yet secured) tranches expected by its date were secured."""

    planned_funding: Amount
    probability: Ratio
    shortfall: Amount


class RiskInputs(BaseModel):
    """What a milestone's underfunding risk is computed from."""

    actual_cost: Amount
    commitments_due: Amount
    remaining_planned_value: Amount
    cpi_used: str = Field(description="the cost performance the remaining planned value is forecast at")
    forecast: Amount
    to_come: Amount = Field(description="max(forecast, commitments due): the cost still to come, counted once")
    cv: Ratio = Field(description="the coefficient of variation of the cost to come")
    spread: Amount


class MilestoneUnderfunding(BaseModel):
    """An open milestone's underfunding risk: the probability that the cost needed by its date exceeds the funding
    available then, and the funding needed to keep that probability under the limit."""

    milestone_id: uuid.UUID
    name: str
    due_date: date
    assessed_on: date = Field(description="max(due date, as_of): the date the cost and the funding are taken on")
    overdue: bool
    on_hold: bool
    probability: Ratio
    needed: Amount
    available: Amount
    risk_limit: Ratio
    funding_needed_p95: Amount
    shortfall: Amount
    if_planned_funding_secured: PlannedFundingCase
    inputs: RiskInputs
    driver: str = Field(description="what drives the risk, in words")


class StatusFreshness(BaseModel):
    last_report: date | None = Field(description="the meeting date of the latest status report (null: none)")
    days_since: int | None


class KpiAttainment(BaseModel):
    """A KPI: its target and direction, and its latest measurement up to the date (null: not measured yet)."""

    kpi_id: uuid.UUID
    name: str
    unit: str
    target: str = Field(description="exact decimal text")
    direction: str
    review_date: date
    latest: str | None
    target_met: bool | None


class CategoryRow(BaseModel):
    """A row of the category table (:func:`reporting.views.categories`): remaining = budget - max(committed,
    actual)."""

    category: str
    budget: Amount
    committed: Amount
    actual: Amount
    remaining: Amount


class ProjectBudget(BaseModel):
    categories: list[CategoryRow]
    funding_available: Amount
    spent: Amount | None = Field(description="AC, as in figures")


class InvoiceLine(BaseModel):
    """A supplier invoice (amounts before tax, in the project's currency) and the part of it backed by approved
    work."""

    invoice_id: uuid.UUID
    vendor: str
    number: str
    net: Amount
    backed: Amount
    status: str


class ProjectInvoices(BaseModel):
    """The invoices' backing, what is unpaid and overdue, and the invoices whose match failed
    (:func:`reporting.views.invoices`)."""

    invoiced: Amount
    backed: Amount
    backing_ratio: Ratio | None = Field(description="backed / invoiced (null: nothing invoiced)")
    unpaid: Amount
    overdue: Amount
    without_backing: list[InvoiceLine]


class ReportCondition(BaseModel):
    """An alert condition that holds on the date (:func:`reporting.views.conditions_view`)."""

    rule: str
    subject: str
    severity: Literal["warning", "critical"]
    title: str


class ProjectReport(BaseModel):
    """A project's report as of a business date and as known at a moment (:func:`reporting.views.project_report`):
    the EVM figures, the underfunding risk of every open milestone, status freshness, KPIs, budget by category,
    invoices, the alert conditions that hold, and the plan/budget check. Amounts in the project's ``currency``."""

    project_id: uuid.UUID
    code: str
    name: str
    status: str
    portfolio_id: str | None
    programme_id: str | None
    currency: str
    as_of: date
    known_at: datetime | None
    figures: ProjectFigures
    underfunding_risk: list[MilestoneUnderfunding]
    status_freshness: StatusFreshness
    kpis: list[KpiAttainment]
    budget: ProjectBudget
    invoices: ProjectInvoices
    conditions: list[ReportCondition]
    plan_check: str | None = Field(description="the plan/budget disagreement in words (null: they agree)")


# --- the portfolio report (:func:`reporting.handlers.portfolio_report`) ------------------------------------------


class PortfolioLine(BaseModel):
    """A project's line (:func:`reporting.views.headline`, :func:`reporting.views.converted_columns`): its headline
    figures in its own currency (null where undefined), its open milestones' underfunding, and BAC, PV, EV and AC
    in the reporting currency at the rate in force (null without a rate)."""

    project_id: uuid.UUID
    code: str
    name: str
    status: str
    portfolio_id: str | None
    programme_id: str | None
    currency: str
    bac: Amount | None
    pv: Amount | None
    ev: Amount | None
    ac: Amount | None
    cpi: Ratio | None
    spi: Ratio | None
    eac_cpi: Amount | None
    vac: Amount | None
    milestones_assessed: int
    milestones_at_risk: int
    to_secure: Amount = Field(description="funding to secure to keep every milestone under its risk limit")
    reporting_currency: str
    exchange_rate: str | None = Field(description="1 unit of the project's currency in the reporting currency")
    bac_reporting: Amount | None
    pv_reporting: Amount | None
    ev_reporting: Amount | None
    ac_reporting: Amount | None


class CurrencyTotal(BaseModel):
    """The lines of one currency added (:func:`reporting.views.portfolio_lines`): CPI and SPI on the sums."""

    currency: str
    bac: Amount
    pv: Amount
    ev: Amount
    ac: Amount
    cpi: Ratio | None
    spi: Ratio | None
    milestones_assessed: int
    milestones_at_risk: int
    to_secure: Amount


class RateUsed(BaseModel):
    from_: str = Field(alias="from", description="the project's currency")
    to: str = Field(description="the reporting currency")
    rate: str = Field(description="exact decimal text: 1 unit of from in to")


class Unconverted(BaseModel):
    """A project left out of the roll-up: no exchange rate in force from its currency."""

    project_id: uuid.UUID
    code: str
    currency: str
    reason: str


class Rollup(BaseModel):
    """Every line's BAC, PV, EV and AC converted into the reporting currency and added, each total rounded once
    (:func:`reporting.views.rollup`)."""

    currency: str
    rate_date: date
    bac: Amount
    pv: Amount
    ev: Amount
    ac: Amount
    cpi: Ratio | None
    spi: Ratio | None
    projects: int = Field(description="the lines converted and added")
    rates: list[RateUsed]
    unconverted: list[Unconverted]


class PortfolioUnderfunding(BaseModel):
    """The share of open milestones at risk and the amount to secure per currency
    (:func:`reporting.views.underfunding_share`)."""

    milestones_assessed: int
    milestones_at_risk: int
    share_at_risk: Ratio | None = Field(description="at risk / assessed (null: nothing assessed, see reason)")
    reason: str | None
    to_secure: list[Money]


class PortfolioReport(BaseModel):
    """The portfolio report (:func:`reporting.handlers.portfolio_report`): a line per project in the caller's scope
    (of the portfolio or programme when given), the totals per currency, their roll-up in the reporting currency,
    and the underfunding risk; as of a business date and as known at a moment."""

    as_of: date
    known_at: datetime | None
    portfolio_id: str | None
    programme_id: str | None
    projects: list[PortfolioLine]
    totals: list[CurrencyTotal]
    rollup: Rollup
    underfunding_risk: PortfolioUnderfunding
