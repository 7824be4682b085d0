"""Status reports (RAG per dimension) and KPIs with their measurements."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from projects.api.models.fields import Text200, Text4000
from shared.bounds import RequestBody
from shared.contracts.projects import KpiDirection, Rag
from shared.limits import MAX_STATUS_REFERENCES
from shared.money import ExactDecimal

Items = Annotated[list[Annotated[str, Field(min_length=1, max_length=1000)]], Field(max_length=50)]
RaidIds = Annotated[list[uuid.UUID], Field(max_length=MAX_STATUS_REFERENCES)]
"""Ids of the project's RAID log's items of one kind, each listed once."""


class StatusReportRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "meeting_date": "2027-03-01",
                    "schedule": "green",
                    "cost": "green",
                    "scope": "green",
                    "quality": "green",
                    "resources": "green",
                    "overall": "green",
                    "narrative": "On track; design review passed",
                    "risk_ids": ["0190d3c2-6a4e-7c11-9f3a-2b8e5d1c4a70"],
                    "decision_ids": ["0190d3c2-7b10-7d22-8e4b-3c9f6e2d5b81"],
                }
            ]
        }
    )

    meeting_date: date
    schedule: Rag
    cost: Rag
    scope: Rag
    quality: Rag
    resources: Rag
    overall: Rag | None = Field(default=None, description="defaults to the worst dimension; otherwise give a reason")
    override_reason: Annotated[str | None, Field(min_length=1, max_length=2000)] = None
    narrative: Annotated[str, Field(max_length=20000)] = ""
    decisions: Items = Field(default=[], description="free text (kept for compatibility); prefer decision_ids")
    risks: Items = Field(default=[], description="free text (kept for compatibility); prefer risk_ids")
    next_steps: Items = []
    risk_ids: RaidIds = Field(default=[], description="risks of the project's RAID log the meeting discussed")
    issue_ids: RaidIds = Field(default=[], description="issues of the project's RAID log")
    assumption_ids: RaidIds = Field(default=[], description="assumptions of the project's RAID log")
    decision_ids: RaidIds = Field(default=[], description="decisions of the project's RAID log")
    dependency_ids: RaidIds = Field(default=[], description="dependencies of the project's RAID log")


class StatusReportView(BaseModel):
    report_id: uuid.UUID
    meeting_date: date
    schedule: Rag
    cost: Rag
    scope: Rag
    quality: Rag
    resources: Rag
    overall: Rag
    overall_overridden: bool
    override_reason: str | None
    narrative: str
    decisions: list[str]
    risks: list[str]
    next_steps: list[str]
    risk_ids: list[uuid.UUID]
    issue_ids: list[uuid.UUID]
    assumption_ids: list[uuid.UUID]
    decision_ids: list[uuid.UUID]
    dependency_ids: list[uuid.UUID]


class KpiRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Campaign reach",
                    "unit": "%",
                    "target": "80",
                    "direction": "at_least",
                    "review_date": "2027-03-01",
                }
            ]
        }
    )

    name: Text200 = Field(examples=["Campaign reach"])
    unit: Annotated[str, Field(min_length=1, max_length=32, examples=["%"])]
    target: ExactDecimal = Field(max_digits=20, decimal_places=6, examples=["80"])
    direction: KpiDirection
    review_date: date


class MeasurementRequest(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"value": "76.5", "measured_on": "2027-03-01"}]})

    value: ExactDecimal = Field(max_digits=20, decimal_places=6, examples=["76.5"])
    measured_on: date | None = None
    note: Text4000 = ""


class MeasurementView(BaseModel):
    value: str = Field(description="an exact decimal")
    measured_on: date
    target_met: bool
    note: str


class KpiView(BaseModel):
    kpi_id: uuid.UUID
    name: str
    unit: str
    target: str = Field(description="an exact decimal")
    direction: KpiDirection
    review_date: date
    measurements: list[MeasurementView]
