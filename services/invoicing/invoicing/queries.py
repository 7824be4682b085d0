"""The facts invoices are matched against and the matcher's queue, read from this service's own tables.

:class:`SqlInvoiceFacts` implements :class:`invoicing.handlers.InvoiceFacts`: the approved sheets an invoice cites,
its commitment with what the invoices received before it already drew on it, the work those earlier invoices bill,
and the project's tolerance. "Before" is the order of receipt (the position of ``invoice-received`` in the event
table), so the facts of an invoice never depend on a later one. :class:`RematchQueue` reads and works off
``rematch_queue`` for :mod:`invoicing.matcher`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from invoicing import domain
from invoicing.handlers import InvoiceKey
from invoicing.tables import AWAITING, RELEASED, Rematch, commitment_key, vendor_key
from shared.money import Money, quantize


def _money(amount: Decimal, currency: str) -> Money:
    return Money(amount=quantize(amount, currency), currency=currency)


class SqlInvoiceFacts:
    """:class:`invoicing.handlers.InvoiceFacts` over the query and reference tables."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def invoice_key(self, invoice_id: UUID) -> InvoiceKey | None:
        async with self.engine.connect() as conn:
            return await _invoice_key(conn, invoice_id)

    async def match_facts(self, key: InvoiceKey) -> domain.MatchFacts:
        async with self.engine.connect() as conn:
            return await _read_facts(conn, key)


async def _invoice_key(conn: AsyncConnection, invoice_id: UUID) -> InvoiceKey | None:
    row = (
        await conn.execute(
            text(
                "SELECT project_id, vendor, currency, commitment_reference, received_position, status "
                "FROM invoices WHERE invoice_id = :i"
            ),
            {"i": invoice_id},
        )
    ).first()
    if row is None:
        return None
    sheets = await conn.execute(
        text("SELECT DISTINCT sheet_id FROM invoice_citations WHERE invoice_id = :i"), {"i": invoice_id}
    )
    return InvoiceKey(
        invoice_id=invoice_id,
        project_id=row.project_id,
        vendor=row.vendor,
        currency=row.currency,
        commitment_reference=row.commitment_reference,
        sheets=frozenset(r.sheet_id for r in sheets),
        received_position=row.received_position,
        status=row.status,
    )


async def _read_facts(conn: AsyncConnection, key: InvoiceKey) -> domain.MatchFacts:
    ids = sorted(key.sheets)
    earlier = {"me": key.invoice_id, "pos": key.received_position, "released": list(RELEASED)}
    before = "(CAST(:pos AS bigint) IS NULL OR i.received_position < CAST(:pos AS bigint))"
    sheets: dict[UUID, domain.SheetFact] = {}
    billed: list[domain.EarlierBilling] = []
    if ids:
        rows = await conn.execute(
            text(
                "SELECT sheet_id, project_id, vendor_id, version, cost, currency, deliverables, in_force "
                "FROM approved_sheets WHERE sheet_id = ANY(CAST(:ids AS uuid[]))"
            ),
            {"ids": ids},
        )
        for r in rows:
            sheets[r.sheet_id] = domain.SheetFact(
                sheet_id=r.sheet_id,
                project_id=r.project_id,
                vendor_id=r.vendor_id,
                version=r.version,
                cost=_money(r.cost, r.currency),
                deliverables=tuple(
                    Money(amount=Decimal(d["amount"]["amount"]), currency=d["amount"]["currency"])
                    for d in r.deliverables
                ),
                in_force=r.in_force,
            )
        rows = await conn.execute(
            text(
                "SELECT c.sheet_id, c.deliverable, i.invoice_id, i.number FROM invoice_citations c "
                "JOIN invoices i ON i.invoice_id = c.invoice_id "
                "WHERE c.sheet_id = ANY(CAST(:ids AS uuid[])) AND i.invoice_id <> :me "
                f"AND i.status <> ALL(CAST(:released AS text[])) AND {before} "
                "ORDER BY i.received_position, c.line"
            ),
            {"ids": ids, **earlier},
        )
        billed = [domain.EarlierBilling(r.sheet_id, r.deliverable, r.invoice_id, r.number) for r in rows]
    commitment = await _commitment(conn, key, earlier, before)
    tolerance = (
        await conn.execute(text("SELECT tolerance FROM project_policies WHERE project_id = :p"), {"p": key.project_id})
    ).scalar()
    return domain.MatchFacts(
        sheets=MappingProxyType(sheets),
        commitment=commitment,
        billed_before=tuple(billed),
        tolerance=domain.DEFAULT_TOLERANCE if tolerance is None else Decimal(tolerance),
    )


async def _commitment(
    conn: AsyncConnection, key: InvoiceKey, earlier: Mapping[str, object], before: str
) -> domain.CommitmentFact | None:
    """The commitment with the invoice's reference on its project: the vendor's, and a live one, first."""
    ref = commitment_key(key.commitment_reference)
    row = (
        await conn.execute(
            text(
                "SELECT commitment_id, vendor, reference, amount, currency, status FROM known_commitments "
                "WHERE project_id = :p AND lower(btrim(reference)) = :ref "
                "ORDER BY (lower(btrim(vendor)) = :vk) DESC, (status = 'committed') DESC, commitment_id LIMIT 1"
            ),
            {"p": key.project_id, "ref": ref, "vk": vendor_key(key.vendor)},
        )
    ).first()
    if row is None:
        return None
    invoiced = (
        await conn.execute(
            text(
                "SELECT coalesce(sum(i.net), 0) FROM invoices i WHERE i.project_id = :p AND i.commitment_key = :ref "
                f"AND i.currency = :cur AND i.invoice_id <> :me AND i.status <> ALL(CAST(:released AS text[])) "
                f"AND {before}"
            ),
            {"p": key.project_id, "ref": ref, "cur": row.currency, **earlier},
        )
    ).scalar_one()
    return domain.CommitmentFact(
        commitment_id=row.commitment_id,
        vendor=row.vendor,
        reference=row.reference,
        amount=_money(row.amount, row.currency),
        status=row.status,
        invoiced_before=_money(Decimal(invoiced), row.currency),
    )


@dataclass(frozen=True)
class QueuedRematch:
    """A row of ``rematch_queue``: what changed (``kind``, ``key``), the event that changed it, the tries so far."""

    kind: str
    key: str
    seq: int
    cause: str | None
    correlation_id: str | None
    attempts: int


class RematchQueue:
    """``rematch_queue`` as the matcher works it off (the projector and the consumers fill it)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def due(self, limit: int) -> Sequence[QueuedRematch]:
        """The rows due now, oldest request first."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT kind, key, seq, cause, correlation_id, attempts FROM rematch_queue "
                    "WHERE not_before <= now() ORDER BY seq LIMIT :n"
                ),
                {"n": limit},
            )
            return [QueuedRematch(r.kind, r.key, r.seq, r.cause, r.correlation_id, r.attempts) for r in rows]

    async def retry_later(self, row: QueuedRematch, delay: float) -> None:
        """Count a failed try of ``row`` and make it due again in ``delay`` seconds."""
        async with self.engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE rematch_queue SET attempts = attempts + 1, "
                    "not_before = now() + make_interval(secs => :delay) "
                    "WHERE kind = :k AND key = :key AND seq = :seq"
                ),
                {"delay": delay, "k": row.kind, "key": row.key, "seq": row.seq},
            )

    async def done(self, row: QueuedRematch) -> None:
        """Delete ``row`` unless a new request renewed it meanwhile (its sequence number changed)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                text("DELETE FROM rematch_queue WHERE kind = :k AND key = :key AND seq = :seq"),
                {"k": row.kind, "key": row.key, "seq": row.seq},
            )

    async def awaiting(self, kind: str, key: str) -> list[UUID] | None:
        """The invoices awaiting a decision that depend on ``(kind, key)``, in order of receipt; None for a kind
        this service does not know."""
        if kind == Rematch.INVOICE:
            return [UUID(key)]
        awaiting = {"awaiting": list(AWAITING)}
        if kind == Rematch.SHEET:
            sql = (
                "SELECT i.invoice_id FROM invoices i WHERE i.status = ANY(CAST(:awaiting AS text[])) "
                "AND EXISTS (SELECT 1 FROM invoice_citations c WHERE c.invoice_id = i.invoice_id "
                "AND c.sheet_id = :s) ORDER BY i.received_position"
            )
            params: dict[str, object] = {"s": UUID(key), **awaiting}
        elif kind == Rematch.COMMITMENT:
            project_id, _, reference = key.partition(":")
            sql = (
                "SELECT invoice_id FROM invoices WHERE project_id = :p AND commitment_key = :ref "
                "AND status = ANY(CAST(:awaiting AS text[])) ORDER BY received_position"
            )
            params = {"p": UUID(project_id), "ref": reference, **awaiting}
        elif kind == Rematch.PROJECT:
            sql = (
                "SELECT invoice_id FROM invoices WHERE project_id = :p "
                "AND status = ANY(CAST(:awaiting AS text[])) ORDER BY received_position"
            )
            params = {"p": UUID(key), **awaiting}
        else:
            return None
        async with self.engine.connect() as conn:
            return [r.invoice_id for r in await conn.execute(text(sql), params)]
