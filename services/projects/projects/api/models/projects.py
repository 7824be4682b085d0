"""Projects: the registration body, the project view (a document, described here for OpenAPI) and its audit entries."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from projects.api.models.edits import ValueChangeView
from projects.api.models.fields import Slug, Text200, Text4000
from projects.api.models.milestones import MilestoneView
from projects.domain.state import BaselineStatus, Communication, GateDecision, Kpi, Partner, StatusReport
from shared.bounds import CurrencyCode, RequestBody
from shared.money import Money


class RegisterProjectRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "CRM-2027",
                    "name": "CRM replacement",
                    "sponsor": "dora.director",
                    "manager": "max.manager",
                    "planned_start": "2027-03-01",
                    "planned_end": "2027-12-31",
                    "currency": "EUR",
                    "portfolio_id": "digital",
                    "programme_id": "customer-experience",
                    "objectives": "Replace the CRM before the licence ends",
                }
            ]
        }
    )

    code: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")] = Field(
        examples=["CRM-2027"]
    )
    name: Text200 = Field(examples=["CRM replacement"])
    objectives: Text4000 = Field(default="", examples=["Replace the legacy CRM by Q4"])
    sponsor: Text200 = Field(examples=["dora.director"])
    manager: Text200 = Field(examples=["max.manager"])
    planned_start: date
    planned_end: date
    currency: CurrencyCode
    portfolio_id: Slug | None = None
    programme_id: Slug | None = None


class BaselineSummary(BaseModel):
    """A version of the project's performance measurement baseline, as the project view lists it
    (:func:`projects.views.project_view`; the whole version: ``GET .../baselines/{version}``)."""

    version: int
    status: BaselineStatus
    effective_on: date
    total: Money
    management_reserve: Money


class ProjectView(BaseModel):
    project_id: uuid.UUID
    status: str
    portfolio_id: str | None
    programme_id: str | None
    code: str
    name: str
    objectives: str
    sponsor: str
    manager: str
    currency: str
    planned_start: date
    planned_end: date
    actual_start: date | None
    actual_end: date | None
    status_reason: str | None
    planned_value: Money
    earned_value: Money
    version: int
    milestones: list[MilestoneView]
    status_reports: list[StatusReport]
    gate_decisions: list[GateDecision]
    baselines: list[BaselineSummary] = Field(default=[], description="each version's number, status, date and total")
    kpis: list[Kpi]
    partners: list[Partner]
    communications: list[Communication]
    value_changes: list[ValueChangeView] = Field(
        default=[], description="requests to change a milestone's planned value, pending and decided"
    )


class AuditEntry(BaseModel):
    event_id: uuid.UUID
    type: str
    version: int
    recorded_at: str
    actor: str
    correlation_id: str
    data: dict[str, Any]
