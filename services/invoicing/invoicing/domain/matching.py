"""Matching an invoice against the work done and its commitment, a pure function of the invoice and the facts.

Matching needs facts other services own (approved work sheets from ``pmo.resources.v1``, commitments from
``pmo.budget.v1``), this service's goods receipts, and facts about the other invoices (what they bill, what they
drew on the commitment and on the receipts); the handler reads them from this service's tables and hands them in
with the command (:class:`MatchFacts`). Rules: each line is backed by the approved work or the goods receipts it
cites, within the project's tolerance (default 2 % of the line may go unbacked); the invoice stays within what
remains of its commitment after the invoices received before it; no work (a sheet, or a deliverable on it) is
billed by two live invoices (the later one is mismatched) or twice on one invoice; a receipt backs what is left of
it after the live invoices received before (a line draws on its receipts in the order it cites them, each up to
what is left of it, until the line is covered: :func:`receipt_draws`); amounts are compared before tax and after
credit notes; a re-match with the same result changes nothing.

Currencies: an invoice is matched in the currency it is booked in (``invoice-received.booked``: the project's),
else in its own. A converted invoice's lines are converted one by one at the invoice's rate
(:func:`invoicing.domain.currency.rebook`), its invoiced amount as a whole likewise, so its match figures
(``invoiced``, ``backed``, lines, discrepancies, ``commitment_remaining``) are in the project's currency. Work sheets
count at their cost in that currency (their ``booked`` cost, a deliverable at the sheet's booking rate), receipts
and commitments at their amount or ``booked`` amount in it. What cannot be expressed in the matching currency is a
``currency-differs`` discrepancy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any
from uuid import UUID

from invoicing.domain.currency import rebook
from invoicing.domain.invoice import AWAITING_DECISION, Invoice, MatchResult, same_document
from shared.contracts.common import Booking
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
    booked: Booking | None = None
    """``cost`` in the project's currency when the sheet is costed in another one."""

    def worth(self, deliverable: int | None, currency: str) -> Money | None:
        """The sheet (or one deliverable on it) in ``currency``; None when it cannot be expressed in it."""
        amount = self.cost if deliverable is None else self.deliverables[deliverable]
        if amount.currency == currency:
            return amount
        booked = self.booked
        if booked is None or booked.amount.currency != currency or booked.original.currency != amount.currency:
            return None
        return booked.amount if deliverable is None else rebook(amount, booked)


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
    """In the currency the commitment is compared in (:meth:`in_currency`)."""
    booked: Money | None = None
    """``amount`` in the project's currency when the commitment is in another one."""

    def in_currency(self, currency: str) -> Money | None:
        if self.amount.currency == currency:
            return self.amount
        if self.booked is not None and self.booked.currency == currency:
            return self.booked
        return None


@dataclass(frozen=True)
class ReceiptFact:
    """A goods receipt of this service (``goods-received``): what invoice lines citing it are backed by.
    ``in_force`` is false once it is reversed."""

    receipt_id: UUID
    project_id: UUID
    commitment_id: UUID
    amount: Money
    booked: Money | None = None
    in_force: bool = True

    def in_currency(self, currency: str) -> Money | None:
        if self.amount.currency == currency:
            return self.amount
        if self.booked is not None and self.booked.currency == currency:
            return self.booked
        return None


@dataclass(frozen=True)
class ReceiptDraw:
    """What a live invoice received before this one drew on a receipt, in the currency it was matched in."""

    receipt_id: UUID
    invoice_id: UUID
    number: str
    amount: Money


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
    receipts: Mapping[UUID, ReceiptFact] = field(default_factory=lambda: MappingProxyType({}))
    drawn_before: tuple[ReceiptDraw, ...] = ()


@dataclass(frozen=True)
class MatchInvoice:
    """Match again with the facts as they are now; nothing happens when the result is unchanged."""

    facts: MatchFacts
    matched_by: str


def matching_currency(invoice: Invoice) -> str:
    """The currency ``invoice`` is matched in: the one it is booked in (the project's), else its own."""
    return invoice.booked.amount.currency if invoice.booked is not None else invoice.currency


def in_matching_currency(invoice: Invoice, amount: Money) -> Money:
    """``amount`` of ``invoice`` (in its currency) in the currency it is matched in, at its booking rate."""
    return rebook(amount, invoice.booked) if invoice.booked is not None else amount


def match(invoice: Invoice, facts: MatchFacts) -> MatchResult:
    """Match ``invoice`` against ``facts``: backing per line, commitment, work or receipts billed twice."""
    currency = matching_currency(invoice)
    zero = Money.zero(currency)
    found: list[Discrepancy] = []
    lines: list[LineMatch] = []
    billed_here: dict[tuple[UUID, int | None], int] = {}
    drawn_here: dict[UUID, int] = {}
    for line in invoice.lines:
        invoiced = in_matching_currency(invoice, line.amount - invoice.credited_on(line.line)[0])
        backed = zero
        for ref in line.bills:
            worth = _worth(invoice, line.line, ref, facts, billed_here, found, currency)
            if worth is not None:
                backed = backed + worth
        for receipt_id in line.receipts:
            left = _receipt_left(invoice, line.line, receipt_id, facts, drawn_here, found, currency)
            if left is not None:
                backed = backed + left
        shortfall = invoiced - backed if invoiced.amount > backed.amount else zero
        within = backed.amount >= invoiced.amount * (1 - facts.tolerance)
        if not within:
            goods = bool(line.receipts) and not line.bills
            what = "the goods or services received it cites are" if goods else "the work it cites is"
            found.append(
                Discrepancy(
                    check=MatchCheck.ABOVE_RECEIPT if goods else MatchCheck.UNDER_BACKED,
                    line=line.line,
                    detail=f"line {line.line} bills {invoiced} but {what} worth {backed}: "
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
    invoiced_total = in_matching_currency(invoice, invoice.invoiced)
    backed_total = zero
    for lm in lines:
        backed_total = backed_total + (lm.backed if lm.backed.amount < lm.invoiced.amount else lm.invoiced)
    if backed_total.amount > invoiced_total.amount:  # lines converted one by one may round above the whole
        backed_total = invoiced_total
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


def receipt_draws(
    lines: Sequence[tuple[UUID, str, Money, Sequence[UUID]]], worth: Mapping[UUID, Money]
) -> list[ReceiptDraw]:
    """What each invoice line of ``lines`` (invoice id, number, the line's amount in the matching currency, the
    receipts it cites; in order of receipt) drew on its receipts: in the order it cites them, each up to what is
    left of it (``worth`` less the earlier draws), until the line is covered. Receipts without a ``worth`` (not
    recorded, reversed, another currency) give nothing."""
    left = dict(worth)
    draws: list[ReceiptDraw] = []
    for invoice_id, number, amount, receipts in lines:
        to_cover = amount
        for receipt_id in receipts:
            available = left.get(receipt_id)
            if available is None or available.currency != to_cover.currency:
                continue
            draw = available if available.amount < to_cover.amount else to_cover
            if draw.amount <= 0:
                continue
            left[receipt_id] = available - draw
            to_cover = to_cover - draw
            draws.append(ReceiptDraw(receipt_id, invoice_id, number, draw))
    return draws


def _receipt_left(
    invoice: Invoice,
    line: int,
    receipt_id: UUID,
    facts: MatchFacts,
    drawn_here: dict[UUID, int],
    found: list[Discrepancy],
    currency: str,
) -> Money | None:
    """What is left of the cited receipt for this line, or None (and the discrepancy) when it backs nothing."""
    what = f"goods receipt {receipt_id}"

    def fail(check: MatchCheck, detail: str, other_invoice_id: UUID | None = None) -> None:
        found.append(
            Discrepancy(check=check, line=line, detail=detail, receipt_id=receipt_id, other_invoice_id=other_invoice_id)
        )

    twin = drawn_here.get(receipt_id)
    if twin is not None:
        fail(
            MatchCheck.BILLED_TWICE,
            f"line {line}: {what} is already billed on line {twin} of this invoice",
            other_invoice_id=invoice.invoice_id,
        )
        return None
    receipt = facts.receipts.get(receipt_id)
    if receipt is None or not receipt.in_force:
        state = "is not recorded (yet)" if receipt is None else "was reversed"
        fail(MatchCheck.NOT_RECEIVED, f"line {line}: {what} {state}; it backs nothing")
        return None
    if receipt.project_id != invoice.project_id:
        fail(MatchCheck.OTHER_PROJECT, f"line {line}: {what} is a receipt on project {receipt.project_id}")
        return None
    commitment = facts.commitment
    if commitment is not None and receipt.commitment_id != commitment.commitment_id:
        fail(
            MatchCheck.NOT_RECEIVED,
            f"line {line}: {what} is recorded against commitment {receipt.commitment_id}, not against "
            f"{invoice.commitment_reference}; it backs nothing",
        )
        return None
    worth = receipt.in_currency(currency)
    if worth is None:
        fail(
            MatchCheck.CURRENCY_DIFFERS,
            f"line {line}: {what} is worth {receipt.amount}, which cannot be expressed in {currency}; nothing is "
            "converted",
        )
        return None
    earlier = [
        d
        for d in facts.drawn_before
        if d.receipt_id == receipt_id and d.invoice_id != invoice.invoice_id and d.amount.currency == currency
    ]
    left = worth
    for draw in earlier:
        left = left - draw.amount
    if left.amount <= 0:
        last = earlier[-1]
        fail(
            MatchCheck.BILLED_TWICE,
            f"line {line}: {what} ({worth}) is already billed in full, last by invoice {last.number} "
            f"({last.invoice_id})",
            other_invoice_id=last.invoice_id,
        )
        return None
    drawn_here[receipt_id] = line
    return left


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
    currency: str,
) -> Money | None:
    """What the cited work backs on this line (in ``currency``), or None (and the discrepancy) when it backs
    nothing."""
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
    if ref.deliverable is not None and ref.deliverable >= len(sheet.deliverables):
        fail(
            MatchCheck.UNKNOWN_DELIVERABLE,
            f"line {line}: approved work sheet {ref.sheet_id} has {len(sheet.deliverables)} deliverable(s); "
            f"there is no deliverable {ref.deliverable}",
        )
        return None
    worth = sheet.worth(ref.deliverable, currency)
    if worth is None:
        original = sheet.cost if ref.deliverable is None else sheet.deliverables[ref.deliverable]
        fail(
            MatchCheck.CURRENCY_DIFFERS,
            f"line {line}: {what} is worth {original}, which cannot be expressed in {currency} (the sheet carries "
            "no booking in it); nothing is converted",
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
    amount = commitment.in_currency(invoiced.currency)
    if amount is None or commitment.invoiced_before.currency != invoiced.currency:
        found.append(
            Discrepancy(
                check=MatchCheck.CURRENCY_DIFFERS,
                line=None,
                detail=f"commitment {ref} is in {commitment.amount.currency} with no booking in "
                f"{invoiced.currency}, the currency the invoice is matched in; nothing is converted",
                commitment_id=cid,
            )
        )
        return cid, None
    remaining = amount - commitment.invoiced_before
    if invoiced.amount > remaining.amount:
        found.append(
            Discrepancy(
                check=MatchCheck.ABOVE_COMMITMENT,
                line=None,
                detail=f"the invoice bills {invoiced} before tax but only {remaining} remains of commitment {ref} "
                f"({amount}, of which {commitment.invoiced_before} already invoiced)",
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
