"""The invoicing service's write side of its tables (:mod:`invoicing.tables` holds their DDL).

* :func:`project`: the query rows of the aggregate a command just changed (``invoices``, ``invoice_citations``,
  ``invoice_receipts``, ``project_policies``, ``goods_receipts``, ``expenses``), in the command's transaction, and
  what the matcher must look at again;
* :class:`ResourcesReference` and :class:`BudgetReference`: the consumers of ``pmo.resources.v1`` and
  ``pmo.budget.v1`` that keep the reference data invoices are matched against (``approved_sheets``,
  ``known_commitments``) and ask for the invoices depending on a changed fact to be matched again;
* :class:`RatesReference` (``known_rates`` from ``pmo.budget.v1``) and :class:`ProjectsReference`
  (``known_projects``, ``known_milestones`` from ``pmo.projects.v1``): what bookings and expense claims and goods
  receipts need.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from invoicing import domain
from invoicing.matcher import notify_matcher
from invoicing.tables import Rematch, commitment_key, commitment_queue_key, number_key, vendor_key
from invoicing.views import expense_view, goods_receipt_view, invoice_view
from shared.authz import record_project_move, record_project_scope
from shared.contracts import budget, projects, resources
from shared.contracts.invoicing import CreditNoteReceived, ExpenseClaimed, InvoiceReceived, InvoiceRejected
from shared.contracts.project_edits import ProjectMoved
from shared.errors import DuplicateError
from shared.events import RecordedEvent
from shared.jsonable import jsonable
from shared.kafka import ConsumedEvent


async def enqueue(
    conn: AsyncConnection, kind: str, key: str, *, cause: str | None = None, correlation_id: str | None = None
) -> None:
    """Ask the matcher to match again what depends on ``(kind, key)``; a pending request is renewed."""
    await conn.execute(
        text(
            "INSERT INTO rematch_queue (kind, key, cause, correlation_id) VALUES (:k, :key, :c, :corr) "
            "ON CONFLICT (kind, key) DO UPDATE SET seq = nextval('rematch_seq'), cause = excluded.cause, "
            "correlation_id = excluded.correlation_id, attempts = 0, not_before = now()"
        ),
        {"k": kind, "key": key, "c": cause, "corr": correlation_id},
    )


# --- inline projection of the service's own aggregates ------------------------------------------------------


async def project(conn: AsyncConnection, state: Any, version: int, events: Sequence[RecordedEvent]) -> None:
    """Write the query rows of the aggregate just changed (inside the command's transaction)."""
    if isinstance(state, domain.MatchingPolicy):
        await conn.execute(
            text(
                "INSERT INTO project_policies (project_id, tolerance, version) VALUES (:p, :t, :v) "
                "ON CONFLICT (project_id) DO UPDATE SET tolerance = excluded.tolerance, version = excluded.version"
            ),
            {"p": state.project_id, "t": state.tolerance, "v": version},
        )
        last = events[-1]
        await enqueue(
            conn,
            Rematch.PROJECT,
            str(state.project_id),
            cause=str(last.event_id),
            correlation_id=last.metadata.correlation_id,
        )
        return
    if isinstance(state, domain.GoodsReceipt):
        await _upsert_receipt(conn, state, version, events)
        return
    if isinstance(state, domain.Expense):
        await _upsert_expense(conn, state, version, events)
        return
    assert isinstance(state, domain.Invoice)
    received = next((r for r in events if isinstance(r.event, InvoiceReceived)), None)
    await _upsert_invoice(conn, state, version, received, events[-1])
    last = events[-1]
    cause = {"cause": str(last.event_id), "correlation_id": last.metadata.correlation_id}
    if received is not None:
        await conn.execute(text("DELETE FROM invoice_citations WHERE invoice_id = :i"), {"i": state.invoice_id})
        await conn.execute(
            text(
                "INSERT INTO invoice_citations (invoice_id, line, sheet_id, deliverable) "
                "SELECT :i, l, s, d FROM unnest(CAST(:lines AS integer[]), CAST(:sheets AS uuid[]), "
                "CAST(:delivs AS integer[])) AS t(l, s, d)"
            ),
            {
                "i": state.invoice_id,
                "lines": [line.line for line in state.lines for _ in line.bills],
                "sheets": [ref.sheet_id for line in state.lines for ref in line.bills],
                "delivs": [ref.deliverable for line in state.lines for ref in line.bills],
            },
        )
        await conn.execute(text("DELETE FROM invoice_receipts WHERE invoice_id = :i"), {"i": state.invoice_id})
        cited = [(line.line, n, r) for line in state.lines for n, r in enumerate(line.receipts)]
        await conn.execute(
            text(
                "INSERT INTO invoice_receipts (invoice_id, line, position, receipt_id) "
                "SELECT :i, l, n, r FROM unnest(CAST(:lines AS integer[]), CAST(:positions AS integer[]), "
                "CAST(:receipts AS uuid[])) AS t(l, n, r)"
            ),
            {
                "i": state.invoice_id,
                "lines": [c[0] for c in cited],
                "positions": [c[1] for c in cited],
                "receipts": [c[2] for c in cited],
            },
        )
        # A fact committed while this invoice was being received may have missed it: match once more.
        await enqueue(conn, Rematch.INVOICE, str(state.invoice_id), **cause)
    if any(isinstance(r.event, (InvoiceRejected, CreditNoteReceived)) for r in events):
        # The work it bills and its share of the commitment may be free again for the invoices after it.
        for sheet_id in sorted(state.cited_sheets()):
            await enqueue(conn, Rematch.SHEET, str(sheet_id), **cause)
        for receipt_id in sorted(state.cited_receipts()):
            await enqueue(conn, Rematch.RECEIPT, str(receipt_id), **cause)
        key = commitment_queue_key(state.project_id, state.commitment_reference)
        await enqueue(conn, Rematch.COMMITMENT, key, **cause)


async def _upsert_invoice(
    conn: AsyncConnection,
    state: domain.Invoice,
    version: int,
    received: RecordedEvent | None,
    last: RecordedEvent,
) -> None:
    backed = state.match.backed.amount if state.match is not None else 0
    matched = state.match.invoiced if state.match is not None else state.invoiced
    try:
        await conn.execute(
            text(
                "INSERT INTO invoices (invoice_id, project_id, vendor, vendor_key, number, number_key, status, "
                "issued_on, due_on, currency, commitment_reference, commitment_key, net, backed, total, credited, "
                "paid, due, received_position, version, updated_at, doc, matched_currency, matched_net) "
                "VALUES (:id, :p, :vendor, :vk, :number, :nk, :status, :issued, :due_on, :cur, :ref, :ck, :net, "
                ":backed, :total, :credited, :paid, :due, :pos, :v, :t, :doc, :mcur, :mnet) "
                "ON CONFLICT (invoice_id) DO UPDATE SET status = excluded.status, net = excluded.net, "
                "matched_currency = excluded.matched_currency, matched_net = excluded.matched_net, "
                "backed = excluded.backed, credited = excluded.credited, paid = excluded.paid, due = excluded.due, "
                "version = excluded.version, updated_at = excluded.updated_at, doc = excluded.doc"
            ),
            {
                "id": state.invoice_id,
                "p": state.project_id,
                "vendor": state.vendor,
                "vk": vendor_key(state.vendor),
                "number": state.number,
                "nk": number_key(state.number),
                "status": state.status.value,
                "issued": state.issued_on,
                "due_on": state.due_on,
                "cur": state.currency,
                "ref": state.commitment_reference,
                "ck": commitment_key(state.commitment_reference),
                "net": state.invoiced.amount,
                "backed": backed,
                "total": state.total.amount,
                "credited": state.credited.amount,
                "paid": state.paid.amount,
                "due": state.amount_due.amount,
                "pos": received.position if received is not None else 0,
                "v": version,
                "t": last.recorded_at,
                "doc": json.dumps(invoice_view(state, version)),
                "mcur": matched.currency,
                "mnet": matched.amount,
            },
        )
    except IntegrityError as exc:
        if "invoices_vendor_number_key" in str(exc.orig):
            raise DuplicateError(
                f"{state.vendor} invoice {state.number} was already received (a credit note is recorded on the "
                "invoice it credits)",
                field="number",
            ) from exc
        raise


async def _upsert_receipt(
    conn: AsyncConnection, state: domain.GoodsReceipt, version: int, events: Sequence[RecordedEvent]
) -> None:
    booked = state.booked.amount if state.booked is not None else None
    await conn.execute(
        text(
            "INSERT INTO goods_receipts (receipt_id, project_id, commitment_id, amount, currency, booked_amount, "
            "booked_currency, received_on, status, version, doc) VALUES (:r, :p, :c, :a, :cur, :ba, :bc, :on, :s, "
            ":v, :doc) ON CONFLICT (receipt_id) DO UPDATE SET status = excluded.status, version = excluded.version, "
            "doc = excluded.doc"
        ),
        {
            "r": state.receipt_id,
            "p": state.project_id,
            "c": state.commitment_id,
            "a": state.amount.amount,
            "cur": state.amount.currency,
            "ba": booked.amount if booked is not None else None,
            "bc": booked.currency if booked is not None else None,
            "on": state.received_on,
            "s": state.status,
            "v": version,
            "doc": json.dumps(goods_receipt_view(state, version)),
        },
    )
    last = events[-1]
    # The invoices citing the receipt are backed by it from now on (or no longer).
    await enqueue(
        conn,
        Rematch.RECEIPT,
        str(state.receipt_id),
        cause=str(last.event_id),
        correlation_id=last.metadata.correlation_id,
    )


async def _upsert_expense(
    conn: AsyncConnection, state: domain.Expense, version: int, events: Sequence[RecordedEvent]
) -> None:
    claimed = next((r for r in events if isinstance(r.event, ExpenseClaimed)), None)
    await conn.execute(
        text(
            "INSERT INTO expenses (expense_id, project_id, claimant, status, incurred_on, claimed_at, version, doc) "
            "VALUES (:e, :p, :who, :s, :on, :at, :v, :doc) ON CONFLICT (expense_id) DO UPDATE SET "
            "status = excluded.status, version = excluded.version, doc = excluded.doc"
        ),
        {
            "e": state.expense_id,
            "p": state.project_id,
            "who": state.claimant,
            "s": state.status.value,
            "on": state.incurred_on,
            "at": (claimed or events[-1]).recorded_at,
            "v": version,
            "doc": json.dumps(expense_view(state, version)),
        },
    )


# --- reference data consumed from other services -------------------------------------------------------------


class ResourcesReference:
    """Consumes ``pmo.resources.v1`` into ``approved_sheets``; asks for a re-match of the invoices citing a sheet
    whenever its approval arrives or is reversed."""

    name = "invoicing.resources"
    topics = (resources.TOPIC,)
    _NAMES = frozenset({resources.WorkSheetApproved.event_name, resources.WorkSheetApprovalReversed.event_name})

    async def apply(self, conn: AsyncConnection, event: ConsumedEvent) -> None:
        if event.name not in self._NAMES or (event.name, event.version) not in resources.REGISTRY:
            return
        decoded = resources.REGISTRY.decode(event.name, event.version, event.data)
        match decoded:
            case resources.WorkSheetApproved():
                await conn.execute(
                    text(
                        "INSERT INTO approved_sheets (sheet_id, project_id, resource_id, vendor_id, version, week, "
                        "cost, currency, deliverables, in_force, approved_on, booked) VALUES (:s, :p, :r, :vendor, "
                        ":v, :w, :cost, :cur, :d, true, :on, :booked) "
                        "ON CONFLICT (sheet_id) DO UPDATE SET project_id = excluded.project_id, "
                        "vendor_id = excluded.vendor_id, version = excluded.version, week = excluded.week, "
                        "cost = excluded.cost, currency = excluded.currency, deliverables = excluded.deliverables, "
                        "in_force = true, approved_on = excluded.approved_on, booked = excluded.booked "
                        "WHERE approved_sheets.version <= excluded.version"
                    ),
                    {
                        "s": decoded.sheet_id,
                        "p": decoded.project_id,
                        "r": decoded.resource_id,
                        "vendor": decoded.vendor_id,
                        "v": decoded.version,
                        "w": decoded.week,
                        "cost": decoded.cost.amount,
                        "cur": decoded.cost.currency,
                        "d": json.dumps(jsonable(decoded.deliverables)),
                        "on": decoded.approved_on,
                        "booked": None if decoded.booked is None else json.dumps(jsonable(decoded.booked)),
                    },
                )
                sheet_id = decoded.sheet_id
            case resources.WorkSheetApprovalReversed():
                await conn.execute(
                    text("UPDATE approved_sheets SET in_force = false WHERE sheet_id = :s AND version = :v"),
                    {"s": decoded.sheet_id, "v": decoded.version},
                )
                sheet_id = decoded.sheet_id
            case _:
                return
        await enqueue(
            conn,
            Rematch.SHEET,
            str(sheet_id),
            cause=str(event.event_id),
            correlation_id=event.metadata.correlation_id,
        )
        await notify_matcher(conn)


class BudgetReference:
    """Consumes the commitments of ``pmo.budget.v1`` into ``known_commitments``; asks for a re-match of the
    invoices drawing on a commitment whenever it changes."""

    name = "invoicing.budget"
    topics = (budget.TOPIC,)
    _NAMES = frozenset(
        m.event_name
        for m in (
            budget.BudgetCommitted,
            budget.CommitmentAwaitingApproval,
            budget.CommitmentApprovalRefused,
            budget.CommitmentAdjusted,
            budget.CommitmentCancelled,
        )
    )

    async def apply(self, conn: AsyncConnection, event: ConsumedEvent) -> None:
        if event.name not in self._NAMES or (event.name, event.version) not in budget.REGISTRY:
            return
        decoded = budget.REGISTRY.decode(event.name, event.version, event.data)
        match decoded:
            case budget.BudgetCommitted() | budget.CommitmentAwaitingApproval():
                commitment_id = decoded.commitment_id
                status = "committed" if isinstance(decoded, budget.BudgetCommitted) else "awaiting_approval"
                await conn.execute(
                    text(
                        "INSERT INTO known_commitments (commitment_id, project_id, vendor, reference, amount, "
                        "currency, status, booked_amount, booked_currency) VALUES (:c, :p, :vendor, :ref, :a, :cur, "
                        ":s, :ba, :bc) ON CONFLICT (commitment_id) DO UPDATE SET vendor = excluded.vendor, "
                        "reference = excluded.reference, amount = excluded.amount, currency = excluded.currency, "
                        "status = excluded.status, booked_amount = excluded.booked_amount, "
                        "booked_currency = excluded.booked_currency"
                    ),
                    {
                        "c": decoded.commitment_id,
                        "p": decoded.project_id,
                        "vendor": decoded.vendor,
                        "ref": decoded.reference,
                        "a": decoded.amount.amount,
                        "cur": decoded.amount.currency,
                        "s": status,
                        **_booked(decoded),
                    },
                )
            case budget.CommitmentAdjusted():
                commitment_id = decoded.commitment_id
                await conn.execute(
                    text(
                        "UPDATE known_commitments SET amount = :a, currency = :cur, booked_amount = :ba, "
                        "booked_currency = :bc WHERE commitment_id = :c"
                    ),
                    {
                        "a": decoded.amount.amount,
                        "cur": decoded.amount.currency,
                        "c": decoded.commitment_id,
                        **_booked(decoded),
                    },
                )
            case budget.CommitmentCancelled() | budget.CommitmentApprovalRefused():
                commitment_id = decoded.commitment_id
                status = "cancelled" if isinstance(decoded, budget.CommitmentCancelled) else "refused"
                await conn.execute(
                    text("UPDATE known_commitments SET status = :s WHERE commitment_id = :c"),
                    {"s": status, "c": decoded.commitment_id},
                )
            case _:
                return
        row = (
            await conn.execute(
                text("SELECT project_id, reference FROM known_commitments WHERE commitment_id = :c"),
                {"c": commitment_id},
            )
        ).first()
        if row is not None:
            await enqueue(
                conn,
                Rematch.COMMITMENT,
                commitment_queue_key(row.project_id, row.reference),
                cause=str(event.event_id),
                correlation_id=event.metadata.correlation_id,
            )
            await notify_matcher(conn)


def _booked(
    event: budget.BudgetCommitted | budget.CommitmentAwaitingApproval | budget.CommitmentAdjusted,
) -> dict[str, Any]:
    booked = getattr(event, "booked", None)
    return {
        "ba": booked.amount.amount if booked is not None else None,
        "bc": booked.amount.currency if booked is not None else None,
    }


class ProjectsReference:
    """Consumes ``pmo.projects.v1`` into ``known_projects`` (currency, status, manager) and ``known_milestones``."""

    name = "invoicing.projects"
    topics = (projects.TOPIC,)
    tables = ("known_projects", "known_milestones")
    _STATUS: dict[str, str] = {
        projects.ProjectApproved.event_name: "approved",
        projects.ProjectStarted.event_name: "active",
        projects.ProjectPutOnHold.event_name: "on_hold",
        projects.ProjectResumed.event_name: "active",
        projects.ProjectCompleted.event_name: "completed",
        projects.ProjectTerminated.event_name: "terminated",
    }
    _NAMES = frozenset(
        {projects.ProjectRegistered.event_name, projects.MilestonePlanned.event_name, ProjectMoved.event_name, *_STATUS}
    )

    async def apply(self, conn: AsyncConnection, event: ConsumedEvent) -> None:
        if event.name not in self._NAMES or (event.name, event.version) not in projects.REGISTRY:
            return
        decoded = projects.REGISTRY.decode(event.name, event.version, event.data)
        match decoded:
            case projects.ProjectRegistered():
                await conn.execute(
                    text(
                        "INSERT INTO known_projects (project_id, currency, status, manager) VALUES (:p, :cur, "
                        "'proposed', :m) ON CONFLICT (project_id) DO NOTHING"
                    ),
                    {"p": decoded.project_id, "cur": decoded.currency, "m": decoded.manager},
                )
                await record_project_scope(conn, decoded)
            case projects.MilestonePlanned():
                await conn.execute(
                    text(
                        "INSERT INTO known_milestones (milestone_id, project_id) VALUES (:m, :p) "
                        "ON CONFLICT (milestone_id) DO NOTHING"
                    ),
                    {"m": decoded.milestone_id, "p": decoded.project_id},
                )
            case ProjectMoved():
                await record_project_move(conn, decoded)
            case _:
                await conn.execute(
                    text("UPDATE known_projects SET status = :s WHERE project_id = :p"),
                    {"s": self._STATUS[event.name], "p": getattr(decoded, "project_id", None)},
                )
