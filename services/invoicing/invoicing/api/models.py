"""Request bodies of the invoicing API, with their limits."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.bounds import CurrencyCode, RequestBody
from shared.contracts.budget import CostCategory
from shared.contracts.common import Booking
from shared.contracts.invoicing import CreditLine, Discrepancy, InvoiceLine, LineMatch
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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "project_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
                    "vendor": "acme",
                    "number": "INV-2027-0117",
                    "issued_on": "2027-03-01",
                    "due_on": "2027-03-31",
                    "currency": "EUR",
                    "commitment_reference": "PO-2027-0042",
                    "lines": [
                        {
                            "description": "Design sprint, week 9",
                            "quantity": "5",
                            "unit_price": {"amount": "800.00", "currency": "EUR"},
                            "amount": {"amount": "4000.00", "currency": "EUR"},
                            "tax_rate": "0.20",
                            "tax": {"amount": "800.00", "currency": "EUR"},
                            "bills": [{"sheet_id": "9b2e7c1d-4a5f-4e8b-9c3d-2f1a6b7c8d9e"}],
                        }
                    ],
                    "total": {"amount": "4800.00", "currency": "EUR"},
                }
            ]
        }
    )

    project_id: uuid.UUID
    vendor: Annotated[str, Field(min_length=1, max_length=200, examples=["acme"])]
    number: DocumentNumber
    issued_on: date
    received_on: date | None = Field(default=None, description="defaults to today")
    due_on: date
    currency: CurrencyCode
    commitment_reference: Annotated[str, Field(min_length=1, max_length=100, examples=["PO-2027-0042"])] = Field(
        description="the reference of the purchase order or subcontract (pmo.budget.v1) the invoice draws on"
    )
    lines: Annotated[list[LineBody], Field(min_length=1, max_length=500)]
    total: Money = Field(description="the lines' amounts plus their taxes")


class ApproveBody(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{}]})

    override_reason: Annotated[str | None, Field(max_length=2000)] = Field(
        default=None, description="required to approve a mismatched invoice"
    )


class ReasonBody(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "The hours billed were not worked"}]})

    reason: Reason


class MatchBody(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{}]})


class PaymentBody(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "amount": {"amount": "4800.00", "currency": "EUR"},
                    "paid_on": "2027-03-30",
                    "reference": "PAY-2027-0117",
                }
            ]
        }
    )

    amount: Money
    paid_on: date
    reference: Annotated[str | None, Field(max_length=100)] = None


class CreditLineBody(RequestBody):
    line: Annotated[int, Field(ge=1, le=500, description="the invoice line credited, from 1")]
    amount: Money = Field(description="taken back before tax")
    tax: Money


class CreditNoteBody(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "number": "CN-2027-0003",
                    "issued_on": "2027-03-10",
                    "lines": [
                        {
                            "line": 1,
                            "amount": {"amount": "800.00", "currency": "EUR"},
                            "tax": {"amount": "160.00", "currency": "EUR"},
                        }
                    ],
                    "reason": "One day billed twice",
                }
            ]
        }
    )

    number: DocumentNumber
    issued_on: date
    lines: Annotated[list[CreditLineBody], Field(min_length=1, max_length=500)]
    reason: Reason


class ToleranceBody(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"tolerance": "0.02"}]})

    tolerance: Annotated[ExactDecimal, Field(max_digits=6, decimal_places=4, examples=["0.02"])] = Field(
        description="the share of a line's amount that may go unbacked, from 0 to 0.10"
    )


Description = Annotated[str, Field(min_length=1, max_length=500)]


class GoodsReceiptBody(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "commitment_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
                    "category": "labour",
                    "description": "20 laptops delivered",
                    "amount": {"amount": "24000.00", "currency": "EUR"},
                    "received_on": "2027-03-01",
                }
            ]
        }
    )

    commitment_id: uuid.UUID = Field(description="an open commitment of the project (pmo.budget.v1)")
    category: CostCategory = Field(description="a cost category (not contingency)")
    description: Description
    amount: Money = Field(description="in the commitment's currency, more than zero", examples=[EUR])
    received_on: date | None = Field(default=None, description="defaults to today; never in the future")


class ReversalBody(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "Delivery returned: wrong model", "reversed_on": "2027-03-01"}]}
    )

    reason: Reason
    reversed_on: date | None = Field(default=None, description="defaults to today")


class ExpenseBody(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "category": "labour",
                    "description": "Train to the vendor's workshop",
                    "amount": {"amount": "184.50", "currency": "EUR"},
                    "incurred_on": "2027-03-01",
                    "receipt_reference": "RCPT-118",
                    "milestone_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
                }
            ]
        }
    )

    category: CostCategory = Field(description="a cost category (not contingency)")
    description: Description
    amount: Money = Field(description="in any ISO 4217 currency, more than zero", examples=[EUR])
    incurred_on: date = Field(description="never in the future")
    receipt_reference: Annotated[str | None, Field(max_length=100)] = Field(
        default=None, description="required above PMO_EXPENSE_RECEIPT_THRESHOLD in the project's currency (0: always)"
    )
    milestone_id: uuid.UUID | None = Field(default=None, description="a milestone of the project")


class ExpenseDecisionBody(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{}]})


class ReimbursementBody(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"paid_on": "2027-03-20", "reference": "PAY-2027-0117"}]})

    paid_on: date | None = Field(default=None, description="defaults to today")
    reference: Annotated[str | None, Field(max_length=100)] = None


# --- responses: what the views answer (invoicing.views), described for OpenAPI; answers are never re-validated -----

# The parts an answer shares with the events (``shared.contracts``: a booking, an invoice line, a line's backing, a
# discrepancy, a credited line) are documented by their contract models: the views serialise those very models.


class PaymentView(BaseModel):
    """A payment recorded against the invoice."""

    payment_id: uuid.UUID
    amount: Money
    paid_on: date
    reference: str | None
    recorded_by: str


class CreditNoteView(BaseModel):
    """A credit note: the lines it takes back (before tax, and their tax) and its totals."""

    credit_note_id: uuid.UUID
    number: str
    issued_on: date
    lines: list[CreditLine]
    net: Money
    tax: Money
    total: Money
    reason: str
    recorded_by: str


class MatchView(BaseModel):
    outcome: Literal["matched", "mismatched"]
    invoiced: Money
    backed: Money
    lines: list[LineMatch]
    commitment_id: uuid.UUID | None
    commitment_remaining: Money | None
    tolerance: str = Field(description="an exact decimal: the unbacked share the project's tolerance allows")
    discrepancies: list[Discrepancy]
    matched_by: str


class InvoiceView(BaseModel):
    """An invoice (:func:`invoicing.views.invoice_view`); the queries add ``overdue``."""

    invoice_id: uuid.UUID
    project_id: uuid.UUID
    version: int = Field(description="the invoice's version (also its ETag)")
    vendor: str
    number: str
    status: str
    issued_on: date
    received_on: date
    due_on: date
    currency: str
    booked: Booking | None
    commitment_reference: str
    lines: list[InvoiceLine]
    net: Money
    tax: Money
    total: Money
    invoiced: Money
    credited: Money
    paid: Money
    amount_due: Money
    match: MatchView | None
    received_by: str
    approved_by: str | None
    override_reason: str | None
    disputed_by: str | None
    dispute_reason: str | None
    rejected_by: str | None
    rejection_reason: str | None
    credit_notes: list[CreditNoteView]
    payments: list[PaymentView]
    overdue: bool | None = Field(default=None, description="past due with an amount still due (queries only)")


class InvoicePage(BaseModel):
    items: list[InvoiceView]
    total: int
    limit: int
    offset: int


class GoodsReceiptView(BaseModel):
    receipt_id: uuid.UUID
    project_id: uuid.UUID
    commitment_id: uuid.UUID
    version: int
    status: str = Field(description="received or reversed")
    category: CostCategory
    description: str
    amount: Money
    booked: Booking | None
    received_on: date
    received_by: str
    reversed_on: date | None
    reversal_reason: str | None
    reversed_by: str | None


class ExpenseView(BaseModel):
    expense_id: uuid.UUID
    project_id: uuid.UUID
    version: int
    status: str = Field(description="claimed, approved, rejected or reimbursed")
    claimant: str
    category: CostCategory
    description: str
    amount: Money
    booked: Booking | None
    in_project_currency: Money
    incurred_on: date
    receipt_reference: str | None
    milestone_id: uuid.UUID | None
    approved_by: str | None
    approved_on: date | None
    rejected_by: str | None
    rejection_reason: str | None
    paid_on: date | None
    payment_reference: str | None
    reimbursed_by: str | None


class ToleranceView(BaseModel):
    project_id: uuid.UUID
    tolerance: str = Field(description="the matching tolerance, an exact decimal fraction (0.02 = 2 %)")
    version: int


class CurrencyBacking(BaseModel):
    """One currency of the invoicing summary (:func:`invoicing.views.summary`)."""

    currency: str
    invoices: int
    invoiced: Money = Field(description="before tax, after credit notes; rejected and fully credited invoices left out")
    backed: Money = Field(description="backed by approved work or goods received")
    backing_ratio: str | None = Field(description="backed / invoiced, 4 decimals; null when nothing is invoiced")
    below_target: bool
    open: Money = Field(description="still due on the open invoices")
    overdue: Money
    overdue_invoices: int


class InvoicingSummary(BaseModel):
    """A project's invoicing on a date, per currency (:func:`invoicing.views.summary`)."""

    project_id: uuid.UUID
    on: date
    backing_target: str = Field(description="the backing ratio invoices must reach, e.g. 0.90")
    tolerance: str = Field(description="the project's matching tolerance")
    invoices_by_status: dict[str, int] = Field(description="how many invoices are in each status")
    currencies: list[CurrencyBacking]
