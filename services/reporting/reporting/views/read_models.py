"""Rows of the read models as answers: a resource's week of utilisation, the portfolio's projects and their
milestones."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from reporting import tables
from reporting.domain.amounts import shown
from reporting.domain.utilisation import WeekLoad
from reporting.views.parts import format_ratio
from shared.money import Money


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
