"""Status reports (RAG per dimension) and KPIs with their measurements."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from projects.api.models.fields import Text200, Text4000
from shared.bounds import RequestBody
from shared.contracts.projects import KpiDirection, Rag
from shared.money import ExactDecimal

Items = Annotated[list[Annotated[str, Field(min_length=1, max_length=1000)]], Field(max_length=50)]


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
    decisions: Items = []
    risks: Items = []
    next_steps: Items = []


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
