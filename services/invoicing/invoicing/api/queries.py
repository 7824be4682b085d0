"""Query routes of the invoicing service, served from its own query tables (:mod:`invoicing.views`)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from invoicing import domain, views
from invoicing.api import models as m
from shared.authz import InScope
from shared.bounds import Day
from shared.errors import NotFoundError
from shared.service import Runtime, ServiceRuntime
from shared.web import COMMAND_RESPONSES, Page, Paging

router = APIRouter(responses={404: COMMAND_RESPONSES[404]}, tags=["invoicing"])
InvoiceIdPath = Annotated[uuid.UUID, Path(description="Invoice id")]
ProjectIdPath = Annotated[uuid.UUID, Path(description="Project id")]
ReceiptIdPath = Annotated[uuid.UUID, Path(description="Goods receipt id")]
ExpenseIdPath = Annotated[uuid.UUID, Path(description="Expense claim id")]
On = Annotated[Day | None, Query(description="the day overdue is judged on; defaults to today")]


def _today(rt: ServiceRuntime, on: date | None) -> date:
    return on or rt.executor.clock.now().date()


@router.get("/invoices", operation_id="listInvoices", response_model=None, responses={200: {"model": m.InvoicePage}})
async def list_invoices(
    rt: Runtime,
    paging: Paging,
    scope: InScope,
    project_id: uuid.UUID | None = None,
    vendor: Annotated[str | None, Query(max_length=200)] = None,
    status: domain.InvoiceStatus | None = None,
    due_before: Annotated[Day | None, Query(description="due strictly before this day")] = None,
    due_after: Annotated[Day | None, Query(description="due strictly after this day")] = None,
    overdue: Annotated[bool | None, Query(description="only invoices past due with an amount still due")] = None,
    on: On = None,
) -> dict[str, Any]:
    """Invoices filtered by project, vendor, status and due date, soonest due first (only the projects in the
    caller's scope)."""
    return await views.list_invoices(
        rt.engine,
        scope=scope.where(),
        on=_today(rt, on),
        limit=paging.limit,
        offset=paging.offset,
        project_id=project_id,
        vendor=vendor,
        status=status,
        due_before=due_before,
        due_after=due_after,
        overdue=overdue,
    )


@router.get("/invoices/{invoice_id}", operation_id="getInvoice", response_model=m.InvoiceView)
async def get_invoice(invoice_id: InvoiceIdPath, rt: Runtime, on: On = None) -> JSONResponse:
    """One invoice: its lines, the latest match result with its discrepancies, decisions, credit notes, payments."""
    doc = await views.invoice_document(rt.engine, invoice_id, on=_today(rt, on))
    if doc is None:
        raise NotFoundError(f"invoice {invoice_id} does not exist")
    return JSONResponse(doc, headers={"ETag": f'"{doc["version"]}"'})


@router.get(
    "/projects/{project_id}/invoicing-summary",
    operation_id="getInvoicingSummary",
    response_model=None,
    responses={200: {"model": m.InvoicingSummary}},
)
async def summary(project_id: ProjectIdPath, rt: Runtime, on: On = None) -> dict[str, Any]:
    """Per currency: what is invoiced (before tax, after credit notes; rejected and fully credited invoices left
    out), how much of it is backed by approved work and the ratio (target: at least 0.90), what is still due on the
    open invoices and how much of that is overdue; with the invoices per status and the project's tolerance."""
    return await views.summary(rt.engine, project_id, on=_today(rt, on))


@router.get(
    "/projects/{project_id}/expenses",
    operation_id="listExpenses",
    response_model=None,
    responses={200: {"model": Page[m.ExpenseView]}},
)
async def list_expenses(
    project_id: ProjectIdPath, rt: Runtime, paging: Paging, status: domain.ExpenseStatus | None = None
) -> dict[str, Any]:
    """The project's expense claims with their status (claimed, approved, rejected, reimbursed), oldest first."""
    return await views.list_expenses(rt.engine, project_id, limit=paging.limit, offset=paging.offset, status=status)


@router.get("/projects/{project_id}/expenses/{expense_id}", operation_id="getExpense", response_model=m.ExpenseView)
async def get_expense(project_id: ProjectIdPath, expense_id: ExpenseIdPath, rt: Runtime) -> JSONResponse:
    """One expense claim: amount, booking in the project's currency, status, who decided and when."""
    doc = await views.expense_document(rt.engine, project_id, expense_id)
    if doc is None:
        raise NotFoundError(f"expense {expense_id} does not exist on project {project_id}")
    return JSONResponse(doc, headers={"ETag": f'"{doc["version"]}"'})


@router.get(
    "/projects/{project_id}/receipts",
    operation_id="listGoodsReceipts",
    response_model=None,
    responses={200: {"model": Page[m.GoodsReceiptView]}},
)
async def list_goods_receipts(project_id: ProjectIdPath, rt: Runtime, paging: Paging) -> dict[str, Any]:
    """The project's goods receipts (received or reversed), in the order they were received."""
    return await views.list_goods_receipts(rt.engine, project_id, limit=paging.limit, offset=paging.offset)


@router.get(
    "/projects/{project_id}/receipts/{receipt_id}", operation_id="getGoodsReceipt", response_model=m.GoodsReceiptView
)
async def get_goods_receipt(project_id: ProjectIdPath, receipt_id: ReceiptIdPath, rt: Runtime) -> JSONResponse:
    """One goods receipt."""
    doc = await views.goods_receipt_document(rt.engine, project_id, receipt_id)
    if doc is None:
        raise NotFoundError(f"goods receipt {receipt_id} does not exist on project {project_id}")
    return JSONResponse(doc, headers={"ETag": f'"{doc["version"]}"'})
