"""Request bodies of the budget API, with their limits."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from budget.domain.state import ChangeRequest, FundingSource
from shared.bounds import RequestBody
from shared.contracts.budget import (
    CategoryEstimate,
    CommitmentKind,
    CostCategory,
    FundingKind,
    InvoiceExpectation,
    Overrun,
    OverrunPolicy,
    PhaseAmount,
)
from shared.contracts.common import Booking, MonthAmount
from shared.limits import MAX_EXCHANGE_RATE, MAX_NAME, MAX_RATE_DIGITS, MAX_TEXT
from shared.money import ExactDecimal, Money

Text200 = Annotated[str, Field(min_length=1, max_length=200)]
Reason = Annotated[str, Field(min_length=1, max_length=2000)]
EUR = {"amount": "100000.00", "currency": "EUR"}


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


def _rate_pattern() -> str:
    """The rates :func:`_exchange_rate` takes, written plainly without trailing zeros past the rate's digits: a
    whole part of ``i`` digits (no leading zero) and at most ``MAX_RATE_DIGITS - i`` decimals, or ``0.`` and at
    most ``MAX_RATE_DIGITS`` decimals ending in a non-zero digit."""
    whole = len(str(int(MAX_EXCHANGE_RATE))) - 1
    forms = [f"[1-9][0-9]{{{i - 1}}}(\\.[0-9]{{1,{MAX_RATE_DIGITS - i}}})?" for i in range(1, whole + 1)]
    forms.append(f"0\\.[0-9]{{0,{MAX_RATE_DIGITS - 1}}}[1-9]")
    return "^(" + "|".join(forms) + ")$"


RATE_SCHEMA = {
    "anyOf": [
        {"type": "integer", "minimum": 1, "maximum": int(MAX_EXCHANGE_RATE) - 1},
        {"type": "string", "pattern": _rate_pattern()},
    ],
    "examples": ["1.0843"],
}

ExchangeRate = Annotated[ExactDecimal, AfterValidator(_exchange_rate), WithJsonSchema(RATE_SCHEMA, mode="validation")]
"""1 base = rate quote: plain decimal notation (a string such as "1.0843", or an integer), greater than zero, below
:data:`shared.limits.MAX_EXCHANGE_RATE`, at most :data:`shared.limits.MAX_RATE_DIGITS` significant digits and as
many decimals."""


class CategoryLine(RequestBody):
    category: CostCategory
    amount: Money


class PhaseLine(RequestBody):
    milestone_id: uuid.UUID | None = None
    month: Annotated[str | None, Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", examples=["2027-03"])] = None
    amount: Money


class BaselineRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "total": {"amount": "120000.00", "currency": "EUR"},
                    "categories": [
                        {"category": "labour", "amount": {"amount": "90000.00", "currency": "EUR"}},
                        {"category": "subcontracting", "amount": {"amount": "30000.00", "currency": "EUR"}},
                    ],
                }
            ]
        }
    )

    total: Money = Field(examples=[EUR])
    categories: Annotated[list[CategoryLine], Field(min_length=1, max_length=6)]
    phasing: Annotated[list[PhaseLine], Field(max_length=500)] = []


class ChangeRequestBody(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "category": "labour",
                    "amount": {"amount": "15000.00", "currency": "EUR"},
                    "reason": "Extra integration work agreed with the sponsor",
                }
            ]
        }
    )

    category: CostCategory
    amount: Money = Field(description="positive to add budget, negative to remove it")
    reason: Reason


class DecideChange(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{}]})

    reason: Annotated[str, Field(max_length=2000)] = ""


class FundingSourceBody(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "IT capital budget 2027", "kind": "internal"}]})

    name: Text200
    kind: FundingKind


class TrancheBody(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"amount": {"amount": "60000.00", "currency": "EUR"}, "available_on": "2027-03-01"}]
        }
    )

    amount: Money
    available_on: date


class WithdrawBody(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"withdrawn_on": "2027-03-01", "reason": "Budget cut decided by the board"}]}
    )

    withdrawn_on: date
    reason: Reason


class RescheduleTrancheBody(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"available_on": "2027-09-01", "reason": "Second half of the grant moved"}]}
    )

    available_on: date
    reason: Reason


class InvoiceExpectationBody(RequestBody):
    on: date
    amount: Money


class CommitmentBody(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "purchase_order",
                    "vendor": "Acme Consulting Ltd",
                    "reference": "PO-2027-0042",
                    "category": "labour",
                    "milestone_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
                    "amount": {"amount": "24000.00", "currency": "EUR"},
                }
            ]
        }
    )

    kind: CommitmentKind
    vendor: Text200
    reference: Annotated[str, Field(min_length=1, max_length=100, examples=["PO-2027-0042"])]
    category: CostCategory
    milestone_id: uuid.UUID | None = None
    amount: Money
    expected_invoices: Annotated[list[InvoiceExpectationBody], Field(max_length=120)] = []


class DecideCommitment(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{}]})

    reason: Annotated[str, Field(max_length=2000)] = ""


class AdjustCommitmentBody(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"amount": {"amount": "26000.00", "currency": "EUR"}, "reason": "Two more design days ordered"}
            ]
        }
    )

    amount: Money
    expected_invoices: Annotated[list[InvoiceExpectationBody], Field(max_length=120)] = []
    reason: Reason


class CancelCommitmentBody(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "Order withdrawn by the vendor"}]})

    reason: Reason


class PolicyBody(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"policy": "warn"}]})

    policy: OverrunPolicy


class PlannedTrancheBody(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"amount": {"amount": "60000.00", "currency": "EUR"}, "expected_on": "2027-07-01"}]
        }
    )

    amount: Money = Field(examples=[{"amount": "250000.00", "currency": "USD"}])
    expected_on: date


class SecureTrancheBody(RequestBody):
    """What was actually secured for a planned tranche: its amount and the date it becomes available."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"amount": {"amount": "60000.00", "currency": "EUR"}, "available_on": "2027-07-01"}]
        }
    )

    amount: Money
    available_on: date


class ExchangeRateBody(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"rate": "1.0843", "source": "ECB reference rate"}]})

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

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2027-03-01",
                    "categories": [{"category": "labour", "amount": {"amount": "40000.00", "currency": "EUR"}}],
                }
            ]
        }
    )

    as_of: date | None = Field(default=None, description="defaults to today; not in the future")
    categories: Annotated[list[EstimateCategoryLine], Field(min_length=1, max_length=len(CostCategory))]
    months: Annotated[list[EstimateMonthLine], Field(max_length=360)] = []
    note: Annotated[str, Field(max_length=MAX_TEXT)] = ""


# --- responses: what the views answer (budget.views), described for OpenAPI; answers are never re-validated --------


class ChangeRequestView(BaseModel):
    """A budget change request (:func:`budget.views.change_request_view`)."""

    change_id: uuid.UUID
    category: CostCategory
    amount: Money
    reason: str
    requested_by: str
    status: str = Field(description="requested, approved or rejected")
    decided_by: str | None
    rejection_reason: str | None
    version: int = Field(description="the budget's version (also its ETag)")


class FundingSourceView(BaseModel):
    source_id: uuid.UUID
    name: str
    kind: FundingKind
    version: int = Field(description="the budget's version (also its ETag)")


class TrancheView(BaseModel):
    """A tranche: ``status`` planned (with ``expected_on``) or secured (with ``available_on``); ``booked`` is what
    it counts for in the budget's currency."""

    tranche_id: uuid.UUID
    source_id: uuid.UUID
    status: Literal["planned", "secured"]
    amount: Money
    booked: Money
    available_on: date | None = Field(default=None, description="a secured tranche's date")
    expected_on: date | None = Field(default=None, description="a planned tranche's expected date")
    withdrawn_on: date | None
    withdrawal_reason: str | None
    booking: Booking | None = Field(description="rate, date and source when converted")
    version: int | None = Field(default=None, description="the budget's version (command answers only)")


class CommitmentView(BaseModel):
    """A commitment; ``booked`` is null while one in another currency awaits approval."""

    commitment_id: uuid.UUID
    kind: CommitmentKind
    vendor: str
    reference: str
    category: CostCategory
    milestone_id: uuid.UUID | None
    amount: Money
    expected_invoices: list[InvoiceExpectation]
    status: str
    requested_by: str
    overrun: Overrun | None
    approved_by: str | None
    booking: Booking | None
    booked: Money | None
    version: int | None = Field(default=None, description="the budget's version (command answers only)")


class CategoryView(BaseModel):
    category: CostCategory
    baseline: Money | None
    budget: Money
    committed: Money
    remaining: Money


class PolicyChangeRequested(BaseModel):
    """An overrun policy requested and awaiting a second person's approval."""

    policy: OverrunPolicy
    requested_by: str


class EstimateToComplete(BaseModel):
    """The latest estimate to complete (the ``estimate-to-complete-submitted`` event's data)."""

    project_id: uuid.UUID
    estimate_id: uuid.UUID
    as_of: date
    categories: list[CategoryEstimate]
    months: list[MonthAmount]
    total: Money
    note: str
    submitted_by: str


class BudgetView(BaseModel):
    """The budget document (:func:`budget.views.budget_view`)."""

    project_id: uuid.UUID
    currency: str
    version: int
    policy: OverrunPolicy
    policy_change_requested: PolicyChangeRequested | None
    baseline_total: Money | None
    bac: Money
    committed: Money
    categories: list[CategoryView]
    phasing: list[PhaseAmount]
    change_requests: list[ChangeRequest]
    funding_sources: list[FundingSource]
    tranches: list[TrancheView]
    commitments: list[CommitmentView]
    estimate_to_complete: EstimateToComplete | None


class FundingOnView(BaseModel):
    """Funding on a date (:func:`budget.views.funding_view`), every total booked in the budget's currency:
    ``available`` (secured tranches available by then and not withdrawn, listed in ``tranches``), ``secured_later``
    (secured, available after the date) and ``planned`` (not secured yet), each with its tranches."""

    project_id: uuid.UUID
    on: date
    available: Money
    tranches: list[TrancheView]
    secured_later: Money
    secured_later_tranches: list[TrancheView]
    planned: Money
    planned_tranches: list[TrancheView]


class EstimateView(EstimateToComplete):
    """An estimate to complete: the event's data, with the budget's version (command answers)."""

    version: int


class EstimateListed(EstimateToComplete):
    """An estimate as the list answers it: the event's data and when it was submitted."""

    submitted_at: datetime


class ExchangeRateView(BaseModel):
    """A rate as recorded for one effective date: the one in force from it, the rate it last replaced, who recorded
    it and when."""

    base: str
    quote: str
    effective_on: date
    rate: str = Field(description="an exact decimal: 1 base = rate quote")
    source: str
    recorded_by: str
    recorded_at: datetime
    replaces_rate: str | None = Field(description="an exact decimal, or null")


class InvertedRate(BaseModel):
    """The recorded rate of the opposite pair that a rate in force inverts."""

    base: str
    quote: str
    rate: str = Field(description="an exact decimal")


class ExchangeRateInForceView(BaseModel):
    """The rate converting ``base`` into ``quote`` on ``on``: recorded, or the inverse (1 / rate, 80 significant
    digits) of the opposite pair's (``inverse_of``)."""

    base: str
    quote: str
    on: date
    rate: str = Field(description="an exact decimal: 1 base = rate quote")
    effective_on: date
    source: str
    inverse_of: InvertedRate | None


class ExchangeRateRecordedView(BaseModel):
    """The rate in force from ``effective_on`` after the request; ``recorded`` is false when it changed nothing."""

    base: str
    quote: str
    effective_on: date
    rate: str = Field(description="an exact decimal")
    source: str
    recorded: bool
    replaces_rate: str | None
    version: int
