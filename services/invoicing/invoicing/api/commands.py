"""Command routes of the invoicing service: parse, call a handler (:mod:`invoicing.handlers`), respond."""

from __future__ import annotations

import uuid
from types import MappingProxyType
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from invoicing import domain, handlers
from invoicing.api import models as m
from invoicing.queries import SqlInvoiceFacts
from shared.commands import CommandOutcome
from shared.contracts.invoicing import CreditLine, WorkReference
from shared.service import Runtime, ServiceRuntime
from shared.web import COMMAND_RESPONSES, Command, respond

router = APIRouter(responses=COMMAND_RESPONSES, tags=["invoicing"])
InvoiceIdPath = Annotated[uuid.UUID, Path(description="Invoice id")]
ProjectIdPath = Annotated[uuid.UUID, Path(description="Project id")]


def _created(outcome: CommandOutcome[Any], invoice_id: uuid.UUID | None = None) -> JSONResponse:
    """201 with the invoice's address."""
    return respond(outcome, location=f"/invoices/{outcome.body.get('invoice_id', invoice_id)}")


def _dual_control(rt: ServiceRuntime) -> domain.DualControl:
    thresholds = getattr(rt.settings, "invoice_dual_control_thresholds", None) or {}
    return domain.DualControl(MappingProxyType(dict(thresholds)))


def _document(body: m.InvoiceBody) -> domain.InvoiceDocument:
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
    return domain.InvoiceDocument(
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
    )


@router.post("/invoices", status_code=201)
async def receive(body: m.InvoiceBody, ctx: Command, rt: Runtime) -> JSONResponse:
    """Receive a supplier invoice and match it at once against the approved work its lines cite and its commitment:
    ``invoice-received`` then ``invoice-matched`` or ``invoice-mismatched``. A fact not known yet (a work sheet not
    approved yet, a commitment not consumed yet) matches it again when it arrives. The same vendor and number twice
    is refused (409); credit notes go to ``POST /invoices/{invoice_id}/credit-notes``."""
    outcome = await handlers.receive_invoice(rt.executor, SqlInvoiceFacts(rt.engine), ctx, _document(body))
    return _created(outcome)


@router.post("/invoices/{invoice_id}/match")
async def match_again(invoice_id: InvoiceIdPath, body: m.MatchBody, ctx: Command, rt: Runtime) -> JSONResponse:
    """Match the invoice again now with the facts as they are (matching also runs by itself whenever a fact
    arrives). Appends nothing when the result is unchanged or the invoice was already decided."""
    return respond(await handlers.match_invoice(rt.executor, SqlInvoiceFacts(rt.engine), ctx, invoice_id))


@router.post("/invoices/{invoice_id}/approve")
async def approve(invoice_id: InvoiceIdPath, body: m.ApproveBody, ctx: Command, rt: Runtime) -> JSONResponse:
    """Approve for payment (finance). The approver is the token's subject, never whoever received the invoice
    (at or above the dual-control threshold: every invoice by default; always for an override). A mismatched
    invoice needs ``override_reason``."""
    outcome = await handlers.approve_invoice(rt.executor, ctx, invoice_id, body.override_reason, _dual_control(rt))
    return respond(outcome)


@router.post("/invoices/{invoice_id}/dispute")
async def dispute(invoice_id: InvoiceIdPath, body: m.ReasonBody, ctx: Command, rt: Runtime) -> JSONResponse:
    """Dispute the invoice with the vendor (finance); it can be approved, credited or rejected afterwards."""
    return respond(await handlers.dispute_invoice(rt.executor, ctx, invoice_id, body.reason))


@router.post("/invoices/{invoice_id}/reject")
async def reject(invoice_id: InvoiceIdPath, body: m.ReasonBody, ctx: Command, rt: Runtime) -> JSONResponse:
    """Reject the invoice (finance): it will not be paid, and the work it cites is free to be billed again."""
    return respond(await handlers.reject_invoice(rt.executor, ctx, invoice_id, body.reason))


@router.post("/invoices/{invoice_id}/payments", status_code=201)
async def pay(invoice_id: InvoiceIdPath, body: m.PaymentBody, ctx: Command, rt: Runtime) -> JSONResponse:
    """Record a payment, partial or full, of an approved invoice (``invoice-paid`` with the total paid and what
    remains); never above the amount still due (422). The payer (the token's subject) never approved the invoice
    and, at or above the dual-control threshold, never received it (409)."""
    outcome = await handlers.record_payment(
        rt.executor,
        ctx,
        invoice_id,
        amount=body.amount,
        paid_on=body.paid_on,
        reference=body.reference,
        dual_control=_dual_control(rt),
    )
    return _created(outcome, invoice_id)


@router.post("/invoices/{invoice_id}/credit-notes", status_code=201)
async def credit(invoice_id: InvoiceIdPath, body: m.CreditNoteBody, ctx: Command, rt: Runtime) -> JSONResponse:
    """Record the vendor's credit note against the invoice it credits, line by line; an invoice awaiting a decision
    is matched again with what is left of its lines."""
    outcome = await handlers.record_credit_note(
        rt.executor,
        SqlInvoiceFacts(rt.engine),
        ctx,
        invoice_id,
        number=body.number,
        issued_on=body.issued_on,
        lines=tuple(CreditLine(line=c.line, amount=c.amount, tax=c.tax) for c in body.lines),
        reason=body.reason,
    )
    return _created(outcome, invoice_id)


@router.put("/projects/{project_id}/invoicing-tolerance")
async def set_tolerance(project_id: ProjectIdPath, body: m.ToleranceBody, ctx: Command, rt: Runtime) -> JSONResponse:
    """The share of a line's amount that may go unbacked on the project (finance; default 0.02, at most 0.10). The
    project's invoices awaiting a decision are matched again."""
    return respond(await handlers.set_tolerance(rt.executor, ctx, project_id, body.tolerance))
