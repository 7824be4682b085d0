"""A project's books on a date (:class:`ProjectBook`): its identity, budget, costs, entities and baselines, and
the figures read from them (actual cost by kind and category, cash cost, funding available)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from uuid import UUID

from reporting.domain.ledger.baselines import EstimateBook, PmbVersion
from reporting.domain.ledger.entities import (
    Amount,
    CommitmentBook,
    InvoiceBook,
    KpiBook,
    MilestoneBook,
    TrancheBook,
)


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
        """Cost paid by the date (cash basis, see :mod:`reporting.domain.ledger`)."""
        paid = sum((x.paid_net for x in self.invoices.values()), Decimal(0))
        return paid + self.expenses_reimbursed + self.work_cost.get("labour", Decimal(0))


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
