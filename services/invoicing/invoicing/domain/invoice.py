"""The invoice's state and the rules every step of its life shares: its statuses, its amounts (what is due, what
is invoiced before tax after credit notes), how vendors and document numbers compare, and the checks on status and
currency each command starts with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from uuid import UUID

from shared.contracts.common import Booking
from shared.contracts.invoicing import CreditLine, Discrepancy, InvoiceLine, LineMatch
from shared.errors import InvalidCommandError, RuleViolationError
from shared.money import Money


class InvoiceStatus(StrEnum):
    RECEIVED = "received"
    MATCHED = "matched"
    MISMATCHED = "mismatched"
    DISPUTED = "disputed"
    APPROVED = "approved"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    REJECTED = "rejected"
    CREDITED = "credited"


AWAITING_DECISION = frozenset(
    {InvoiceStatus.RECEIVED, InvoiceStatus.MATCHED, InvoiceStatus.MISMATCHED, InvoiceStatus.DISPUTED}
)
"""Invoices whose match follows the facts: re-matched whenever a fact they depend on changes."""
RELEASED = frozenset({InvoiceStatus.REJECTED, InvoiceStatus.CREDITED})
"""Invoices that no longer bill their work nor draw on their commitment."""
OPEN = frozenset({*AWAITING_DECISION, InvoiceStatus.APPROVED, InvoiceStatus.PARTIALLY_PAID})
"""Invoices with an amount still to pay (or to decide on)."""


@dataclass(frozen=True)
class Payment:
    payment_id: UUID
    amount: Money
    paid_on: date
    reference: str | None
    recorded_by: str


@dataclass(frozen=True)
class CreditNote:
    credit_note_id: UUID
    number: str
    issued_on: date
    lines: tuple[CreditLine, ...]
    net: Money
    tax: Money
    total: Money
    reason: str
    recorded_by: str


@dataclass(frozen=True)
class MatchResult:
    """The outcome of matching; two results are equal when their figures and discrepancies are (whoever ran it)."""

    matched: bool
    invoiced: Money
    backed: Money
    lines: tuple[LineMatch, ...]
    commitment_id: UUID | None
    commitment_remaining: Money | None
    tolerance: Decimal
    discrepancies: tuple[Discrepancy, ...]
    matched_by: str = field(default="", compare=False)


@dataclass(frozen=True)
class Invoice:
    invoice_id: UUID
    project_id: UUID
    vendor: str
    number: str
    issued_on: date
    received_on: date
    due_on: date
    currency: str
    commitment_reference: str
    lines: tuple[InvoiceLine, ...]
    net: Money
    tax: Money
    total: Money
    received_by: str
    booked: Booking | None = None
    """``net`` in the project's currency when the invoice is in another one: the invoice is matched in it."""
    status: InvoiceStatus = InvoiceStatus.RECEIVED
    match: MatchResult | None = None
    credit_notes: tuple[CreditNote, ...] = ()
    payments: tuple[Payment, ...] = ()
    approved_by: str | None = None
    override_reason: str | None = None
    disputed_by: str | None = None
    dispute_reason: str | None = None
    rejected_by: str | None = None
    rejection_reason: str | None = None

    def _sum(self, amounts: Sequence[Money]) -> Money:
        total = Money.zero(self.currency)
        for amount in amounts:
            total = total + amount
        return total

    @property
    def credited(self) -> Money:
        """What the credit notes took back, tax included."""
        return self._sum([c.total for c in self.credit_notes])

    @property
    def paid(self) -> Money:
        return self._sum([p.amount for p in self.payments])

    @property
    def amount_due(self) -> Money:
        return self.total - self.credited - self.paid

    @property
    def invoiced(self) -> Money:
        """Before tax, after credit notes: what backing and commitments are compared with."""
        return self.net - self._sum([c.net for c in self.credit_notes])

    def credited_on(self, line: int) -> tuple[Money, Money]:
        """Amount and tax the credit notes took back on ``line``."""
        parts = [p for c in self.credit_notes for p in c.lines if p.line == line]
        return self._sum([p.amount for p in parts]), self._sum([p.tax for p in parts])

    def cited_sheets(self) -> frozenset[UUID]:
        return frozenset(ref.sheet_id for line in self.lines for ref in line.bills)

    def cited_receipts(self) -> frozenset[UUID]:
        return frozenset(receipt for line in self.lines for receipt in line.receipts)


@dataclass(frozen=True)
class DualControl:
    """From which invoice total (per currency) receipt, approval and payment need different people.

    ``thresholds`` maps a currency to the total at or above which the rule holds; a currency it does not name has
    threshold 0: every invoice. The default (nothing named) is the strictest setting."""

    thresholds: Mapping[str, Decimal] = field(default_factory=lambda: MappingProxyType({}))

    def applies_to(self, total: Money) -> bool:
        return total.amount >= self.thresholds.get(total.currency, Decimal(0))


def document_key(name: str) -> str:
    """How a vendor, an invoice number or a commitment reference compares: blanks around it and case ignored
    (people are not compared so: see :func:`shared.identity.same_person`)."""
    return name.strip().casefold()


def same_document(a: str, b: str) -> bool:
    """The same vendor or document number (:func:`document_key`)."""
    return document_key(a) == document_key(b)


def require_status(invoice: Invoice, allowed: frozenset[InvoiceStatus] | set[InvoiceStatus], action: str) -> None:
    """Refuse (:class:`RuleViolationError`) to take ``action`` on an invoice in none of the ``allowed`` statuses."""
    if invoice.status not in allowed:
        names = sorted(s.value.replace("_", " ") for s in allowed)
        states = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        now = invoice.status.value.replace("_", " ")
        raise RuleViolationError(f"invoice {invoice.number} is {now}; only a {states} invoice is {action}")


def require_currency(amount: Money, currency: str, name: str) -> None:
    """Refuse (:class:`InvalidCommandError` on ``<name>.currency``) an amount not in the invoice's currency."""
    if amount.currency != currency:
        raise InvalidCommandError(
            f"{name} is in {amount.currency} but the invoice is in {currency}; nothing is converted",
            field=f"{name}.currency",
        )
