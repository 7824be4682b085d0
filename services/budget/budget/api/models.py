"""Request bodies of the budget API, with their limits."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, Field

from shared.bounds import RequestBody
from shared.contracts.budget import CommitmentKind, CostCategory, FundingKind, OverrunPolicy
from shared.limits import MAX_EXCHANGE_RATE, MAX_NAME, MAX_RATE_DIGITS, MAX_TEXT
from shared.money import ExactDecimal, Money, minor_unit

Text200 = Annotated[str, Field(min_length=1, max_length=200)]
Reason = Annotated[str, Field(min_length=1, max_length=2000)]
EUR = {"amount": "100000.00", "currency": "EUR"}


def _iso_4217(code: str) -> str:
    minor_unit(code)  # ValueError naming the code when it is not ISO 4217
    return code


CurrencyCode = Annotated[str, Field(min_length=3, max_length=3, examples=["EUR"]), AfterValidator(_iso_4217)]
"""An ISO 4217 currency code (upper case, as listed in :data:`shared.money.MINOR_UNITS`)."""


def _exchange_rate(rate: Decimal) -> Decimal:
    if rate <= 0:
        raise ValueError("must be greater than zero")
    if rate >= MAX_EXCHANGE_RATE:
        raise ValueError(f"must be below {MAX_EXCHANGE_RATE:,}")
    digits = rate.normalize().as_tuple()
    exponent = digits.exponent if isinstance(digits.exponent, int) else 0
    if len(digits.digits) > MAX_RATE_DIGITS or -exponent > MAX_RATE_DIGITS:
        raise ValueError(f"must have at most {MAX_RATE_DIGITS} significant digits and {MAX_RATE_DIGITS} decimals")
    return rate


ExchangeRate = Annotated[ExactDecimal, AfterValidator(_exchange_rate)]
"""1 base = rate quote: plain decimal notation (a string such as "1.0843", or an integer), greater than zero, below
:data:`shared.limits.MAX_EXCHANGE_RATE`, at most :data:`shared.limits.MAX_RATE_DIGITS` significant digits and as
many decimals."""


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


class PlannedTrancheBody(RequestBody):
    amount: Money = Field(examples=[{"amount": "250000.00", "currency": "USD"}])
    expected_on: date


class SecureTrancheBody(RequestBody):
    """What was actually secured for a planned tranche: its amount and the date it becomes available."""

    amount: Money
    available_on: date


class ExchangeRateBody(RequestBody):
    rate: ExchangeRate = Field(examples=["1.0843"])
    source: Annotated[str, Field(min_length=1, max_length=MAX_NAME, examples=["ECB reference rate"])]


class EstimateCategoryLine(RequestBody):
    category: CostCategory
    amount: Money


class EstimateMonthLine(RequestBody):
    month: Annotated[str, Field(pattern=r"^(19|20|21)[0-9]{2}-(0[1-9]|1[0-2])$", examples=["2027-04"])]
    amount: Money


class EstimateBody(RequestBody):
    """The cost still to come: per category (each at most once) and by month (each at most once, not before
    ``as_of``'s month), adding up to the same total; amounts zero or more in the project's currency."""

    as_of: date | None = Field(default=None, description="defaults to today; not in the future")
    categories: Annotated[list[EstimateCategoryLine], Field(min_length=1, max_length=len(CostCategory))]
    months: Annotated[list[EstimateMonthLine], Field(max_length=360)] = []
    note: Annotated[str, Field(max_length=MAX_TEXT)] = ""
