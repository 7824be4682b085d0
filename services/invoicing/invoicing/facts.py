"""Reading the facts an invoice is matched against, from this service's own tables.

The domain matches an invoice with :class:`~invoicing.domain.MatchFacts` handed in with the command; this module
gathers them: the approved sheets it cites, its commitment with what the invoices received before it already drew
on it, the work those earlier invoices bill, and the project's tolerance. "Before" is the order of receipt (the
position of ``invoice-received`` in the event table), so the facts of an invoice never depend on a later one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from invoicing import domain
from invoicing.projections import RELEASED, commitment_key, vendor_key
from shared.money import Money, quantize


@dataclass(frozen=True)
class InvoiceKey:
    """What is needed to read an invoice's facts. ``received_position`` is None for an invoice being received."""

    invoice_id: UUID
    project_id: UUID
    vendor: str
    currency: str
    commitment_reference: str
    sheets: frozenset[UUID]
    received_position: int | None = None
    status: str = domain.InvoiceStatus.RECEIVED.value


def _money(amount: Decimal, currency: str) -> Money:
    return Money(amount=quantize(amount, currency), currency=currency)


async def invoice_key(conn: AsyncConnection, invoice_id: UUID) -> InvoiceKey | None:
    """The key of a received invoice, from the query tables; None if there is no such invoice."""
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


async def read_facts(conn: AsyncConnection, key: InvoiceKey) -> domain.MatchFacts:
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
