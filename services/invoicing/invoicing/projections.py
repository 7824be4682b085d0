"""The invoicing service's tables.

Reference data consumed from other services' topics (the facts invoices are matched against):

* ``approved_sheets``: work sheets approved on ``pmo.resources.v1``, with their cost and the agreed amount of each
  accepted deliverable; ``in_force`` turns false when the approval is reversed (a correction replaces it);
* ``known_commitments``: commitments of ``pmo.budget.v1`` with their vendor, reference, amount and status.

Query tables written from the invoices' state in the command's transaction (``CommandExecutor.rebuild`` gives
them again from the event table):

* ``invoices``: one row per invoice; ``invoices_vendor_number_key`` makes a vendor's invoice number unique (credit
  notes are recorded on the invoice they credit, never as a row here, so they are not subject to it);
* ``invoice_citations``: the work each invoice line bills;
* ``project_policies``: each project's matching tolerance.

``rematch_queue``: what to match again, because a fact it depends on changed: a sheet approved or reversed, a
commitment made, adjusted or cancelled (written by the consumers, in their transaction), an invoice received,
rejected or credited, a tolerance set (written by the projector, in the command's transaction). The matcher
(:mod:`invoicing.matcher`) works it off. Each row carries a sequence number renewed on every enqueue, so a fact
that arrives while its row is being worked off leaves the row in place for another pass.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from invoicing import domain
from shared.contracts import budget, resources
from shared.contracts.invoicing import CreditNoteReceived, InvoiceReceived, InvoiceRejected
from shared.errors import DuplicateError
from shared.events import RecordedEvent
from shared.jsonable import jsonable
from shared.kafka import ConsumedEvent

TABLES = ("invoices", "invoice_citations", "project_policies")
RELEASED = tuple(s.value for s in domain.RELEASED)
AWAITING = tuple(s.value for s in domain.AWAITING_DECISION)
OPEN = tuple(s.value for s in domain.OPEN)

DDL = [
    """
    CREATE TABLE IF NOT EXISTS approved_sheets (
        sheet_id     uuid PRIMARY KEY,
        project_id   uuid NOT NULL,
        resource_id  uuid NOT NULL,
        vendor_id    text,
        version      integer NOT NULL,
        week         text NOT NULL,
        cost         numeric NOT NULL,
        currency     text NOT NULL,
        deliverables jsonb NOT NULL,
        in_force     boolean NOT NULL,
        approved_on  date NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS known_commitments (
        commitment_id uuid PRIMARY KEY,
        project_id    uuid NOT NULL,
        vendor        text NOT NULL,
        reference     text NOT NULL,
        amount        numeric NOT NULL,
        currency      text NOT NULL,
        status        text NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS known_commitments_reference ON known_commitments (project_id, lower(btrim(reference)))",
    """
    CREATE TABLE IF NOT EXISTS invoices (
        invoice_id           uuid PRIMARY KEY,
        project_id           uuid NOT NULL,
        vendor               text NOT NULL,
        vendor_key           text NOT NULL,
        number               text NOT NULL,
        number_key           text NOT NULL,
        status               text NOT NULL,
        issued_on            date NOT NULL,
        due_on               date NOT NULL,
        currency             text NOT NULL,
        commitment_reference text NOT NULL,
        commitment_key       text NOT NULL,
        net                  numeric NOT NULL,
        backed               numeric NOT NULL,
        total                numeric NOT NULL,
        credited             numeric NOT NULL,
        paid                 numeric NOT NULL,
        due                  numeric NOT NULL,
        received_position    bigint NOT NULL,
        version              integer NOT NULL,
        updated_at           timestamptz NOT NULL,
        doc                  jsonb NOT NULL,
        CONSTRAINT invoices_vendor_number_key UNIQUE (vendor_key, number_key)
    )
    """,
    "CREATE INDEX IF NOT EXISTS invoices_project ON invoices (project_id, status)",
    "CREATE INDEX IF NOT EXISTS invoices_commitment ON invoices (project_id, commitment_key)",
    "CREATE INDEX IF NOT EXISTS invoices_due ON invoices (due_on)",
    """
    CREATE TABLE IF NOT EXISTS invoice_citations (
        invoice_id  uuid NOT NULL,
        line        integer NOT NULL,
        sheet_id    uuid NOT NULL,
        deliverable integer
    )
    """,
    "CREATE INDEX IF NOT EXISTS invoice_citations_invoice ON invoice_citations (invoice_id)",
    "CREATE INDEX IF NOT EXISTS invoice_citations_sheet ON invoice_citations (sheet_id)",
    """
    CREATE TABLE IF NOT EXISTS project_policies (
        project_id uuid PRIMARY KEY,
        tolerance  numeric NOT NULL,
        version    integer NOT NULL
    )
    """,
    "CREATE SEQUENCE IF NOT EXISTS rematch_seq",
    """
    CREATE TABLE IF NOT EXISTS rematch_queue (
        kind           text NOT NULL,
        key            text NOT NULL,
        seq            bigint NOT NULL DEFAULT nextval('rematch_seq'),
        cause          text,
        correlation_id text,
        attempts       integer NOT NULL DEFAULT 0,
        not_before     timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (kind, key)
    )
    """,
]


def vendor_key(vendor: str) -> str:
    return vendor.strip().casefold()


def commitment_key(reference: str) -> str:
    return reference.strip().casefold()


# --- the re-match queue ---------------------------------------------------------------------------------------


class Rematch:
    """Kinds of ``rematch_queue`` rows: what changed, hence which invoices to match again."""

    INVOICE = "invoice"  # key: the invoice id
    SHEET = "sheet"  # key: the sheet id; the invoices citing it
    COMMITMENT = "commitment"  # key: "<project id>:<reference, case-folded>"; the invoices drawing on it
    PROJECT = "project"  # key: the project id; all its invoices awaiting a decision


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


def commitment_queue_key(project_id: UUID, reference: str) -> str:
    return f"{project_id}:{commitment_key(reference)}"


# --- inline projection of the service's own aggregates ------------------------------------------------------


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
                "nk": state.number.strip().casefold(),
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
