"""Request bodies of the budget API, with their limits."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from pydantic import Field

from shared.bounds import RequestBody
from shared.contracts.budget import CommitmentKind, CostCategory, FundingKind, OverrunPolicy
from shared.money import Money

Text200 = Annotated[str, Field(min_length=1, max_length=200)]
Reason = Annotated[str, Field(min_length=1, max_length=2000)]
EUR = {"amount": "100000.00", "currency": "EUR"}


class CategoryLine(RequestBody):
    category: CostCategory
    amount: Money


class PhaseLine(RequestBody):
    milestone_id: uuid.UUID | None = None
    month: Annotated[str | None, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2027-03"])] = None
    amount: Money


class BaselineRequest(RequestBody):
    total: Money = Field(examples=[EUR])
    categories: Annotated[list[CategoryLine], Field(min_length=1, max_length=6)]
    phasing: Annotated[list[PhaseLine], Field(max_length=500)] = []


class ChangeRequestBody(RequestBody):
    category: CostCategory
    amount: Money = Field(description="positive to add budget, negative to remove it")
    reason: Reason


class DecideChange(RequestBody):
    reason: Annotated[str, Field(max_length=2000)] = ""


class FundingSourceBody(RequestBody):
    name: Text200
    kind: FundingKind


class TrancheBody(RequestBody):
    amount: Money
    available_on: date


class WithdrawBody(RequestBody):
    withdrawn_on: date
    reason: Reason


class RescheduleTrancheBody(RequestBody):
    available_on: date
    reason: Reason


class InvoiceExpectationBody(RequestBody):
    on: date
    amount: Money


class CommitmentBody(RequestBody):
    kind: CommitmentKind
    vendor: Text200
    reference: Annotated[str, Field(min_length=1, max_length=100, examples=["PO-2027-0042"])]
    category: CostCategory
    milestone_id: uuid.UUID | None = None
    amount: Money
    expected_invoices: Annotated[list[InvoiceExpectationBody], Field(max_length=120)] = []


class DecideCommitment(RequestBody):
    reason: Annotated[str, Field(max_length=2000)] = ""


class AdjustCommitmentBody(RequestBody):
    amount: Money
    expected_invoices: Annotated[list[InvoiceExpectationBody], Field(max_length=120)] = []
    reason: Reason


class CancelCommitmentBody(RequestBody):
    reason: Reason


class PolicyBody(RequestBody):
    policy: OverrunPolicy
