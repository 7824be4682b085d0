"""Helpers for tests of the invoicing service: domain scenarios and facts, request bodies, and the records other
services publish (work sheets approved on ``pmo.resources.v1``, commitments on ``pmo.budget.v1``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from invoicing import domain, handlers
from shared.contracts import budget, resources
from shared.contracts.invoicing import WorkReference
from shared.money import Money, quantize
from tests.support import scenario
from tests.support.clock import TODAY
from tests.support.money import eur, money

NOW = datetime(2027, 3, 1, tzinfo=UTC)
PID = uuid.UUID(int=1)
C1 = uuid.UUID(int=31)
S1 = uuid.UUID(int=41)
S2 = uuid.UUID(int=42)
VENDOR = "acme"
ISSUED = TODAY - timedelta(days=3)
DUE = TODAY + timedelta(days=27)


# --- domain scenarios -----------------------------------------------------------------------------------------


class Scenario(scenario.Scenario[domain.Invoice | None, domain.Command]):
    """An invoice given commands (or events), decided at NOW: when a command, then events or an error."""

    def __init__(self) -> None:
        super().__init__(domain.INVOICE, NOW)

    @property
    def invoice(self) -> domain.Invoice:
        """The invoice received so far (a scenario before its receipt has none)."""
        assert self.state is not None
        return self.state


def sheet(
    sheet_id: uuid.UUID,
    cost: str,
    *,
    deliverables: Sequence[str] = (),
    project: uuid.UUID = PID,
    vendor: str | None = VENDOR,
    currency: str = "EUR",
    in_force: bool = True,
    version: int = 1,
) -> domain.SheetFact:
    return domain.SheetFact(
        sheet_id=sheet_id,
        project_id=project,
        vendor_id=vendor,
        version=version,
        cost=Money.of(cost, currency),
        deliverables=tuple(Money.of(d, currency) for d in deliverables),
        in_force=in_force,
    )


def commitment(
    amount: str = "10000.00", *, before: str = "0.00", status: str = "committed", vendor: str = "Acme"
) -> domain.CommitmentFact:
    return domain.CommitmentFact(
        commitment_id=C1,
        vendor=vendor,
        reference="PO-1",
        amount=eur(amount),
        status=status,
        invoiced_before=eur(before),
    )


STANDARD_COMMITMENT = commitment()


def facts(
    *sheets: domain.SheetFact,
    commitment: domain.CommitmentFact | None = STANDARD_COMMITMENT,
    billed_before: tuple[domain.EarlierBilling, ...] = (),
    tolerance: str = "0.02",
    receipts: Sequence[domain.ReceiptFact] = (),
    drawn_before: tuple[domain.ReceiptDraw, ...] = (),
) -> domain.MatchFacts:
    return domain.MatchFacts(
        sheets=MappingProxyType({s.sheet_id: s for s in sheets}),
        commitment=commitment,
        billed_before=billed_before,
        tolerance=Decimal(tolerance),
        receipts=MappingProxyType({r.receipt_id: r for r in receipts}),
        drawn_before=drawn_before,
    )


def line(
    amount: str, *bills: uuid.UUID | WorkReference, tax_rate: str = "0.20", quantity: str = "1", currency: str = "EUR"
) -> domain.LineInput:
    """A line of ``quantity`` x (``amount`` / ``quantity``) with its tax at ``tax_rate``, citing ``bills``."""
    price = Decimal(amount) / Decimal(quantity)
    net = Money.of(amount, currency)
    return domain.LineInput(
        description="Consulting",
        quantity=Decimal(quantity),
        unit_price=Money.of(price, currency),
        amount=net,
        tax_rate=Decimal(tax_rate),
        tax=Money(amount=quantize(net.amount * Decimal(tax_rate), currency), currency=currency),
        bills=tuple(b if isinstance(b, WorkReference) else WorkReference(sheet_id=b) for b in bills),
    )


def goods_line(amount: str, *receipts: uuid.UUID, tax_rate: str = "0.20", currency: str = "EUR") -> domain.LineInput:
    """A line of one unit billing ``amount`` of goods or services, citing the goods ``receipts``."""
    net = Money.of(amount, currency)
    return domain.LineInput(
        description="Licences",
        quantity=Decimal(1),
        unit_price=net,
        amount=net,
        tax_rate=Decimal(tax_rate),
        tax=Money(amount=quantize(net.amount * Decimal(tax_rate), currency), currency=currency),
        bills=(),
        receipts=receipts,
    )


def goods(
    receipt_id: uuid.UUID,
    amount: str,
    *,
    currency: str = "EUR",
    booked: str | None = None,
    project: uuid.UUID = PID,
    commitment_id: uuid.UUID = C1,
    in_force: bool = True,
) -> domain.ReceiptFact:
    return domain.ReceiptFact(
        receipt_id=receipt_id,
        project_id=project,
        commitment_id=commitment_id,
        amount=Money.of(amount, currency),
        booked=None if booked is None else eur(booked),
        in_force=in_force,
    )


def receive(
    *lines: domain.LineInput,
    facts: domain.MatchFacts,
    project_currency: str | None = None,
    rate: domain.ExchangeRate | None = None,
    invoice_id: uuid.UUID | None = None,
    number: str = "INV-1",
    currency: str = "EUR",
    total: Money | None = None,
    issued_on: date = date(2027, 2, 26),
    due_on: date = date(2027, 3, 28),
    received_on: date | None = None,
    by: str = "rita.receiver",
) -> domain.ReceiveInvoice:
    gross = sum((li.amount.amount + li.tax.amount for li in lines), Decimal(0))
    return domain.ReceiveInvoice(
        invoice_id=invoice_id or uuid.uuid4(),
        project_id=PID,
        vendor=VENDOR,
        number=number,
        issued_on=issued_on,
        received_on=received_on,
        due_on=due_on,
        currency=currency,
        commitment_reference="PO-1",
        lines=tuple(lines),
        total=total or Money.of(gross, currency),
        received_by=by,
        facts=facts,
        project_currency=project_currency,
        rate=rate,
    )


# --- the handlers' reading port ---------------------------------------------------------------------------------


@dataclass
class FakeInvoiceFacts:
    """:class:`invoicing.handlers.InvoiceFacts` over the executor's streams (as the query tables project them) and
    one set of match facts for every invoice; records the keys it was asked about. ``projects``, ``commitments``
    and ``rates`` are what the reference consumers would have stored."""

    executor: Any
    known: domain.MatchFacts = field(default_factory=lambda: facts(sheet(S1, "4000.00")))
    asked: list[handlers.InvoiceKey] = field(default_factory=list)
    projects: dict[uuid.UUID, domain.ProjectFact] = field(default_factory=dict)
    commitments: dict[uuid.UUID, domain.OpenCommitment] = field(default_factory=dict)
    rates: list[domain.RecordedRate] = field(default_factory=list)

    async def invoice_key(self, invoice_id: uuid.UUID) -> handlers.InvoiceKey | None:
        events = self.executor.appended(domain.stream_id(invoice_id))
        state: domain.Invoice | None = None
        for event in events:
            state = domain.evolve(state, event)
        if state is None:
            return None
        return handlers.InvoiceKey(
            invoice_id=invoice_id,
            project_id=state.project_id,
            vendor=state.vendor,
            currency=state.currency,
            commitment_reference=state.commitment_reference,
            sheets=state.cited_sheets(),
            received_position=1,
            status=state.status.value,
            receipts=state.cited_receipts(),
            matched_currency=domain.matching_currency(state),
        )

    async def match_facts(self, key: handlers.InvoiceKey) -> domain.MatchFacts:
        self.asked.append(key)
        return self.known

    async def project(self, project_id: uuid.UUID) -> domain.ProjectFact | None:
        return self.projects.get(project_id)

    async def project_currency(self, project_id: uuid.UUID, commitment_reference: str, vendor: str) -> str | None:
        project = self.projects.get(project_id)
        if project is not None:
            return project.currency
        commitment = self.known.commitment
        if commitment is None:
            return None
        return commitment.booked.currency if commitment.booked is not None else commitment.amount.currency

    async def rate(self, base: str, quote: str, on: date) -> domain.ExchangeRate | None:
        def latest(b: str, q: str) -> domain.RecordedRate | None:
            found = [r for r in self.rates if r.base == b and r.quote == q and r.effective_on <= on]
            return max(found, key=lambda r: r.effective_on, default=None)

        return domain.in_force(base, quote, latest(base, quote), latest(quote, base))

    async def commitment(self, commitment_id: uuid.UUID) -> domain.OpenCommitment | None:
        return self.commitments.get(commitment_id)


# --- HTTP bodies ----------------------------------------------------------------------------------------------


def line_body(amount: str, *sheets: str, tax_rate: str = "0.20", tax: str | None = None) -> dict[str, Any]:
    computed = (Decimal(amount) * Decimal(tax_rate)).quantize(Decimal("0.01"))
    return {
        "description": "Consulting, week 5",
        "quantity": "1",
        "unit_price": money(amount),
        "amount": money(amount),
        "tax_rate": tax_rate,
        "tax": money(tax or str(computed)),
        "bills": [{"sheet_id": s} for s in sheets],
    }


def invoice_body(project_id: str, *lines: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    gross = sum(Decimal(li["amount"]["amount"]) + Decimal(li["tax"]["amount"]) for li in lines)
    body: dict[str, Any] = {
        "project_id": project_id,
        "vendor": VENDOR,
        "number": f"INV-{uuid.uuid4().hex[:8]}",
        "issued_on": str(ISSUED),
        "due_on": str(DUE),
        "currency": "EUR",
        "commitment_reference": "PO-1",
        "lines": list(lines),
        "total": money(str(gross)),
    }
    body.update(overrides)
    return body


# --- records of the other services ----------------------------------------------------------------------------


def work_sheet_approved(
    project_id: uuid.UUID,
    sheet_id: uuid.UUID,
    cost: str,
    *,
    vendor: str | None = VENDOR,
    version: int = 1,
    currency: str = "EUR",
) -> resources.WorkSheetApproved:
    """A subcontractor's week approved: 40 hours at a rate making ``cost`` (one entry, no deliverable)."""
    hours = Decimal(40)

    def priced(amount: str) -> Money:  # in the sheet's currency
        return Money.of(amount, currency)

    return resources.WorkSheetApproved(
        resource_id=uuid.uuid4(),
        sheet_id=sheet_id,
        version=version,
        replaces_version=None,
        project_id=project_id,
        week="2027-W05",
        week_start=date(2027, 2, 1),
        kind=resources.ResourceKind.SUBCONTRACTOR,
        role="developer",
        vendor_id=vendor,
        submitted_by="sam.sub",
        approved_by="rose.rm",
        approved_on=date(2027, 2, 6),
        entries=[
            resources.CostedEntry(
                day=date(2027, 2, 1),
                milestone_id=None,
                hours=hours,
                hourly_rate=priced(str(Decimal(cost) / hours)),
                rate_source=resources.RateSource.RESOURCE,
                rate_effective_from=date(2027, 1, 1),
                cost=priced(cost),
            )
        ],
        deliverables=[],
        hours=hours,
        cost=priced(cost),
        cost_by_milestone=[resources.MilestoneCost(milestone_id=None, hours=hours, cost=priced(cost))],
    )


def work_sheet_approval_reversed(
    approved: resources.WorkSheetApproved, superseded_by: int
) -> resources.WorkSheetApprovalReversed:
    return resources.WorkSheetApprovalReversed(
        resource_id=approved.resource_id,
        sheet_id=approved.sheet_id,
        version=approved.version,
        superseded_by_version=superseded_by,
        project_id=approved.project_id,
        week=approved.week,
        week_start=approved.week_start,
        hours=approved.hours,
        cost=approved.cost,
        cost_by_milestone=approved.cost_by_milestone,
        reversed_on=date(2027, 2, 10),
    )


def budget_committed(
    project_id: uuid.UUID, commitment_id: uuid.UUID, amount: str, *, reference: str = "PO-1", currency: str = "EUR"
) -> budget.BudgetCommitted:
    return budget.BudgetCommitted(
        project_id=project_id,
        commitment_id=commitment_id,
        kind=budget.CommitmentKind.SUBCONTRACT,
        vendor="Acme",
        reference=reference,
        category=budget.CostCategory.SUBCONTRACTING,
        milestone_id=None,
        amount=Money.of(amount, currency),
        expected_invoices=[],
        overrun=None,
        policy=budget.OverrunPolicy.WARN,
        requested_by="paul.finance",
        approved_by=None,
    )


# --- the money model: a receipt, a milestone, the project as the service knows it, rates -------------------------

R1 = uuid.UUID(int=51)
M1 = uuid.UUID(int=71)
USD_EUR = domain.RecordedRate("USD", "EUR", Decimal("0.9215"), date(2027, 2, 1), "ECB reference rate")
PROJECT = domain.ProjectFact(PID, "EUR", "active", "max.manager", frozenset({M1}))
"""PID as the service knows it: in EUR, active, managed by max.manager, with milestone M1."""


def rate_on(day: date, *recorded: domain.RecordedRate) -> domain.ExchangeRate | None:
    """The USD->EUR rate in force on ``day`` among ``recorded`` (direct, else the inverse of EUR->USD)."""

    def latest(base: str, quote: str) -> domain.RecordedRate | None:
        found = [r for r in recorded if (r.base, r.quote) == (base, quote) and r.effective_on <= day]
        return max(found, key=lambda r: r.effective_on, default=None)

    return domain.in_force("USD", "EUR", latest("USD", "EUR"), latest("EUR", "USD"))
