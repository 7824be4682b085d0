"""Answers about the RAID logs: a project's risks, exposure and dependencies; a portfolio's or programme's exposure
per project, programme and portfolio, its top risks and its 5 x 5 probability-impact map (the figures and their
rules: :mod:`reporting.domain.raid`)."""

from __future__ import annotations

from typing import Any

from reporting.domain.raid import RaidBook, exposure_totals, risk_line, risk_map, top_risks

Lines = list[tuple[dict[str, Any], RaidBook]]


def project_raid(line: dict[str, Any], book: RaidBook) -> dict[str, Any]:
    """One project's RAID figures: exposure, every risk (open first, by score), dependencies, open issues."""
    risks = sorted(book.risks.values(), key=lambda r: (r.status != "open", -r.score, -r.exposure, r.title))
    severities: dict[str, int] = {}
    for severity in book.open_issues.values():
        severities[severity] = severities.get(severity, 0) + 1
    return {
        **line,
        "exposure": exposure_totals([book]),
        "open_risks": len(book.open_risks()),
        "risks": [risk_line(book.project_id, r) for r in risks],
        "dependencies": [
            {
                "dependency_id": d.dependency_id,
                "provider_project_id": d.provider_project_id,
                "provider_milestone_id": d.provider_milestone_id,
                "needs": d.needs,
                "needed_by": d.needed_by.isoformat(),
                "owner": d.owner,
                "status": d.status,
            }
            for d in book.dependencies.values()
        ],
        "open_issues": severities,
        "open_assumptions": book.open_assumptions,
        "decisions": book.decisions,
        "map": risk_map([book]),
    }


def raid_summary(lines: Lines, top: int) -> dict[str, Any]:
    """Exposure per project, programme and portfolio (per currency), the ``top`` risks and the map, over ``lines``."""
    by_programme: dict[str | None, list[RaidBook]] = {}
    by_portfolio: dict[str | None, list[RaidBook]] = {}
    for line, book in lines:
        by_programme.setdefault(line["programme_id"], []).append(book)
        by_portfolio.setdefault(line["portfolio_id"], []).append(book)
    books = [b for _, b in lines]
    return {
        "exposure": exposure_totals(books),
        "projects": [
            {**line, "exposure": exposure_totals([book]), "open_risks": len(book.open_risks())} for line, book in lines
        ],
        "programmes": [
            {"programme_id": k, "exposure": exposure_totals(v)}
            for k, v in sorted(by_programme.items(), key=lambda kv: kv[0] or "")
            if k is not None
        ],
        "portfolios": [
            {"portfolio_id": k, "exposure": exposure_totals(v)}
            for k, v in sorted(by_portfolio.items(), key=lambda kv: kv[0] or "")
            if k is not None
        ],
        "top_risks": top_risks(books, top),
        "map": risk_map(books),
    }


def map_cell(lines: Lines, probability: int, impact: int) -> dict[str, Any]:
    """One cell of the map with its risks (the drill-down)."""
    cells = risk_map([b for _, b in lines])
    return next(c for c in cells if (c["probability"], c["impact"]) == (probability, impact))
