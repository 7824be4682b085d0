"""Events published by the invoicing service on ``pmo.invoicing.v1`` (key: the project id).

A supplier invoice is received with its lines, each citing the approved work it bills (a work sheet of
``pmo.resources.v1``, or one accepted deliverable on it) and the commitment of ``pmo.budget.v1`` it draws on. It
is matched against those facts as soon as they are known: ``invoice-matched`` or ``invoice-mismatched`` with every
discrepancy spelled out (which line, which check, the figures). Then it is approved (a mismatched one only by an
override with a reason), disputed or rejected, credited, and paid.

Every amount is exact :class:`~shared.money.Money` in the invoice's currency; quantities and rates are exact decimal
strings. Computed figures are rounded half-even to the currency's minor unit. Backing is compared on amounts before
tax (what the work is worth); commitments too (a commitment is a net amount).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.budget import CostCategory
from shared.contracts.common import Booking
from shared.events import DomainEvent, EventRegistry
from shared.money import DecimalStr, Money

TOPIC = "pmo.invoicing.v1"


class MatchCheck(StrEnum):
    """The checks an invoice is matched with; a discrepancy names the one that failed."""

    WORK_NOT_APPROVED = "work-not-approved"
    """A cited work sheet is not (or no longer) approved: it backs nothing (yet)."""
    UNKNOWN_DELIVERABLE = "unknown-deliverable"
    """The cited deliverable is not on the approved sheet."""
    OTHER_PROJECT = "other-project"
    """The cited sheet is work on another project."""
    OTHER_VENDOR = "other-vendor"
    """The cited sheet, or the commitment, belongs to another vendor."""
    CURRENCY_DIFFERS = "currency-differs"
    """The cited work or the commitment is in another currency: nothing is converted."""
    UNDER_BACKED = "under-backed"
    """The line's amount (before tax, after credit notes) exceeds its backing by more than the tolerance."""
    BILLED_TWICE = "billed-twice"
    """The cited work is already billed, by an earlier invoice (or another line of this one)."""
    UNKNOWN_COMMITMENT = "unknown-commitment"
    """No commitment with the invoice's reference is known on the project (yet)."""
    COMMITMENT_NOT_OPEN = "commitment-not-open"
    """The commitment awaits approval, was refused or was cancelled."""
    ABOVE_COMMITMENT = "above-commitment"
    """The invoice (before tax) exceeds what remains of its commitment after the invoices received before it."""
    NOT_RECEIVED = "not-received"
    """A goods or services line cites no receipt, or a receipt not (yet) recorded against the commitment."""
    ABOVE_RECEIPT = "above-receipt"
    """A goods or services line exceeds what was received or accepted by more than the tolerance (3-way match)."""


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WorkReference(_Part):
    """Approved work an invoice line bills: a whole work sheet, or one accepted deliverable on it (its position on
    the approved sheet, from 0)."""

    sheet_id: UUID
    deliverable: int | None = None


class InvoiceLine(_Part):
    """``amount`` = quantity x unit price and ``tax`` = amount x tax rate, both half-even to the minor unit."""

    line: int
    description: str
    quantity: DecimalStr
    unit_price: Money
    amount: Money
    tax_rate: DecimalStr
    tax: Money
    bills: list[WorkReference]
    receipts: list[UUID] = Field(default_factory=list)
    """Goods, licences or services without a work sheet: the ``goods-received`` receipts the line bills (3-way
    match: commitment, receipt, invoice). A line cites work sheets or receipts, not both."""


class LineMatch(_Part):
    """How one line is backed: ``invoiced`` is its amount before tax, after credit notes; ``backed`` what the
    work it cites is worth; ``shortfall`` the part not backed (zero when fully backed)."""

    line: int
    invoiced: Money
    backed: Money
    shortfall: Money
    within_tolerance: bool


class Discrepancy(_Part):
    """One failed check, with what it concerns (``line`` null: the invoice as a whole) and its figures.

    * ``under-backed``: ``invoiced`` (the line, before tax, after credit notes), ``backed``, ``limit`` (the unbacked
      amount the tolerance allows) and ``over_by`` (what is invoiced beyond the backing);
    * ``above-commitment``: ``invoiced`` (the invoice), ``limit`` (what remained of the commitment) and ``over_by``;
    * ``billed-twice``: ``sheet_id`` / ``deliverable`` and ``other_invoice_id`` (this invoice's own id when the work
      is billed on two of its lines);
    * ``above-receipt``: the figures of ``under-backed``, for a line citing goods receipts;
    * ``billed-twice``, ``not-received`` on a goods line: ``receipt_id`` (and ``other_invoice_id``);
    * the other checks name the sheet or receipt (per line) or the commitment (per invoice) in question.

    A converted invoice (``invoice-received.booked``) is matched in the project's currency: its figures are in it.
    """

    check: MatchCheck
    line: int | None
    detail: str
    sheet_id: UUID | None = None
    deliverable: int | None = None
    other_invoice_id: UUID | None = None
    commitment_id: UUID | None = None
    invoiced: Money | None = None
    backed: Money | None = None
    limit: Money | None = None
    over_by: Money | None = None
    receipt_id: UUID | None = None
    """The goods receipt in question (a line citing receipts)."""


class CreditLine(_Part):
    """The part of an invoice line a credit note takes back (before tax, and its tax)."""

    line: int
    amount: Money
    tax: Money


class InvoiceReceived(DomainEvent):
    event_name = "invoice-received"
    project_id: UUID
    invoice_id: UUID
    vendor: str
    number: str
    issued_on: date
    received_on: date
    due_on: date
    currency: str
    commitment_reference: str
    lines: list[InvoiceLine]
    net: Money
    tax: Money
    total: Money
    received_by: str
    booked: Booking | None = None
    """``net`` in the project's currency when the invoice is in another one, at the rate of its issue date."""


class _MatchOutcome(DomainEvent):
    project_id: UUID
    invoice_id: UUID
    invoiced: Money
    """Before tax, after credit notes."""
    backed: Money
    """The part of ``invoiced`` backed by approved work (each line counted up to its own amount)."""
    lines: list[LineMatch]
    commitment_id: UUID | None
    commitment_remaining: Money | None
    """What remained of the commitment for this invoice (its amount less the invoices received before)."""
    tolerance: DecimalStr
    matched_by: str


class InvoiceMatched(_MatchOutcome):
    """Every check passed: each line is backed within the project's tolerance, the commitment covers it, and
    no work is billed twice."""

    event_name = "invoice-matched"


class InvoiceMismatched(_MatchOutcome):
    event_name = "invoice-mismatched"
    discrepancies: list[Discrepancy]


class InvoiceApproved(DomainEvent):
    """Approved for payment. ``override``: approved although mismatched, with ``override_reason``, by someone other
    than whoever received it; ``overridden`` lists the discrepancies accepted."""

    event_name = "invoice-approved"
    project_id: UUID
    invoice_id: UUID
    approved_by: str
    override: bool
    override_reason: str | None
    overridden: list[Discrepancy]
    amount_due: Money


class InvoiceDisputed(DomainEvent):
    event_name = "invoice-disputed"
    project_id: UUID
    invoice_id: UUID
    disputed_by: str
    reason: str


class InvoiceRejected(DomainEvent):
    """Rejected: it will not be paid; the work it cited and its share of the commitment are free again."""

    event_name = "invoice-rejected"
    project_id: UUID
    invoice_id: UUID
    rejected_by: str
    reason: str


class CreditNoteReceived(DomainEvent):
    """A credit note from the vendor takes back part of the invoice (``amount_due`` after it). ``fully_credited``:
    nothing remains billed."""

    event_name = "credit-note-received"
    project_id: UUID
    invoice_id: UUID
    credit_note_id: UUID
    number: str
    issued_on: date
    lines: list[CreditLine]
    net: Money
    tax: Money
    total: Money
    reason: str
    recorded_by: str
    credited_total: Money
    amount_due: Money
    fully_credited: bool


class InvoicePaid(DomainEvent):
    """A payment, partial or full: ``amount`` paid now, ``total_paid`` so far, ``remaining`` still due."""

    event_name = "invoice-paid"
    project_id: UUID
    invoice_id: UUID
    payment_id: UUID
    amount: Money
    paid_on: date
    reference: str | None
    recorded_by: str
    total_paid: Money
    remaining: Money
    fully_paid: bool


class MatchingToleranceSet(DomainEvent):
    """The share of a line's amount that may go unbacked on the project (default 0.02)."""

    event_name = "matching-tolerance-set"
    project_id: UUID
    tolerance: DecimalStr
    previous_tolerance: DecimalStr
    set_by: str


# --- goods and services received (the third leg of a 3-way match) --------------------------------------------


class GoodsReceived(DomainEvent):
    """Goods delivered, a licence granted or a service accepted against a commitment: a cost on the accrual basis
    from ``received_on`` (before any invoice), and what invoice lines citing it are matched against."""

    event_name = "goods-received"
    project_id: UUID
    receipt_id: UUID
    commitment_id: UUID
    category: CostCategory
    description: str
    amount: Money
    received_on: date
    received_by: str
    booked: Booking | None = None


class GoodsReceiptReversed(DomainEvent):
    """A receipt recorded in error or goods returned: its cost is reversed from ``reversed_on``."""

    event_name = "goods-receipt-reversed"
    project_id: UUID
    receipt_id: UUID
    reversed_on: date
    reason: str
    reversed_by: str


# --- expense claims --------------------------------------------------------------------------------------------


class ExpenseClaimed(DomainEvent):
    """A person's out-of-pocket cost on a project (travel, materials, ...), in the receipt's currency."""

    event_name = "expense-claimed"
    project_id: UUID
    expense_id: UUID
    claimant: str
    category: CostCategory
    description: str
    amount: Money
    incurred_on: date
    receipt_reference: str | None
    milestone_id: UUID | None = None
    booked: Booking | None = None


class ExpenseApproved(DomainEvent):
    """Approved by someone other than the claimant: a cost (accrual) from ``approved_on``."""

    event_name = "expense-approved"
    project_id: UUID
    expense_id: UUID
    approved_by: str
    approved_on: date


class ExpenseRejected(DomainEvent):
    event_name = "expense-rejected"
    project_id: UUID
    expense_id: UUID
    rejected_by: str
    reason: str


class ExpenseReimbursed(DomainEvent):
    """Paid back to the claimant: the cash view of the cost."""

    event_name = "expense-reimbursed"
    project_id: UUID
    expense_id: UUID
    paid_on: date
    reference: str | None
    recorded_by: str


REGISTRY = EventRegistry(
    [
        InvoiceReceived,
        InvoiceMatched,
        InvoiceMismatched,
        InvoiceApproved,
        InvoiceDisputed,
        InvoiceRejected,
        CreditNoteReceived,
        InvoicePaid,
        MatchingToleranceSet,
        GoodsReceived,
        GoodsReceiptReversed,
        ExpenseClaimed,
        ExpenseApproved,
        ExpenseRejected,
        ExpenseReimbursed,
    ]
)
