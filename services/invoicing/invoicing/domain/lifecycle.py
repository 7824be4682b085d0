"""The invoice aggregate (one stream per supplier invoice): ``decide`` routes each command to the step of the
invoice's life it belongs to, ``evolve`` folds every invoice event into the state.

Received (and matched at once) -> matched or mismatched, again whenever a fact changes -> approved (an override for
a mismatched one), disputed or rejected -> paid, partly or fully; credit notes on an open invoice, which is matched
again with what is left of its lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import assert_never
from uuid import UUID

from invoicing.domain.approval import ApproveInvoice, DisputeInvoice, RejectInvoice, approve, dispute, reject
from invoicing.domain.invoice import CreditNote, Invoice, InvoiceStatus, MatchResult, Payment
from invoicing.domain.matching import MATCHER, MatchInvoice, match_events
from invoicing.domain.payment import RecordCreditNote, RecordPayment, credit, pay
from invoicing.domain.receipt import ReceiveInvoice, receive
from shared.contracts.invoicing import (
    CreditNoteReceived,
    InvoiceApproved,
    InvoiceDisputed,
    InvoiceMatched,
    InvoiceMismatched,
    InvoicePaid,
    InvoiceReceived,
    InvoiceRejected,
)
from shared.decider import Decider
from shared.errors import NotFoundError, RuleViolationError
from shared.events import DomainEvent

Command = (
    ReceiveInvoice | MatchInvoice | ApproveInvoice | DisputeInvoice | RejectInvoice | RecordPayment | RecordCreditNote
)
InvoiceEvent = (
    InvoiceReceived
    | InvoiceMatched
    | InvoiceMismatched
    | InvoiceApproved
    | InvoiceDisputed
    | InvoiceRejected
    | InvoicePaid
    | CreditNoteReceived
)
"""Every event of an invoice's stream."""


def decide(state: Invoice | None, command: Command, now: datetime) -> Sequence[DomainEvent]:
    """The events ``command`` causes on ``state``, or an error saying why it is refused."""
    if isinstance(command, ReceiveInvoice):
        if state is not None:
            raise RuleViolationError(f"invoice {state.invoice_id} already exists")
        received = receive(command, now)
        return [received, *match_events(_received(received), command.facts, MATCHER)]
    if state is None:
        raise NotFoundError("this invoice does not exist")
    invoice = state
    match command:
        case MatchInvoice():
            return match_events(invoice, command.facts, command.matched_by)
        case ApproveInvoice():
            return [approve(invoice, command)]
        case DisputeInvoice():
            return [dispute(invoice, command)]
        case RejectInvoice():
            return [reject(invoice, command)]
        case RecordPayment():
            return [pay(invoice, command)]
        case RecordCreditNote():
            note = credit(invoice, command)
            return [note, *match_events(_credited(invoice, note), command.facts, MATCHER)]
        case _:
            assert_never(command)


def evolve(state: Invoice | None, event: DomainEvent) -> Invoice | None:
    """The invoice after ``event``; raises :class:`TypeError` for an event that is not an invoice's."""
    if not isinstance(event, InvoiceEvent):
        raise TypeError(f"{event.event_name} is not an event of an invoice")
    if isinstance(event, InvoiceReceived):
        return _received(event)
    if state is None:
        return state
    match event:
        case InvoiceMatched() | InvoiceMismatched():
            return _matched(state, event)
        case InvoiceApproved():
            return replace(
                state,
                status=InvoiceStatus.APPROVED,
                approved_by=event.approved_by,
                override_reason=event.override_reason,
            )
        case InvoiceDisputed():
            return replace(
                state, status=InvoiceStatus.DISPUTED, disputed_by=event.disputed_by, dispute_reason=event.reason
            )
        case InvoiceRejected():
            return replace(
                state, status=InvoiceStatus.REJECTED, rejected_by=event.rejected_by, rejection_reason=event.reason
            )
        case InvoicePaid():
            payment = Payment(event.payment_id, event.amount, event.paid_on, event.reference, event.recorded_by)
            status = InvoiceStatus.PAID if event.fully_paid else InvoiceStatus.PARTIALLY_PAID
            return replace(state, payments=(*state.payments, payment), status=status)
        case CreditNoteReceived():
            return _credited(state, event)
        case _:
            assert_never(event)


def _received(event: InvoiceReceived) -> Invoice:
    return Invoice(
        invoice_id=event.invoice_id,
        project_id=event.project_id,
        vendor=event.vendor,
        number=event.number,
        issued_on=event.issued_on,
        received_on=event.received_on,
        due_on=event.due_on,
        currency=event.currency,
        commitment_reference=event.commitment_reference,
        lines=tuple(event.lines),
        net=event.net,
        tax=event.tax,
        total=event.total,
        received_by=event.received_by,
        booked=event.booked,
    )


def _matched(state: Invoice, event: InvoiceMatched | InvoiceMismatched) -> Invoice:
    result = MatchResult(
        matched=isinstance(event, InvoiceMatched),
        invoiced=event.invoiced,
        backed=event.backed,
        lines=tuple(event.lines),
        commitment_id=event.commitment_id,
        commitment_remaining=event.commitment_remaining,
        tolerance=event.tolerance,
        discrepancies=tuple(event.discrepancies) if isinstance(event, InvoiceMismatched) else (),
        matched_by=event.matched_by,
    )
    status = state.status
    if status in (InvoiceStatus.RECEIVED, InvoiceStatus.MATCHED, InvoiceStatus.MISMATCHED):
        status = InvoiceStatus.MATCHED if result.matched else InvoiceStatus.MISMATCHED
    return replace(state, match=result, status=status)


def _credited(state: Invoice, event: CreditNoteReceived) -> Invoice:
    note = CreditNote(
        event.credit_note_id,
        event.number,
        event.issued_on,
        tuple(event.lines),
        event.net,
        event.tax,
        event.total,
        event.reason,
        event.recorded_by,
    )
    after = replace(state, credit_notes=(*state.credit_notes, note))
    if event.amount_due.amount == 0:
        status = InvoiceStatus.PAID if after.payments else InvoiceStatus.CREDITED
        after = replace(after, status=status)
    return after


INVOICE: Decider[Invoice | None, Command] = Decider("invoice", lambda: None, evolve, decide)
"""The invoice aggregate as the command executor sees it."""


def stream_id(invoice_id: UUID) -> str:
    return f"invoice-{invoice_id}"
