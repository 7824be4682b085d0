"""The invoicing service's write side of its tables (:mod:`invoicing.tables` holds their DDL).

* :func:`project`: the query rows of the aggregate a command just changed (``invoices``, ``invoice_citations``,
  ``project_policies``), in the command's transaction, and what the matcher must look at again;
* :class:`ResourcesReference` and :class:`BudgetReference`: the consumers of ``pmo.resources.v1`` and
  ``pmo.budget.v1`` that keep the reference data invoices are matched against (``approved_sheets``,
  ``known_commitments``) and ask for the invoices depending on a changed fact to be matched again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from invoicing import domain
from invoicing.tables import Rematch, commitment_key, commitment_queue_key, number_key, vendor_key
from invoicing.views import invoice_view
from shared.contracts import budget, resources
from shared.contracts.invoicing import CreditNoteReceived, InvoiceReceived, InvoiceRejected
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
        # A fact committed while this invoice was being received may have missed it: match once more.
        await enqueue(conn, Rematch.INVOICE, str(state.invoice_id), **cause)
    if any(isinstance(r.event, (InvoiceRejected, CreditNoteReceived)) for r in events):
        # The work it bills and its share of the commitment may be free again for the invoices after it.
        for sheet_id in sorted(state.cited_sheets()):
            await enqueue(conn, Rematch.SHEET, str(sheet_id), **cause)
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
    try:
        await conn.execute(
            text(
                "INSERT INTO invoices (invoice_id, project_id, vendor, vendor_key, number, number_key, status, "
                "issued_on, due_on, currency, commitment_reference, commitment_key, net, backed, total, credited, "
                "paid, due, received_position, version, updated_at, doc) VALUES (:id, :p, :vendor, :vk, :number, "
                ":nk, :status, :issued, :due_on, :cur, :ref, :ck, :net, :backed, :total, :credited, :paid, :due, "
                ":pos, :v, :t, :doc) "
                "ON CONFLICT (invoice_id) DO UPDATE SET status = excluded.status, net = excluded.net, "
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
                        "cost, currency, deliverables, in_force, approved_on) VALUES (:s, :p, :r, :vendor, :v, :w, "
                        ":cost, :cur, :d, true, :on) "
                        "ON CONFLICT (sheet_id) DO UPDATE SET project_id = excluded.project_id, "
                        "vendor_id = excluded.vendor_id, version = excluded.version, week = excluded.week, "
                        "cost = excluded.cost, currency = excluded.currency, deliverables = excluded.deliverables, "
                        "in_force = true, approved_on = excluded.approved_on "
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
                        "currency, status) VALUES (:c, :p, :vendor, :ref, :a, :cur, :s) "
                        "ON CONFLICT (commitment_id) DO UPDATE SET vendor = excluded.vendor, "
                        "reference = excluded.reference, amount = excluded.amount, currency = excluded.currency, "
                        "status = excluded.status"
                    ),
                    {
                        "c": decoded.commitment_id,
                        "p": decoded.project_id,
                        "vendor": decoded.vendor,
                        "ref": decoded.reference,
                        "a": decoded.amount.amount,
                        "cur": decoded.amount.currency,
                        "s": status,
                    },
                )
            case budget.CommitmentAdjusted():
                commitment_id = decoded.commitment_id
                await conn.execute(
                    text("UPDATE known_commitments SET amount = :a, currency = :cur WHERE commitment_id = :c"),
                    {"a": decoded.amount.amount, "cur": decoded.amount.currency, "c": decoded.commitment_id},
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
