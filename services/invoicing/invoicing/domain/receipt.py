"""Receiving an invoice: what must add up before it is recorded.

An invoice's lines add up: amount = quantity x unit price, tax = amount x tax rate (0 to 50 %), both half-even to
the minor unit, and the total is the lines' amounts plus their taxes; everything is in the invoice's currency. Each
line cites either the work it bills (work sheets, deliverables) or the goods receipts it bills, never both, each
once. When the invoice is not in the project's currency (the known project's, else its commitment's), it is booked
in it: ``booked`` is its ``net`` at the rate in force on ``issued_on`` (:mod:`invoicing.domain.currency`), refused
when there is none; a commitment that can be expressed neither in the invoice's currency nor in the one it is booked
in is refused too. It is then matched at once (:mod:`invoicing.domain.matching`) with the facts handed in.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from invoicing.domain.currency import ExchangeRate, book
from invoicing.domain.invoice import require_currency
from invoicing.domain.matching import MatchFacts
from shared.contracts.invoicing import InvoiceLine, InvoiceReceived, WorkReference
from shared.errors import InvalidCommandError
from shared.money import Money, minor_unit, quantize

MAX_TAX_RATE = Decimal("0.50")


@dataclass(frozen=True)
class LineInput:
    description: str
    quantity: Decimal
    unit_price: Money
    amount: Money
    tax_rate: Decimal
    tax: Money
    bills: tuple[WorkReference, ...]
    receipts: tuple[UUID, ...] = ()


@dataclass(frozen=True)
class InvoiceDocument:
    """A supplier invoice as the vendor sent it: what :class:`ReceiveInvoice` records, before the invoice has an id,
    a receiver and the facts it is matched against. ``received_on`` None: the day it is received."""

    project_id: UUID
    vendor: str
    number: str
    issued_on: date
    received_on: date | None
    due_on: date
    currency: str
    commitment_reference: str
    lines: tuple[LineInput, ...]
    total: Money


@dataclass(frozen=True, kw_only=True)
class ReceiveInvoice(InvoiceDocument):
    invoice_id: UUID
    received_by: str
    facts: MatchFacts
    project_currency: str | None = None
    """The project's currency (None: not known, nothing is converted)."""
    rate: ExchangeRate | None = None
    """The invoice's currency -> the project's, in force on ``issued_on``."""

    @classmethod
    def of(
        cls,
        document: InvoiceDocument,
        *,
        invoice_id: UUID,
        received_by: str,
        facts: MatchFacts,
        project_currency: str | None = None,
        rate: ExchangeRate | None = None,
    ) -> ReceiveInvoice:
        """Receive ``document`` as invoice ``invoice_id``."""
        content: dict[str, Any] = {f.name: getattr(document, f.name) for f in fields(InvoiceDocument)}
        return cls(
            **content,
            invoice_id=invoice_id,
            received_by=received_by,
            facts=facts,
            project_currency=project_currency,
            rate=rate,
        )


def receive(command: ReceiveInvoice, now: datetime) -> InvoiceReceived:
    currency = command.currency
    try:
        minor_unit(currency)
    except ValueError as exc:
        raise InvalidCommandError(str(exc), field="currency") from None
    received_on = command.received_on or now.date()
    if command.due_on < command.issued_on:
        raise InvalidCommandError(
            f"the due date {command.due_on} is before the invoice date {command.issued_on}", field="due_on"
        )
    if received_on < command.issued_on:
        raise InvalidCommandError(
            f"an invoice issued on {command.issued_on} cannot be received on {received_on}", field="received_on"
        )
    if not command.lines:
        raise InvalidCommandError("an invoice has at least one line", field="lines")
    lines = [_line(i, line, currency) for i, line in enumerate(command.lines)]
    net = sum((line.amount.amount for line in lines), Decimal(0))
    tax = sum((line.tax.amount for line in lines), Decimal(0))
    require_currency(command.total, currency, "total")
    if net + tax != command.total.amount:
        raise InvalidCommandError(
            f"the lines add up to {net + tax} ({net} before tax + {tax} tax), not to the total {command.total.amount}",
            field="total",
        )
    if command.total.amount <= 0:
        raise InvalidCommandError("an invoice bills something: its total must be greater than zero", field="total")
    net_money = Money(amount=quantize(net, currency), currency=currency)
    booked = book(net_money, command.project_currency, command.rate, command.issued_on, "currency")
    matched_in = booked.amount.currency if booked is not None else currency
    commitment = command.facts.commitment
    if commitment is not None and commitment.in_currency(matched_in) is None:
        raise InvalidCommandError(
            f"the invoice is in {currency} but commitment {command.commitment_reference} is in "
            f"{commitment.amount.currency} with no booking in {matched_in}; nothing is converted",
            field="currency",
        )
    return InvoiceReceived(
        project_id=command.project_id,
        invoice_id=command.invoice_id,
        vendor=command.vendor,
        number=command.number,
        issued_on=command.issued_on,
        received_on=received_on,
        due_on=command.due_on,
        currency=currency,
        commitment_reference=command.commitment_reference,
        lines=lines,
        net=net_money,
        tax=Money(amount=quantize(tax, currency), currency=currency),
        total=command.total,
        received_by=command.received_by,
        booked=booked,
    )


def _line(i: int, line: LineInput, currency: str) -> InvoiceLine:
    name = f"lines.{i}"
    require_currency(line.unit_price, currency, f"{name}.unit_price")
    require_currency(line.amount, currency, f"{name}.amount")
    require_currency(line.tax, currency, f"{name}.tax")
    if line.quantity <= 0:
        raise InvalidCommandError("quantity must be greater than zero", field=f"{name}.quantity")
    if line.unit_price.amount < 0:
        raise InvalidCommandError("unit price must not be negative", field=f"{name}.unit_price.amount")
    expected = quantize(line.quantity * line.unit_price.amount, currency)
    if line.amount.amount != expected:
        raise InvalidCommandError(
            f"quantity {line.quantity} x unit price {line.unit_price.amount} = {expected}, not {line.amount.amount}",
            field=f"{name}.amount",
        )
    if not Decimal(0) <= line.tax_rate <= MAX_TAX_RATE:
        raise InvalidCommandError(
            f"tax rate {line.tax_rate} is out of range: from 0 to {MAX_TAX_RATE}", field=f"{name}.tax_rate"
        )
    expected_tax = quantize(line.amount.amount * line.tax_rate, currency)
    if line.tax.amount != expected_tax:
        raise InvalidCommandError(
            f"amount {line.amount.amount} x tax rate {line.tax_rate} = {expected_tax}, not {line.tax.amount}",
            field=f"{name}.tax",
        )
    if line.bills and line.receipts:
        raise InvalidCommandError(
            "a line cites either the work sheets or deliverables it bills or the goods receipts it bills, not both",
            field=f"{name}.receipts",
        )
    if not line.bills and not line.receipts:
        raise InvalidCommandError(
            "each line cites the work sheets or deliverables (bills) or the goods receipts (receipts) it bills",
            field=f"{name}.bills",
        )
    for j, receipt in enumerate(line.receipts):
        if receipt in line.receipts[:j]:
            raise InvalidCommandError("the same receipt is cited twice on the line", field=f"{name}.receipts.{j}")
    seen: set[tuple[UUID, int | None]] = set()
    for j, ref in enumerate(line.bills):
        if ref.deliverable is not None and ref.deliverable < 0:
            raise InvalidCommandError("a deliverable is its position on the sheet, from 0", field=f"{name}.bills.{j}")
        key = (ref.sheet_id, ref.deliverable)
        if key in seen:
            raise InvalidCommandError("the same work is cited twice on the line", field=f"{name}.bills.{j}")
        seen.add(key)
    return InvoiceLine(
        line=i + 1,
        description=line.description,
        quantity=line.quantity,
        unit_price=line.unit_price,
        amount=line.amount,
        tax_rate=line.tax_rate,
        tax=line.tax,
        bills=list(line.bills),
        receipts=list(line.receipts),
    )
