"""The invoicing use cases: read the facts a command needs, build the command, run it, answer with the view.

Each handler takes the executor port (:class:`shared.commands.Executor`), the facts it needs through
:class:`InvoiceFacts` (read from this service's tables by :class:`invoicing.queries.SqlInvoiceFacts`; a fake in
the handler tests), the command context and its input, and returns the :class:`~shared.commands.CommandOutcome`
whose body is the invoice (or the policy) as :mod:`invoicing.views` shapes it. Routes, the matcher and any other
caller go through here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Protocol
from uuid import UUID

from invoicing import domain, views
from shared.commands import CommandContext, CommandOutcome, Executor, by_state, run_on
from shared.contracts.invoicing import CreditLine
from shared.errors import ConcurrencyError, NotFoundError
from shared.events import EventMetadata
from shared.ids import new_id
from shared.money import Money


@dataclass(frozen=True)
class InvoiceKey:
    """What is needed to read an invoice's facts. ``received_position`` is None for an invoice being received."""

    invoice_id: UUID
    project_id: UUID
    vendor: str
    currency: str
    commitment_reference: str
    sheets: frozenset[UUID]
    received_position: int | None = None
    status: str = domain.InvoiceStatus.RECEIVED.value


class InvoiceFacts(Protocol):
    """The facts an invoice is matched against, as this service knows them now."""

    async def invoice_key(self, invoice_id: UUID) -> InvoiceKey | None:
        """The key of a received invoice; None if there is no such invoice."""
        ...

    async def match_facts(self, key: InvoiceKey) -> domain.MatchFacts:
        """The approved sheets the invoice cites, its commitment with what the invoices received before it drew on
        it, the work those earlier invoices bill, and the project's tolerance."""
        ...


def _invoice_view(state: domain.Invoice | None, version: int) -> dict[str, Any]:
    assert state is not None  # every command but a refused one leaves an invoice
    return views.invoice_view(state, version)


async def _run(
    executor: Executor,
    ctx: CommandContext,
    invoice_id: UUID,
    command: domain.Command,
    *,
    status_code: int = 200,
    new_stream: bool = False,
) -> CommandOutcome[Any]:
    return await run_on(
        executor,
        ctx,
        domain.INVOICE,
        domain.stream_id(invoice_id),
        command,
        by_state(_invoice_view),
        status_code=status_code,
        new_stream=new_stream,
    )


async def _facts_of(facts: InvoiceFacts, invoice_id: UUID) -> domain.MatchFacts:
    key = await facts.invoice_key(invoice_id)
    if key is None:
        raise NotFoundError(f"invoice {invoice_id} does not exist")
    return await facts.match_facts(key)


async def receive_invoice(
    executor: Executor, facts: InvoiceFacts, ctx: CommandContext, invoice: domain.InvoiceDocument
) -> CommandOutcome[Any]:
    """Receive ``invoice`` under a new id, received by the acting person, and match it at once with the facts
    known now (201)."""
    invoice_id = new_id()
    key = InvoiceKey(
        invoice_id=invoice_id,
        project_id=invoice.project_id,
        vendor=invoice.vendor,
        currency=invoice.currency,
        commitment_reference=invoice.commitment_reference,
        sheets=frozenset(ref.sheet_id for line in invoice.lines for ref in line.bills),
    )
    command = domain.ReceiveInvoice.of(
        invoice, invoice_id=invoice_id, received_by=ctx.metadata.actor, facts=await facts.match_facts(key)
    )
    return await _run(executor, ctx, invoice_id, command, status_code=201, new_stream=True)


async def match_invoice(
    executor: Executor, facts: InvoiceFacts, ctx: CommandContext, invoice_id: UUID
) -> CommandOutcome[Any]:
    """Match the invoice again, as the acting person, with the facts as they are now."""
    found = await _facts_of(facts, invoice_id)
    return await _run(executor, ctx, invoice_id, domain.MatchInvoice(found, ctx.metadata.actor))


async def approve_invoice(
    executor: Executor,
    ctx: CommandContext,
    invoice_id: UUID,
    override_reason: str | None,
    dual_control: domain.DualControl,
) -> CommandOutcome[Any]:
    """Approve the invoice for payment, the acting person being the approver."""
    command = domain.ApproveInvoice(ctx.metadata.actor, override_reason, dual_control)
    return await _run(executor, ctx, invoice_id, command)


async def dispute_invoice(
    executor: Executor, ctx: CommandContext, invoice_id: UUID, reason: str
) -> CommandOutcome[Any]:
    return await _run(executor, ctx, invoice_id, domain.DisputeInvoice(ctx.metadata.actor, reason))


async def reject_invoice(executor: Executor, ctx: CommandContext, invoice_id: UUID, reason: str) -> CommandOutcome[Any]:
    return await _run(executor, ctx, invoice_id, domain.RejectInvoice(ctx.metadata.actor, reason))


async def record_payment(
    executor: Executor,
    ctx: CommandContext,
    invoice_id: UUID,
    *,
    amount: Money,
    paid_on: date,
    reference: str | None,
    dual_control: domain.DualControl,
) -> CommandOutcome[Any]:
    """Record a payment under a new id, the acting person being the payer (201)."""
    command = domain.RecordPayment(new_id(), amount, paid_on, reference, ctx.metadata.actor, dual_control)
    return await _run(executor, ctx, invoice_id, command, status_code=201)


async def record_credit_note(
    executor: Executor,
    facts: InvoiceFacts,
    ctx: CommandContext,
    invoice_id: UUID,
    *,
    number: str,
    issued_on: date,
    lines: tuple[CreditLine, ...],
    reason: str,
) -> CommandOutcome[Any]:
    """Record the vendor's credit note under a new id; an invoice awaiting a decision is matched again with the
    facts as they are now (201)."""
    command = domain.RecordCreditNote(
        credit_note_id=new_id(),
        number=number,
        issued_on=issued_on,
        lines=lines,
        reason=reason,
        recorded_by=ctx.metadata.actor,
        facts=await _facts_of(facts, invoice_id),
    )
    return await _run(executor, ctx, invoice_id, command, status_code=201)


async def set_tolerance(
    executor: Executor, ctx: CommandContext, project_id: UUID, tolerance: Decimal
) -> CommandOutcome[Any]:
    """Set the project's matching tolerance (the projector then asks for its invoices to be matched again)."""
    return await executor.execute(
        ctx,
        aggregate=domain.MATCHING_POLICY,
        stream_id=domain.policy_stream_id(project_id),
        command=domain.SetMatchingTolerance(project_id, tolerance, ctx.metadata.actor),
        respond=lambda state, events, version: views.policy_view(project_id, state, version),
    )


async def rematch(
    executor: Executor,
    facts: InvoiceFacts,
    invoice_id: UUID,
    *,
    cause: str | None = None,
    correlation_id: str | None = None,
    actor: str = "",
    attempts: int = 3,
) -> CommandOutcome[Any] | None:
    """Match one invoice again with the facts as they are now, as the matcher (``actor`` unless given) and caused by
    ``cause``; None if it no longer awaits a decision. A concurrent change is retried with fresh facts, up to
    ``attempts`` times in all."""
    metadata = EventMetadata(
        actor=actor or domain.MATCHER,
        correlation_id=correlation_id or str(uuid.uuid4()),
        causation_id=cause,
    )
    for attempt in range(attempts):
        key = await facts.invoice_key(invoice_id)
        if key is None or key.status not in {s.value for s in domain.AWAITING_DECISION}:
            return None
        found = await facts.match_facts(key)
        try:
            return await executor.execute(
                CommandContext(metadata=metadata),
                aggregate=domain.INVOICE,
                stream_id=domain.stream_id(invoice_id),
                command=domain.MatchInvoice(found, metadata.actor),
                respond=lambda state, events, version: {},
            )
        except ConcurrencyError:
            if attempt == attempts - 1:
                raise
    return None
