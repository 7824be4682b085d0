"""Performance measurement baselines: the proposed version with its items, steps and months, its rejection, its view."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from projects.api.models.fields import Reason, Text200
from shared.bounds import RequestBody
from shared.contracts.projects import BaselineItem, EvTechnique
from shared.limits import MAX_BASELINE_ITEMS, MAX_BASELINE_MONTHS, MAX_BASELINE_STEPS
from shared.money import ExactDecimal, Money


class WeightedStepRequest(RequestBody):
    name: Text200 = Field(examples=["Design reviewed"])
    weight: ExactDecimal = Field(gt=0, le=100, max_digits=7, decimal_places=4, examples=["40"])
    on: date


class MonthAmountRequest(RequestBody):
    month: Annotated[str, Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", examples=["2027-03"])]
    amount: Money = Field(examples=[{"amount": "30000.00", "currency": "EUR"}])


class BaselineItemRequest(RequestBody):
    """One milestone of the proposed baseline: its budget (in the project's currency, above 0), dates and
    earned-value technique; ``steps`` for weighted_milestones only (weights adding up to 100, dated within
    start..due, in order); ``months`` optionally for percent_complete and level_of_effort (adding up to the
    budget, each month of start..due at most once)."""

    milestone_id: uuid.UUID
    budget: Money = Field(examples=[{"amount": "120000.00", "currency": "EUR"}])
    start: date
    due: date
    technique: EvTechnique
    steps: Annotated[list[WeightedStepRequest], Field(max_length=MAX_BASELINE_STEPS)] = []
    months: Annotated[list[MonthAmountRequest], Field(max_length=MAX_BASELINE_MONTHS)] = []


class ProposeBaselineRequest(RequestBody):
    """The next version of the performance measurement baseline; its total (the BAC) is the items' budgets added
    up."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "effective_on": "2027-03-01",
                    "items": [
                        {
                            "milestone_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
                            "budget": {"amount": "120000.00", "currency": "EUR"},
                            "start": "2027-03-01",
                            "due": "2027-06-30",
                            "technique": "0/100",
                        }
                    ],
                    "management_reserve": {"amount": "10000.00", "currency": "EUR"},
                    "reason": "Initial baseline",
                }
            ]
        }
    )

    effective_on: date = Field(description="PV is read from this version from this date on, until a later one")
    items: Annotated[list[BaselineItemRequest], Field(min_length=1, max_length=MAX_BASELINE_ITEMS)]
    management_reserve: Money = Field(examples=[{"amount": "20000.00", "currency": "EUR"}])
    reason: Reason = Field(examples=["Initial baseline"])


class RejectBaselineRequest(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "Reserve too high for the risk register"}]})

    reason: Reason


class BaselineView(BaseModel):
    baseline_id: uuid.UUID
    version: int
    effective_on: date
    items: list[BaselineItem]
    total: Money
    management_reserve: Money
    reason: str
    proposed_by: str
    status: str
    approved_by: str | None
    rejected_by: str | None
    rejection_reason: str | None
    proposed_at: str | None = Field(default=None, description="when it was recorded (queries only)")
    decided_at: str | None = Field(default=None, description="when it was approved or rejected (queries only)")
