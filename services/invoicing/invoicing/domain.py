"""The invoice aggregate (one per supplier invoice) and the project's matching policy.

Pure ``decide`` / ``evolve`` over frozen dataclasses. Matching needs facts other services own (approved work
sheets from ``pmo.resources.v1``, commitments from ``pmo.budget.v1``) and facts about the other invoices (what they
bill, what they drew on the commitment); the handler reads them from this service's tables and hands them in with
the command (:class:`MatchFacts`), so the match itself is a pure function of the invoice and those facts
(:func:`match`). Rules:

* an invoice's lines add up: amount = quantity x unit price, tax = amount x tax rate (0 to 50 %), both half-even to
  the minor unit, and the total is the lines' amounts plus their taxes; everything is in the invoice's currency,
  which is its commitment's currency when the commitment is known;
* matching, as soon as the facts are known (on receipt, then whenever a fact it depends on changes): each line is
  backed by the approved work it cites, within the project's tolerance (default 2 % of the line may go unbacked);
  the invoice stays within what remains of its commitment after the invoices received before it; no work (a sheet,
  or a deliverable on it) is billed by two live invoices (the later one is mismatched) or twice on one invoice;
  amounts are compared before tax and after credit notes; a re-match with the same result changes nothing;
* approval: a matched invoice is approved as it is; a mismatched one only by an override with a reason, by someone
  other than whoever received it;
* separation of duties (:class:`DualControl`): whoever records a payment never approved the invoice; at or above
  the dual-control threshold of the invoice's currency (every invoice unless a threshold is configured) the
  approver never received it and the payer never received it either, so receipt, approval and payment are three
  people; below it, at least two. People are compared by :func:`shared.identity.same_person`;
* payments, partial or full, never above the amount still due (total less credit notes less payments), only once
  approved; credit notes take back part of lines, never more than is still due.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import assert_never
from uuid import UUID

from shared.contracts.invoicing import (
    CreditLine,
    CreditNoteReceived,
    Discrepancy,
    InvoiceApproved,
    InvoiceDisputed,
    InvoiceLine,
    InvoiceMatched,
    InvoiceMismatched,
    InvoicePaid,
    InvoiceReceived,
    InvoiceRejected,
    LineMatch,
    MatchCheck,
    MatchingToleranceSet,
    WorkReference,
)
from shared.decider import Decider
from shared.errors import InvalidCommandError, NotFoundError, RuleViolationError, SeparationOfDutiesError
from shared.events import DomainEvent
from shared.identity import same_person
from shared.money import Money, minor_unit, quantize

DEFAULT_TOLERANCE = Decimal("0.02")
MAX_TOLERANCE = Decimal("0.10")
"""A tolerance above 10 % could not keep the rule that at least 90 % of what is invoiced is backed by work."""
MAX_TAX_RATE = Decimal("0.50")
BACKING_TARGET = Decimal("0.90")
MATCHER = "system:invoicing-matcher"
"""The actor of automatic matching (on receipt, and when a fact arrives)."""


class InvoiceStatus(StrEnum):
    RECEIVED = "received"
    MATCHED = "matched"
    MISMATCHED = "mismatched"
    DISPUTED = "disputed"
    APPROVED = "approved"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    REJECTED = "rejected"
    CREDITED = "credited"


AWAITING_DECISION = frozenset(
    {InvoiceStatus.RECEIVED, InvoiceStatus.MATCHED, InvoiceStatus.MISMATCHED, InvoiceStatus.DISPUTED}
)
"""Invoices whose match follows the facts: re-matched whenever a fact they depend on changes."""
RELEASED = frozenset({InvoiceStatus.REJECTED, InvoiceStatus.CREDITED})
"""Invoices that no longer bill their work nor draw on their commitment."""
OPEN = frozenset({*AWAITING_DECISION, InvoiceStatus.APPROVED, InvoiceStatus.PARTIALLY_PAID})
"""Invoices with an amount still to pay (or to decide on)."""


# --- facts from other services and other invoices -------------------------------------------------------------


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


# --- state ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Payment:
    payment_id: UUID
    amount: Money
    paid_on: date
    reference: str | None
    recorded_by: str


@dataclass(frozen=True)
class CreditNote:
    credit_note_id: UUID
    number: str
    issued_on: date
    lines: tuple[CreditLine, ...]
    net: Money
    tax: Money
    total: Money
    reason: str
    recorded_by: str


@dataclass(frozen=True)
class MatchResult:
    """The outcome of matching; two results are equal when their figures and discrepancies are (whoever ran it)."""

    matched: bool
    invoiced: Money
    backed: Money
    lines: tuple[LineMatch, ...]
    commitment_id: UUID | None
    commitment_remaining: Money | None
    tolerance: Decimal
    discrepancies: tuple[Discrepancy, ...]
    matched_by: str = field(default="", compare=False)


@dataclass(frozen=True)
class Invoice:
    invoice_id: UUID
    project_id: UUID
    vendor: str
    number: str
    issued_on: date
    received_on: date
    due_on: date
    currency: str
    commitment_reference: str
    lines: tuple[InvoiceLine, ...]
    net: Money
    tax: Money
    total: Money
    received_by: str
    status: InvoiceStatus = InvoiceStatus.RECEIVED
    match: MatchResult | None = None
    credit_notes: tuple[CreditNote, ...] = ()
    payments: tuple[Payment, ...] = ()
    approved_by: str | None = None
    override_reason: str | None = None
    disputed_by: str | None = None
    dispute_reason: str | None = None
    rejected_by: str | None = None
    rejection_reason: str | None = None

    def _sum(self, amounts: Sequence[Money]) -> Money:
        total = Money.zero(self.currency)
        for amount in amounts:
            total = total + amount
        return total

    @property
    def credited(self) -> Money:
        """What the credit notes took back, tax included."""
        return self._sum([c.total for c in self.credit_notes])

    @property
    def paid(self) -> Money:
        return self._sum([p.amount for p in self.payments])

    @property
    def amount_due(self) -> Money:
        return self.total - self.credited - self.paid

    @property
    def invoiced(self) -> Money:
        """Before tax, after credit notes: what backing and commitments are compared with."""
        return self.net - self._sum([c.net for c in self.credit_notes])

    def credited_on(self, line: int) -> tuple[Money, Money]:
        """Amount and tax the credit notes took back on ``line``."""
        parts = [p for c in self.credit_notes for p in c.lines if p.line == line]
        return self._sum([p.amount for p in parts]), self._sum([p.tax for p in parts])

    def cited_sheets(self) -> frozenset[UUID]:
        return frozenset(ref.sheet_id for line in self.lines for ref in line.bills)


@dataclass(frozen=True)
class MatchingPolicy:
    """A project's matching settings (one stream per project)."""

    project_id: UUID | None = None
    tolerance: Decimal = DEFAULT_TOLERANCE


# --- commands -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineInput:
    description: str
    quantity: Decimal
    unit_price: Money
    amount: Money
    tax_rate: Decimal
    tax: Money
    bills: tuple[WorkReference, ...]


@dataclass(frozen=True)
class ReceiveInvoice:
    invoice_id: UUID
    project_id: UUID
    vendor: str
    number: str
    issued_on: date
    received_on: date | None
    due_on: date
    currency: str
    commitment_reference: str
    lines: tuple[LineInput, ...]
    total: Money
    received_by: str
    facts: MatchFacts


@dataclass(frozen=True)
class MatchInvoice:
    """Match again with the facts as they are now; nothing happens when the result is unchanged."""

    facts: MatchFacts
    matched_by: str


@dataclass(frozen=True)
class DualControl:
    """From which invoice total (per currency) receipt, approval and payment need different people.

    ``thresholds`` maps a currency to the total at or above which the rule holds; a currency it does not name has
    threshold 0: every invoice. The default (nothing named) is the strictest setting."""

    thresholds: Mapping[str, Decimal] = field(default_factory=lambda: MappingProxyType({}))

    def applies_to(self, total: Money) -> bool:
        return total.amount >= self.thresholds.get(total.currency, Decimal(0))


@dataclass(frozen=True)
class ApproveInvoice:
    approved_by: str
    override_reason: str | None = None
    dual_control: DualControl = DualControl()


@dataclass(frozen=True)
class DisputeInvoice:
    disputed_by: str
    reason: str


@dataclass(frozen=True)
class RejectInvoice:
    rejected_by: str
    reason: str


@dataclass(frozen=True)
class RecordPayment:
    payment_id: UUID
    amount: Money
    paid_on: date
    reference: str | None
    recorded_by: str
    dual_control: DualControl = DualControl()


@dataclass(frozen=True)
class RecordCreditNote:
    credit_note_id: UUID
    number: str
    issued_on: date
    lines: tuple[CreditLine, ...]
    reason: str
    recorded_by: str
    facts: MatchFacts


Command = (
    ReceiveInvoice | MatchInvoice | ApproveInvoice | DisputeInvoice | RejectInvoice | RecordPayment | RecordCreditNote
)


@dataclass(frozen=True)
class SetMatchingTolerance:
    project_id: UUID
    tolerance: Decimal
    set_by: str


# --- matching (pure) ------------------------------------------------------------------------------------------


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
    if sheet.vendor_id is not None and not _same(sheet.vendor_id, invoice.vendor):
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
    if not _same(commitment.vendor, invoice.vendor):
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


def _same(a: str, b: str) -> bool:
    """The same vendor or document number (not people: those are compared by ``same_person``)."""
    return a.strip().casefold() == b.strip().casefold()


def _match_events(invoice: Invoice, facts: MatchFacts, matched_by: str) -> list[DomainEvent]:
    """``invoice-matched`` / ``invoice-mismatched`` when the result differs from the last one, else nothing."""
    if invoice.status not in AWAITING_DECISION:
        return []
    result = match(invoice, facts)
    if result == invoice.match:
        return []
    if result.matched:
        return [
            InvoiceMatched(
                project_id=invoice.project_id,
                invoice_id=invoice.invoice_id,
                invoiced=result.invoiced,
                backed=result.backed,
                lines=list(result.lines),
                commitment_id=result.commitment_id,
                commitment_remaining=result.commitment_remaining,
                tolerance=result.tolerance,
                matched_by=matched_by,
            )
        ]
    return [
        InvoiceMismatched(
            project_id=invoice.project_id,
            invoice_id=invoice.invoice_id,
            invoiced=result.invoiced,
            backed=result.backed,
            lines=list(result.lines),
            commitment_id=result.commitment_id,
            commitment_remaining=result.commitment_remaining,
            tolerance=result.tolerance,
            matched_by=matched_by,
            discrepancies=list(result.discrepancies),
        )
    ]


# --- decide ---------------------------------------------------------------------------------------------------


def decide(state: Invoice | None, command: Command, now: datetime) -> Sequence[DomainEvent]:
    """The events ``command`` causes on ``state``, or an error saying why it is refused."""
    if isinstance(command, ReceiveInvoice):
        if state is not None:
            raise RuleViolationError(f"invoice {state.invoice_id} already exists")
        received = _receive(command, now)
        invoice = evolve(None, received)
        assert invoice is not None
        return [received, *_match_events(invoice, command.facts, MATCHER)]
    if state is None:
        raise NotFoundError("this invoice does not exist")
    invoice = state
    pid, iid = invoice.project_id, invoice.invoice_id
    match command:
        case MatchInvoice():
            return _match_events(invoice, command.facts, command.matched_by)
        case ApproveInvoice():
            return [_approve(invoice, command)]
        case DisputeInvoice():
            _in(invoice, {InvoiceStatus.MATCHED, InvoiceStatus.MISMATCHED, InvoiceStatus.APPROVED}, "disputed")
            return [
                InvoiceDisputed(project_id=pid, invoice_id=iid, disputed_by=command.disputed_by, reason=command.reason)
            ]
        case RejectInvoice():
            _in(invoice, AWAITING_DECISION, "rejected")
            return [
                InvoiceRejected(project_id=pid, invoice_id=iid, rejected_by=command.rejected_by, reason=command.reason)
            ]
        case RecordPayment():
            return [_pay(invoice, command)]
        case RecordCreditNote():
            credit = _credit(invoice, command)
            after = evolve(invoice, credit)
            assert after is not None
            return [credit, *_match_events(after, command.facts, MATCHER)]
        case _:
            assert_never(command)


def _in(invoice: Invoice, allowed: frozenset[InvoiceStatus] | set[InvoiceStatus], action: str) -> None:
    if invoice.status not in allowed:
        names = sorted(s.value.replace("_", " ") for s in allowed)
        states = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        now = invoice.status.value.replace("_", " ")
        raise RuleViolationError(f"invoice {invoice.number} is {now}; only a {states} invoice is {action}")


def _currency(amount: Money, currency: str, name: str) -> None:
    if amount.currency != currency:
        raise InvalidCommandError(
            f"{name} is in {amount.currency} but the invoice is in {currency}; nothing is converted",
            field=f"{name}.currency",
        )


def _receive(command: ReceiveInvoice, now: datetime) -> InvoiceReceived:
    currency = command.currency
    try:
        minor_unit(currency)
    except ValueError as exc:
        raise InvalidCommandError(str(exc), field="currency") from None
    received_on = command.received_on or now.date()
    if command.due_on < command.issued_on:
        raise InvalidCommandError(
            f"the due date {command.due_on} is before the invoice date {command.issued_on}", field="due_on"
        )
    if received_on < command.issued_on:
        raise InvalidCommandError(
            f"an invoice issued on {command.issued_on} cannot be received on {received_on}", field="received_on"
        )
    if not command.lines:
        raise InvalidCommandError("an invoice has at least one line", field="lines")
    commitment = command.facts.commitment
    if commitment is not None and commitment.amount.currency != currency:
        raise InvalidCommandError(
            f"the invoice is in {currency} but commitment {command.commitment_reference} is in "
            f"{commitment.amount.currency}; nothing is converted",
            field="currency",
        )
    lines = [_line(i, line, currency) for i, line in enumerate(command.lines)]
    net = sum((line.amount.amount for line in lines), Decimal(0))
    tax = sum((line.tax.amount for line in lines), Decimal(0))
    _currency(command.total, currency, "total")
    if net + tax != command.total.amount:
        raise InvalidCommandError(
            f"the lines add up to {net + tax} ({net} before tax + {tax} tax), not to the total {command.total.amount}",
            field="total",
        )
    if command.total.amount <= 0:
        raise InvalidCommandError("an invoice bills something: its total must be greater than zero", field="total")
    return InvoiceReceived(
        project_id=command.project_id,
        invoice_id=command.invoice_id,
        vendor=command.vendor,
        number=command.number,
        issued_on=command.issued_on,
        received_on=received_on,
        due_on=command.due_on,
        currency=currency,
        commitment_reference=command.commitment_reference,
        lines=lines,
        net=Money(amount=quantize(net, currency), currency=currency),
        tax=Money(amount=quantize(tax, currency), currency=currency),
        total=command.total,
        received_by=command.received_by,
    )


def _line(i: int, line: LineInput, currency: str) -> InvoiceLine:
    name = f"lines.{i}"
    _currency(line.unit_price, currency, f"{name}.unit_price")
    _currency(line.amount, currency, f"{name}.amount")
    _currency(line.tax, currency, f"{name}.tax")
    if line.quantity <= 0:
        raise InvalidCommandError("quantity must be greater than zero", field=f"{name}.quantity")
    if line.unit_price.amount < 0:
        raise InvalidCommandError("unit price must not be negative", field=f"{name}.unit_price.amount")
    expected = quantize(line.quantity * line.unit_price.amount, currency)
    if line.amount.amount != expected:
        raise InvalidCommandError(
            f"quantity {line.quantity} x unit price {line.unit_price.amount} = {expected}, not {line.amount.amount}",
            field=f"{name}.amount",
        )
    if not Decimal(0) <= line.tax_rate <= MAX_TAX_RATE:
        raise InvalidCommandError(
            f"tax rate {line.tax_rate} is out of range: from 0 to {MAX_TAX_RATE}", field=f"{name}.tax_rate"
        )
    expected_tax = quantize(line.amount.amount * line.tax_rate, currency)
    if line.tax.amount != expected_tax:
        raise InvalidCommandError(
            f"amount {line.amount.amount} x tax rate {line.tax_rate} = {expected_tax}, not {line.tax.amount}",
            field=f"{name}.tax",
        )
    if not line.bills:
        raise InvalidCommandError("each line cites the work sheets or deliverables it bills", field=f"{name}.bills")
    seen: set[tuple[UUID, int | None]] = set()
    for j, ref in enumerate(line.bills):
        if ref.deliverable is not None and ref.deliverable < 0:
            raise InvalidCommandError("a deliverable is its position on the sheet, from 0", field=f"{name}.bills.{j}")
        key = (ref.sheet_id, ref.deliverable)
        if key in seen:
            raise InvalidCommandError("the same work is cited twice on the line", field=f"{name}.bills.{j}")
        seen.add(key)
    return InvoiceLine(
        line=i + 1,
        description=line.description,
        quantity=line.quantity,
        unit_price=line.unit_price,
        amount=line.amount,
        tax_rate=line.tax_rate,
        tax=line.tax,
        bills=list(line.bills),
    )


def _approve(invoice: Invoice, command: ApproveInvoice) -> InvoiceApproved:
    _in(invoice, {InvoiceStatus.MATCHED, InvoiceStatus.MISMATCHED, InvoiceStatus.DISPUTED}, "approved")
    assert invoice.match is not None  # matched or mismatched at receipt
    if invoice.match.matched:
        if command.dual_control.applies_to(invoice.total) and same_person(command.approved_by, invoice.received_by):
            raise SeparationOfDutiesError(
                f"{command.approved_by} received invoice {invoice.number} ({invoice.total}); someone else approves it"
            )
        return InvoiceApproved(
            project_id=invoice.project_id,
            invoice_id=invoice.invoice_id,
            approved_by=command.approved_by,
            override=False,
            override_reason=None,
            overridden=[],
            amount_due=invoice.amount_due,
        )
    reason = (command.override_reason or "").strip()
    checks = ", ".join(sorted({d.check.value for d in invoice.match.discrepancies}))
    if not reason:
        raise RuleViolationError(
            f"invoice {invoice.number} is mismatched ({checks}): approving it is an override and needs a reason",
            field="override_reason",
        )
    if same_person(command.approved_by, invoice.received_by):
        raise SeparationOfDutiesError(
            "a mismatched invoice is approved (overridden) by someone other than whoever received it"
        )
    return InvoiceApproved(
        project_id=invoice.project_id,
        invoice_id=invoice.invoice_id,
        approved_by=command.approved_by,
        override=True,
        override_reason=reason,
        overridden=list(invoice.match.discrepancies),
        amount_due=invoice.amount_due,
    )


def _pay(invoice: Invoice, command: RecordPayment) -> InvoicePaid:
    _in(invoice, {InvoiceStatus.APPROVED, InvoiceStatus.PARTIALLY_PAID}, "paid")
    if same_person(command.recorded_by, invoice.approved_by):
        raise SeparationOfDutiesError(
            f"{command.recorded_by} approved invoice {invoice.number}; someone else records its payment"
        )
    if command.dual_control.applies_to(invoice.total) and same_person(command.recorded_by, invoice.received_by):
        raise SeparationOfDutiesError(
            f"{command.recorded_by} received invoice {invoice.number} ({invoice.total}); someone else records its "
            "payment"
        )
    _currency(command.amount, invoice.currency, "amount")
    if command.amount.amount <= 0:
        raise InvalidCommandError("a payment must be greater than zero", field="amount.amount")
    due = invoice.amount_due
    if command.amount.amount > due.amount:
        raise InvalidCommandError(
            f"the payment of {command.amount} is above the amount still due, {due}", field="amount"
        )
    if command.paid_on < invoice.issued_on:
        raise InvalidCommandError(f"a payment cannot precede the invoice date {invoice.issued_on}", field="paid_on")
    remaining = due - command.amount
    return InvoicePaid(
        project_id=invoice.project_id,
        invoice_id=invoice.invoice_id,
        payment_id=command.payment_id,
        amount=command.amount,
        paid_on=command.paid_on,
        reference=command.reference,
        recorded_by=command.recorded_by,
        total_paid=invoice.paid + command.amount,
        remaining=remaining,
        fully_paid=remaining.amount == 0,
    )


def _credit(invoice: Invoice, command: RecordCreditNote) -> CreditNoteReceived:
    _in(invoice, {*OPEN}, "credited")
    if any(_same(c.number, command.number) for c in invoice.credit_notes):
        raise RuleViolationError(f"credit note {command.number} is already recorded on this invoice", field="number")
    if command.issued_on < invoice.issued_on:
        raise InvalidCommandError(
            f"a credit note cannot precede the invoice it credits ({invoice.issued_on})", field="issued_on"
        )
    if not command.lines:
        raise InvalidCommandError("a credit note takes back part of at least one line", field="lines")
    currency = invoice.currency
    by_number = {line.line: line for line in invoice.lines}
    seen: set[int] = set()
    net = Money.zero(currency)
    tax = Money.zero(currency)
    for i, part in enumerate(command.lines):
        name = f"lines.{i}"
        line = by_number.get(part.line)
        if line is None:
            raise InvalidCommandError(f"the invoice has no line {part.line}", field=f"{name}.line")
        if part.line in seen:
            raise InvalidCommandError(f"line {part.line} appears twice", field=f"{name}.line")
        seen.add(part.line)
        _currency(part.amount, currency, f"{name}.amount")
        _currency(part.tax, currency, f"{name}.tax")
        if part.amount.amount < 0 or part.tax.amount < 0 or part.amount.amount + part.tax.amount == 0:
            raise InvalidCommandError("a credit takes back a positive amount or tax", field=f"{name}.amount")
        credited_amount, credited_tax = invoice.credited_on(part.line)
        left = line.amount - credited_amount
        if part.amount.amount > left.amount:
            raise InvalidCommandError(
                f"line {part.line} has {left} left to credit, less than {part.amount}", field=f"{name}.amount"
            )
        left_tax = line.tax - credited_tax
        if part.tax.amount > left_tax.amount:
            raise InvalidCommandError(
                f"line {part.line} has {left_tax} tax left to credit, less than {part.tax}", field=f"{name}.tax"
            )
        net, tax = net + part.amount, tax + part.tax
    total = net + tax
    due = invoice.amount_due
    if total.amount > due.amount:
        raise InvalidCommandError(f"the credit note of {total} is above the amount still due, {due}", field="lines")
    credited_total = invoice.credited + total
    return CreditNoteReceived(
        project_id=invoice.project_id,
        invoice_id=invoice.invoice_id,
        credit_note_id=command.credit_note_id,
        number=command.number,
        issued_on=command.issued_on,
        lines=list(command.lines),
        net=net,
        tax=tax,
        total=total,
        reason=command.reason,
        recorded_by=command.recorded_by,
        credited_total=credited_total,
        amount_due=due - total,
        fully_credited=credited_total.amount == invoice.total.amount,
    )


# --- evolve ---------------------------------------------------------------------------------------------------


def evolve(state: Invoice | None, event: DomainEvent) -> Invoice | None:
    if isinstance(event, InvoiceReceived):
        return Invoice(
            invoice_id=event.invoice_id,
            project_id=event.project_id,
            vendor=event.vendor,
            number=event.number,
            issued_on=event.issued_on,
            received_on=event.received_on,
            due_on=event.due_on,
            currency=event.currency,
            commitment_reference=event.commitment_reference,
            lines=tuple(event.lines),
            net=event.net,
            tax=event.tax,
            total=event.total,
            received_by=event.received_by,
        )
    if state is None:
        return state
    match event:
        case InvoiceMatched() | InvoiceMismatched():
            result = MatchResult(
                matched=isinstance(event, InvoiceMatched),
                invoiced=event.invoiced,
                backed=event.backed,
                lines=tuple(event.lines),
                commitment_id=event.commitment_id,
                commitment_remaining=event.commitment_remaining,
                tolerance=event.tolerance,
                discrepancies=tuple(event.discrepancies) if isinstance(event, InvoiceMismatched) else (),
                matched_by=event.matched_by,
            )
            status = state.status
            if status in (InvoiceStatus.RECEIVED, InvoiceStatus.MATCHED, InvoiceStatus.MISMATCHED):
                status = InvoiceStatus.MATCHED if result.matched else InvoiceStatus.MISMATCHED
            return replace(state, match=result, status=status)
        case InvoiceApproved():
            return replace(
                state,
                status=InvoiceStatus.APPROVED,
                approved_by=event.approved_by,
                override_reason=event.override_reason,
            )
        case InvoiceDisputed():
            return replace(
                state, status=InvoiceStatus.DISPUTED, disputed_by=event.disputed_by, dispute_reason=event.reason
            )
        case InvoiceRejected():
            return replace(
                state, status=InvoiceStatus.REJECTED, rejected_by=event.rejected_by, rejection_reason=event.reason
            )
        case InvoicePaid():
            payment = Payment(event.payment_id, event.amount, event.paid_on, event.reference, event.recorded_by)
            status = InvoiceStatus.PAID if event.fully_paid else InvoiceStatus.PARTIALLY_PAID
            return replace(state, payments=(*state.payments, payment), status=status)
        case CreditNoteReceived():
            note = CreditNote(
                event.credit_note_id,
                event.number,
                event.issued_on,
                tuple(event.lines),
                event.net,
                event.tax,
                event.total,
                event.reason,
                event.recorded_by,
            )
            after = replace(state, credit_notes=(*state.credit_notes, note))
            if event.amount_due.amount == 0:
                status = InvoiceStatus.PAID if after.payments else InvoiceStatus.CREDITED
                after = replace(after, status=status)
            return after
    return state


INVOICE: Decider[Invoice | None, Command] = Decider("invoice", lambda: None, evolve, decide)
"""The invoice aggregate as the command executor sees it."""


def stream_id(invoice_id: UUID) -> str:
    return f"invoice-{invoice_id}"


# --- the project's matching policy ----------------------------------------------------------------------------


def decide_policy(state: MatchingPolicy, command: SetMatchingTolerance, now: datetime) -> Sequence[DomainEvent]:
    if not Decimal(0) <= command.tolerance <= MAX_TOLERANCE:
        raise InvalidCommandError(
            f"the tolerance is a share of a line's amount, from 0 to {MAX_TOLERANCE} (at least 90 % of what is "
            "invoiced must be backed by work)",
            field="tolerance",
        )
    if command.tolerance == state.tolerance:
        return []
    return [
        MatchingToleranceSet(
            project_id=command.project_id,
            tolerance=command.tolerance,
            previous_tolerance=state.tolerance,
            set_by=command.set_by,
        )
    ]


def evolve_policy(state: MatchingPolicy, event: DomainEvent) -> MatchingPolicy:
    if isinstance(event, MatchingToleranceSet):
        return replace(state, project_id=event.project_id, tolerance=event.tolerance)
    return state


MATCHING_POLICY: Decider[MatchingPolicy, SetMatchingTolerance] = Decider(
    "invoicing-policy", MatchingPolicy, evolve_policy, decide_policy
)


def policy_stream_id(project_id: UUID) -> str:
    return f"invoicing-policy-{project_id}"
