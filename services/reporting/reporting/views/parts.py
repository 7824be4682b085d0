"""What several answers share: the axes of a question (``as_of``, ``known_at``), a project's identity, its EVM
figures, ratios as shown, CSV attachments."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from fastapi.responses import Response

from reporting.domain.amounts import shown_ratio
from reporting.domain.evm import Evm
from reporting.domain.ledger import ProjectBook
from shared.csvsafe import csv_text

format_ratio = shown_ratio
"""A ratio as reports show it (4 decimals); amounts go through :func:`reporting.domain.amounts.shown`."""


def axes(day: date, known_at: datetime | None) -> dict[str, str | None]:
    return {"as_of": day.isoformat(), "known_at": None if known_at is None else known_at.isoformat()}


def identity(project_id: uuid.UUID, books: ProjectBook) -> dict[str, Any]:
    """The project as a report names it."""
    return {
        "project_id": str(project_id),
        "code": books.code,
        "name": books.name,
        "status": books.status,
        "portfolio_id": books.portfolio_id,
        "programme_id": books.programme_id,
        "currency": books.currency,
    }


def figures_view(result: Evm) -> dict[str, Any]:
    return {
        name: {"value": fig.shown(result.currency), "kind": fig.kind, "reason": fig.reason}
        for name, fig in result.figures.items()
    }


def csv_response(rows: list[dict[str, Any]], filename: str, columns: list[str] | None = None) -> Response:
    """``rows`` as a CSV attachment (``columns``: the header even with no row; default the first row's keys); every
    cell goes through :func:`shared.csvsafe.neutralise` (no formulas)."""
    return Response(
        csv_text(rows, columns),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
