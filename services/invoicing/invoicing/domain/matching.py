"""Matching an invoice against the work done and its commitment, a pure function of the invoice and the facts.

Matching needs facts other services own (approved work sheets from ``pmo.resources.v1``, commitments from
``pmo.budget.v1``) and facts about the other invoices (what they bill, what they drew on the commitment); the
handler reads them from this service's tables and hands them in with the command (:class:`MatchFacts`). Rules:
each line is backed by the approved work it cites, within the project's tolerance (default 2 % of the line may go
unbacked); the invoice stays within what remains of its commitment after the invoices received before it; no work
(a sheet, or a deliverable on it) is billed by two live invoices (the later one is mismatched) or twice on one
invoice; amounts are compared before tax and after credit notes; a re-match with the same result changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any
from uuid import UUID

from invoicing.domain.invoice import AWAITING_DECISION, Invoice, MatchResult, same_document
from shared.contracts.invoicing import (
    Discrepancy,
    InvoiceMatched,
    InvoiceMismatched,
    LineMatch,
    MatchCheck,
    WorkReference,
)
from shared.events import DomainEvent
from shared.money import Money, quantize

DEFAULT_TOLERANCE = Decimal("0.02")
MAX_TOLERANCE = Decimal("0.10")
"""A tolerance above 10 % could not keep the rule that at least 90 % of what is invoiced is backed by work."""
BACKING_TARGET = Decimal("0.90")
MATCHER = "system:invoicing-matcher"
"""The actor of automatic matching (on receipt, and when a fact arrives)."""


@dataclass(frozen=True)
class SheetFact:
    """An approved work sheet (``pmo.resources.v1``): its cost and the agreed amount of each deliverable on it.
    ``in_force`` is false once its approval is reversed (a correction replaces it)."""

    sheet_id: UUID
    project_id: UUID
    vendor_id: str | None
    version: int
    cost: Money
    deliverables: tuple[Money, ...] = ()
    in_force: bool = True


@dataclass(frozen=True)
class CommitmentFact:
    """The commitment (``pmo.budget.v1``) an invoice draws on; ``invoiced_before`` is the amount before tax of the
    live invoices on it received before this one."""

    commitment_id: UUID
    vendor: str
    reference: str
    amount: Money
    status: str
    invoiced_before: Money


@dataclass(frozen=True)
class EarlierBilling:
    """Work cited by a live invoice received before this one (``deliverable`` null: the whole sheet)."""

    sheet_id: UUID
    deliverable: int | None
    invoice_id: UUID
    number: str


@dataclass(frozen=True)
class MatchFacts:
    sheets: Mapping[UUID, SheetFact] = field(default_factory=lambda: MappingProxyType({}))
    commitment: CommitmentFact | None = None
    billed_before: tuple[EarlierBilling, ...] = ()
    tolerance: Decimal = DEFAULT_TOLERANCE


@dataclass(frozen=True)
class MatchInvoice:
    """Match again with the facts as they are now; nothing happens when the result is unchanged."""

    facts: MatchFacts
    matched_by: str


def match(invoice: Invoice, facts: MatchFacts) -> MatchResult:
    """Match ``invoice`` against ``facts``: backing per line, commitment, work billed twice."""
    currency = invoice.currency
    zero = Money.zero(currency)
    found: list[Discrepancy] = []
    lines: list[LineMatch] = []
    billed_here: dict[tuple[UUID, int | None], int] = {}
    for line in invoice.lines:
        invoiced = line.amount - invoice.credited_on(line.line)[0]
        backed = zero
        for ref in line.bills:
            worth = _worth(invoice, line.line, ref, facts, billed_here, found)
            if worth is not None:
                backed = backed + worth
        shortfall = invoiced - backed if invoiced.amount > backed.amount else zero
        within = backed.amount >= invoiced.amount * (1 - facts.tolerance)
        if not within:
            found.append(
                Discrepancy(
                    check=MatchCheck.UNDER_BACKED,
                    line=line.line,
                    detail=f"line {line.line} bills {invoiced} but the work it cites is worth {backed}: "
                    f"{shortfall} unbacked, more than the tolerance of {_percent(facts.tolerance)}",
                    invoiced=invoiced,
                    backed=backed,
                    limit=Money(amount=quantize(invoiced.amount * facts.tolerance, currency), currency=currency),
                    over_by=shortfall,
                )
            )
        lines.append(
            LineMatch(line=line.line, invoiced=invoiced, backed=backed, shortfall=shortfall, within_tolerance=within)
        )
    invoiced_total = invoice.invoiced
    backed_total = zero
    for lm in lines:
        backed_total = backed_total + (lm.backed if lm.backed.amount < lm.invoiced.amount else lm.invoiced)
    commitment_id, remaining = _commitment(invoice, facts.commitment, invoiced_total, found)
    return MatchResult(
        matched=not found,
        invoiced=invoiced_total,
        backed=backed_total,
        lines=tuple(lines),
        commitment_id=commitment_id,
        commitment_remaining=remaining,
        tolerance=facts.tolerance,
        discrepancies=tuple(found),
    )


def _overlap(a: int | None, b: int | None) -> bool:
    """Whole sheet vs anything on it, or the same deliverable."""
    return a is None or b is None or a == b


def _worth(
    invoice: Invoice,
    line: int,
    ref: WorkReference,
    facts: MatchFacts,
    billed_here: dict[tuple[UUID, int | None], int],
    found: list[Discrepancy],
) -> Money | None:
    """What the cited work backs on this line, or None (and the discrepancy) when it backs nothing."""
    what = f"work sheet {ref.sheet_id}" + (f" deliverable {ref.deliverable}" if ref.deliverable is not None else "")

    def fail(check: MatchCheck, detail: str, other_invoice_id: UUID | None = None) -> None:
        found.append(
            Discrepancy(
                check=check,
                line=line,
                detail=detail,
                sheet_id=ref.sheet_id,
                deliverable=ref.deliverable,
                other_invoice_id=other_invoice_id,
            )
        )

    earlier = next(
        (
            b
            for b in facts.billed_before
            if b.sheet_id == ref.sheet_id
            and b.invoice_id != invoice.invoice_id
            and _overlap(b.deliverable, ref.deliverable)
        ),
        None,
    )
    if earlier is not None:
        fail(
            MatchCheck.BILLED_TWICE,
            f"line {line}: {what} is already billed by invoice {earlier.number} ({earlier.invoice_id})",
            other_invoice_id=earlier.invoice_id,
        )
        return None
    twin = next(
        (n for (sheet, d), n in billed_here.items() if sheet == ref.sheet_id and _overlap(d, ref.deliverable)), None
    )
    if twin is not None:
        fail(
            MatchCheck.BILLED_TWICE,
            f"line {line}: {what} is already billed on line {twin} of this invoice",
            other_invoice_id=invoice.invoice_id,
        )
        return None
    sheet = facts.sheets.get(ref.sheet_id)
    if sheet is None or not sheet.in_force:
        state = "is not approved (yet)" if sheet is None else "is no longer approved (a correction replaces it)"
        fail(MatchCheck.WORK_NOT_APPROVED, f"line {line}: {what} {state}; it backs nothing")
        return None
    if sheet.project_id != invoice.project_id:
        fail(MatchCheck.OTHER_PROJECT, f"line {line}: {what} is work on project {sheet.project_id}")
        return None
    if sheet.vendor_id is not None and not same_document(sheet.vendor_id, invoice.vendor):
        fail(MatchCheck.OTHER_VENDOR, f"line {line}: {what} is work of vendor {sheet.vendor_id}, not {invoice.vendor}")
        return None
    if ref.deliverable is None:
        worth = sheet.cost
    elif ref.deliverable < len(sheet.deliverables):
        worth = sheet.deliverables[ref.deliverable]
    else:
        fail(
            MatchCheck.UNKNOWN_DELIVERABLE,
            f"line {line}: approved work sheet {ref.sheet_id} has {len(sheet.deliverables)} deliverable(s); "
            f"there is no deliverable {ref.deliverable}",
        )
        return None
    if worth.currency != invoice.currency:
        fail(
            MatchCheck.CURRENCY_DIFFERS,
            f"line {line}: {what} is worth {worth}, not in the invoice's {invoice.currency}; nothing is converted",
        )
        return None
    billed_here[(ref.sheet_id, ref.deliverable)] = line
    return worth


def _commitment(
    invoice: Invoice, commitment: CommitmentFact | None, invoiced: Money, found: list[Discrepancy]
) -> tuple[UUID | None, Money | None]:
    ref = invoice.commitment_reference
    if commitment is None:
        found.append(
            Discrepancy(
                check=MatchCheck.UNKNOWN_COMMITMENT,
                line=None,
                detail=f"no commitment {ref} is known on project {invoice.project_id} (yet)",
            )
        )
        return None, None
    cid = commitment.commitment_id
    if not same_document(commitment.vendor, invoice.vendor):
        found.append(
            Discrepancy(
                check=MatchCheck.OTHER_VENDOR,
                line=None,
                detail=f"commitment {ref} is with {commitment.vendor}, not {invoice.vendor}",
                commitment_id=cid,
            )
        )
    if commitment.status != "committed":
        found.append(
            Discrepancy(
                check=MatchCheck.COMMITMENT_NOT_OPEN,
                line=None,
                detail=f"commitment {ref} is {commitment.status.replace('_', ' ')}",
                commitment_id=cid,
            )
        )
        return cid, None
    if commitment.amount.currency != invoice.currency:
        found.append(
            Discrepancy(
                check=MatchCheck.CURRENCY_DIFFERS,
                line=None,
                detail=f"commitment {ref} is in {commitment.amount.currency}, the invoice in {invoice.currency}",
                commitment_id=cid,
            )
        )
        return cid, None
    remaining = commitment.amount - commitment.invoiced_before
    if invoiced.amount > remaining.amount:
        found.append(
            Discrepancy(
                check=MatchCheck.ABOVE_COMMITMENT,
                line=None,
                detail=f"the invoice bills {invoiced} before tax but only {remaining} remains of commitment {ref} "
                f"({commitment.amount}, of which {commitment.invoiced_before} already invoiced)",
                commitment_id=cid,
                invoiced=invoiced,
                limit=remaining,
                over_by=invoiced - remaining,
            )
        )
    return cid, remaining


def _percent(rate: Decimal) -> str:
    return f"{format((rate * 100).normalize(), 'f')} %"


def match_events(invoice: Invoice, facts: MatchFacts, matched_by: str) -> list[DomainEvent]:
    """``invoice-matched`` / ``invoice-mismatched`` when the result differs from the last one, else nothing."""
    if invoice.status not in AWAITING_DECISION:
        return []
    result = match(invoice, facts)
    if result == invoice.match:
        return []
    outcome: dict[str, Any] = {
        "project_id": invoice.project_id,
        "invoice_id": invoice.invoice_id,
        "invoiced": result.invoiced,
        "backed": result.backed,
        "lines": list(result.lines),
        "commitment_id": result.commitment_id,
        "commitment_remaining": result.commitment_remaining,
        "tolerance": result.tolerance,
        "matched_by": matched_by,
    }
    if result.matched:
        return [InvoiceMatched(**outcome)]
    return [InvoiceMismatched(**outcome, discrepancies=list(result.discrepancies))]
