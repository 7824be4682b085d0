"""The reference fold: a project's facts, in the order they were recorded, folded into its books on a date (the
rules: :mod:`reporting.domain.ledger`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from uuid import UUID

from reporting.domain.ledger.baselines import estimate_of, later_estimate, pmb_version, with_version
from reporting.domain.ledger.costs import booked_terms, effective, sheet_category, unconverted_label
from reporting.domain.ledger.entities import (
    Amount,
    CommitmentBook,
    KpiBook,
    MilestoneBook,
    TrancheBook,
    received_invoice,
)
from reporting.domain.ledger.facts import Fact
from reporting.domain.ledger.project import ProjectBook, apply_allocation
from shared.contracts import budget as b
from shared.contracts import invoicing as i
from shared.contracts import project_edits as pe
from shared.contracts import projects as p
from shared.contracts import resources as r
from shared.contracts.common import Booking
from shared.events import DomainEvent
from shared.money import Money


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
        case pe.MilestoneValueChangeApproved():
            if e.approved_on <= as_of and e.milestone_id in bk.milestones:
                m = bk.milestones[e.milestone_id]
                m.planned_value, m.planned_event = e.planned_value.amount, eid
        case pe.ProjectDetailsChanged():
            bk.name = e.name
        case pe.ProjectMoved():
            bk.portfolio_id, bk.programme_id = e.portfolio_id, e.programme_id
        case pe.KpiRevised():
            if e.kpi_id in bk.kpis:
                bk.kpis[e.kpi_id].target, bk.kpis[e.kpi_id].review_date = e.target, e.review_date
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
