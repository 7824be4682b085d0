"""Folding a project's facts (events from every service, in the order they were recorded) into its books on a
given date.

"As of D" is effective-dated, with everything known now (corrections included): each fact counts from its business
date when it has one (a milestone is planned value once due, progress from its ``as_of`` date, a reached milestone
from its ``reached_on``, a work sheet's cost from its approval date, a tranche from its availability date, a status
change from its date, a status report from its meeting), else from the day it was recorded (approved budget
changes, commitments). The project's identity, its milestone plan and its budget baseline hold at every date. What
was *known* at a moment is what gate decisions keep in their snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from shared.contracts import budget as b
from shared.contracts import invoicing as i
from shared.contracts import projects as p
from shared.contracts import resources as r
from shared.events import DomainEvent, EventRegistry

REGISTRIES: dict[str, EventRegistry] = {
    "projects": p.REGISTRY,
    "budget": b.REGISTRY,
    "resources": r.REGISTRY,
    "invoicing": i.REGISTRY,
}


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
    """A supplier invoice as reporting sees it: amounts before tax (costs exclude recoverable tax)."""

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

    @property
    def live(self) -> bool:
        return self.status != "rejected"

    @property
    def unbacked_cost(self) -> Decimal:
        """The part of an approved invoice not already counted through approved work sheets."""
        return max(self.net - self.credited_net - (self.backed or Decimal(0)), Decimal(0))


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
    cost_count: int = 0
    cost_evidence: list[Amount] = field(default_factory=list)
    """The work sheets behind ``work_cost``: all of them from the ledger, the latest ones from the books."""
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

    @property
    def actual_cost(self) -> Decimal:
        """Approved work-sheet cost (minus reversals)."""
        return sum(self.work_cost.values(), Decimal(0))

    def actual_by_category(self) -> dict[str, Decimal]:
        """Actual cost per budget category: people's work is labour, subcontractors' subcontracting, and invoices
        beyond the work they cite go to their commitment's category."""
        out: dict[str, Decimal] = dict(self.work_cost)
        by_reference = {c.reference: c.category for c in self.commitments.values()}
        for x in self.invoices.values():
            if x.live and x.approved_event is not None and x.unbacked_cost > 0:
                category = by_reference.get(x.commitment_reference, "subcontracting")
                out[category] = out.get(category, Decimal(0)) + x.unbacked_cost
        return out


def end_of(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


def book(project_id: UUID, facts: Iterable[Fact], as_of: date) -> ProjectBook:
    """The project's books on ``as_of`` (see the module docstring)."""
    books = ProjectBook(project_id=project_id)
    sheet_categories: dict[UUID, str] = {}
    for fact in facts:
        event = fact.decode()
        if event is not None:
            _apply(books, event, fact, as_of, sheet_categories)
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


def _apply(bk: ProjectBook, e: DomainEvent, fact: Fact, as_of: date, sheet_categories: dict[UUID, str]) -> None:
    eid = fact.event_id
    match e:
        case p.ProjectRegistered():
            bk.code, bk.name, bk.currency = e.code, e.name, e.currency
            bk.portfolio_id, bk.programme_id = e.portfolio_id, e.programme_id
            bk.planned_start, bk.planned_end = e.planned_start, e.planned_end
            bk.status, bk.registered_on = "proposed", fact.recorded_at.date()
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
            bk.baseline = Amount(e.total.amount, eid, fact.recorded_at.date(), "baseline")
            bk.category_budgets = {c.category.value: c.amount.amount for c in e.categories}
        case b.BudgetChangeApproved():
            if fact.recorded_at.date() > as_of:
                return
            bk.changes_total += e.amount.amount
            bk.change_count += 1
            bk.change_evidence.append(Amount(e.amount.amount, eid, fact.recorded_at.date(), e.category.value))
            bk.category_budgets[e.category.value] = e.category_budget_after.amount
        case b.BudgetCommitted():
            if fact.recorded_at.date() > as_of:
                return
            bk.commitments[e.commitment_id] = CommitmentBook(
                e.commitment_id,
                e.category.value,
                e.amount.amount,
                [(x.on, x.amount.amount) for x in e.expected_invoices],
                True,
                eid,
                e.reference,
            )
        case b.CommitmentAdjusted():
            c = bk.commitments.get(e.commitment_id)
            if c is not None and fact.recorded_at.date() <= as_of:
                c.amount, c.expected = e.amount.amount, [(x.on, x.amount.amount) for x in e.expected_invoices]
        case b.CommitmentCancelled():
            if e.commitment_id in bk.commitments and fact.recorded_at.date() <= as_of:
                bk.commitments[e.commitment_id].active = False
        case b.FundingSecured():
            bk.tranches[e.tranche_id] = TrancheBook(e.tranche_id, e.amount.amount, e.available_on, None, eid)
        case b.FundingWithdrawn():
            if e.tranche_id in bk.tranches and e.withdrawn_on <= as_of:
                bk.tranches[e.tranche_id].withdrawn_on = e.withdrawn_on
        case b.FundingRescheduled():
            if e.tranche_id in bk.tranches:
                bk.tranches[e.tranche_id].available_on = e.available_on
        case r.WorkSheetApproved():
            if e.approved_on <= as_of and e.cost.currency == bk.currency:  # never mix currencies in AC
                category = "subcontracting" if e.kind is r.ResourceKind.SUBCONTRACTOR else "labour"
                sheet_categories[e.sheet_id] = category
                bk.work_cost[category] = bk.work_cost.get(category, Decimal(0)) + e.cost.amount
                bk.cost_count += 1
                bk.cost_evidence.append(
                    Amount(e.cost.amount, eid, e.approved_on, f"work sheet {e.sheet_id} v{e.version}", category)
                )
        case r.WorkSheetApprovalReversed():
            if e.reversed_on <= as_of and e.cost.currency == bk.currency:
                label = f"work sheet {e.sheet_id} v{e.version} reversed"
                category = sheet_categories.get(e.sheet_id, "labour")
                bk.work_cost[category] = bk.work_cost.get(category, Decimal(0)) - e.cost.amount
                bk.cost_count += 1
                bk.cost_evidence.append(Amount(-e.cost.amount, eid, e.reversed_on, label, category))
        case i.InvoiceReceived():
            if e.received_on <= as_of and e.currency == bk.currency:
                bk.invoices[e.invoice_id] = InvoiceBook(
                    e.invoice_id,
                    e.vendor,
                    e.number,
                    e.due_on,
                    e.net.amount,
                    e.total.amount,
                    eid,
                    e.commitment_reference,
                )
        case i.InvoiceMatched() | i.InvoiceMismatched():
            inv = bk.invoices.get(e.invoice_id)
            if inv is not None and fact.recorded_at.date() <= as_of:
                inv.backed, inv.match_event = e.backed.amount, eid
                inv.matched = isinstance(e, i.InvoiceMatched)
                inv.checks = tuple(d.check.value for d in getattr(e, "discrepancies", []))
                if inv.status in ("received", "matched", "mismatched"):
                    inv.status = "matched" if inv.matched else "mismatched"
        case i.InvoiceApproved():
            inv = bk.invoices.get(e.invoice_id)
            if inv is not None and fact.recorded_at.date() <= as_of:
                inv.status, inv.approved_on, inv.approved_event = "approved", fact.recorded_at.date(), eid
        case i.InvoiceDisputed() | i.InvoiceRejected():
            inv = bk.invoices.get(e.invoice_id)
            if inv is not None and fact.recorded_at.date() <= as_of:
                inv.status = "disputed" if isinstance(e, i.InvoiceDisputed) else "rejected"
        case i.CreditNoteReceived():
            inv = bk.invoices.get(e.invoice_id)
            if inv is not None and e.issued_on <= as_of:
                inv.credited_net += e.net.amount
        case i.InvoicePaid():
            inv = bk.invoices.get(e.invoice_id)
            if inv is not None and e.paid_on <= as_of:
                inv.paid, inv.fully_paid, inv.paid_event = e.total_paid.amount, e.fully_paid, eid
                inv.status = "paid" if e.fully_paid else "partly_paid"
        case r.ResourceAllocated() | r.AllocationChanged() | r.AllocationEnded():
            over = [(week.week, week.over_hours) for week in e.over_allocation]
            apply_allocation(bk, e.resource_id, e.weeks_from, e.weeks_to, over, eid)
