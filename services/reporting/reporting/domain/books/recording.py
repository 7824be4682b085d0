"""Recording a fact in the books (:meth:`Books.apply`): the row each kind of event adds to its component, the costs
added to the cumulative sums (or kept pending until the project's registration arrives)."""

from __future__ import annotations

from bisect import insort
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from reporting.domain.books.costs import CASH, EXPENSE, GOODS, REIMBURSED, accumulate
from reporting.domain.books.keys import Key, Row
from reporting.domain.ledger import Fact, effective, sheet_category
from shared.contracts import budget as b
from shared.contracts import invoicing as i
from shared.contracts import project_edits as pe
from shared.contracts import projects as p
from shared.contracts import resources as r
from shared.contracts.common import Booking
from shared.events import DomainEvent
from shared.money import Money

if TYPE_CHECKING:
    from reporting.domain.books.book import Books


def record(books: Books, e: DomainEvent, fact: Fact, key: Key, recorded: date) -> None:
    """Keep what the books need of ``e`` (the event of ``fact``, of order key ``key``, recorded on ``recorded``) in its
    component."""
    eid = fact.event_id
    extra: Any
    row: Row
    match e:
        case p.ProjectRegistered():
            extra = {
                "code": e.code,
                "name": e.name,
                "currency": e.currency,
                "portfolio_id": e.portfolio_id,
                "programme_id": e.programme_id,
                "planned_start": e.planned_start.isoformat(),
                "planned_end": e.planned_end.isoformat(),
            }
            insort(books.registrations, (key, "registered", recorded, None, eid, extra))
            _release_pending(books)
        case p.ProjectApproved():
            insort(books.lifecycle, (key, "approved", e.approved_on, None, eid, None))
        case p.ProjectStarted():
            insort(books.lifecycle, (key, "started", e.started_on, None, eid, None))
        case p.ProjectPutOnHold():
            insort(books.lifecycle, (key, "on_hold", e.on, None, eid, None))
        case p.ProjectResumed():
            insort(books.lifecycle, (key, "resumed", e.on, None, eid, None))
        case p.ProjectCompleted():
            insort(books.lifecycle, (key, "completed", e.completed_on, None, eid, None))
        case p.ProjectTerminated():
            insort(books.lifecycle, (key, "terminated", e.on, None, eid, None))
        case p.MilestonePlanned():
            row = (key, "planned", e.due_date, e.planned_value.amount, eid, e.name)
            _entity(books.milestones, e.milestone_id, row)
        case p.MilestoneRescheduled():
            _entity(books.milestones, e.milestone_id, (key, "rescheduled", e.due_date, None, eid, None))
        case pe.MilestoneValueChangeApproved():
            row = (key, "revalued", e.approved_on, e.planned_value.amount, eid, None)
            _entity(books.milestones, e.milestone_id, row)
        case pe.ProjectDetailsChanged():
            insort(books.lifecycle, (key, "renamed", recorded, None, eid, e.name))
        case pe.ProjectMoved():
            insort(books.lifecycle, (key, "moved", recorded, None, eid, [e.portfolio_id, e.programme_id]))
        case pe.KpiRevised():
            _entity(books.kpis, e.kpi_id, (key, "revised", None, e.target, eid, e.review_date.isoformat()))
        case p.MilestoneProgressReported():
            row = (key, "progress", e.as_of, e.percent_complete, eid, None)
            _entity(books.milestones, e.milestone_id, row)
        case p.MilestoneReached():
            _entity(books.milestones, e.milestone_id, (key, "reached", e.reached_on, None, eid, None))
        case p.MilestoneMissed():
            _entity(books.milestones, e.milestone_id, (key, "missed", e.due_date, None, eid, None))
        case p.PerformanceBaselineApproved():
            extra = {
                "version": e.version,
                "reserve": str(e.management_reserve.amount),
                "items": [
                    [
                        str(x.milestone_id),
                        x.name,
                        str(x.budget.amount),
                        x.start.isoformat(),
                        x.due.isoformat(),
                        x.technique.value,
                        [[s.on.isoformat(), str(s.weight)] for s in x.steps],
                        [[m.month, str(m.amount.amount)] for m in x.months],
                    ]
                    for x in e.items
                ],
            }
            insort(books.pmb, (key, "pmb", e.effective_on, e.total.amount, eid, extra))
        case p.StatusReported():
            insort(books.reports, (e.meeting_date, key, e.overall.value, eid))
            books.latest_reports = None
        case p.KpiDefined():
            extra = [e.name, e.unit, e.direction.value, e.review_date.isoformat()]
            _entity(books.kpis, e.kpi_id, (key, "defined", None, e.target, eid, extra))
        case p.KpiMeasured():
            _entity(books.kpis, e.kpi_id, (key, "measured", e.measured_on, e.value, eid, e.target_met))
        case p.CommunicationLogged():
            if e.follow_up_due is not None:
                row = (key, "logged", e.on, None, eid, e.follow_up_due.isoformat())
                _entity(books.follow_ups, e.communication_id, row)
        case p.FollowUpClosed():
            _entity(books.follow_ups, e.communication_id, (key, "closed", e.closed_on, None, eid, None))
        case b.BudgetBaselined():
            categories = [[c.category.value, str(c.amount.amount)] for c in e.categories]
            insort(books.budget, (key, "baseline", recorded, e.total.amount, eid, categories))
        case b.BudgetChangeApproved():
            extra = [e.category.value, str(e.category_budget_after.amount)]
            insort(books.budget, (key, "change", recorded, e.amount.amount, eid, extra))
        case b.BudgetCommitted():
            extra = {
                "category": e.category.value,
                "reference": e.reference,
                "expected": [[x.on.isoformat(), str(x.amount.amount)] for x in e.expected_invoices],
                **_booking(e.amount, e.booked),
            }
            _entity(books.commitments, e.commitment_id, (key, "committed", recorded, e.amount.amount, eid, extra))
        case b.CommitmentAdjusted():
            extra = {
                "expected": [[x.on.isoformat(), str(x.amount.amount)] for x in e.expected_invoices],
                **_booking(e.amount, e.booked),
            }
            row = (key, "adjusted", recorded, e.amount.amount, eid, extra)
            _entity(books.commitments, e.commitment_id, row)
        case b.CommitmentCancelled():
            _entity(books.commitments, e.commitment_id, (key, "cancelled", recorded, None, eid, None))
        case b.FundingSecured():
            row = (key, "secured", e.available_on, e.amount.amount, eid, _booking(e.amount, e.booked))
            _entity(books.tranches, e.tranche_id, row)
        case b.FundingPlanned():
            row = (key, "planned", e.expected_on, e.amount.amount, eid, _booking(e.amount, e.booked))
            _entity(books.tranches, e.tranche_id, row)
        case b.EstimateToCompleteSubmitted():
            extra = {
                "currency": e.total.currency,
                "categories": [[c.category.value, str(c.amount.amount)] for c in e.categories],
                "months": [[m.month, str(m.amount.amount)] for m in e.months],
                "by": e.submitted_by,
            }
            insort(books.estimates, (key, "estimate", e.as_of, e.total.amount, eid, extra))
        case b.FundingWithdrawn():
            _entity(books.tranches, e.tranche_id, (key, "withdrawn", e.withdrawn_on, None, eid, None))
        case b.FundingRescheduled():
            _entity(books.tranches, e.tranche_id, (key, "rescheduled", e.available_on, None, eid, None))
        case r.WorkSheetApproved():
            value, currency = effective(e.cost, e.booked)
            label = f"work sheet {e.sheet_id} v{e.version}"
            extra = [currency, label, str(e.resource_id)]
            _cost(books, (key, sheet_category(e.kind), e.approved_on, value, eid, extra))
        case r.WorkSheetApprovalReversed():
            value, currency = effective(e.cost, e.booked)
            label = f"work sheet {e.sheet_id} v{e.version} reversed"
            extra = [currency, label, str(e.resource_id)]
            _cost(books, (key, "reversal", e.reversed_on, -value, eid, extra))
        case i.ExpenseClaimed():
            value, currency = effective(e.amount, e.booked)
            books.claims[str(e.expense_id)] = [str(value), currency, e.category.value, f"expense {e.expense_id}"]
        case i.ExpenseApproved():
            claim = books.claims.get(str(e.expense_id))
            if claim is not None:
                claimed, currency, category, label = claim
                extra = [currency, f"{label} approved", ""]
                _cost(books, (key, EXPENSE + category, e.approved_on, Decimal(claimed), eid, extra))
        case i.ExpenseReimbursed():
            claim = books.claims.get(str(e.expense_id))
            if claim is not None:
                claimed, currency, _, label = claim
                extra = [currency, f"{label} reimbursed", ""]
                _cost(books, (key, REIMBURSED, e.paid_on, Decimal(claimed), eid, extra))
        case i.GoodsReceived():
            value, currency = effective(e.amount, e.booked)
            label = f"goods receipt {e.receipt_id}"
            books.receipts[str(e.receipt_id)] = [str(value), currency, e.category.value, label, False]
            _cost(books, (key, GOODS + e.category.value, e.received_on, value, eid, [currency, label, ""]))
        case i.GoodsReceiptReversed():
            kept = books.receipts.get(str(e.receipt_id))
            if kept is not None and not kept[4]:
                kept[4] = True
                extra = [kept[1], f"{kept[3]} reversed", ""]
                _cost(books, (key, GOODS + kept[2], e.reversed_on, -Decimal(kept[0]), eid, extra))
        case i.InvoiceReceived():
            extra = {
                "currency": e.currency,
                "vendor": e.vendor,
                "number": e.number,
                "due_on": e.due_on.isoformat(),
                "total": str(e.total.amount),
                "reference": e.commitment_reference,
                "booked": None
                if e.booked is None
                else [str(e.booked.amount.amount), e.booked.amount.currency, str(e.booked.rate)],
            }
            _entity(books.invoices, e.invoice_id, (key, "received", e.received_on, e.net.amount, eid, extra))
        case i.InvoiceMatched() | i.InvoiceMismatched():
            checks = [d.check.value for d in getattr(e, "discrepancies", [])]
            extra = [isinstance(e, i.InvoiceMatched), checks]
            _entity(books.invoices, e.invoice_id, (key, "matched", recorded, e.backed.amount, eid, extra))
        case i.InvoiceApproved():
            _entity(books.invoices, e.invoice_id, (key, "approved", recorded, None, eid, None))
        case i.InvoiceDisputed():
            _entity(books.invoices, e.invoice_id, (key, "disputed", recorded, None, eid, None))
        case i.InvoiceRejected():
            _entity(books.invoices, e.invoice_id, (key, "rejected", recorded, None, eid, None))
        case i.CreditNoteReceived():
            _entity(books.invoices, e.invoice_id, (key, "credit", e.issued_on, e.net.amount, eid, None))
        case i.InvoicePaid():
            row = (key, "paid", e.paid_on, e.total_paid.amount, eid, [e.fully_paid, str(e.amount.amount)])
            _entity(books.invoices, e.invoice_id, row)
        case r.ResourceAllocated() | r.AllocationChanged() | r.AllocationEnded():
            extra = {
                "resource": str(e.resource_id),
                "from": None if e.weeks_from is None else e.weeks_from.isoformat(),
                "to": None if e.weeks_to is None else e.weeks_to.isoformat(),
                "over": [[w.week, str(w.over_hours)] for w in e.over_allocation],
            }
            insort(books.allocations, (key, "allocation", None, None, eid, extra))


def _entity(entities: dict[str, list[Row]], entity_id: UUID, row: Row) -> None:
    insort(entities.setdefault(str(entity_id), []), row)


def _cost(books: Books, row: Row) -> None:
    """Add a cost to the cumulative sums of its currency (one in another currency than the project's: listed as
    foreign; one recorded before the first registration: pending)."""
    first = books.first_registration()
    if first is None or row[0] < first:
        insort(books.pending, row)  # the ledger has no currency for it (yet)
        return
    key, category, day, amount, eid, (currency, label, resource) = row
    assert day is not None and amount is not None and eid is not None  # built so in record
    if category == "reversal":  # its sheet's category, known from an approval (or labour)
        category = books.resource_categories.get(resource, "labour")
    elif resource:
        books.resource_categories[resource] = category
    cash = category.startswith(CASH)
    if currency != books.registrations[-1][5]["currency"]:
        if not cash:  # listed, never added (the cash side of an unconverted expense is not listed twice)
            insort(books.foreign, (key, category, day, amount, eid, [currency, label]))
        return
    accumulate(books.costs.setdefault(currency, []), category, day, amount, eid, key)


def _release_pending(books: Books) -> None:
    first = books.first_registration()
    assert first is not None
    waiting, books.pending = books.pending, []
    for row in waiting:
        _cost(books, row) if row[0] > first else books.pending.append(row)


def _booking(amount: Money, booked: Booking | None) -> dict[str, Any]:
    """An amount's currencies and booking as an entity's row keeps them (the row's amount: as entered)."""
    return {
        "currency": effective(amount, booked)[1],
        "entered": amount.currency,
        "booked": None if booked is None else str(booked.amount.amount),
    }
