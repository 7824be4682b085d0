"""The invoicing use cases: read the facts a command needs, build the command, run it, answer with the view.

Each handler takes the executor port (:class:`shared.commands.Executor`), the facts it needs through
:class:`InvoiceFacts` (read from this service's tables by :class:`invoicing.queries.SqlInvoiceFacts`; a fake in
the handler tests), the command context and its input, and returns the :class:`~shared.commands.CommandOutcome`
whose body is the invoice (or the policy) as :mod:`invoicing.views` shapes it. Routes, the matcher and any other
caller go through here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Protocol
from uuid import UUID

from invoicing import domain, views
from invoicing.domain.reference import known_project
from shared.auth import ForbiddenError, Role
from shared.authz import TRUSTED, CallerScope
from shared.commands import CommandContext, CommandOutcome, Executor, by_state, run_on
from shared.contracts.budget import CostCategory
from shared.contracts.invoicing import CreditLine
from shared.errors import ConcurrencyError, NotFoundError
from shared.events import EventMetadata
from shared.identity import same_person
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
    receipts: frozenset[UUID] = frozenset()
    matched_currency: str | None = None
    """The currency the invoice is matched in (the project's when it is booked in it); None: its own."""


class InvoiceFacts(Protocol):
    """The facts an invoice is matched against, as this service knows them now."""

    async def invoice_key(self, invoice_id: UUID) -> InvoiceKey | None:
        """The key of a received invoice; None if there is no such invoice."""
        ...

    async def match_facts(self, key: InvoiceKey) -> domain.MatchFacts:
        """The approved sheets and goods receipts the invoice cites, its commitment with what the invoices received
        before it drew on it, the work and receipts those earlier invoices bill, and the project's tolerance."""
        ...

    async def project(self, project_id: UUID) -> domain.ProjectFact | None:
        """The project as ``pmo.projects.v1`` said (currency, status, manager, milestones); None if not seen."""
        ...

    async def project_currency(self, project_id: UUID, commitment_reference: str, vendor: str) -> str | None:
        """The known project's currency, else the one of the commitment the invoice draws on (its booking's, when
        it is booked: a commitment is in the project's currency or booked in it); None when neither is known."""
        ...

    async def rate(self, base: str, quote: str, on: date) -> domain.ExchangeRate | None:
        """The ``base``->``quote`` rate in force on ``on`` (or the inverse of ``quote``->``base``); None if none."""
        ...

    async def commitment(self, commitment_id: UUID) -> domain.OpenCommitment | None:
        """The commitment as ``pmo.budget.v1`` said; None if not seen."""
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


async def _in_scope(scope: CallerScope, found: domain.MatchFacts) -> domain.MatchFacts:
    """``found`` without the work sheets and goods receipts of projects outside the caller's scope (and what earlier
    invoices drew on them): to her they are ids that name nothing, matched as work not approved (yet) and goods not
    recorded (yet)."""
    if scope.everything:
        return found
    hidden_sheets = {i for i, sheet in found.sheets.items() if not await scope.admits(sheet.project_id)}
    hidden_receipts = {i for i, receipt in found.receipts.items() if not await scope.admits(receipt.project_id)}
    if not hidden_sheets and not hidden_receipts:
        return found
    return replace(
        found,
        sheets=MappingProxyType({i: s for i, s in found.sheets.items() if i not in hidden_sheets}),
        billed_before=tuple(b for b in found.billed_before if b.sheet_id not in hidden_sheets),
        receipts=MappingProxyType({i: r for i, r in found.receipts.items() if i not in hidden_receipts}),
        drawn_before=tuple(d for d in found.drawn_before if d.receipt_id not in hidden_receipts),
    )


async def receive_invoice(
    executor: Executor,
    facts: InvoiceFacts,
    ctx: CommandContext,
    invoice: domain.InvoiceDocument,
    *,
    scope: CallerScope = TRUSTED,
) -> CommandOutcome[Any]:
    """Receive ``invoice`` under a new id, received by the acting person, and match it at once with the facts
    known now (201). A caller who does not see every project receives invoices only for the projects in her scope
    that this service knows: any other project is refused before any work (422 naming ``project_id``, the answer
    for a project the service does not know), and the work sheets and goods receipts its lines cite on projects
    outside her scope are matched as ids that name nothing."""
    await scope.require(invoice.project_id, lambda: known_project(None, invoice.project_id))
    invoice_id = new_id()
    project_currency = await facts.project_currency(invoice.project_id, invoice.commitment_reference, invoice.vendor)
    rate = None
    if project_currency is not None and project_currency != invoice.currency:
        rate = await facts.rate(invoice.currency, project_currency, invoice.issued_on)
    key = InvoiceKey(
        invoice_id=invoice_id,
        project_id=invoice.project_id,
        vendor=invoice.vendor,
        currency=invoice.currency,
        commitment_reference=invoice.commitment_reference,
        sheets=frozenset(ref.sheet_id for line in invoice.lines for ref in line.bills),
        receipts=frozenset(r for line in invoice.lines for r in line.receipts),
        matched_currency=project_currency or invoice.currency,
    )
    command = domain.ReceiveInvoice.of(
        invoice,
        invoice_id=invoice_id,
        received_by=ctx.metadata.actor,
        facts=await _in_scope(scope, await facts.match_facts(key)),
        project_currency=project_currency,
        rate=rate,
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


# --- goods receipts and expense claims --------------------------------------------------------------------------

STEWARDS = frozenset({Role.DIRECTOR, Role.PMO, Role.FINANCE})
"""Who records goods receipts and decides on expense claims on any project, besides the project's own manager."""


def require_steward(project: domain.ProjectFact | None, actor: str, roles: frozenset[Role], action: str) -> None:
    """Refuse (403) ``action`` unless the caller is pmo, finance or director, or the project's manager. A project not
    known lets the command go on to be refused with 422 on ``project_id``."""
    if roles & STEWARDS or project is None or same_person(actor, project.manager):
        return
    raise ForbiddenError(f"{action} is for pmo, finance or the project's manager ({project.manager})")


def _receipt_view(state: domain.GoodsReceipt | None, version: int) -> dict[str, Any]:
    assert state is not None  # every command but a refused one leaves a receipt
    return views.goods_receipt_view(state, version)


def _expense_view(state: domain.Expense | None, version: int) -> dict[str, Any]:
    assert state is not None  # every command but a refused one leaves a claim
    return views.expense_view(state, version)


async def _require_on_project(executor: Executor, aggregate: Any, stream_id: str, project_id: UUID, what: str) -> None:
    """404 unless the stream exists and belongs to ``project_id``."""
    try:
        state, _ = await executor.state_of(aggregate, stream_id)
    except NotFoundError:
        state = None
    if state is None or state.project_id != project_id:
        raise NotFoundError(f"{what} does not exist on project {project_id}")


@dataclass(frozen=True)
class GoodsInput:
    commitment_id: UUID
    category: CostCategory
    description: str
    amount: Money
    received_on: date | None


async def receive_goods(
    executor: Executor,
    facts: InvoiceFacts,
    ctx: CommandContext,
    roles: frozenset[Role],
    project_id: UUID,
    goods: GoodsInput,
    *,
    scope: CallerScope = TRUSTED,
) -> CommandOutcome[Any]:
    """Record goods (a licence, a service) received against an open commitment of the project, under a new id,
    received by the acting person (201); booked in the project's currency at the rate of ``received_on`` when the
    commitment is in another one. A commitment of a project outside the caller's scope is one this service does
    not know (422 naming ``commitment_id``)."""
    project = await facts.project(project_id)
    require_steward(project, ctx.metadata.actor, roles, "recording a goods receipt")
    received_on = goods.received_on or executor.clock.now().date()
    rate = None
    if project is not None and goods.amount.currency != project.currency:
        rate = await facts.rate(goods.amount.currency, project.currency, received_on)
    receipt_id = new_id()
    commitment = await facts.commitment(goods.commitment_id)
    command = domain.ReceiveGoods(
        receipt_id=receipt_id,
        project_id=project_id,
        commitment_id=goods.commitment_id,
        category=goods.category,
        description=goods.description,
        amount=goods.amount,
        received_on=received_on,
        received_by=ctx.metadata.actor,
        project=project,
        commitment=commitment if commitment is None or await scope.admits(commitment.project_id) else None,
        rate=rate,
    )
    return await run_on(
        executor,
        ctx,
        domain.GOODS_RECEIPT,
        domain.receipt_stream_id(receipt_id),
        command,
        by_state(_receipt_view),
        status_code=201,
        new_stream=True,
    )


async def reverse_goods_receipt(
    executor: Executor,
    facts: InvoiceFacts,
    ctx: CommandContext,
    roles: frozenset[Role],
    project_id: UUID,
    receipt_id: UUID,
    *,
    reason: str,
    reversed_on: date | None,
) -> CommandOutcome[Any]:
    """Reverse a goods receipt of the project (recorded in error, goods returned), as the acting person."""
    require_steward(await facts.project(project_id), ctx.metadata.actor, roles, "reversing a goods receipt")
    stream = domain.receipt_stream_id(receipt_id)
    await _require_on_project(executor, domain.GOODS_RECEIPT, stream, project_id, f"goods receipt {receipt_id}")
    command = domain.ReverseGoodsReceipt(reason=reason, reversed_by=ctx.metadata.actor, reversed_on=reversed_on)
    return await run_on(executor, ctx, domain.GOODS_RECEIPT, stream, command, by_state(_receipt_view))


@dataclass(frozen=True)
class ExpenseInput:
    category: CostCategory
    description: str
    amount: Money
    incurred_on: date
    receipt_reference: str | None
    milestone_id: UUID | None


async def claim_expense(
    executor: Executor,
    facts: InvoiceFacts,
    ctx: CommandContext,
    project_id: UUID,
    expense: ExpenseInput,
    *,
    receipt_threshold: Decimal,
) -> CommandOutcome[Any]:
    """Claim an expense under a new id for the acting person (the claimant is always the caller) (201)."""
    project = await facts.project(project_id)
    rate = None
    if project is not None and expense.amount.currency != project.currency:
        rate = await facts.rate(expense.amount.currency, project.currency, expense.incurred_on)
    expense_id = new_id()
    command = domain.ClaimExpense(
        expense_id=expense_id,
        project_id=project_id,
        claimant=ctx.metadata.actor,
        category=expense.category,
        description=expense.description,
        amount=expense.amount,
        incurred_on=expense.incurred_on,
        receipt_reference=expense.receipt_reference,
        project=project,
        milestone_id=expense.milestone_id,
        rate=rate,
        receipt_threshold=receipt_threshold,
    )
    return await run_on(
        executor,
        ctx,
        domain.EXPENSE,
        domain.expense_stream_id(expense_id),
        command,
        by_state(_expense_view),
        status_code=201,
        new_stream=True,
    )


async def decide_expense(
    executor: Executor,
    facts: InvoiceFacts,
    ctx: CommandContext,
    roles: frozenset[Role],
    project_id: UUID,
    expense_id: UUID,
    command: domain.ApproveExpense | domain.RejectExpense,
) -> CommandOutcome[Any]:
    """Approve or reject a claim of the project (pmo, finance or the project's manager; never the claimant)."""
    action = "approving" if isinstance(command, domain.ApproveExpense) else "rejecting"
    require_steward(await facts.project(project_id), ctx.metadata.actor, roles, f"{action} an expense")
    stream = domain.expense_stream_id(expense_id)
    await _require_on_project(executor, domain.EXPENSE, stream, project_id, f"expense {expense_id}")
    return await run_on(executor, ctx, domain.EXPENSE, stream, command, by_state(_expense_view))


async def reimburse_expense(
    executor: Executor,
    ctx: CommandContext,
    project_id: UUID,
    expense_id: UUID,
    *,
    paid_on: date | None,
    reference: str | None,
) -> CommandOutcome[Any]:
    """Record that an approved claim was paid back (finance), the acting person recording it."""
    stream = domain.expense_stream_id(expense_id)
    await _require_on_project(executor, domain.EXPENSE, stream, project_id, f"expense {expense_id}")
    command = domain.ReimburseExpense(
        paid_on=paid_on or executor.clock.now().date(), reference=reference, recorded_by=ctx.metadata.actor
    )
    return await run_on(executor, ctx, domain.EXPENSE, stream, command, by_state(_expense_view))
