"""A project's books kept as its facts arrive, readable as of any date without refolding its history.

:class:`Books` takes the project's facts one at a time (:meth:`Books.apply`) and answers :meth:`Books.at`: the
:class:`~reporting.domain.ledger.ProjectBook` of a business date, with the same figures as
:func:`reporting.domain.ledger.book` over the same facts. The ledger's fold stays the reference (and the path that
lists every event behind a figure); the books are what reports read.

What is kept, per component:

* amounts that only add up (approved work-sheet cost and its reversals, approved expenses, goods received and their
  reversals, expenses reimbursed): cumulative sums per currency and kind of cost and category (``labour``,
  ``expense:travel``, ``goods:materials``, ``cash:expense``) by effective date (``at`` bisects for the date), with
  the latest few event ids of each day as evidence; their number grows with the calendar, not with the facts. An
  expense's approval and reimbursement and a receipt's reversal take the amount and category of their claim or
  receipt (``claims``, ``receipts``: one short entry each; the same service publishes both, in order);
* amounts in another currency than the project's without a booking (``foreign``): kept as they came (rare), listed
  by ``at`` as unconverted;
* entities (milestones, commitments, funding tranches, invoices, KPIs, follow-ups): their versions, each with its
  order key and effective date, folded by ``at`` in the ledger's order; they are bounded by the entity's life;
* the project's registrations, lifecycle transitions, budget baselines and approved changes, approved performance
  baselines, estimates to complete, allocation checks: few, folded by ``at`` in the ledger's order;
* status reports: sorted by meeting date, with the latest recorded one per prefix (``at`` bisects).

Order: the ledger folds a project's facts by (recorded time, producing service, position), the position being the
order the facts were stored in. Each fact here gets the key (recorded time in microseconds, the service's rank, its
place among that service's facts), and every component is kept sorted by that key, so the books do not depend on
the order facts arrive in (facts of one project come from four topics, one partition each, and a batch of one topic
may be applied before an earlier-recorded batch of another): a live consumer and a replay store the same books. Costs
recorded before the project's registration (which the ledger ignores: no currency yet) wait in ``pending`` until a
registration recorded before them arrives.

Known difference: the ledger counts a cost or an invoice in the currency of the registration in force when it was
recorded; the books in the currency of the latest registration. They differ only for a project registered twice in
two currencies, which the projects service refuses.
"""

from __future__ import annotations

import json
from bisect import bisect_right, insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from reporting.domain.ledger import (
    Amount,
    CommitmentBook,
    EstimateBook,
    Fact,
    InvoiceBook,
    KpiBook,
    MilestoneBook,
    PmbItem,
    PmbVersion,
    ProjectBook,
    TrancheBook,
    apply_allocation,
    booked_terms,
    effective,
    later_estimate,
    received_invoice,
    sheet_category,
    unconverted_label,
    with_version,
)
from shared.contracts import budget as b
from shared.contracts import invoicing as i
from shared.contracts import projects as p
from shared.contracts import resources as r
from shared.contracts.common import Booking
from shared.events import DomainEvent
from shared.money import Money

EVIDENCE = 20
"""Events kept behind a summed figure (the latest ones); the explain endpoint folds the ledger to list them all."""
EVIDENCE_PER_DAY = 5
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Key = tuple[int, int, int]
Row = tuple[Key, str, date | None, Decimal | None, UUID | None, Any]
"""One fact as a component keeps it: order key, kind, effective date, amount, event id, other fields (JSON)."""
ReportRow = tuple[date, Key, str, UUID]
"""A status report: meeting date, order key, overall RAG, event id."""


SERVICE_RANK = {"budget": 0, "invoicing": 1, "projects": 2, "resources": 3}
"""Facts recorded at the same microsecond by different services are taken in this order (the ledger's too:
``ORDER BY recorded_at, service, position``), so the books do not depend on how the topics interleaved."""


def _micros(t: datetime) -> int:
    return (t - EPOCH) // timedelta(microseconds=1)


CostDay = list[Any]
"""Approved cost up to and including a day, kept as read from JSON (decoded only where ``at`` needs it):
``[day (ISO), {kind and category: cumulative amount}, cumulative count, [[event id, amount, kind], ...] (the day's
latest)]``."""
EXPENSE, GOODS, CASH = "expense:", "goods:", "cash:"
"""Prefixes of the cumulative sums of approved expenses, goods received and cash paid (work sheets: none)."""
REIMBURSED = CASH + "expense"


@dataclass
class Books:
    """One project's books (see the module docstring). ``apply`` facts, read ``at`` any date."""

    project_id: UUID
    per_service: dict[str, int] = field(default_factory=dict)
    """Facts applied per producing service: a fact's place among its own service's facts (their topic's order)."""
    registrations: list[Row] = field(default_factory=list)
    lifecycle: list[Row] = field(default_factory=list)
    budget: list[Row] = field(default_factory=list)
    allocations: list[Row] = field(default_factory=list)
    milestones: dict[str, list[Row]] = field(default_factory=dict)
    kpis: dict[str, list[Row]] = field(default_factory=dict)
    follow_ups: dict[str, list[Row]] = field(default_factory=dict)
    commitments: dict[str, list[Row]] = field(default_factory=dict)
    tranches: dict[str, list[Row]] = field(default_factory=dict)
    invoices: dict[str, list[Row]] = field(default_factory=dict)
    reports: list[ReportRow] = field(default_factory=list)
    """Status reports sorted by (meeting date, key)."""
    costs: dict[str, list[CostDay]] = field(default_factory=dict)
    pending: list[Row] = field(default_factory=list)
    resource_categories: dict[str, str] = field(default_factory=dict)
    pmb: list[Row] = field(default_factory=list)
    estimates: list[Row] = field(default_factory=list)
    foreign: list[Row] = field(default_factory=list)
    """Costs in another currency than the project's without a booking (listed, never added)."""
    claims: dict[str, list[str]] = field(default_factory=dict)
    """Expense claims: ``[amount, currency (booked, else entered), category, label]``."""
    receipts: dict[str, list[Any]] = field(default_factory=dict)
    """Goods receipts: ``[amount, currency, category, label, reversed]``."""
    _latest_report: list[int] | None = field(default=None, compare=False, repr=False)

    @property
    def count(self) -> int:
        """Facts applied (the books' version: it only grows)."""
        return sum(self.per_service.values())

    # ---- building -------------------------------------------------------------------------------------------------

    @classmethod
    def of(cls, project_id: UUID, facts: Iterable[Fact]) -> Books:
        """The books of ``facts`` (in the ledger's order)."""
        books = cls(project_id)
        for fact in facts:
            books.apply(fact)
        return books

    def apply(self, fact: Fact, event: DomainEvent | None = None) -> None:
        """Take one fact (``event``: its decoded contract, when the caller has it). Facts of other versions or
        types this version does not know are counted and otherwise ignored, as the ledger ignores them."""
        if event is None:
            event = fact.decode()
        seq = self.per_service.get(fact.service, 0)
        key: Key = (_micros(fact.recorded_at), SERVICE_RANK.get(fact.service, len(SERVICE_RANK)), seq)
        self.per_service[fact.service] = seq + 1
        if event is not None:
            self._apply(event, fact, key, fact.recorded_at.date())

    def _apply(self, e: DomainEvent, fact: Fact, key: Key, recorded: date) -> None:
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
                insort(self.registrations, (key, "registered", recorded, None, eid, extra))
                self._release_pending()
            case p.ProjectApproved():
                insort(self.lifecycle, (key, "approved", e.approved_on, None, eid, None))
            case p.ProjectStarted():
                insort(self.lifecycle, (key, "started", e.started_on, None, eid, None))
            case p.ProjectPutOnHold():
                insort(self.lifecycle, (key, "on_hold", e.on, None, eid, None))
            case p.ProjectResumed():
                insort(self.lifecycle, (key, "resumed", e.on, None, eid, None))
            case p.ProjectCompleted():
                insort(self.lifecycle, (key, "completed", e.completed_on, None, eid, None))
            case p.ProjectTerminated():
                insort(self.lifecycle, (key, "terminated", e.on, None, eid, None))
            case p.MilestonePlanned():
                row = (key, "planned", e.due_date, e.planned_value.amount, eid, e.name)
                self._entity(self.milestones, e.milestone_id, row)
            case p.MilestoneRescheduled():
                self._entity(self.milestones, e.milestone_id, (key, "rescheduled", e.due_date, None, eid, None))
            case p.MilestoneProgressReported():
                row = (key, "progress", e.as_of, e.percent_complete, eid, None)
                self._entity(self.milestones, e.milestone_id, row)
            case p.MilestoneReached():
                self._entity(self.milestones, e.milestone_id, (key, "reached", e.reached_on, None, eid, None))
            case p.MilestoneMissed():
                self._entity(self.milestones, e.milestone_id, (key, "missed", e.due_date, None, eid, None))
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
                insort(self.pmb, (key, "pmb", e.effective_on, e.total.amount, eid, extra))
            case p.StatusReported():
                insort(self.reports, (e.meeting_date, key, e.overall.value, eid))
                self._latest_report = None
            case p.KpiDefined():
                extra = [e.name, e.unit, e.direction.value, e.review_date.isoformat()]
                self._entity(self.kpis, e.kpi_id, (key, "defined", None, e.target, eid, extra))
            case p.KpiMeasured():
                self._entity(self.kpis, e.kpi_id, (key, "measured", e.measured_on, e.value, eid, e.target_met))
            case p.CommunicationLogged():
                if e.follow_up_due is not None:
                    row = (key, "logged", e.on, None, eid, e.follow_up_due.isoformat())
                    self._entity(self.follow_ups, e.communication_id, row)
            case p.FollowUpClosed():
                self._entity(self.follow_ups, e.communication_id, (key, "closed", e.closed_on, None, eid, None))
            case b.BudgetBaselined():
                categories = [[c.category.value, str(c.amount.amount)] for c in e.categories]
                insort(self.budget, (key, "baseline", recorded, e.total.amount, eid, categories))
            case b.BudgetChangeApproved():
                extra = [e.category.value, str(e.category_budget_after.amount)]
                insort(self.budget, (key, "change", recorded, e.amount.amount, eid, extra))
            case b.BudgetCommitted():
                extra = {
                    "category": e.category.value,
                    "reference": e.reference,
                    "expected": [[x.on.isoformat(), str(x.amount.amount)] for x in e.expected_invoices],
                    **_booking(e.amount, e.booked),
                }
                self._entity(
                    self.commitments, e.commitment_id, (key, "committed", recorded, e.amount.amount, eid, extra)
                )
            case b.CommitmentAdjusted():
                extra = {
                    "expected": [[x.on.isoformat(), str(x.amount.amount)] for x in e.expected_invoices],
                    **_booking(e.amount, e.booked),
                }
                row = (key, "adjusted", recorded, e.amount.amount, eid, extra)
                self._entity(self.commitments, e.commitment_id, row)
            case b.CommitmentCancelled():
                self._entity(self.commitments, e.commitment_id, (key, "cancelled", recorded, None, eid, None))
            case b.FundingSecured():
                row = (key, "secured", e.available_on, e.amount.amount, eid, _booking(e.amount, e.booked))
                self._entity(self.tranches, e.tranche_id, row)
            case b.FundingPlanned():
                row = (key, "planned", e.expected_on, e.amount.amount, eid, _booking(e.amount, e.booked))
                self._entity(self.tranches, e.tranche_id, row)
            case b.EstimateToCompleteSubmitted():
                extra = {
                    "currency": e.total.currency,
                    "categories": [[c.category.value, str(c.amount.amount)] for c in e.categories],
                    "months": [[m.month, str(m.amount.amount)] for m in e.months],
                    "by": e.submitted_by,
                }
                insort(self.estimates, (key, "estimate", e.as_of, e.total.amount, eid, extra))
            case b.FundingWithdrawn():
                self._entity(self.tranches, e.tranche_id, (key, "withdrawn", e.withdrawn_on, None, eid, None))
            case b.FundingRescheduled():
                self._entity(self.tranches, e.tranche_id, (key, "rescheduled", e.available_on, None, eid, None))
            case r.WorkSheetApproved():
                value, currency = effective(e.cost, e.booked)
                label = f"work sheet {e.sheet_id} v{e.version}"
                extra = [currency, label, str(e.resource_id)]
                self._cost((key, sheet_category(e.kind), e.approved_on, value, eid, extra))
            case r.WorkSheetApprovalReversed():
                value, currency = effective(e.cost, e.booked)
                label = f"work sheet {e.sheet_id} v{e.version} reversed"
                extra = [currency, label, str(e.resource_id)]
                self._cost((key, "reversal", e.reversed_on, -value, eid, extra))
            case i.ExpenseClaimed():
                value, currency = effective(e.amount, e.booked)
                self.claims[str(e.expense_id)] = [str(value), currency, e.category.value, f"expense {e.expense_id}"]
            case i.ExpenseApproved():
                claim = self.claims.get(str(e.expense_id))
                if claim is not None:
                    claimed, currency, category, label = claim
                    extra = [currency, f"{label} approved", ""]
                    self._cost((key, EXPENSE + category, e.approved_on, Decimal(claimed), eid, extra))
            case i.ExpenseReimbursed():
                claim = self.claims.get(str(e.expense_id))
                if claim is not None:
                    claimed, currency, _, label = claim
                    extra = [currency, f"{label} reimbursed", ""]
                    self._cost((key, REIMBURSED, e.paid_on, Decimal(claimed), eid, extra))
            case i.GoodsReceived():
                value, currency = effective(e.amount, e.booked)
                label = f"goods receipt {e.receipt_id}"
                self.receipts[str(e.receipt_id)] = [str(value), currency, e.category.value, label, False]
                self._cost((key, GOODS + e.category.value, e.received_on, value, eid, [currency, label, ""]))
            case i.GoodsReceiptReversed():
                kept = self.receipts.get(str(e.receipt_id))
                if kept is not None and not kept[4]:
                    kept[4] = True
                    extra = [kept[1], f"{kept[3]} reversed", ""]
                    self._cost((key, GOODS + kept[2], e.reversed_on, -Decimal(kept[0]), eid, extra))
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
                self._entity(self.invoices, e.invoice_id, (key, "received", e.received_on, e.net.amount, eid, extra))
            case i.InvoiceMatched() | i.InvoiceMismatched():
                checks = [d.check.value for d in getattr(e, "discrepancies", [])]
                extra = [isinstance(e, i.InvoiceMatched), checks]
                self._entity(self.invoices, e.invoice_id, (key, "matched", recorded, e.backed.amount, eid, extra))
            case i.InvoiceApproved():
                self._entity(self.invoices, e.invoice_id, (key, "approved", recorded, None, eid, None))
            case i.InvoiceDisputed():
                self._entity(self.invoices, e.invoice_id, (key, "disputed", recorded, None, eid, None))
            case i.InvoiceRejected():
                self._entity(self.invoices, e.invoice_id, (key, "rejected", recorded, None, eid, None))
            case i.CreditNoteReceived():
                self._entity(self.invoices, e.invoice_id, (key, "credit", e.issued_on, e.net.amount, eid, None))
            case i.InvoicePaid():
                row = (key, "paid", e.paid_on, e.total_paid.amount, eid, [e.fully_paid, str(e.amount.amount)])
                self._entity(self.invoices, e.invoice_id, row)
            case r.ResourceAllocated() | r.AllocationChanged() | r.AllocationEnded():
                extra = {
                    "resource": str(e.resource_id),
                    "from": None if e.weeks_from is None else e.weeks_from.isoformat(),
                    "to": None if e.weeks_to is None else e.weeks_to.isoformat(),
                    "over": [[w.week, str(w.over_hours)] for w in e.over_allocation],
                }
                insort(self.allocations, (key, "allocation", None, None, eid, extra))

    @staticmethod
    def _entity(entities: dict[str, list[Row]], entity_id: UUID, row: Row) -> None:
        insort(entities.setdefault(str(entity_id), []), row)

    def _first_registration(self) -> Key | None:
        return self.registrations[0][0] if self.registrations else None

    def _cost(self, row: Row) -> None:
        first = self._first_registration()
        if first is None or row[0] < first:
            insort(self.pending, row)  # the ledger has no currency for it (yet)
            return
        key, category, day, amount, eid, (currency, label, resource) = row
        assert day is not None and amount is not None and eid is not None  # built so in _apply
        if category == "reversal":  # its sheet's category, known from an approval (or labour)
            category = self.resource_categories.get(resource, "labour")
        elif resource:
            self.resource_categories[resource] = category
        cash = category.startswith(CASH)
        if currency != self.registrations[-1][5]["currency"]:
            if not cash:  # listed, never added (the cash side of an unconverted expense is not listed twice)
                insort(self.foreign, (key, category, day, amount, eid, [currency, label]))
            return
        days = self.costs.setdefault(currency, [])
        iso = day.isoformat()  # ISO dates sort as the dates do
        index = bisect_right(days, iso, key=lambda d: d[0])
        if index == 0 or days[index - 1][0] != iso:
            before = days[index - 1] if index else None
            days.insert(index, [iso, dict(before[1]) if before else {}, before[2] if before else 0, []])
        else:
            index -= 1
        today = days[index]
        if not cash:
            kind = "expense" if category.startswith(EXPENSE) else "goods" if category.startswith(GOODS) else "work"
            today[3] = [*today[3], [str(eid), str(amount), kind]][-EVIDENCE_PER_DAY:]
        for later in days[index:]:
            later[1][category] = str(Decimal(later[1].get(category, "0")) + amount)
            later[2] += 0 if cash else 1

    def _release_pending(self) -> None:
        first = self._first_registration()
        assert first is not None
        waiting, self.pending = self.pending, []
        for row in waiting:
            self._cost(row) if row[0] > first else self.pending.append(row)

    # ---- reading --------------------------------------------------------------------------------------------------

    def at(self, as_of: date) -> ProjectBook:
        """The project's books on ``as_of``: the same as the ledger's fold of the same facts on that date."""
        bk = ProjectBook(project_id=self.project_id)
        self._identity(bk, as_of)
        self._budget(bk, as_of)
        bk.milestones = {
            UUID(k): m for k, m in _ordered(self._milestone(k, rows, as_of) for k, rows in self.milestones.items())
        }
        self._reports(bk, as_of)
        bk.kpis = {UUID(k): x for k, x in _ordered(self._kpi(k, rows, as_of) for k, rows in self.kpis.items())}
        bk.follow_ups = {
            UUID(k): x for k, x in _ordered((*_follow_up(rows, as_of), k) for k, rows in self.follow_ups.items())
        }
        first = self._first_registration()
        foreign = Foreign(bk.currency, first)
        bk.commitments = {
            UUID(k): x
            for k, x in _ordered(_commitment(k, rows, as_of, foreign) for k, rows in self.commitments.items())
        }
        bk.tranches = {
            UUID(k): x for k, x in _ordered(_tranche(k, rows, as_of, foreign) for k, rows in self.tranches.items())
        }
        bk.invoices = {
            UUID(k): x for k, x in _ordered(_invoice(k, rows, as_of, foreign) for k, rows in self.invoices.items())
        }
        bk.pmb = []
        for _, _, day, total, eid, extra in self.pmb:
            assert day is not None and total is not None and eid is not None
            bk.pmb = with_version(bk.pmb, _pmb_version(day, total, eid, extra))
        bk.estimate = _estimate(self.estimates, as_of, foreign)
        for key, category, day, amount, eid, (currency, label) in self.foreign:
            assert day is not None and amount is not None and eid is not None
            if day <= as_of:
                text = unconverted_label(label, amount, currency, bk.currency)
                plain = category.removeprefix(EXPENSE).removeprefix(GOODS)
                foreign.found.append((key, Amount(amount, eid, day, text, plain)))
        bk.unconverted = [amount for _, amount in sorted(foreign.found, key=lambda found: found[0])]
        for row in self.allocations:
            x = row[5]
            apply_allocation(
                bk,
                UUID(x["resource"]),
                None if x["from"] is None else date.fromisoformat(x["from"]),
                None if x["to"] is None else date.fromisoformat(x["to"]),
                [(w, Decimal(h)) for w, h in x["over"]],
                row[4],  # type: ignore[arg-type]
            )
        self._work(bk, as_of)
        return bk

    def _identity(self, bk: ProjectBook, as_of: date) -> None:
        events = sorted([*self.registrations, *self.lifecycle], key=lambda row: row[0])
        for _, kind, day, _, _, extra in events:
            assert day is not None
            if kind == "registered":
                bk.code, bk.name, bk.currency = extra["code"], extra["name"], extra["currency"]
                bk.portfolio_id, bk.programme_id = extra["portfolio_id"], extra["programme_id"]
                bk.planned_start = date.fromisoformat(extra["planned_start"])
                bk.planned_end = date.fromisoformat(extra["planned_end"])
                bk.status, bk.registered_on = "proposed", day
            elif day <= as_of:
                if kind in ("started", "resumed"):
                    bk.status, bk.active_since = "active", day
                else:
                    bk.status = kind

    def _budget(self, bk: ProjectBook, as_of: date) -> None:
        changes: list[Amount] = []
        for _, kind, day, amount, eid, extra in self.budget:
            assert day is not None and amount is not None and eid is not None
            if kind == "baseline":
                bk.baseline = Amount(amount, eid, day, "baseline")
                bk.category_budgets = {c: Decimal(a) for c, a in extra}
            elif day <= as_of:
                changes.append(Amount(amount, eid, day, extra[0]))
                bk.category_budgets[extra[0]] = Decimal(extra[1])
        bk.changes_total = sum((a.value for a in changes), Decimal(0))
        bk.change_count = len(changes)
        bk.change_evidence = changes[-EVIDENCE:]

    def _milestone(self, key: str, rows: list[Row], as_of: date) -> tuple[Key | None, MilestoneBook | None, str]:
        m: MilestoneBook | None = None
        created: Key | None = None
        for k, kind, day, amount, eid, extra in rows:
            assert day is not None and eid is not None
            if kind == "planned":
                assert amount is not None
                m = MilestoneBook(UUID(key), extra, day, amount, eid)
                created = created or k
            elif m is None:
                continue  # the ledger cannot fold it either (a milestone never planned)
            elif kind == "rescheduled":
                m.due_date = day
            elif day > as_of:
                continue
            elif kind == "progress":
                assert amount is not None
                m.percent, m.progress_event = amount, eid
            elif kind == "reached":
                m.reached_on, m.reached_event = day, eid
            elif kind == "missed":
                m.missed = True
        return created, m, key

    def _reports(self, bk: ProjectBook, as_of: date) -> None:
        index = bisect_right(self.reports, as_of, key=lambda row: row[0])
        if not index:
            return
        if self._latest_report is None:
            latest, best = [], 0
            for n, row in enumerate(self.reports):
                best = n if row[1] > self.reports[best][1] else best
                latest.append(best)
            self._latest_report = latest
        last = self.reports[self._latest_report[index - 1]]
        bk.last_report_on = self.reports[index - 1][0]
        bk.last_report_rag, bk.last_report_event = last[2], last[3]
        bk.report_count = index

    def _kpi(self, key: str, rows: list[Row], as_of: date) -> tuple[Key | None, KpiBook | None, str]:
        kpi: KpiBook | None = None
        created: Key | None = None
        for k, kind, day, amount, eid, extra in rows:
            assert amount is not None and eid is not None
            if kind == "defined":
                name, unit, direction, review = extra
                kpi = KpiBook(UUID(key), name, unit, amount, direction, date.fromisoformat(review))
                created = created or k
            elif kpi is not None and day is not None and day <= as_of:
                if kpi.latest is None or day > kpi.latest[0]:
                    kpi.latest = (day, amount, bool(extra), eid)
                kpi.measured += 1
        return created, kpi, key

    def _work(self, bk: ProjectBook, as_of: date) -> None:
        days = self.costs.get(bk.currency, []) if bk.currency else []
        index = bisect_right(days, as_of.isoformat(), key=lambda d: d[0])
        if not index:
            return
        for category, v in days[index - 1][1].items():
            if category.startswith(EXPENSE):
                bk.expense_cost[category.removeprefix(EXPENSE)] = Decimal(v)
            elif category.startswith(GOODS):
                bk.goods_cost[category.removeprefix(GOODS)] = Decimal(v)
            elif category == REIMBURSED:
                bk.expenses_reimbursed = Decimal(v)
            else:
                bk.work_cost[category] = Decimal(v)
        bk.cost_count = days[index - 1][2]
        evidence: list[list[str]] = []
        for n in range(index - 1, -1, -1):
            evidence[:0] = [[days[n][0], *kept] for kept in days[n][3]]
            if len(evidence) >= EVIDENCE:
                break
        bk.cost_evidence = [_evidence(kept) for kept in evidence[-EVIDENCE:]]

    # ---- storing --------------------------------------------------------------------------------------------------

    def to_json(self) -> str:
        """Compact JSON (Decimals, dates and ids as strings) that :meth:`from_json` reads back equal."""
        return json.dumps(
            {
                "project_id": str(self.project_id),
                "per_service": self.per_service,
                "registrations": _rows_out(self.registrations),
                "lifecycle": _rows_out(self.lifecycle),
                "budget": _rows_out(self.budget),
                "allocations": _rows_out(self.allocations),
                **{name: _entities_out(getattr(self, name)) for name in ENTITIES},
                "reports": [[d.isoformat(), list(k), rag, str(eid)] for d, k, rag, eid in self.reports],
                "costs": self.costs,
                "pending": _rows_out(self.pending),
                "resource_categories": self.resource_categories,
                "pmb": _rows_out(self.pmb),
                "estimates": _rows_out(self.estimates),
                "foreign": _rows_out(self.foreign),
                "claims": self.claims,
                "receipts": self.receipts,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, raw: str | Mapping[str, Any]) -> Books:
        data = json.loads(raw) if isinstance(raw, str) else raw
        return cls(
            project_id=UUID(data["project_id"]),
            per_service=dict(data.get("per_service", {})),
            registrations=_rows_in(data["registrations"]),
            lifecycle=_rows_in(data["lifecycle"]),
            budget=_rows_in(data["budget"]),
            allocations=_rows_in(data["allocations"]),
            reports=[(date.fromisoformat(d), (k[0], k[1], k[2]), rag, UUID(eid)) for d, k, rag, eid in data["reports"]],
            costs=data["costs"],
            pending=_rows_in(data["pending"]),
            resource_categories=dict(data["resource_categories"]),
            pmb=_rows_in(data.get("pmb", [])),  # books stored before these parts existed have none
            estimates=_rows_in(data.get("estimates", [])),
            foreign=_rows_in(data.get("foreign", [])),
            claims=dict(data.get("claims", {})),
            receipts=dict(data.get("receipts", {})),
            milestones=_entities_in(data["milestones"]),
            kpis=_entities_in(data["kpis"]),
            follow_ups=_entities_in(data["follow_ups"]),
            commitments=_entities_in(data["commitments"]),
            tranches=_entities_in(data["tranches"]),
            invoices=_entities_in(data["invoices"]),
        )


ENTITIES = ("milestones", "kpis", "follow_ups", "commitments", "tranches", "invoices")


def _row_out(row: Row) -> list[Any]:
    key, kind, day, amount, eid, extra = row
    return [
        list(key),
        kind,
        None if day is None else day.isoformat(),
        None if amount is None else str(amount),
        None if eid is None else str(eid),
        extra,
    ]


def _row_in(raw: list[Any]) -> Row:
    key, kind, day, amount, eid, extra = raw
    return (
        (key[0], key[1], key[2]),
        kind,
        None if day is None else date.fromisoformat(day),
        None if amount is None else Decimal(amount),
        None if eid is None else UUID(eid),
        extra,
    )


def _rows_out(rows: list[Row]) -> list[list[Any]]:
    return [_row_out(row) for row in rows]


def _rows_in(rows: list[list[Any]]) -> list[Row]:
    return [_row_in(row) for row in rows]


def _entities_out(entities: dict[str, list[Row]]) -> dict[str, list[list[Any]]]:
    return {k: _rows_out(rows) for k, rows in entities.items()}


def _entities_in(entities: dict[str, list[list[Any]]]) -> dict[str, list[Row]]:
    return {k: _rows_in(rows) for k, rows in entities.items()}


def _ordered(folded: Iterable[tuple[Key | None, Any, str]]) -> list[tuple[str, Any]]:
    """Entities that exist on the date, in the order the ledger's fold first created them."""
    present = [(created, key, x) for created, x, key in folded if created is not None and x is not None]
    return [(key, x) for _, key, x in sorted(present, key=lambda t: t[0])]


def _follow_up(rows: list[Row], as_of: date) -> tuple[Key | None, tuple[date, date | None, UUID] | None]:
    state: tuple[date, date | None, UUID] | None = None
    created: Key | None = None
    for k, kind, day, _, eid, extra in rows:
        assert day is not None and eid is not None
        if day > as_of:
            continue
        if kind == "logged":
            state, created = (date.fromisoformat(extra), None, eid), created or k
        elif state is not None:
            state = (state[0], day, state[2])
    return created, state


@dataclass
class Foreign:
    """What an entity's fold needs to tell amounts in another currency (the project's currency and its first
    registration: the ledger takes amounts recorded before it as they are), and the unconverted ones it found, with
    their order keys."""

    currency: str
    registered: Key | None
    found: list[tuple[Key, Amount]] = field(default_factory=list)

    def unconvertible(self, key: Key, currency: str) -> bool:
        return self.registered is not None and key > self.registered and currency != self.currency

    def listed(self, key: Key, amount: Amount) -> None:
        self.found.append((key, amount))


def _booking(amount: Money, booked: Booking | None) -> dict[str, Any]:
    """An amount's currencies and booking as an entity's row keeps them (the row's amount: as entered)."""
    return {
        "currency": effective(amount, booked)[1],
        "entered": amount.currency,
        "booked": None if booked is None else str(booked.amount.amount),
    }


def _booked(extra: Any) -> Decimal | None:
    raw = extra.get("booked") if isinstance(extra, dict) else None
    return None if raw is None else Decimal(raw)


def _currency_of(extra: Any, default: str) -> tuple[str, str]:
    """(the currency an entity's amount counts in, the one it was entered in); rows stored before bookings existed
    have neither: the project's."""
    if not isinstance(extra, dict) or "currency" not in extra:
        return default, default
    return extra["currency"], extra["entered"]


def _commitment(
    key: str, rows: list[Row], as_of: date, foreign: Foreign
) -> tuple[Key | None, CommitmentBook | None, str]:
    c: CommitmentBook | None = None
    created: Key | None = None
    for k, kind, day, amount, eid, extra in rows:
        assert day is not None and eid is not None
        if day > as_of:
            continue
        if kind == "committed":
            assert amount is not None
            currency, entered = _currency_of(extra, foreign.currency)
            if foreign.unconvertible(k, currency):
                what = unconverted_label(f"commitment {extra['reference']}", amount, entered, foreign.currency)
                foreign.listed(k, Amount(amount, eid, day, what, extra["category"]))
                continue
            expected = [(date.fromisoformat(on), Decimal(v)) for on, v in extra["expected"]]
            value, expected = booked_terms(amount, expected, _booked(extra))
            c = CommitmentBook(UUID(key), extra["category"], value, expected, True, eid, extra["reference"])
            created = created or k
        elif c is not None and kind == "adjusted":
            assert amount is not None
            currency, entered = _currency_of(extra, foreign.currency)
            if foreign.unconvertible(k, currency):
                what = unconverted_label(f"commitment {c.reference} adjusted", amount, entered, foreign.currency)
                foreign.listed(k, Amount(amount, eid, day, what, c.category))
                continue
            listed = extra["expected"] if isinstance(extra, dict) else extra
            expected = [(date.fromisoformat(on), Decimal(v)) for on, v in listed]
            c.amount, c.expected = booked_terms(amount, expected, _booked(extra))
        elif c is not None and kind == "cancelled":
            c.active = False
    return created, c, key


def _tranche(key: str, rows: list[Row], as_of: date, foreign: Foreign) -> tuple[Key | None, TrancheBook | None, str]:
    t: TrancheBook | None = None
    created: Key | None = None
    for k, kind, day, amount, eid, extra in rows:
        assert day is not None and eid is not None
        if kind in ("secured", "planned"):
            assert amount is not None
            planned = kind == "planned"
            if planned and t is not None and not t.planned:
                continue  # already secured: a plan for it changes nothing
            currency, entered = _currency_of(extra, foreign.currency)
            if foreign.unconvertible(k, currency):
                what = unconverted_label(f"{kind} funding tranche {key}", amount, entered, foreign.currency)
                foreign.listed(k, Amount(amount, eid, day, what, "funding"))
                continue
            value = _booked(extra)
            t = TrancheBook(UUID(key), amount if value is None else value, day, None, eid, planned)
            created = created or k
        elif t is not None and kind == "rescheduled":
            t.available_on = day
        elif t is not None and kind == "withdrawn" and day <= as_of:
            t.withdrawn_on = day
    return created, t, key


def _invoice(key: str, rows: list[Row], as_of: date, foreign: Foreign) -> tuple[Key | None, InvoiceBook | None, str]:
    x: InvoiceBook | None = None
    created: Key | None = None
    for k, kind, day, amount, eid, extra in rows:
        assert day is not None and eid is not None
        if day > as_of:
            continue
        if kind == "received":
            assert amount is not None
            if foreign.registered is None or k < foreign.registered:
                continue
            booked = extra.get("booked")
            currency = extra["currency"]
            if currency != foreign.currency and (booked is None or booked[1] != foreign.currency):
                what = unconverted_label(
                    f"invoice {extra['vendor']} {extra['number']}", amount, currency, foreign.currency
                )
                foreign.listed(k, Amount(amount, eid, day, what, "invoice"))
                continue
            booking = None
            if booked is not None and currency != foreign.currency:
                booking = (Decimal(booked[0]), Decimal(booked[2]))
            x = received_invoice(
                UUID(key),
                extra["vendor"],
                extra["number"],
                date.fromisoformat(extra["due_on"]),
                amount,
                Decimal(extra["total"]),
                eid,
                extra["reference"],
                currency,
                booking,
            )
            created = created or k
        elif x is None:
            continue
        elif kind == "matched":
            x.backed, x.match_event = amount, eid
            x.matched, x.checks = bool(extra[0]), tuple(extra[1])
            if x.status in ("received", "matched", "mismatched"):
                x.status = "matched" if x.matched else "mismatched"
        elif kind == "approved":
            x.status, x.approved_on, x.approved_event = "approved", day, eid
        elif kind in ("disputed", "rejected"):
            x.status = kind
        elif kind == "credit":
            assert amount is not None
            x.credited_net += x.converted(amount)
        elif kind == "paid":
            assert amount is not None
            fully, paid = (extra[0], Decimal(extra[1])) if isinstance(extra, list) else (extra, amount)
            x.record_payment(paid, amount, bool(fully), eid)
    return created, x, key


def _pmb_version(effective_on: date, total: Decimal, event_id: UUID, extra: Any) -> PmbVersion:
    items = tuple(
        PmbItem(
            UUID(mid),
            name,
            Decimal(budget),
            date.fromisoformat(start),
            date.fromisoformat(due),
            technique,
            tuple((date.fromisoformat(on), Decimal(weight)) for on, weight in steps),
            tuple((month, Decimal(value)) for month, value in months),
        )
        for mid, name, budget, start, due, technique, steps, months in extra["items"]
    )
    return PmbVersion(extra["version"], effective_on, total, Decimal(extra["reserve"]), items, event_id)


def _estimate(rows: list[Row], as_of: date, foreign: Foreign) -> EstimateBook | None:
    found: EstimateBook | None = None
    for k, _, day, total, eid, extra in rows:
        assert day is not None and total is not None and eid is not None
        if day > as_of:
            continue
        if foreign.unconvertible(k, extra["currency"]):
            what = unconverted_label("estimate to complete", total, extra["currency"], foreign.currency)
            foreign.listed(k, Amount(total, eid, day, what, "estimate"))
            continue
        categories: dict[str, Decimal] = {}
        for category, value in extra["categories"]:
            categories[category] = categories.get(category, Decimal(0)) + Decimal(value)
        months: dict[str, Decimal] = {}
        for month, value in extra["months"]:
            months[month] = months.get(month, Decimal(0)) + Decimal(value)
        found = later_estimate(found, EstimateBook(day, total, categories, months, extra["by"], eid))
    return found


def _evidence(kept: list[str]) -> Amount:
    """A cost's evidence as a day keeps it: ``[day, event id, amount]`` (and its kind, since expenses and goods)."""
    on, eid, value, *kind = kept
    what = kind[0] if kind else "work"
    label = {"work": "work sheet", "expense": "expense", "goods": "goods receipt"}[what]
    if value.startswith("-"):
        label += " reversed"
    return Amount(Decimal(value), UUID(eid), date.fromisoformat(on), label)
