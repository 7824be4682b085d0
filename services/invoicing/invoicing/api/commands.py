"""Command routes of the invoicing service: parse, call a handler (:mod:`invoicing.handlers`), respond."""

from __future__ import annotations

import uuid
from decimal import Decimal
from types import MappingProxyType
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse

from invoicing import domain, handlers
from invoicing.api import models as m
from invoicing.queries import SqlInvoiceFacts
from shared.auth import Role
from shared.authz import InScope
from shared.commands import CommandOutcome
from shared.contracts.invoicing import CreditLine, WorkReference
from shared.service import Runtime, ServiceRuntime
from shared.web import COMMAND_RESPONSES, Command, respond

router = APIRouter(responses=COMMAND_RESPONSES, tags=["invoicing"])
InvoiceIdPath = Annotated[uuid.UUID, Path(description="Invoice id")]
ProjectIdPath = Annotated[uuid.UUID, Path(description="Project id")]
ReceiptIdPath = Annotated[uuid.UUID, Path(description="Goods receipt id")]
ExpenseIdPath = Annotated[uuid.UUID, Path(description="Expense claim id")]


async def _roles(request: Request) -> frozenset[Role]:  # async: no thread hop
    """The caller's roles, as the edge read them from the token."""
    return frozenset(getattr(request.state, "roles", frozenset()))


Roles = Annotated[frozenset[Role], Depends(_roles)]


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
            receipts=tuple(line.receipts),
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


@router.post("/invoices", operation_id="receiveInvoice", response_model=m.InvoiceView, status_code=201)
async def receive(body: m.InvoiceBody, ctx: Command, rt: Runtime, scope: InScope) -> JSONResponse:
    """Receive a supplier invoice and match it at once against the approved work its lines cite and its commitment:
    ``invoice-received`` then ``invoice-matched`` or ``invoice-mismatched``. A fact not known yet (a work sheet not
    approved yet, a commitment not consumed yet) matches it again when it arrives. The same vendor and number twice
    is refused (409); credit notes go to ``POST /invoices/{invoice_id}/credit-notes``."""
    outcome = await handlers.receive_invoice(rt.executor, SqlInvoiceFacts(rt.engine), ctx, _document(body), scope=scope)
    return _created(outcome)


@router.post("/invoices/{invoice_id}/match", operation_id="matchInvoice", response_model=m.InvoiceView)
async def match_again(invoice_id: InvoiceIdPath, body: m.MatchBody, ctx: Command, rt: Runtime) -> JSONResponse:
    """Match the invoice again now with the facts as they are (matching also runs by itself whenever a fact
    arrives). Appends nothing when the result is unchanged or the invoice was already decided."""
    return respond(await handlers.match_invoice(rt.executor, SqlInvoiceFacts(rt.engine), ctx, invoice_id))


@router.post("/invoices/{invoice_id}/approve", operation_id="approveInvoice", response_model=m.InvoiceView)
async def approve(invoice_id: InvoiceIdPath, body: m.ApproveBody, ctx: Command, rt: Runtime) -> JSONResponse:
    """Approve for payment (finance). The approver is the token's subject, never whoever received the invoice
    (at or above the dual-control threshold: every invoice by default; always for an override). A mismatched
    invoice needs ``override_reason``."""
    outcome = await handlers.approve_invoice(rt.executor, ctx, invoice_id, body.override_reason, _dual_control(rt))
    return respond(outcome)


@router.post("/invoices/{invoice_id}/dispute", operation_id="disputeInvoice", response_model=m.InvoiceView)
async def dispute(invoice_id: InvoiceIdPath, body: m.ReasonBody, ctx: Command, rt: Runtime) -> JSONResponse:
    """Dispute the invoice with the vendor (finance); it can be approved, credited or rejected afterwards."""
    return respond(await handlers.dispute_invoice(rt.executor, ctx, invoice_id, body.reason))


@router.post("/invoices/{invoice_id}/reject", operation_id="rejectInvoice", response_model=m.InvoiceView)
async def reject(invoice_id: InvoiceIdPath, body: m.ReasonBody, ctx: Command, rt: Runtime) -> JSONResponse:
    """Reject the invoice (finance): it will not be paid, and the work it cites is free to be billed again."""
    return respond(await handlers.reject_invoice(rt.executor, ctx, invoice_id, body.reason))


@router.post(
    "/invoices/{invoice_id}/payments", operation_id="payInvoice", response_model=m.InvoiceView, status_code=201
)
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


@router.post(
    "/invoices/{invoice_id}/credit-notes", operation_id="creditInvoice", response_model=m.InvoiceView, status_code=201
)
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


@router.put(
    "/projects/{project_id}/invoicing-tolerance", operation_id="setInvoicingTolerance", response_model=m.ToleranceView
)
async def set_tolerance(project_id: ProjectIdPath, body: m.ToleranceBody, ctx: Command, rt: Runtime) -> JSONResponse:
    """The share of a line's amount that may go unbacked on the project (finance; default 0.02, at most 0.10). The
    project's invoices awaiting a decision are matched again."""
    return respond(await handlers.set_tolerance(rt.executor, ctx, project_id, body.tolerance))


@router.post(
    "/projects/{project_id}/receipts", operation_id="receiveGoods", response_model=m.GoodsReceiptView, status_code=201
)
async def receive_goods(
    project_id: ProjectIdPath, body: m.GoodsReceiptBody, ctx: Command, roles: Roles, rt: Runtime, scope: InScope
) -> JSONResponse:
    """Record goods, a licence or a service received against an open commitment of the project (pmo, finance or the
    project's manager): ``goods-received``, booked in the project's currency at the rate of ``received_on`` when the
    commitment is in another one. Invoice lines cite it in ``receipts`` (3-way match); the invoices citing it are
    matched again. A project or commitment this service has not seen: 422 naming the field."""
    goods = handlers.GoodsInput(
        commitment_id=body.commitment_id,
        category=body.category,
        description=body.description,
        amount=body.amount,
        received_on=body.received_on,
    )
    outcome = await handlers.receive_goods(
        rt.executor, SqlInvoiceFacts(rt.engine), ctx, roles, project_id, goods, scope=scope
    )
    return respond(outcome, location=f"/projects/{project_id}/receipts/{outcome.body['receipt_id']}")


@router.post(
    "/projects/{project_id}/receipts/{receipt_id}/reverse",
    operation_id="reverseGoodsReceipt",
    response_model=m.GoodsReceiptView,
)
async def reverse_goods_receipt(
    project_id: ProjectIdPath,
    receipt_id: ReceiptIdPath,
    body: m.ReversalBody,
    ctx: Command,
    roles: Roles,
    rt: Runtime,
) -> JSONResponse:
    """Reverse a goods receipt (recorded in error, goods returned) with a reason: ``goods-receipt-reversed``; the
    invoices citing it are matched again (it backs nothing any more)."""
    outcome = await handlers.reverse_goods_receipt(
        rt.executor,
        SqlInvoiceFacts(rt.engine),
        ctx,
        roles,
        project_id,
        receipt_id,
        reason=body.reason,
        reversed_on=body.reversed_on,
    )
    return respond(outcome)


@router.post(
    "/projects/{project_id}/expenses", operation_id="claimExpense", response_model=m.ExpenseView, status_code=201
)
async def claim_expense(project_id: ProjectIdPath, body: m.ExpenseBody, ctx: Command, rt: Runtime) -> JSONResponse:
    """Claim an expense on the project for yourself (the claimant is the token's subject): ``expense-claimed``,
    booked in the project's currency at the rate of ``incurred_on`` when it is in another one. A receipt reference
    is required above ``PMO_EXPENSE_RECEIPT_THRESHOLD`` (0 by default: always)."""
    expense = handlers.ExpenseInput(
        category=body.category,
        description=body.description,
        amount=body.amount,
        incurred_on=body.incurred_on,
        receipt_reference=body.receipt_reference,
        milestone_id=body.milestone_id,
    )
    threshold = getattr(rt.settings, "expense_receipt_threshold", Decimal(0))
    outcome = await handlers.claim_expense(
        rt.executor, SqlInvoiceFacts(rt.engine), ctx, project_id, expense, receipt_threshold=threshold
    )
    return respond(outcome, location=f"/projects/{project_id}/expenses/{outcome.body['expense_id']}")


@router.post(
    "/projects/{project_id}/expenses/{expense_id}/approve", operation_id="approveExpense", response_model=m.ExpenseView
)
async def approve_expense(
    project_id: ProjectIdPath,
    expense_id: ExpenseIdPath,
    body: m.ExpenseDecisionBody,
    ctx: Command,
    roles: Roles,
    rt: Runtime,
) -> JSONResponse:
    """Approve a claimed expense (pmo, finance or the project's manager; never the claimant: 409 separation of
    duties): ``expense-approved``, a cost from today."""
    command = domain.ApproveExpense(approved_by=ctx.metadata.actor)
    outcome = await handlers.decide_expense(
        rt.executor, SqlInvoiceFacts(rt.engine), ctx, roles, project_id, expense_id, command
    )
    return respond(outcome)


@router.post(
    "/projects/{project_id}/expenses/{expense_id}/reject", operation_id="rejectExpense", response_model=m.ExpenseView
)
async def reject_expense(
    project_id: ProjectIdPath,
    expense_id: ExpenseIdPath,
    body: m.ReasonBody,
    ctx: Command,
    roles: Roles,
    rt: Runtime,
) -> JSONResponse:
    """Reject a claimed expense with a reason (pmo, finance or the project's manager; never the claimant)."""
    command = domain.RejectExpense(rejected_by=ctx.metadata.actor, reason=body.reason)
    outcome = await handlers.decide_expense(
        rt.executor, SqlInvoiceFacts(rt.engine), ctx, roles, project_id, expense_id, command
    )
    return respond(outcome)


@router.post(
    "/projects/{project_id}/expenses/{expense_id}/reimburse",
    operation_id="reimburseExpense",
    response_model=m.ExpenseView,
)
async def reimburse_expense(
    project_id: ProjectIdPath, expense_id: ExpenseIdPath, body: m.ReimbursementBody, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Record that an approved expense was paid back (finance; neither the claimant nor its approver):
    ``expense-reimbursed``, the cash view of the cost."""
    outcome = await handlers.reimburse_expense(
        rt.executor, ctx, project_id, expense_id, paid_on=body.paid_on, reference=body.reference
    )
    return respond(outcome)
