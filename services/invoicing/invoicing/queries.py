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
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from invoicing import domain
from invoicing.handlers import InvoiceKey
from invoicing.tables import AWAITING, RELEASED, Rematch, commitment_key, vendor_key
from shared.contracts.common import Booking
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

    async def project(self, project_id: UUID) -> domain.ProjectFact | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    text("SELECT currency, status, manager FROM known_projects WHERE project_id = :p"),
                    {"p": project_id},
                )
            ).first()
            if row is None:
                return None
            milestones = await conn.execute(
                text("SELECT milestone_id FROM known_milestones WHERE project_id = :p"), {"p": project_id}
            )
            return domain.ProjectFact(
                project_id=project_id,
                currency=row.currency,
                status=row.status,
                manager=row.manager,
                milestones=frozenset(r.milestone_id for r in milestones),
            )

    async def project_currency(self, project_id: UUID, commitment_reference: str, vendor: str) -> str | None:
        async with self.engine.connect() as conn:
            known = (
                await conn.execute(text("SELECT currency FROM known_projects WHERE project_id = :p"), {"p": project_id})
            ).scalar()
            if known is not None:
                return str(known)
            row = await _commitment_row(conn, project_id, commitment_reference, vendor)
        if row is None:
            return None
        return str(row.booked_currency or row.currency)

    async def rate(self, base: str, quote: str, on: date) -> domain.ExchangeRate | None:
        sql = text(
            "SELECT base, quote, rate, effective_on, source FROM known_rates WHERE base = :b AND quote = :q "
            "AND effective_on <= :on ORDER BY effective_on DESC LIMIT 1"
        )
        async with self.engine.connect() as conn:
            found = []
            for b, q in ((base, quote), (quote, base)):
                row = (await conn.execute(sql, {"b": b, "q": q, "on": on})).first()
                found.append(
                    None
                    if row is None
                    else domain.RecordedRate(row.base, row.quote, Decimal(row.rate), row.effective_on, row.source)
                )
        return domain.in_force(base, quote, found[0], found[1])

    async def commitment(self, commitment_id: UUID) -> domain.OpenCommitment | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT project_id, reference, amount, currency, status FROM known_commitments "
                        "WHERE commitment_id = :c"
                    ),
                    {"c": commitment_id},
                )
            ).first()
        if row is None:
            return None
        return domain.OpenCommitment(
            commitment_id=commitment_id,
            project_id=row.project_id,
            reference=row.reference,
            amount=_money(row.amount, row.currency),
            status=row.status,
        )


async def _invoice_key(conn: AsyncConnection, invoice_id: UUID) -> InvoiceKey | None:
    row = (
        await conn.execute(
            text(
                "SELECT project_id, vendor, currency, commitment_reference, received_position, status, "
                "coalesce(matched_currency, currency) AS matched_currency FROM invoices WHERE invoice_id = :i"
            ),
            {"i": invoice_id},
        )
    ).first()
    if row is None:
        return None
    sheets = await conn.execute(
        text("SELECT DISTINCT sheet_id FROM invoice_citations WHERE invoice_id = :i"), {"i": invoice_id}
    )
    receipts = await conn.execute(
        text("SELECT DISTINCT receipt_id FROM invoice_receipts WHERE invoice_id = :i"), {"i": invoice_id}
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
        receipts=frozenset(r.receipt_id for r in receipts),
        matched_currency=row.matched_currency,
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
                "SELECT sheet_id, project_id, vendor_id, version, cost, currency, deliverables, in_force, booked "
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
                booked=None if r.booked is None else Booking.model_validate(r.booked),
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
    receipts, drawn = await _receipts(conn, key, earlier, before)
    commitment = await _commitment(conn, key, earlier, before)
    tolerance = (
        await conn.execute(text("SELECT tolerance FROM project_policies WHERE project_id = :p"), {"p": key.project_id})
    ).scalar()
    return domain.MatchFacts(
        sheets=MappingProxyType(sheets),
        commitment=commitment,
        billed_before=tuple(billed),
        tolerance=domain.DEFAULT_TOLERANCE if tolerance is None else Decimal(tolerance),
        receipts=MappingProxyType(receipts),
        drawn_before=tuple(drawn),
    )


async def _receipts(
    conn: AsyncConnection, key: InvoiceKey, earlier: Mapping[str, object], before: str
) -> tuple[dict[UUID, domain.ReceiptFact], list[domain.ReceiptDraw]]:
    """The receipts the invoice cites, and what the live invoices received before it drew on them (their lines
    replayed in order of receipt with :func:`invoicing.domain.receipt_draws`)."""
    if not key.receipts:
        return {}, []
    currency = key.matched_currency or key.currency
    rows = (
        await conn.execute(
            text(
                "SELECT i.invoice_id, i.number, i.doc, r.line, r.receipt_id FROM invoice_receipts r "
                "JOIN invoices i ON i.invoice_id = r.invoice_id WHERE i.invoice_id IN (SELECT invoice_id FROM "
                "invoice_receipts WHERE receipt_id = ANY(CAST(:ids AS uuid[]))) AND i.invoice_id <> :me "
                f"AND i.status <> ALL(CAST(:released AS text[])) AND {before} "
                "ORDER BY i.received_position, r.line, r.position"
            ),
            {"ids": sorted(key.receipts), **earlier},
        )
    ).all()
    involved = set(key.receipts) | {r.receipt_id for r in rows}
    facts: dict[UUID, domain.ReceiptFact] = {}
    for r in await conn.execute(
        text(
            "SELECT receipt_id, project_id, commitment_id, amount, currency, booked_amount, booked_currency, status "
            "FROM goods_receipts WHERE receipt_id = ANY(CAST(:ids AS uuid[]))"
        ),
        {"ids": sorted(involved)},
    ):
        facts[r.receipt_id] = domain.ReceiptFact(
            receipt_id=r.receipt_id,
            project_id=r.project_id,
            commitment_id=r.commitment_id,
            amount=_money(r.amount, r.currency),
            booked=None if r.booked_currency is None else _money(r.booked_amount, r.booked_currency),
            in_force=r.status == "received",
        )
    lines: dict[tuple[UUID, int], tuple[UUID, str, Money, list[UUID]]] = {}
    for r in rows:
        entry = lines.get((r.invoice_id, r.line))
        if entry is None:
            invoiced = _line_invoiced(r.doc, r.line)
            if invoiced is None:
                continue
            entry = lines[(r.invoice_id, r.line)] = (r.invoice_id, r.number, invoiced, [])
        entry[3].append(r.receipt_id)
    worth = {
        receipt_id: amount
        for receipt_id, fact in facts.items()
        if fact.in_force and (amount := fact.in_currency(currency)) is not None
    }
    draws = domain.receipt_draws(list(lines.values()), worth)
    return (
        {receipt_id: fact for receipt_id, fact in facts.items() if receipt_id in key.receipts},
        [d for d in draws if d.receipt_id in key.receipts],
    )


def _line_invoiced(doc: Mapping[str, Any], line: int) -> Money | None:
    """The line's amount (before tax, after credit notes, in the matching currency) at the invoice's last match."""
    match = doc.get("match")
    if not match:
        return None
    for lm in match["lines"]:
        if lm["line"] == line:
            return Money.of(lm["invoiced"]["amount"], lm["invoiced"]["currency"])
    return None


async def _commitment(
    conn: AsyncConnection, key: InvoiceKey, earlier: Mapping[str, object], before: str
) -> domain.CommitmentFact | None:
    """The commitment with the invoice's reference on its project: the vendor's, and a live one, first."""
    ref = commitment_key(key.commitment_reference)
    row = await _commitment_row(conn, key.project_id, key.commitment_reference, key.vendor)
    if row is None:
        return None
    currency = key.matched_currency or key.currency
    invoiced = (
        await conn.execute(
            text(
                "SELECT coalesce(sum(coalesce(i.matched_net, i.net)), 0) FROM invoices i WHERE i.project_id = :p "
                "AND i.commitment_key = :ref AND coalesce(i.matched_currency, i.currency) = :cur "
                f"AND i.invoice_id <> :me AND i.status <> ALL(CAST(:released AS text[])) AND {before}"
            ),
            {"p": key.project_id, "ref": ref, "cur": currency, **earlier},
        )
    ).scalar_one()
    return domain.CommitmentFact(
        commitment_id=row.commitment_id,
        vendor=row.vendor,
        reference=row.reference,
        amount=_money(row.amount, row.currency),
        status=row.status,
        invoiced_before=_money(Decimal(invoiced), currency),
        booked=None if row.booked_currency is None else _money(row.booked_amount, row.booked_currency),
    )


async def _commitment_row(conn: AsyncConnection, project_id: UUID, reference: str, vendor: str) -> Any:
    """The commitment with ``reference`` on the project: the vendor's, and a live one, first; None if none."""
    return (
        await conn.execute(
            text(
                "SELECT commitment_id, vendor, reference, amount, currency, status, booked_amount, booked_currency "
                "FROM known_commitments WHERE project_id = :p AND lower(btrim(reference)) = :ref "
                "ORDER BY (lower(btrim(vendor)) = :vk) DESC, (status = 'committed') DESC, commitment_id LIMIT 1"
            ),
            {"p": project_id, "ref": commitment_key(reference), "vk": vendor_key(vendor)},
        )
    ).first()


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
        elif kind == Rematch.RECEIPT:
            sql = (
                "SELECT i.invoice_id FROM invoices i WHERE i.status = ANY(CAST(:awaiting AS text[])) "
                "AND EXISTS (SELECT 1 FROM invoice_receipts r WHERE r.invoice_id = i.invoice_id "
                "AND r.receipt_id = :r) ORDER BY i.received_position"
            )
            params = {"r": UUID(key), **awaiting}
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
