"""What the invoicing API answers: the invoice, the policy, a goods receipt and an expense claim as documents
(state -> dict), and the read-side queries over the service's query tables (lists, one invoice, a project's summary,
a project's goods receipts and expenses)."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from invoicing import domain
from invoicing.tables import OPEN, RELEASED, vendor_key
from shared.authz import ObjectOwner
from shared.jsonable import jsonable
from shared.money import Money, quantize

RATIO = Decimal("0.0001")


def invoice_view(state: domain.Invoice, version: int) -> dict[str, Any]:
    """The invoice as the API serves it: lines, match result, decisions, credit notes, payments, amounts."""
    match = state.match
    return {
        "invoice_id": str(state.invoice_id),
        "project_id": str(state.project_id),
        "version": version,
        "vendor": state.vendor,
        "number": state.number,
        "status": state.status.value,
        "issued_on": state.issued_on.isoformat(),
        "received_on": state.received_on.isoformat(),
        "due_on": state.due_on.isoformat(),
        "currency": state.currency,
        "booked": jsonable(state.booked),
        "commitment_reference": state.commitment_reference,
        "lines": jsonable(state.lines),
        "net": jsonable(state.net),
        "tax": jsonable(state.tax),
        "total": jsonable(state.total),
        "invoiced": jsonable(state.invoiced),
        "credited": jsonable(state.credited),
        "paid": jsonable(state.paid),
        "amount_due": jsonable(state.amount_due),
        "match": None
        if match is None
        else {
            "outcome": "matched" if match.matched else "mismatched",
            "invoiced": jsonable(match.invoiced),
            "backed": jsonable(match.backed),
            "lines": jsonable(match.lines),
            "commitment_id": jsonable(match.commitment_id),
            "commitment_remaining": jsonable(match.commitment_remaining),
            "tolerance": jsonable(match.tolerance),
            "discrepancies": jsonable(match.discrepancies),
            "matched_by": match.matched_by,
        },
        "received_by": state.received_by,
        "approved_by": state.approved_by,
        "override_reason": state.override_reason,
        "disputed_by": state.disputed_by,
        "dispute_reason": state.dispute_reason,
        "rejected_by": state.rejected_by,
        "rejection_reason": state.rejection_reason,
        "credit_notes": jsonable(state.credit_notes),
        "payments": jsonable(state.payments),
    }


def goods_receipt_view(state: domain.GoodsReceipt, version: int) -> dict[str, Any]:
    """A goods receipt as the API serves it."""
    return {
        "receipt_id": str(state.receipt_id),
        "project_id": str(state.project_id),
        "commitment_id": str(state.commitment_id),
        "version": version,
        "status": state.status,
        "category": state.category.value,
        "description": state.description,
        "amount": jsonable(state.amount),
        "booked": jsonable(state.booked),
        "received_on": state.received_on.isoformat(),
        "received_by": state.received_by,
        "reversed_on": jsonable(state.reversed_on),
        "reversal_reason": state.reversal_reason,
        "reversed_by": state.reversed_by,
    }


def expense_view(state: domain.Expense, version: int) -> dict[str, Any]:
    """An expense claim as the API serves it."""
    return {
        "expense_id": str(state.expense_id),
        "project_id": str(state.project_id),
        "version": version,
        "status": state.status.value,
        "claimant": state.claimant,
        "category": state.category.value,
        "description": state.description,
        "amount": jsonable(state.amount),
        "booked": jsonable(state.booked),
        "in_project_currency": jsonable(state.in_project_currency),
        "incurred_on": state.incurred_on.isoformat(),
        "receipt_reference": state.receipt_reference,
        "milestone_id": jsonable(state.milestone_id),
        "approved_by": state.approved_by,
        "approved_on": jsonable(state.approved_on),
        "rejected_by": state.rejected_by,
        "rejection_reason": state.rejection_reason,
        "paid_on": jsonable(state.paid_on),
        "payment_reference": state.payment_reference,
        "reimbursed_by": state.reimbursed_by,
    }


async def list_expenses(
    engine: AsyncEngine,
    project_id: UUID,
    *,
    limit: int,
    offset: int,
    status: domain.ExpenseStatus | None = None,
) -> dict[str, Any]:
    """A page of the project's expense claims (optionally with one status), oldest claim first."""
    where = "project_id = :p" + (" AND status = :s" if status is not None else "")
    params: dict[str, Any] = {"p": project_id, "s": status.value if status else None, "limit": limit, "offset": offset}
    async with engine.connect() as conn:
        total = (await conn.execute(text(f"SELECT count(*) FROM expenses WHERE {where}"), params)).scalar_one()
        rows = await conn.execute(
            text(f"SELECT doc FROM expenses WHERE {where} ORDER BY claimed_at, expense_id LIMIT :limit OFFSET :offset"),
            params,
        )
        items = [r.doc for r in rows]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


async def expense_document(engine: AsyncEngine, project_id: UUID, expense_id: UUID) -> dict[str, Any] | None:
    """The expense claim as :func:`expense_view` served it last; None if the project has no such claim."""
    async with engine.connect() as conn:
        doc = (
            await conn.execute(
                text("SELECT doc FROM expenses WHERE expense_id = :e AND project_id = :p"),
                {"e": expense_id, "p": project_id},
            )
        ).scalar()
    return None if doc is None else dict(doc)


async def list_goods_receipts(engine: AsyncEngine, project_id: UUID, *, limit: int, offset: int) -> dict[str, Any]:
    """A page of the project's goods receipts, in the order they were received."""
    params: dict[str, Any] = {"p": project_id, "limit": limit, "offset": offset}
    async with engine.connect() as conn:
        total = (
            await conn.execute(text("SELECT count(*) FROM goods_receipts WHERE project_id = :p"), params)
        ).scalar_one()
        rows = await conn.execute(
            text(
                "SELECT doc FROM goods_receipts WHERE project_id = :p ORDER BY received_on, receipt_id "
                "LIMIT :limit OFFSET :offset"
            ),
            params,
        )
        items = [r.doc for r in rows]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


async def goods_receipt_document(engine: AsyncEngine, project_id: UUID, receipt_id: UUID) -> dict[str, Any] | None:
    """The goods receipt as :func:`goods_receipt_view` served it last; None if the project has no such receipt."""
    async with engine.connect() as conn:
        doc = (
            await conn.execute(
                text("SELECT doc FROM goods_receipts WHERE receipt_id = :r AND project_id = :p"),
                {"r": receipt_id, "p": project_id},
            )
        ).scalar()
    return None if doc is None else dict(doc)


def policy_view(project_id: UUID, state: domain.MatchingPolicy, version: int) -> dict[str, Any]:
    """The project's matching tolerance as the API serves it (the default until one is set)."""
    return {"project_id": str(project_id), "tolerance": format(state.tolerance, "f"), "version": version}


def _overdue(doc: dict[str, Any], on: date) -> bool:
    return doc["status"] in OPEN and date.fromisoformat(doc["due_on"]) < on and Decimal(doc["amount_due"]["amount"]) > 0


OBJECT_OWNERS = {"invoice_id": ObjectOwner("SELECT project_id FROM invoices WHERE invoice_id = :id")}
"""How :mod:`shared.authz` finds the project of an invoice addressed by its id."""


async def list_invoices(
    engine: AsyncEngine,
    *,
    on: date,
    limit: int,
    offset: int,
    scope: tuple[str, dict[str, Any]] = ("TRUE", {}),
    project_id: UUID | None = None,
    vendor: str | None = None,
    status: domain.InvoiceStatus | None = None,
    due_before: date | None = None,
    due_after: date | None = None,
    overdue: bool | None = None,
) -> dict[str, Any]:
    """A page of the invoices matching every filter given, soonest due first, each saying whether it is overdue
    ``on`` the day given."""
    where = [scope[0]]
    params: dict[str, Any] = {"limit": limit, "offset": offset, **scope[1]}
    if project_id is not None:
        where.append("project_id = :project_id")
        params["project_id"] = project_id
    if vendor is not None:
        where.append("vendor_key = :vendor")
        params["vendor"] = vendor_key(vendor)
    if status is not None:
        where.append("status = :status")
        params["status"] = status.value
    if due_before is not None:
        where.append("due_on < :due_before")
        params["due_before"] = due_before
    if due_after is not None:
        where.append("due_on > :due_after")
        params["due_after"] = due_after
    if overdue is not None:
        late = "(status = ANY(CAST(:open AS text[])) AND due_on < :on AND due > 0)"
        where.append(late if overdue else f"NOT {late}")
        params.update(open=list(OPEN), on=on)
    condition = " AND ".join(where)
    async with engine.connect() as conn:
        total = (await conn.execute(text(f"SELECT count(*) FROM invoices WHERE {condition}"), params)).scalar_one()
        rows = await conn.execute(
            text(
                f"SELECT doc FROM invoices WHERE {condition} ORDER BY due_on, received_position "
                "LIMIT :limit OFFSET :offset"
            ),
            params,
        )
        items = [r.doc | {"overdue": _overdue(r.doc, on)} for r in rows]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


async def invoice_document(engine: AsyncEngine, invoice_id: UUID, *, on: date) -> dict[str, Any] | None:
    """The invoice as :func:`invoice_view` served it last, saying whether it is overdue ``on`` the day given; None
    if there is no such invoice."""
    async with engine.connect() as conn:
        doc = (await conn.execute(text("SELECT doc FROM invoices WHERE invoice_id = :i"), {"i": invoice_id})).scalar()
    if doc is None:
        return None
    return dict(doc) | {"overdue": _overdue(doc, on)}


async def summary(engine: AsyncEngine, project_id: UUID, *, on: date) -> dict[str, Any]:
    """Per currency: what is invoiced (before tax, after credit notes; rejected and fully credited invoices left
    out), how much of it is backed by approved work or goods received and the ratio (target: at least 0.90), what is
    still due on the open invoices and how much of that is overdue ``on`` the day given; with the invoices per status
    and the project's tolerance. Invoiced and backed count in the currency each invoice is matched in (a converted
    invoice: the project's), what is due in the invoice's own (it is paid in it)."""
    params = {"p": project_id, "on": on, "released": list(RELEASED), "open": list(OPEN)}
    live = "status <> ALL(CAST(:released AS text[]))"
    due = "status = ANY(CAST(:open AS text[]))"
    async with engine.connect() as conn:
        backing = (
            await conn.execute(
                text(
                    "SELECT coalesce(matched_currency, currency) AS currency, count(*) AS invoices, "
                    "coalesce(sum(coalesce(matched_net, net)), 0) AS invoiced, coalesce(sum(backed), 0) AS backed "
                    f"FROM invoices WHERE project_id = :p AND {live} GROUP BY 1"
                ),
                params,
            )
        ).all()
        dues = (
            await conn.execute(
                text(
                    f"SELECT currency, coalesce(sum(due) FILTER (WHERE {due}), 0) AS open, "
                    f"coalesce(sum(due) FILTER (WHERE {due} AND due_on < :on), 0) AS overdue, "
                    f"count(*) FILTER (WHERE {due} AND due_on < :on AND due > 0) AS overdue_invoices "
                    "FROM invoices WHERE project_id = :p GROUP BY currency"
                ),
                params,
            )
        ).all()
        statuses = await conn.execute(
            text("SELECT status, count(*) AS n FROM invoices WHERE project_id = :p GROUP BY status ORDER BY status"),
            params,
        )
        by_status = {r.status: r.n for r in statuses}
        tolerance = (
            await conn.execute(text("SELECT tolerance FROM project_policies WHERE project_id = :p"), params)
        ).scalar()
    backed_by = {r.currency: r for r in backing}
    due_by = {r.currency: r for r in dues}
    currencies = []
    for currency in sorted(set(backed_by) | set(due_by)):
        b, d = backed_by.get(currency), due_by.get(currency)
        invoiced = Decimal(b.invoiced) if b is not None else Decimal(0)
        backed = Decimal(b.backed) if b is not None else Decimal(0)
        ratio = (backed / invoiced).quantize(RATIO, rounding=ROUND_HALF_EVEN) if invoiced else None
        currencies.append(
            {
                "currency": currency,
                "invoices": b.invoices if b is not None else 0,
                "invoiced": _money(invoiced, currency),
                "backed": _money(backed, currency),
                "backing_ratio": None if ratio is None else format(ratio, "f"),
                "below_target": bool(invoiced) and backed < invoiced * domain.BACKING_TARGET,
                "open": _money(Decimal(d.open) if d is not None else Decimal(0), currency),
                "overdue": _money(Decimal(d.overdue) if d is not None else Decimal(0), currency),
                "overdue_invoices": d.overdue_invoices if d is not None else 0,
            }
        )
    return {
        "project_id": str(project_id),
        "on": on.isoformat(),
        "backing_target": format(domain.BACKING_TARGET, "f"),
        "tolerance": format(domain.DEFAULT_TOLERANCE if tolerance is None else Decimal(tolerance), "f"),
        "invoices_by_status": by_status,
        "currencies": currencies,
    }


def _money(amount: Decimal, currency: str) -> dict[str, Any]:
    return Money(amount=quantize(amount, currency), currency=currency).model_dump(mode="json")
