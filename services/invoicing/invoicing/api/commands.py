"""Command routes of the invoicing service; each appends to one invoice's stream in one transaction."""

from __future__ import annotations

import uuid
from types import MappingProxyType
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from invoicing import domain, facts
from invoicing.api import models as m
from invoicing.projections import invoice_view
from shared.commands import CommandContext
from shared.contracts.invoicing import CreditLine, WorkReference
from shared.errors import NotFoundError
from shared.ids import new_id
from shared.service import Runtime, ServiceRuntime
from shared.web import COMMAND_RESPONSES, Command, respond

router = APIRouter(responses=COMMAND_RESPONSES, tags=["invoicing"])
InvoiceIdPath = Annotated[uuid.UUID, Path(description="Invoice id")]
ProjectIdPath = Annotated[uuid.UUID, Path(description="Project id")]
INVOICE = domain.INVOICE
POLICY = domain.MATCHING_POLICY


def _view(state: domain.Invoice | None, events: object, version: int) -> dict[str, object]:
    assert state is not None  # every command but a refused one leaves an invoice
    return invoice_view(state, version)


async def _run(
    rt: ServiceRuntime,
    ctx: CommandContext,
    invoice_id: uuid.UUID,
    command: domain.Command,
    status_code: int = 200,
    new_stream: bool = False,
) -> JSONResponse:
    outcome = await rt.executor.execute(
        ctx,
        aggregate=INVOICE,
        stream_id=domain.stream_id(invoice_id),
        command=command,
        respond=_view,
        status_code=status_code,
        new_stream=new_stream,
    )
    location = f"/invoices/{outcome.body.get('invoice_id', invoice_id)}" if status_code == 201 else None
    return respond(outcome, location=location)


def _dual_control(rt: ServiceRuntime) -> domain.DualControl:
    thresholds = getattr(rt.settings, "invoice_dual_control_thresholds", None) or {}
    return domain.DualControl(MappingProxyType(dict(thresholds)))


async def _facts_of(rt: ServiceRuntime, invoice_id: uuid.UUID) -> domain.MatchFacts:
    async with rt.engine.connect() as conn:
        key = await facts.invoice_key(conn, invoice_id)
        if key is None:
            raise NotFoundError(f"invoice {invoice_id} does not exist")
        return await facts.read_facts(conn, key)


@router.post("/invoices", status_code=201)
async def receive(body: m.InvoiceBody, ctx: Command, rt: Runtime) -> JSONResponse:
    """Receive a supplier invoice and match it at once against the approved work its lines cite and its commitment:
    ``invoice-received`` then ``invoice-matched`` or ``invoice-mismatched``. A fact not known yet (a work sheet not
    approved yet, a commitment not consumed yet) matches it again when it arrives. The same vendor and number twice
    is refused (409); credit notes go to ``POST /invoices/{invoice_id}/credit-notes``."""
    invoice_id = new_id()
    lines = tuple(
        domain.LineInput(
            description=line.description,
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=line.amount,
            tax_rate=line.tax_rate,
            tax=line.tax,
            bills=tuple(WorkReference(sheet_id=b.sheet_id, deliverable=b.deliverable) for b in line.bills),
        )
        for line in body.lines
    )
    key = facts.InvoiceKey(
        invoice_id=invoice_id,
        project_id=body.project_id,
        vendor=body.vendor,
        currency=body.currency,
        commitment_reference=body.commitment_reference,
        sheets=frozenset(b.sheet_id for line in body.lines for b in line.bills),
    )
    async with rt.engine.connect() as conn:
        found = await facts.read_facts(conn, key)
    command = domain.ReceiveInvoice(
        invoice_id=invoice_id,
        project_id=body.project_id,
        vendor=body.vendor,
        number=body.number,
        issued_on=body.issued_on,
        received_on=body.received_on,
        due_on=body.due_on,
        currency=body.currency,
        commitment_reference=body.commitment_reference,
        lines=lines,
        total=body.total,
        received_by=ctx.metadata.actor,
        facts=found,
    )
    return await _run(rt, ctx, invoice_id, command, status_code=201, new_stream=True)


@router.post("/invoices/{invoice_id}/match")
async def match_again(invoice_id: InvoiceIdPath, body: m.MatchBody, ctx: Command, rt: Runtime) -> JSONResponse:
    """Match the invoice again now with the facts as they are (matching also runs by itself whenever a fact
    arrives). Appends nothing when the result is unchanged or the invoice was already decided."""
    found = await _facts_of(rt, invoice_id)
    return await _run(rt, ctx, invoice_id, domain.MatchInvoice(found, ctx.metadata.actor))


@router.post("/invoices/{invoice_id}/approve")
async def approve(invoice_id: InvoiceIdPath, body: m.ApproveBody, ctx: Command, rt: Runtime) -> JSONResponse:
    """Approve for payment (finance). The approver is the token's subject, never whoever received the invoice
    (at or above the dual-control threshold: every invoice by default; always for an override). A mismatched
    invoice needs ``override_reason``."""
    command = domain.ApproveInvoice(ctx.metadata.actor, body.override_reason, _dual_control(rt))
    return await _run(rt, ctx, invoice_id, command)


@router.post("/invoices/{invoice_id}/dispute")
async def dispute(invoice_id: InvoiceIdPath, body: m.ReasonBody, ctx: Command, rt: Runtime) -> JSONResponse:
    """Dispute the invoice with the vendor (finance); it can be approved, credited or rejected afterwards."""
    return await _run(rt, ctx, invoice_id, domain.DisputeInvoice(ctx.metadata.actor, body.reason))


@router.post("/invoices/{invoice_id}/reject")
async def reject(invoice_id: InvoiceIdPath, body: m.ReasonBody, ctx: Command, rt: Runtime) -> JSONResponse:
    """Reject the invoice (finance): it will not be paid, and the work it cites is free to be billed again."""
    return await _run(rt, ctx, invoice_id, domain.RejectInvoice(ctx.metadata.actor, body.reason))


@router.post("/invoices/{invoice_id}/payments", status_code=201)
async def pay(invoice_id: InvoiceIdPath, body: m.PaymentBody, ctx: Command, rt: Runtime) -> JSONResponse:
    """Record a payment, partial or full, of an approved invoice (``invoice-paid`` with the total paid and what
    remains); never above the amount still due (422). The payer (the token's subject) never approved the invoice
    and, at or above the dual-control threshold, never received it (409)."""
    command = domain.RecordPayment(
        new_id(), body.amount, body.paid_on, body.reference, ctx.metadata.actor, _dual_control(rt)
    )
    return await _run(rt, ctx, invoice_id, command, status_code=201)


@router.post("/invoices/{invoice_id}/credit-notes", status_code=201)
async def credit(invoice_id: InvoiceIdPath, body: m.CreditNoteBody, ctx: Command, rt: Runtime) -> JSONResponse:
    """Record the vendor's credit note against the invoice it credits, line by line; an invoice awaiting a decision
    is matched again with what is left of its lines."""
    found = await _facts_of(rt, invoice_id)
    command = domain.RecordCreditNote(
        credit_note_id=new_id(),
        number=body.number,
        issued_on=body.issued_on,
        lines=tuple(CreditLine(line=c.line, amount=c.amount, tax=c.tax) for c in body.lines),
        reason=body.reason,
        recorded_by=ctx.metadata.actor,
        facts=found,
    )
    return await _run(rt, ctx, invoice_id, command, status_code=201)


@router.put("/projects/{project_id}/invoicing-tolerance")
async def set_tolerance(project_id: ProjectIdPath, body: m.ToleranceBody, ctx: Command, rt: Runtime) -> JSONResponse:
    """The share of a line's amount that may go unbacked on the project (finance; default 0.02, at most 0.10). The
    project's invoices awaiting a decision are matched again."""
    command = domain.SetMatchingTolerance(project_id, body.tolerance, ctx.metadata.actor)
    outcome = await rt.executor.execute(
        ctx,
        aggregate=POLICY,
        stream_id=domain.policy_stream_id(project_id),
        command=command,
        respond=lambda state, events, version: {
            "project_id": str(project_id),
            "tolerance": format(state.tolerance, "f"),
            "version": version,
        },
    )
    return respond(outcome)
