"""The reporting service's answers: reports, portfolio lines and totals, S-curve points, explanations of EVM
figures, utilisation rows, alerts, thresholds and the portfolio read model, shaped as JSON (or CSV).

By answer: a project's report, S-curve and explained figures (:mod:`.project`), its cash flow (:mod:`.cashflow`), the
portfolio report and its roll-up in the reporting currency (:mod:`.portfolio`), alerts and thresholds
(:mod:`.alerts`), the read models' rows (:mod:`.read_models`), and what they share (:mod:`.parts`). Every public name
is re-exported here: ``from reporting import views; views.project_report``.
"""

from reporting.views.alerts import alert_acknowledged, alert_item, thresholds_row, thresholds_state
from reporting.views.cashflow import CASH_FLOW_AMOUNTS, FORECAST_RULES, cash_flow, cash_flow_month
from reporting.views.parts import axes, csv_response, figures_view, format_ratio, identity
from reporting.views.portfolio import (
    ROLLED_UP,
    Headline,
    converted_columns,
    headline,
    in_scope,
    portfolio_lines,
    rollup,
    underfunding_columns,
    underfunding_share,
)
from reporting.views.project import (
    FIGURES,
    categories,
    conditions_view,
    explained_figure,
    invoices,
    project_report,
    s_curve_point,
)
from reporting.views.read_models import PORTFOLIO_PROJECT_FIELDS, milestone_line, portfolio_project, utilisation_row

__all__ = [
    "CASH_FLOW_AMOUNTS",
    "FIGURES",
    "FORECAST_RULES",
    "PORTFOLIO_PROJECT_FIELDS",
    "ROLLED_UP",
    "Headline",
    "alert_acknowledged",
    "alert_item",
    "axes",
    "cash_flow",
    "cash_flow_month",
    "categories",
    "conditions_view",
    "converted_columns",
    "csv_response",
    "explained_figure",
    "figures_view",
    "format_ratio",
    "headline",
    "identity",
    "in_scope",
    "invoices",
    "milestone_line",
    "portfolio_lines",
    "portfolio_project",
    "project_report",
    "rollup",
    "s_curve_point",
    "thresholds_row",
    "thresholds_state",
    "underfunding_columns",
    "underfunding_share",
    "utilisation_row",
]
