"""Paying an approved invoice and recording the vendor's credit notes.

Payments, partial or full, never above the amount still due (total less credit notes less payments), only once
approved; whoever records a payment never approved the invoice and, at or above the dual-control threshold
(:class:`~invoicing.domain.invoice.DualControl`), never received it either: receipt, approval and payment are then
three people, below it at least two. Credit notes take back part of lines, never more than is still due; each
credit note number once per invoice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from uuid import UUID

from invoicing.domain.invoice import (
    OPEN,
    DualControl,
    Invoice,
    InvoiceStatus,
    require_currency,
    require_status,
    same_document,
)
from invoicing.domain.matching import MatchFacts
from shared.contracts.invoicing import CreditLine, CreditNoteReceived, InvoicePaid
from shared.errors import InvalidCommandError, RuleViolationError, SeparationOfDutiesError
from shared.identity import same_person
from shared.money import Money


@dataclass(frozen=True)
class RecordPayment:
    payment_id: UUID
    amount: Money
    paid_on: date
    reference: str | None
    recorded_by: str
    dual_control: DualControl = field(default_factory=DualControl)


@dataclass(frozen=True)
class RecordCreditNote:
    credit_note_id: UUID
    number: str
    issued_on: date
    lines: tuple[CreditLine, ...]
    reason: str
    recorded_by: str
    facts: MatchFacts


def pay(invoice: Invoice, command: RecordPayment) -> InvoicePaid:
    require_status(invoice, {InvoiceStatus.APPROVED, InvoiceStatus.PARTIALLY_PAID}, "paid")
    if same_person(command.recorded_by, invoice.approved_by):
        raise SeparationOfDutiesError(
            f"{command.recorded_by} approved invoice {invoice.number}; someone else records its payment"
        )
    if command.dual_control.applies_to(invoice.total) and same_person(command.recorded_by, invoice.received_by):
        raise SeparationOfDutiesError(
            f"{command.recorded_by} received invoice {invoice.number} ({invoice.total}); someone else records its "
            "payment"
        )
    require_currency(command.amount, invoice.currency, "amount")
    if command.amount.amount <= 0:
        raise InvalidCommandError("a payment must be greater than zero", field="amount.amount")
    due = invoice.amount_due
    if command.amount.amount > due.amount:
        raise InvalidCommandError(
            f"the payment of {command.amount} is above the amount still due, {due}", field="amount"
        )
    if command.paid_on < invoice.issued_on:
        raise InvalidCommandError(f"a payment cannot precede the invoice date {invoice.issued_on}", field="paid_on")
    remaining = due - command.amount
    return InvoicePaid(
        project_id=invoice.project_id,
        invoice_id=invoice.invoice_id,
        payment_id=command.payment_id,
        amount=command.amount,
        paid_on=command.paid_on,
        reference=command.reference,
        recorded_by=command.recorded_by,
        total_paid=invoice.paid + command.amount,
        remaining=remaining,
        fully_paid=remaining.amount == 0,
    )


def credit(invoice: Invoice, command: RecordCreditNote) -> CreditNoteReceived:
    require_status(invoice, {*OPEN}, "credited")
    if any(same_document(c.number, command.number) for c in invoice.credit_notes):
        raise RuleViolationError(f"credit note {command.number} is already recorded on this invoice", field="number")
    if command.issued_on < invoice.issued_on:
        raise InvalidCommandError(
            f"a credit note cannot precede the invoice it credits ({invoice.issued_on})", field="issued_on"
        )
    if not command.lines:
        raise InvalidCommandError("a credit note takes back part of at least one line", field="lines")
    currency = invoice.currency
    by_number = {line.line: line for line in invoice.lines}
    seen: set[int] = set()
    net = Money.zero(currency)
    tax = Money.zero(currency)
    for i, part in enumerate(command.lines):
        name = f"lines.{i}"
        line = by_number.get(part.line)
        if line is None:
            raise InvalidCommandError(f"the invoice has no line {part.line}", field=f"{name}.line")
        if part.line in seen:
            raise InvalidCommandError(f"line {part.line} appears twice", field=f"{name}.line")
        seen.add(part.line)
        require_currency(part.amount, currency, f"{name}.amount")
        require_currency(part.tax, currency, f"{name}.tax")
        if part.amount.amount < 0 or part.tax.amount < 0 or part.amount.amount + part.tax.amount == 0:
            raise InvalidCommandError("a credit takes back a positive amount or tax", field=f"{name}.amount")
        credited_amount, credited_tax = invoice.credited_on(part.line)
        left = line.amount - credited_amount
        if part.amount.amount > left.amount:
            raise InvalidCommandError(
                f"line {part.line} has {left} left to credit, less than {part.amount}", field=f"{name}.amount"
            )
        left_tax = line.tax - credited_tax
        if part.tax.amount > left_tax.amount:
            raise InvalidCommandError(
                f"line {part.line} has {left_tax} tax left to credit, less than {part.tax}", field=f"{name}.tax"
            )
        net, tax = net + part.amount, tax + part.tax
    total = net + tax
    due = invoice.amount_due
    if total.amount > due.amount:
        raise InvalidCommandError(f"the credit note of {total} is above the amount still due, {due}", field="lines")
    credited_total = invoice.credited + total
    return CreditNoteReceived(
        project_id=invoice.project_id,
        invoice_id=invoice.invoice_id,
        credit_note_id=command.credit_note_id,
        number=command.number,
        issued_on=command.issued_on,
        lines=list(command.lines),
        net=net,
        tax=tax,
        total=total,
        reason=command.reason,
        recorded_by=command.recorded_by,
        credited_total=credited_total,
        amount_due=due - total,
        fully_credited=credited_total.amount == invoice.total.amount,
    )
