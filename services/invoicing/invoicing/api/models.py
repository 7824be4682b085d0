"""Request bodies of the invoicing API, with their limits."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from pydantic import Field

from shared.bounds import RequestBody
from shared.contracts.budget import CostCategory
from shared.money import ExactDecimal, Money

Reason = Annotated[str, Field(min_length=1, max_length=2000)]
DocumentNumber = Annotated[str, Field(min_length=1, max_length=100, examples=["INV-2027-0117"])]
EUR = {"amount": "4000.00", "currency": "EUR"}


class WorkReferenceBody(RequestBody):
    sheet_id: uuid.UUID = Field(description="an approved work sheet of pmo.resources.v1")
    deliverable: Annotated[int | None, Field(ge=0, le=1000)] = Field(
        default=None, description="position (from 0) of the accepted deliverable billed; omit to bill the whole sheet"
    )


class LineBody(RequestBody):
    description: Annotated[str, Field(min_length=1, max_length=500)]
    quantity: Annotated[ExactDecimal, Field(max_digits=18, decimal_places=6, examples=["7.5"])]
    unit_price: Money
    amount: Money = Field(description="quantity x unit price, half-even to the minor unit", examples=[EUR])
    tax_rate: Annotated[ExactDecimal, Field(max_digits=8, decimal_places=6, examples=["0.20"])] = Field(
        description="from 0 to 0.50"
    )
    tax: Money = Field(description="amount x tax rate, half-even to the minor unit")
    bills: Annotated[list[WorkReferenceBody], Field(max_length=100)] = Field(
        default_factory=list, description="the approved work the line bills (or receipts, never both)"
    )
    receipts: Annotated[list[uuid.UUID], Field(max_length=100)] = Field(
        default_factory=list,
        description="goods, licences or services without a work sheet: the goods receipts the line bills, drawn on "
        "in this order (3-way match; or bills, never both)",
    )


class InvoiceBody(RequestBody):
    project_id: uuid.UUID
    vendor: Annotated[str, Field(min_length=1, max_length=200, examples=["acme"])]
    number: DocumentNumber
    issued_on: date
    received_on: date | None = Field(default=None, description="defaults to today")
    due_on: date
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["EUR"])]
    commitment_reference: Annotated[str, Field(min_length=1, max_length=100, examples=["PO-2027-0042"])] = Field(
        description="the reference of the purchase order or subcontract (pmo.budget.v1) the invoice draws on"
    )
    lines: Annotated[list[LineBody], Field(min_length=1, max_length=500)]
    total: Money = Field(description="the lines' amounts plus their taxes")


class ApproveBody(RequestBody):
    override_reason: Annotated[str | None, Field(max_length=2000)] = Field(
        default=None, description="required to approve a mismatched invoice"
    )


class ReasonBody(RequestBody):
    reason: Reason


class MatchBody(RequestBody):
    pass


class PaymentBody(RequestBody):
    amount: Money
    paid_on: date
    reference: Annotated[str | None, Field(max_length=100)] = None


class CreditLineBody(RequestBody):
    line: Annotated[int, Field(ge=1, le=500, description="the invoice line credited, from 1")]
    amount: Money = Field(description="taken back before tax")
    tax: Money


class CreditNoteBody(RequestBody):
    number: DocumentNumber
    issued_on: date
    lines: Annotated[list[CreditLineBody], Field(min_length=1, max_length=500)]
    reason: Reason


class ToleranceBody(RequestBody):
    tolerance: Annotated[ExactDecimal, Field(max_digits=6, decimal_places=4, examples=["0.02"])] = Field(
        description="the share of a line's amount that may go unbacked, from 0 to 0.10"
    )


Description = Annotated[str, Field(min_length=1, max_length=500)]


class GoodsReceiptBody(RequestBody):
    commitment_id: uuid.UUID = Field(description="an open commitment of the project (pmo.budget.v1)")
    category: CostCategory = Field(description="a cost category (not contingency)")
    description: Description
    amount: Money = Field(description="in the commitment's currency, more than zero", examples=[EUR])
    received_on: date | None = Field(default=None, description="defaults to today; never in the future")


class ReversalBody(RequestBody):
    reason: Reason
    reversed_on: date | None = Field(default=None, description="defaults to today")


class ExpenseBody(RequestBody):
    category: CostCategory = Field(description="a cost category (not contingency)")
    description: Description
    amount: Money = Field(description="in any ISO 4217 currency, more than zero", examples=[EUR])
    incurred_on: date = Field(description="never in the future")
    receipt_reference: Annotated[str | None, Field(max_length=100)] = Field(
        default=None, description="required above PMO_EXPENSE_RECEIPT_THRESHOLD in the project's currency (0: always)"
    )
    milestone_id: uuid.UUID | None = Field(default=None, description="a milestone of the project")


class ExpenseDecisionBody(RequestBody):
    pass


class ReimbursementBody(RequestBody):
    paid_on: date | None = Field(default=None, description="defaults to today")
    reference: Annotated[str | None, Field(max_length=100)] = None
