"""Alerts and a portfolio's alert thresholds as answers."""

from __future__ import annotations

from typing import Any

from reporting.domain import alerts
from reporting.domain.rules import Thresholds


def alert_item(row: Any) -> dict[str, Any]:
    return {
        **{
            k: (v.isoformat() if hasattr(v, "isoformat") else str(v) if k == "project_id" else v)
            for k, v in row.items()
        }
    }


def alert_acknowledged(alert_id: str, state: alerts.Alert) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "acknowledged_by": state.acknowledged_by,
        "status": "open" if state.open else "cleared",
    }


def thresholds_state(portfolio_id: str, state: alerts.PortfolioThresholds) -> dict[str, Any]:
    return {
        "portfolio_id": portfolio_id,
        "thresholds": state.in_force,
        "change_requested": None
        if state.pending is None
        else {"thresholds": state.pending, "requested_by": state.requested_by, "looser": list(state.looser)},
    }


def thresholds_row(portfolio_id: str, row: Any) -> dict[str, Any]:
    return {
        "portfolio_id": portfolio_id,
        "thresholds": Thresholds.of(row.thresholds if row else {}).as_dict(),
        "configured": row is not None,
        "change_requested": None
        if row is None or row.pending is None
        else {"thresholds": row.pending, "requested_by": row.requested_by},
    }
