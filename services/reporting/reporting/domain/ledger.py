"""Folding a project's facts (events from every service, in the order they were recorded) into its books on a
given date.

"As of D" is effective-dated, with everything known now (corrections included): each fact counts from its business
date when it has one (a milestone is planned value once due, progress from its ``as_of`` date, a reached milestone
from its ``reached_on``, a work sheet's cost from its approval date, an expense from its approval, goods from their
receipt, a tranche from its availability date, a status change from its date, a status report from its meeting, an
estimate to complete from its ``as_of``), else from the day it was recorded (approved budget changes, commitments,
invoice approvals). The project's identity, its milestone plan, its budget baseline and its approved performance
measurement baselines (PMB: each version says itself from which date it is in force) hold at every date. What was
*known* at a moment is what gate decisions keep in their snapshot.

Cost, accrual basis (what AC adds up, in the project's currency):

* approved work sheets from their approval date (reversals from theirs): people's as ``labour``, subcontractors' as
  ``subcontracting``;
* approved expense claims from ``approved_on``, in the claim's category (a rejected or never approved claim is no
  cost);
* goods, licences and services received against a commitment from ``received_on``, in the receipt's category, minus
  a reversal from ``reversed_on``;
* the part of an approved supplier invoice (before tax, after credit notes) that the work sheets and receipts it
  cites do not back (the match's ``backed`` figure covers both), so nothing is counted twice; in the category of the
  commitment it draws on (``subcontracting`` when unknown).

Cost, cash basis (:attr:`ProjectBook.cash_cost`): what was paid out by the date: invoices paid (the net share of each
payment, ``amount x net / total``, booked), expenses reimbursed (``paid_on``), and people's approved work sheets from
their approval (payroll, paid as the work is done). Subcontractors' work sheets and goods receipts are paid through
their invoices, so they are not counted apart.

Currencies (the rule of :mod:`shared.contracts.common`): an amount counts in the project's currency, as entered when
it is in it, else at its ``booked`` amount (converted once by the producing service at a dated rate). An invoice's
other amounts (total, credit notes, payments) are converted at its booking's rate; its match figures are already in
the project's currency. A commitment's expected invoices are booked pro rata of its booking. An amount in another
currency without a booking is never added and never dropped: it is listed in :attr:`ProjectBook.unconverted` with
what it is and its currency (the cash side of an unconverted expense is not listed twice).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from shared.contracts import budget as b
from shared.contracts import invoicing as i
from shared.contracts import projects as p
from shared.contracts import resources as r
from shared.contracts.common import Booking
from shared.events import DomainEvent, EventRegistry
from shared.money import Money

REGISTRIES: dict[str, EventRegistry] = {
    "projects": p.REGISTRY,
    "budget": b.REGISTRY,
    "resources": r.REGISTRY,
    "invoicing": i.REGISTRY,
}
ZERO = Decimal(0)


@dataclass(frozen=True)
class Fact:
    """One event of another service about a project, as the reporting service stored it."""

    event_id: UUID
    service: str
    name: str
    version: int
    recorded_at: datetime
    data: dict[str, Any]

    def decode(self) -> DomainEvent | None:
        registry = REGISTRIES.get(self.service)
        if registry is None or (self.name, self.version) not in registry:
            return None
        return registry.decode(self.name, self.version, self.data)


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


@dataclass(frozen=True)
class PmbItem:
    """One milestone (work package) of a performance measurement baseline: its budget, its span and how it earns
    value (:class:`shared.contracts.projects.EvTechnique`); ``steps``: (date, weight %) of a weighted-milestones item;
    ``months``: (``YYYY-MM``, amount) when its budget is phased by month."""

    milestone_id: UUID
    name: str
    budget: Decimal
    start: date
    due: date
    technique: str
    steps: tuple[tuple[date, Decimal], ...] = ()
    months: tuple[tuple[str, Decimal], ...] = ()


@dataclass(frozen=True)
class PmbVersion:
    """An approved version of the PMB, in force from ``effective_on`` until a later version's."""

    version: int
    effective_on: date
    total: Decimal
    management_reserve: Decimal
    items: tuple[PmbItem, ...]
    event_id: UUID


@dataclass(frozen=True)
class EstimateBook:
    """The project manager's estimate to complete (the latest submitted with ``as_of`` on or before the date)."""

    as_of: date
    total: Decimal
    categories: dict[str, Decimal]
    months: dict[str, Decimal]
    submitted_by: str
    event_id: UUID


@dataclass
class ProjectBook:
    project_id: UUID
    code: str = ""
    name: str = ""
    currency: str = ""
    status: str = "unknown"
    portfolio_id: str | None = None
    programme_id: str | None = None
    planned_start: date | None = None
    planned_end: date | None = None
    registered_on: date | None = None
    active_since: date | None = None
    milestones: dict[UUID, MilestoneBook] = field(default_factory=dict)
    baseline: Amount | None = None
    category_budgets: dict[str, Decimal] = field(default_factory=dict)
    changes_total: Decimal = Decimal(0)
    """Approved budget changes in force (BAC = baseline + this)."""
    change_count: int = 0
    change_evidence: list[Amount] = field(default_factory=list)
    """The approved changes behind ``changes_total``: all of them from the ledger, the latest ones from the books."""
    work_cost: dict[str, Decimal] = field(default_factory=dict)
    """Approved work-sheet cost minus reversals, per cost category."""
    expense_cost: dict[str, Decimal] = field(default_factory=dict)
    """Approved expense claims, per cost category."""
    goods_cost: dict[str, Decimal] = field(default_factory=dict)
    """Goods and services received minus reversed receipts, per cost category."""
    expenses_reimbursed: Decimal = Decimal(0)
    """Expenses paid back to their claimants (cash basis)."""
    cost_count: int = 0
    """Cost facts counted in the three above (approvals, reversals, receipts)."""
    cost_evidence: list[Amount] = field(default_factory=list)
    """The facts behind the three above: all of them from the ledger, the latest ones from the books."""
    commitments: dict[UUID, CommitmentBook] = field(default_factory=dict)
    tranches: dict[UUID, TrancheBook] = field(default_factory=dict)
    last_report_on: date | None = None
    """The latest meeting date of a status report."""
    last_report_rag: str | None = None
    last_report_event: UUID | None = None
    """The last status report recorded (its overall RAG above)."""
    report_count: int = 0
    kpis: dict[UUID, KpiBook] = field(default_factory=dict)
    follow_ups: dict[UUID, tuple[date, date | None, UUID]] = field(default_factory=dict)
    over_allocations: dict[tuple[UUID, str], tuple[Decimal, UUID]] = field(default_factory=dict)
    invoices: dict[UUID, InvoiceBook] = field(default_factory=dict)
    pmb: list[PmbVersion] = field(default_factory=list)
    """Approved PMB versions by ``effective_on`` (then version), whatever the date (each says when it is in force)."""
    estimate: EstimateBook | None = None
    unconverted: list[Amount] = field(default_factory=list)
    """Amounts in another currency than the project's without a booking: neither added nor dropped (``value`` in
    the currency the label names)."""

    @property
    def actual_cost(self) -> Decimal:
        """Accrued cost of work sheets, expenses and goods received (invoices beyond them: :attr:`invoiced_cost`)."""
        return sum((*self.work_cost.values(), *self.expense_cost.values(), *self.goods_cost.values()), Decimal(0))

    def tranches_counting(self, day: date) -> list[TrancheBook]:
        """Tranches (secured or planned) that count on ``day``: available (expected) by then, not withdrawn by then."""
        return [
            t
            for t in self.tranches.values()
            if t.available_on <= day and (t.withdrawn_on is None or t.withdrawn_on > day)
        ]

    def tranches_available(self, day: date) -> list[TrancheBook]:
        """Secured tranches available on ``day`` (planned ones never count as available): the one rule of funding
        available, used by reports, explanations and the underfunding risk."""
        return [t for t in self.tranches_counting(day) if not t.planned]

    def funding_available(self, day: date) -> Decimal:
        return sum((t.amount for t in self.tranches_available(day)), Decimal(0))

    def approved_invoices(self) -> list[InvoiceBook]:
        """Live approved invoices with a part not backed by work sheets or receipts (a cost of its own)."""
        return [x for x in self.invoices.values() if x.live and x.approved_event is not None and x.unbacked_cost > 0]

    @property
    def invoiced_cost(self) -> Decimal:
        """The parts of approved invoices not backed by approved work sheets or goods receipts."""
        return sum((x.unbacked_cost for x in self.approved_invoices()), Decimal(0))

    def actual_by_kind(self) -> dict[str, Decimal]:
        """AC (accrual) by kind of cost: work sheets, expenses, goods received, invoices beyond their backing."""
        return {
            "work_sheets": sum(self.work_cost.values(), Decimal(0)),
            "expenses": sum(self.expense_cost.values(), Decimal(0)),
            "goods_received": sum(self.goods_cost.values(), Decimal(0)),
            "invoices_beyond_backing": self.invoiced_cost,
        }

    def actual_by_category(self) -> dict[str, Decimal]:
        """Actual cost (accrual) per budget category, every kind: people's work is labour, subcontractors'
        subcontracting, expenses and goods their own category, and invoices beyond the work and goods they cite go to
        their commitment's category."""
        out: dict[str, Decimal] = dict(self.work_cost)
        for costs in (self.expense_cost, self.goods_cost):
            for category, value in costs.items():
                out[category] = out.get(category, Decimal(0)) + value
        by_reference = {c.reference: c.category for c in self.commitments.values()}
        for x in self.approved_invoices():
            category = by_reference.get(x.commitment_reference, "subcontracting")
            out[category] = out.get(category, Decimal(0)) + x.unbacked_cost
        return out

    @property
    def cash_cost(self) -> Decimal:
        """Cost paid by the date (cash basis, see the module docstring)."""
        paid = sum((x.paid_net for x in self.invoices.values()), Decimal(0))
        return paid + self.expenses_reimbursed + self.work_cost.get("labour", Decimal(0))


# --- rules the reference fold and the books share -------------------------------------------------------------


def effective(amount: Money, booked: Booking | None) -> tuple[Decimal, str]:
    """The amount reports add and its currency: the booking when the event has one, else the amount as entered."""
    if booked is not None:
        return booked.amount.amount, booked.amount.currency
    return amount.amount, amount.currency


def unconverted_label(what: str, value: Decimal, currency: str, project_currency: str) -> str:
    return f"{what}: {format(value, 'f')} {currency} without a booking in {project_currency}, not counted"


def sheet_category(kind: r.ResourceKind) -> str:
    return "subcontracting" if kind is r.ResourceKind.SUBCONTRACTOR else "labour"


def booked_terms(
    amount: Decimal, expected: Sequence[tuple[date, Decimal]], booked: Decimal | None
) -> tuple[Decimal, list[tuple[date, Decimal]]]:
    """A commitment's amount and expected invoices in the project's currency: as entered, or its booked amount and
    the expected invoices pro rata of the booking (``x x booked / amount``)."""
    if booked is None:
        return amount, list(expected)
    if not amount:
        return booked, list(expected)
    return booked, [(on, x * booked / amount) for on, x in expected]


def with_version(versions: list[PmbVersion], version: PmbVersion) -> list[PmbVersion]:
    """The approved versions with ``version`` added (replacing an approval of the same number), by effective date."""
    kept = [v for v in versions if v.version != version.version]
    return sorted([*kept, version], key=lambda v: (v.effective_on, v.version))


def pmb_version(e: p.PerformanceBaselineApproved, event_id: UUID) -> PmbVersion:
    items = tuple(
        PmbItem(
            x.milestone_id,
            x.name,
            x.budget.amount,
            x.start,
            x.due,
            x.technique.value,
            tuple((s.on, s.weight) for s in x.steps),
            tuple((m.month, m.amount.amount) for m in x.months),
        )
        for x in e.items
    )
    return PmbVersion(e.version, e.effective_on, e.total.amount, e.management_reserve.amount, items, event_id)


def estimate_of(e: b.EstimateToCompleteSubmitted, event_id: UUID) -> EstimateBook:
    categories: dict[str, Decimal] = {}
    for c in e.categories:
        categories[c.category.value] = categories.get(c.category.value, ZERO) + c.amount.amount
    months: dict[str, Decimal] = {}
    for m in e.months:
        months[m.month] = months.get(m.month, ZERO) + m.amount.amount
    return EstimateBook(e.as_of, e.total.amount, categories, months, e.submitted_by, event_id)


def later_estimate(current: EstimateBook | None, candidate: EstimateBook) -> EstimateBook:
    """The estimate in force: the one with the latest ``as_of`` (of one date, the last recorded)."""
    return candidate if current is None or candidate.as_of >= current.as_of else current


def end_of(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


# --- the reference fold -----------------------------------------------------------------------------------------


@dataclass
class _Cost:
    """An expense claim or a goods receipt, kept while folding: what its approval, reimbursement or reversal
    counts (in the currency it is booked in)."""

    value: Decimal
    currency: str
    category: str
    label: str
    reversed: bool = False


@dataclass
class _Memory:
    """What the fold remembers beyond the books: the categories of sheets, claims and receipts."""

    sheet_categories: dict[UUID, str] = field(default_factory=dict)
    resource_categories: dict[UUID, str] = field(default_factory=dict)
    claims: dict[UUID, _Cost] = field(default_factory=dict)
    receipts: dict[UUID, _Cost] = field(default_factory=dict)


def book(project_id: UUID, facts: Iterable[Fact], as_of: date) -> ProjectBook:
    """The project's books on ``as_of`` (see the module docstring)."""
    books = ProjectBook(project_id=project_id)
    memory = _Memory()
    for fact in facts:
        event = fact.decode()
        if event is not None:
            _apply(books, event, fact, as_of, memory)
    return books


def apply_allocation(
    bk: ProjectBook,
    resource_id: UUID,
    weeks_from: date | None,
    weeks_to: date | None,
    over: Iterable[tuple[str, Decimal]],
    event_id: UUID,
) -> None:
    """An allocation check (allocated, changed, ended): the weeks it checked are within capacity unless listed."""
    if weeks_from is not None and weeks_to is not None:  # weeks checked and not listed are within capacity
        for key in [k for k in bk.over_allocations if k[0] == resource_id]:
            start = date.fromisocalendar(int(key[1][:4]), int(key[1][6:]), 1)
            if weeks_from <= start <= weeks_to:
                del bk.over_allocations[key]
    for week, hours in over:
        bk.over_allocations[(resource_id, week)] = (hours, event_id)


def _accrue(
    bk: ProjectBook, costs: dict[str, Decimal], cost: _Cost, value: Decimal, event_id: UUID, on: date, label: str
) -> None:
    """Count ``value`` of ``cost`` (already due on the date) in ``costs``, or list it as unconverted."""
    if cost.currency != bk.currency:
        text = unconverted_label(label, value, cost.currency, bk.currency)
        bk.unconverted.append(Amount(value, event_id, on, text, cost.category))
        return
    costs[cost.category] = costs.get(cost.category, Decimal(0)) + value
    bk.cost_count += 1
    bk.cost_evidence.append(Amount(value, event_id, on, label, cost.category))


def _apply(bk: ProjectBook, e: DomainEvent, fact: Fact, as_of: date, memory: _Memory) -> None:
    eid = fact.event_id
    recorded = fact.recorded_at.date()
    match e:
        case p.ProjectRegistered():
            bk.code, bk.name, bk.currency = e.code, e.name, e.currency
            bk.portfolio_id, bk.programme_id = e.portfolio_id, e.programme_id
            bk.planned_start, bk.planned_end = e.planned_start, e.planned_end
            bk.status, bk.registered_on = "proposed", recorded
        case p.ProjectApproved():
            if e.approved_on <= as_of:
                bk.status = "approved"
        case p.ProjectStarted():
            if e.started_on <= as_of:
                bk.status, bk.active_since = "active", e.started_on
        case p.ProjectPutOnHold():
            if e.on <= as_of:
                bk.status = "on_hold"
        case p.ProjectResumed():
            if e.on <= as_of:
                bk.status, bk.active_since = "active", e.on
        case p.ProjectCompleted():
            if e.completed_on <= as_of:
                bk.status = "completed"
        case p.ProjectTerminated():
            if e.on <= as_of:
                bk.status = "terminated"
        case p.MilestonePlanned():
            bk.milestones[e.milestone_id] = MilestoneBook(
                e.milestone_id, e.name, e.due_date, e.planned_value.amount, eid
            )
        case p.MilestoneRescheduled():
            bk.milestones[e.milestone_id].due_date = e.due_date
        case p.MilestoneProgressReported():
            if e.as_of <= as_of:
                m = bk.milestones[e.milestone_id]
                m.percent, m.progress_event = e.percent_complete, eid
        case p.MilestoneReached():
            if e.reached_on <= as_of:
                m = bk.milestones[e.milestone_id]
                m.reached_on, m.reached_event = e.reached_on, eid
        case p.MilestoneMissed():
            if e.due_date <= as_of:
                bk.milestones[e.milestone_id].missed = True
        case p.PerformanceBaselineApproved():
            bk.pmb = with_version(bk.pmb, pmb_version(e, eid))
        case p.StatusReported():
            if e.meeting_date <= as_of:
                bk.last_report_on = max(bk.last_report_on or e.meeting_date, e.meeting_date)
                bk.last_report_rag, bk.last_report_event = e.overall.value, eid
                bk.report_count += 1
        case p.KpiDefined():
            bk.kpis[e.kpi_id] = KpiBook(e.kpi_id, e.name, e.unit, e.target, e.direction.value, e.review_date)
        case p.KpiMeasured():
            if e.measured_on <= as_of and e.kpi_id in bk.kpis:
                kpi = bk.kpis[e.kpi_id]
                if kpi.latest is None or e.measured_on > kpi.latest[0]:
                    kpi.latest = (e.measured_on, e.value, e.target_met, eid)
                kpi.measured += 1
        case p.CommunicationLogged():
            if e.follow_up_due is not None and e.on <= as_of:
                bk.follow_ups[e.communication_id] = (e.follow_up_due, None, eid)
        case p.FollowUpClosed():
            if e.communication_id in bk.follow_ups and e.closed_on <= as_of:
                due, _, logged = bk.follow_ups[e.communication_id]
                bk.follow_ups[e.communication_id] = (due, e.closed_on, logged)
        case b.BudgetBaselined():
            bk.baseline = Amount(e.total.amount, eid, recorded, "baseline")
            bk.category_budgets = {c.category.value: c.amount.amount for c in e.categories}
        case b.BudgetChangeApproved():
            if recorded > as_of:
                return
            bk.changes_total += e.amount.amount
            bk.change_count += 1
            bk.change_evidence.append(Amount(e.amount.amount, eid, recorded, e.category.value))
            bk.category_budgets[e.category.value] = e.category_budget_after.amount
        case b.BudgetCommitted():
            if recorded > as_of:
                return
            if _unconvertible(bk, e.amount, e.booked):
                what = f"commitment {e.reference}"
                text = unconverted_label(what, e.amount.amount, e.amount.currency, bk.currency)
                bk.unconverted.append(Amount(e.amount.amount, eid, recorded, text, e.category.value))
                return
            amount, expected = booked_terms(
                e.amount.amount,
                [(x.on, x.amount.amount) for x in e.expected_invoices],
                None if e.booked is None else e.booked.amount.amount,
            )
            bk.commitments[e.commitment_id] = CommitmentBook(
                e.commitment_id, e.category.value, amount, expected, True, eid, e.reference
            )
        case b.CommitmentAdjusted():
            c = bk.commitments.get(e.commitment_id)
            if c is not None and recorded <= as_of:
                if _unconvertible(bk, e.amount, e.booked):
                    what = f"commitment {c.reference} adjusted"
                    text = unconverted_label(what, e.amount.amount, e.amount.currency, bk.currency)
                    bk.unconverted.append(Amount(e.amount.amount, eid, recorded, text, c.category))
                    return
                c.amount, c.expected = booked_terms(
                    e.amount.amount,
                    [(x.on, x.amount.amount) for x in e.expected_invoices],
                    None if e.booked is None else e.booked.amount.amount,
                )
        case b.CommitmentCancelled():
            if e.commitment_id in bk.commitments and recorded <= as_of:
                bk.commitments[e.commitment_id].active = False
        case b.FundingSecured() | b.FundingPlanned():
            planned = isinstance(e, b.FundingPlanned)
            on = e.expected_on if isinstance(e, b.FundingPlanned) else e.available_on
            known = bk.tranches.get(e.tranche_id)
            if planned and known is not None and not known.planned:
                return  # already secured: a plan for it changes nothing
            if _unconvertible(bk, e.amount, e.booked):
                what = f"{'planned' if planned else 'secured'} funding tranche {e.tranche_id}"
                text = unconverted_label(what, e.amount.amount, e.amount.currency, bk.currency)
                bk.unconverted.append(Amount(e.amount.amount, eid, on, text, "funding"))
                return
            amount = effective(e.amount, e.booked)[0]
            bk.tranches[e.tranche_id] = TrancheBook(e.tranche_id, amount, on, None, eid, planned)
        case b.FundingWithdrawn():
            if e.tranche_id in bk.tranches and e.withdrawn_on <= as_of:
                bk.tranches[e.tranche_id].withdrawn_on = e.withdrawn_on
        case b.FundingRescheduled():
            if e.tranche_id in bk.tranches:
                bk.tranches[e.tranche_id].available_on = e.available_on
        case b.EstimateToCompleteSubmitted():
            if e.as_of > as_of:
                return
            if bk.currency and e.total.currency != bk.currency:
                text = unconverted_label("estimate to complete", e.total.amount, e.total.currency, bk.currency)
                bk.unconverted.append(Amount(e.total.amount, eid, e.as_of, text, "estimate"))
                return
            bk.estimate = later_estimate(bk.estimate, estimate_of(e, eid))
        case r.WorkSheetApproved():
            if not bk.currency:
                return  # before the registration: no currency to count it in
            category = sheet_category(e.kind)
            memory.resource_categories[e.resource_id] = category
            if e.approved_on <= as_of:
                value, currency = effective(e.cost, e.booked)
                if currency == bk.currency:
                    memory.sheet_categories[e.sheet_id] = category
                label = f"work sheet {e.sheet_id} v{e.version}"
                _accrue(bk, bk.work_cost, _Cost(value, currency, category, label), value, eid, e.approved_on, label)
        case r.WorkSheetApprovalReversed():
            if bk.currency and e.reversed_on <= as_of:
                value, currency = effective(e.cost, e.booked)
                label = f"work sheet {e.sheet_id} v{e.version} reversed"
                if currency == bk.currency:
                    category = memory.sheet_categories.get(e.sheet_id, "labour")
                else:
                    category = memory.resource_categories.get(e.resource_id, "labour")
                cost = _Cost(value, currency, category, label)
                _accrue(bk, bk.work_cost, cost, -value, eid, e.reversed_on, label)
        case i.ExpenseClaimed():
            value, currency = effective(e.amount, e.booked)
            memory.claims[e.expense_id] = _Cost(value, currency, e.category.value, f"expense {e.expense_id}")
        case i.ExpenseApproved():
            claim = memory.claims.get(e.expense_id)
            if claim is not None and bk.currency and e.approved_on <= as_of:
                label = f"{claim.label} approved"
                _accrue(bk, bk.expense_cost, claim, claim.value, eid, e.approved_on, label)
        case i.ExpenseReimbursed():
            claim = memory.claims.get(e.expense_id)
            if claim is not None and claim.currency == bk.currency and e.paid_on <= as_of:
                bk.expenses_reimbursed += claim.value
        case i.GoodsReceived():
            value, currency = effective(e.amount, e.booked)
            receipt = memory.receipts[e.receipt_id] = _Cost(
                value, currency, e.category.value, f"goods receipt {e.receipt_id}"
            )
            if bk.currency and e.received_on <= as_of:
                _accrue(bk, bk.goods_cost, receipt, value, eid, e.received_on, receipt.label)
        case i.GoodsReceiptReversed():
            kept = memory.receipts.get(e.receipt_id)
            if kept is None or kept.reversed:
                return
            kept.reversed = True
            if bk.currency and e.reversed_on <= as_of:
                label = f"{kept.label} reversed"
                _accrue(bk, bk.goods_cost, kept, -kept.value, eid, e.reversed_on, label)
        case i.InvoiceReceived():
            if e.received_on <= as_of and bk.currency:
                if e.currency != bk.currency and (e.booked is None or e.booked.amount.currency != bk.currency):
                    what = f"invoice {e.vendor} {e.number}"
                    text = unconverted_label(what, e.net.amount, e.currency, bk.currency)
                    bk.unconverted.append(Amount(e.net.amount, eid, e.received_on, text, "invoice"))
                    return
                bk.invoices[e.invoice_id] = received_invoice(
                    e.invoice_id,
                    e.vendor,
                    e.number,
                    e.due_on,
                    e.net.amount,
                    e.total.amount,
                    eid,
                    e.commitment_reference,
                    e.currency,
                    None if e.booked is None or e.currency == bk.currency else (e.booked.amount.amount, e.booked.rate),
                )
        case i.InvoiceMatched() | i.InvoiceMismatched():
            inv = bk.invoices.get(e.invoice_id)
            if inv is not None and recorded <= as_of:
                inv.backed, inv.match_event = e.backed.amount, eid
                inv.matched = isinstance(e, i.InvoiceMatched)
                inv.checks = tuple(d.check.value for d in getattr(e, "discrepancies", []))
                if inv.status in ("received", "matched", "mismatched"):
                    inv.status = "matched" if inv.matched else "mismatched"
        case i.InvoiceApproved():
            inv = bk.invoices.get(e.invoice_id)
            if inv is not None and recorded <= as_of:
                inv.status, inv.approved_on, inv.approved_event = "approved", recorded, eid
        case i.InvoiceDisputed() | i.InvoiceRejected():
            inv = bk.invoices.get(e.invoice_id)
            if inv is not None and recorded <= as_of:
                inv.status = "disputed" if isinstance(e, i.InvoiceDisputed) else "rejected"
        case i.CreditNoteReceived():
            inv = bk.invoices.get(e.invoice_id)
            if inv is not None and e.issued_on <= as_of:
                inv.credited_net += inv.converted(e.net.amount)
        case i.InvoicePaid():
            inv = bk.invoices.get(e.invoice_id)
            if inv is not None and e.paid_on <= as_of:
                inv.record_payment(e.amount.amount, e.total_paid.amount, e.fully_paid, eid)
        case r.ResourceAllocated() | r.AllocationChanged() | r.AllocationEnded():
            over = [(week.week, week.over_hours) for week in e.over_allocation]
            apply_allocation(bk, e.resource_id, e.weeks_from, e.weeks_to, over, eid)


def _unconvertible(bk: ProjectBook, amount: Money, booked: Booking | None) -> bool:
    """An amount in another currency than the (registered) project's, without a booking in it."""
    if not bk.currency:
        return False  # before the registration: taken as it is (as it always was)
    return effective(amount, booked)[1] != bk.currency


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
