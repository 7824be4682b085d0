"""The books of a project's entities: milestones, commitments, funding tranches, KPIs and supplier invoices, and
an amount with the event that brought it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from uuid import UUID


@dataclass
class Amount:
    """An amount with the event that brought it."""

    value: Decimal
    event_id: UUID
    on: date
    label: str = ""
    category: str = "labour"


@dataclass
class MilestoneBook:
    milestone_id: UUID
    name: str
    due_date: date
    planned_value: Decimal
    planned_event: UUID
    percent: Decimal = Decimal(0)
    progress_event: UUID | None = None
    reached_on: date | None = None
    reached_event: UUID | None = None
    missed: bool = False

    @property
    def earned_share(self) -> Decimal:
        return Decimal(100) if self.reached_on is not None else self.percent


@dataclass
class CommitmentBook:
    commitment_id: UUID
    category: str
    amount: Decimal
    expected: list[tuple[date, Decimal]]
    active: bool
    event_id: UUID
    reference: str = ""


@dataclass
class TrancheBook:
    tranche_id: UUID
    amount: Decimal
    available_on: date
    """For a planned tranche: the date it is expected on."""
    withdrawn_on: date | None
    event_id: UUID
    planned: bool = False
    """Planned (``funding-planned``), not yet secured: never counted as available."""


@dataclass
class KpiBook:
    kpi_id: UUID
    name: str
    unit: str
    target: Decimal
    direction: str
    review_date: date
    latest: tuple[date, Decimal, bool, UUID] | None = None
    """The measurement with the latest date (the first recorded of that date): date, value, target met, event."""
    measured: int = 0


@dataclass
class InvoiceBook:
    """A supplier invoice as reporting sees it: amounts before tax (costs exclude recoverable tax), in the project's
    currency (an invoice in another one: ``net`` is its booked amount, the others converted at ``rate``)."""

    invoice_id: UUID
    vendor: str
    number: str
    due_on: date
    net: Decimal
    total: Decimal
    received_event: UUID
    commitment_reference: str = ""
    backed: Decimal | None = None
    matched: bool | None = None
    checks: tuple[str, ...] = ()
    match_event: UUID | None = None
    status: str = "received"
    approved_on: date | None = None
    approved_event: UUID | None = None
    credited_net: Decimal = Decimal(0)
    paid: Decimal = Decimal(0)
    fully_paid: bool = False
    paid_event: UUID | None = None
    currency: str = ""
    """The invoice's own currency."""
    rate: Decimal | None = None
    """Its booking's rate (1 invoice currency = ``rate`` project currency), None when in the project's currency."""
    paid_net: Decimal = Decimal(0)
    """Cash basis: the net share of the payments made by the date (``amount x net / total``), converted."""

    @property
    def live(self) -> bool:
        return self.status != "rejected"

    @property
    def unbacked_cost(self) -> Decimal:
        """The part of an approved invoice not already counted through approved work sheets or goods receipts."""
        return max(self.net - self.credited_net - (self.backed or Decimal(0)), Decimal(0))

    def converted(self, amount: Decimal) -> Decimal:
        """An amount in the invoice's currency, in the project's (at the booking's rate; unrounded)."""
        return amount if self.rate is None else amount * self.rate

    def record_payment(self, amount: Decimal, total_paid: Decimal, fully_paid: bool, event_id: UUID) -> None:
        """A payment of ``amount`` (in the invoice's currency) bringing what was paid to ``total_paid``."""
        self.paid, self.fully_paid, self.paid_event = self.converted(total_paid), fully_paid, event_id
        if self.total:
            self.paid_net += self.converted(amount) * self.net / self.total
        self.status = "paid" if fully_paid else "partly_paid"


def received_invoice(
    invoice_id: UUID,
    vendor: str,
    number: str,
    due_on: date,
    net: Decimal,
    total: Decimal,
    event_id: UUID,
    reference: str,
    currency: str,
    booked: tuple[Decimal, Decimal] | None,
) -> InvoiceBook:
    """A received invoice in the project's currency: ``booked`` (an invoice in another currency: its net booked in
    the project's currency, and the booking's rate) gives its net and the rate its other amounts are converted at."""
    if booked is None:
        return InvoiceBook(invoice_id, vendor, number, due_on, net, total, event_id, reference, currency=currency)
    booked_net, rate = booked
    return InvoiceBook(
        invoice_id,
        vendor,
        number,
        due_on,
        booked_net,
        total * rate,
        event_id,
        reference,
        currency=currency,
        rate=rate,
    )
