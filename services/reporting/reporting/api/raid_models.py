"""The RAID reports' answers (:mod:`reporting.views.raid`, :mod:`reporting.domain.raid`), described for OpenAPI;
answers are never re-validated. Amounts are exact decimal text rounded once to their currency; exposures are per
currency (``{"EUR": "12000.00"}``)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

Exposure = dict[str, str]
"""Open risks' exposure (probability / 5 x money impact) per currency code, rounded once."""


class RiskLine(BaseModel):
    """A risk as the reports and the map's drill-down list it (:func:`reporting.domain.raid.risk_line`)."""

    project_id: str
    risk_id: str
    title: str
    probability: int = Field(ge=1, le=5)
    impact: int = Field(ge=1, le=5)
    score: int = Field(description="probability x impact")
    money_impact: str
    exposure: str = Field(description="probability / 5 x money impact")
    currency: str
    owner: str
    strategy: str
    review_date: date
    status: str


class MapCell(BaseModel):
    """A cell of the 5 x 5 probability-impact map of the open risks, with its risks (highest score first)."""

    probability: int
    impact: int
    score: int
    count: int
    exposure: Exposure
    risks: list[RiskLine]


class RaidProjectLine(BaseModel):
    """A project's line of the RAID report."""

    project_id: str
    code: str
    name: str
    portfolio_id: str | None
    programme_id: str | None
    currency: str
    exposure: Exposure
    open_risks: int


class ProgrammeExposure(BaseModel):
    programme_id: str
    exposure: Exposure


class PortfolioExposure(BaseModel):
    portfolio_id: str
    exposure: Exposure


class RaidReport(BaseModel):
    """Exposure per project, programme and portfolio, the top risks and the map
    (:func:`reporting.views.raid_summary`)."""

    portfolio_id: str | None
    programme_id: str | None
    exposure: Exposure
    projects: list[RaidProjectLine]
    programmes: list[ProgrammeExposure]
    portfolios: list[PortfolioExposure]
    top_risks: list[RiskLine]
    map: list[MapCell]


class RaidDependencyLine(BaseModel):
    dependency_id: str
    provider_project_id: str
    provider_milestone_id: str | None
    needs: str
    needed_by: date
    owner: str
    status: str


class ProjectRaid(RaidProjectLine):
    """A project's RAID figures (:func:`reporting.views.project_raid`): its risks (open first, by score), its
    dependencies, its open issues by severity, its open assumptions and decisions logged, its map."""

    risks: list[RiskLine]
    dependencies: list[RaidDependencyLine]
    open_issues: dict[str, int] = Field(description="open issues per severity")
    open_assumptions: int
    decisions: int
    map: list[MapCell]
