"""Query routes of the invoicing service, served from its own query tables."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from sqlalchemy import text

from invoicing import domain
from invoicing.projections import OPEN, RELEASED, vendor_key
from shared.bounds import Day
from shared.errors import NotFoundError
from shared.money import Money, quantize
from shared.service import Runtime, ServiceRuntime
from shared.web import COMMAND_RESPONSES, Paging

router = APIRouter(responses={404: COMMAND_RESPONSES[404]}, tags=["invoicing"])
InvoiceIdPath = Annotated[uuid.UUID, Path(description="Invoice id")]
ProjectIdPath = Annotated[uuid.UUID, Path(description="Project id")]
On = Annotated[Day | None, Query(description="the day overdue is judged on; defaults to today")]
RATIO = Decimal("0.0001")


def _today(rt: ServiceRuntime, on: date | None) -> date:
    return on or rt.executor.clock.now().date()


def _overdue(doc: dict[str, Any], on: date) -> bool:
    return doc["status"] in OPEN and date.fromisoformat(doc["due_on"]) < on and Decimal(doc["amount_due"]["amount"]) > 0


@router.get("/invoices")
async def list_invoices(
    rt: Runtime,
    paging: Paging,
    project_id: uuid.UUID | None = None,
    vendor: Annotated[str | None, Query(max_length=200)] = None,
    status: domain.InvoiceStatus | None = None,
    due_before: Annotated[Day | None, Query(description="due strictly before this day")] = None,
    due_after: Annotated[Day | None, Query(description="due strictly after this day")] = None,
    overdue: Annotated[bool | None, Query(description="only invoices past due with an amount still due")] = None,
    on: On = None,
) -> dict[str, Any]:
    """Invoices filtered by project, vendor, status and due date, soonest due first."""
    day = _today(rt, on)
    where = ["true"]
    params: dict[str, Any] = {"limit": paging.limit, "offset": paging.offset}
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
        params.update(open=list(OPEN), on=day)
    condition = " AND ".join(where)
    async with rt.engine.connect() as conn:
        total = (await conn.execute(text(f"SELECT count(*) FROM invoices WHERE {condition}"), params)).scalar_one()
        rows = await conn.execute(
            text(
                f"SELECT doc FROM invoices WHERE {condition} ORDER BY due_on, received_position "
                "LIMIT :limit OFFSET :offset"
            ),
            params,
        )
        items = [r.doc | {"overdue": _overdue(r.doc, day)} for r in rows]
    return {"items": items, "total": total, "limit": paging.limit, "offset": paging.offset}


@router.get("/invoices/{invoice_id}")
async def get_invoice(invoice_id: InvoiceIdPath, rt: Runtime, on: On = None) -> JSONResponse:
    """One invoice: its lines, the latest match result with its discrepancies, decisions, credit notes, payments."""
    async with rt.engine.connect() as conn:
        doc = (await conn.execute(text("SELECT doc FROM invoices WHERE invoice_id = :i"), {"i": invoice_id})).scalar()
    if doc is None:
        raise NotFoundError(f"invoice {invoice_id} does not exist")
    body = doc | {"overdue": _overdue(doc, _today(rt, on))}
    return JSONResponse(body, headers={"ETag": f'"{doc["version"]}"'})


@router.get("/projects/{project_id}/invoicing-summary")
async def summary(project_id: ProjectIdPath, rt: Runtime, on: On = None) -> dict[str, Any]:
    """Per currency: what is invoiced (before tax, after credit notes; rejected and fully credited invoices left
    out), how much of it is backed by approved work and the ratio (target: at least 0.90), what is still due on the
    open invoices and how much of that is overdue; with the invoices per status and the project's tolerance."""
    day = _today(rt, on)
    params = {"p": project_id, "on": day, "released": list(RELEASED), "open": list(OPEN)}
    async with rt.engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT currency, "
                    "count(*) FILTER (WHERE status <> ALL(CAST(:released AS text[]))) AS invoices, "
                    "coalesce(sum(net) FILTER (WHERE status <> ALL(CAST(:released AS text[]))), 0) AS invoiced, "
                    "coalesce(sum(backed) FILTER (WHERE status <> ALL(CAST(:released AS text[]))), 0) AS backed, "
                    "coalesce(sum(due) FILTER (WHERE status = ANY(CAST(:open AS text[]))), 0) AS open, "
                    "coalesce(sum(due) FILTER (WHERE status = ANY(CAST(:open AS text[])) AND due_on < :on), 0) "
                    "AS overdue, "
                    "count(*) FILTER (WHERE status = ANY(CAST(:open AS text[])) AND due_on < :on AND due > 0) "
                    "AS overdue_invoices "
                    "FROM invoices WHERE project_id = :p GROUP BY currency ORDER BY currency"
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
    currencies = []
    for r in rows:
        invoiced, backed = Decimal(r.invoiced), Decimal(r.backed)
        ratio = (backed / invoiced).quantize(RATIO, rounding=ROUND_HALF_EVEN) if invoiced else None
        currencies.append(
            {
                "currency": r.currency,
                "invoices": r.invoices,
                "invoiced": _money(invoiced, r.currency),
                "backed": _money(backed, r.currency),
                "backing_ratio": None if ratio is None else format(ratio, "f"),
                "below_target": bool(invoiced) and backed < invoiced * domain.BACKING_TARGET,
                "open": _money(Decimal(r.open), r.currency),
                "overdue": _money(Decimal(r.overdue), r.currency),
                "overdue_invoices": r.overdue_invoices,
            }
        )
    return {
        "project_id": str(project_id),
        "on": day.isoformat(),
        "backing_target": format(domain.BACKING_TARGET, "f"),
        "tolerance": format(domain.DEFAULT_TOLERANCE if tolerance is None else Decimal(tolerance), "f"),
        "invoices_by_status": by_status,
        "currencies": currencies,
    }


def _money(amount: Decimal, currency: str) -> dict[str, Any]:
    return Money(amount=quantize(amount, currency), currency=currency).model_dump(mode="json")
