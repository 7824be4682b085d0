"""Request bodies of the budget API, with their limits."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.budget import CommitmentKind, CostCategory, FundingKind, OverrunPolicy
from shared.money import Money

Text200 = Annotated[str, Field(min_length=1, max_length=200)]
Reason = Annotated[str, Field(min_length=1, max_length=2000)]
EUR = {"amount": "100000.00", "currency": "EUR"}


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CategoryLine(Body):
    category: CostCategory
    amount: Money


class PhaseLine(Body):
    milestone_id: uuid.UUID | None = None
    month: Annotated[str | None, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2027-03"])] = None
    amount: Money


class BaselineRequest(Body):
    total: Money = Field(examples=[EUR])
    categories: Annotated[list[CategoryLine], Field(min_length=1, max_length=6)]
    phasing: Annotated[list[PhaseLine], Field(max_length=500)] = []


class ChangeRequestBody(Body):
    category: CostCategory
    amount: Money = Field(description="positive to add budget, negative to remove it")
    reason: Reason


class DecideChange(Body):
    reason: Annotated[str, Field(max_length=2000)] = ""


class FundingSourceBody(Body):
    name: Text200
    kind: FundingKind


class TrancheBody(Body):
    amount: Money
    available_on: date


class WithdrawBody(Body):
    withdrawn_on: date
    reason: Reason


class RescheduleTrancheBody(Body):
    available_on: date
    reason: Reason


class InvoiceExpectationBody(Body):
    on: date
    amount: Money


class CommitmentBody(Body):
    kind: CommitmentKind
    vendor: Text200
    reference: Annotated[str, Field(min_length=1, max_length=100, examples=["PO-2027-0042"])]
    category: CostCategory
    milestone_id: uuid.UUID | None = None
    amount: Money
    expected_invoices: Annotated[list[InvoiceExpectationBody], Field(max_length=120)] = []


class DecideCommitment(Body):
    reason: Annotated[str, Field(max_length=2000)] = ""


class AdjustCommitmentBody(Body):
    amount: Money
    expected_invoices: Annotated[list[InvoiceExpectationBody], Field(max_length=120)] = []
    reason: Reason


class CancelCommitmentBody(Body):
    reason: Reason


class PolicyBody(Body):
    policy: OverrunPolicy
