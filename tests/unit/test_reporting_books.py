"""The books kept as facts arrive answer as the ledger's fold does: for random histories of every kind of fact the
ledger handles (late facts with earlier business dates, corrections, reversals, reschedules, withdrawals,
cancellations, other currencies with and without a booking, performance baselines and re-baselines, expenses, goods
receipts and their reversals, planned funding, estimates to complete, a second registration, facts of four services
arriving interleaved), the books on any date give the same EVM figures, planned value, milestone risks, alert
conditions, costs by kind, cash view and unconverted amounts as the fold of the same facts on that date, and read
back from their JSON unchanged."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from reporting.domain.books import Books
from reporting.domain.evm import evm, plan_check, planned_value
from reporting.domain.ledger import Fact, ProjectBook, book
from reporting.domain.risk import milestone_risks
from reporting.domain.rules import Thresholds, conditions
from reporting.handlers import cpi_history
from shared.contracts import budget as b
from shared.contracts import invoicing as i
from shared.contracts import projects as p
from shared.contracts import resources as r
from shared.contracts.common import Booking, MonthAmount
from shared.events import DomainEvent
from shared.money import Money, quantize

PID = uuid.UUID(int=7)
T0 = date(2027, 1, 4)
SERVICES = {"projects": p.REGISTRY, "budget": b.REGISTRY, "resources": r.REGISTRY, "invoicing": i.REGISTRY}


def service_of(event: DomainEvent) -> str:
    return next(s for s, reg in SERVICES.items() if (event.event_name, event.event_version) in reg)


class History:
    """A random project history: facts per service, each service's facts in the order they were recorded."""

    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd
        self.clock = datetime(2000, 1, 1, tzinfo=UTC)
        self.facts: list[Fact] = []
        self.milestones: list[uuid.UUID] = []
        self.kpis: list[uuid.UUID] = []
        self.communications: list[uuid.UUID] = []
        self.commitments: list[uuid.UUID] = []
        self.tranches: list[uuid.UUID] = []
        self.invoices: list[uuid.UUID] = []
        self.sheets: list[tuple[uuid.UUID, uuid.UUID, r.ResourceKind, Money, Booking | None]] = []
        self.expenses: list[uuid.UUID] = []
        self.receipts: list[uuid.UUID] = []
        self.resources = [(uuid.uuid4(), r.ResourceKind.PERSON), (uuid.uuid4(), r.ResourceKind.SUBCONTRACTOR)]

    def day(self, around: date, spread: int = 20) -> date:
        return around + timedelta(days=self.rnd.randint(-spread, spread))

    def money(self, low: int = 1, high: int = 50_000, currency: str = "EUR") -> Money:
        return Money.of(f"{self.rnd.randint(low, high)}.{self.rnd.randint(0, 99):02d}", currency)

    def priced(self, low: int = 1, high: int = 50_000) -> tuple[Money, Booking | None]:
        """An amount in EUR (the project's currency), or in USD booked in EUR, or in USD without a booking."""
        which = self.rnd.random()
        if which < 0.7:
            return self.money(low, high), None
        amount = self.money(low, high, "USD")
        if which < 0.9:
            rate = Decimal(f"0.{self.rnd.randint(80, 99)}{self.rnd.randint(0, 9999):04d}")
            return amount, Booking.of(amount, "EUR", rate, T0, "ECB")
        return amount, None

    def record(self, event: DomainEvent, on: date) -> None:
        hour = self.rnd.choice([9, 12, 12, 17])  # equal times too: the position decides
        self.clock = max(self.clock, datetime(on.year, on.month, on.day, hour, tzinfo=UTC))
        self.facts.append(
            Fact(
                uuid.uuid4(),
                service_of(event),
                event.event_name,
                event.event_version,
                self.clock,
                event.model_dump(mode="json"),
            )
        )

    def registered(self, on: date, code: str = "CRM") -> None:
        self.record(
            p.ProjectRegistered(
                project_id=PID,
                portfolio_id="pf",
                programme_id=None,
                code=code,
                name=code,
                objectives="",
                sponsor="s",
                manager="m",
                planned_start=T0,
                planned_end=date(2027, 12, 17),
                currency="EUR",
            ),
            on,
        )

    def step(self, today: date) -> None:
        rnd, pick = self.rnd, self.rnd.choice
        kind = rnd.randrange(34)
        event: DomainEvent
        if kind == 0:
            self.record(pick(self.lifecycle(today)), today)
        elif kind in (1, 2) or (kind in (3, 4) and not self.milestones):
            mid = uuid.uuid4() if not self.milestones or rnd.random() < 0.8 else pick(self.milestones)
            self.milestones.append(mid)
            pv = self.money(1000, 60_000)
            event = p.MilestonePlanned(
                project_id=PID,
                milestone_id=mid,
                name=f"M{len(self.milestones)}",
                due_date=self.day(today + timedelta(days=30), 40),
                planned_value=pv,
                acceptance_criteria="",
            )
            self.record(event, today)
        elif kind in (3, 4):
            mid = pick(self.milestones)
            self.record(
                p.MilestoneProgressReported(
                    project_id=PID,
                    milestone_id=mid,
                    percent_complete=Decimal(rnd.randint(0, 100)),
                    previous_percent_complete=Decimal(0),
                    as_of=self.day(today, 10),
                    correction_reason=pick([None, "correction"]),
                ),
                today,
            )
        elif kind == 5 and self.milestones:
            mid = pick(self.milestones)
            if rnd.random() < 0.5:
                event = p.MilestoneReached(
                    project_id=PID,
                    milestone_id=mid,
                    name="M",
                    planned_value=self.money(),
                    due_date=today,
                    reached_on=self.day(today, 5),
                    accepted_by="d",
                    acceptance_note="",
                )
            elif rnd.random() < 0.5:
                due = self.day(today + timedelta(days=20))
                event = p.MilestoneRescheduled(
                    project_id=PID, milestone_id=mid, previous_due_date=today, due_date=due, reason="late"
                )
            else:
                event = p.MilestoneMissed(project_id=PID, milestone_id=mid, due_date=self.day(today, 5), reason="x")
            self.record(event, today)
        elif kind == 6:
            self.record(
                p.StatusReported(
                    project_id=PID,
                    report_id=uuid.uuid4(),
                    meeting_date=self.day(today, 6),
                    schedule=p.Rag.GREEN,
                    cost=p.Rag.AMBER,
                    scope=p.Rag.GREEN,
                    quality=p.Rag.GREEN,
                    resources=p.Rag.GREEN,
                    overall=pick(list(p.Rag)),
                    overall_overridden=False,
                    override_reason=None,
                    narrative="",
                    decisions=[],
                    risks=[],
                    next_steps=[],
                ),
                today,
            )
        elif kind == 7:
            kid = uuid.uuid4() if not self.kpis or rnd.random() < 0.5 else pick(self.kpis)
            self.kpis.append(kid)
            self.record(
                p.KpiDefined(
                    project_id=PID,
                    kpi_id=kid,
                    name="reach",
                    unit="%",
                    target=Decimal(80),
                    direction=p.KpiDirection.AT_LEAST,
                    review_date=self.day(today + timedelta(days=15)),
                ),
                today,
            )
        elif kind == 8 and self.kpis:
            value = Decimal(rnd.randint(50, 100))
            self.record(
                p.KpiMeasured(
                    project_id=PID,
                    kpi_id=pick(self.kpis),
                    name="reach",
                    unit="%",
                    value=value,
                    target=Decimal(80),
                    direction=p.KpiDirection.AT_LEAST,
                    review_date=today,
                    measured_on=self.day(today, 10),
                    target_met=value >= 80,
                    note="",
                ),
                today,
            )
        elif kind == 9:
            if self.communications and rnd.random() < 0.5:
                event = p.FollowUpClosed(
                    project_id=PID, communication_id=pick(self.communications), closed_on=self.day(today, 5), note=""
                )
            else:
                cid = uuid.uuid4()
                self.communications.append(cid)
                event = p.CommunicationLogged(
                    project_id=PID,
                    communication_id=cid,
                    partner_id=uuid.uuid4(),
                    on=self.day(today, 5),
                    channel=p.Channel.CALL,
                    summary="x",
                    follow_up_due=pick([None, self.day(today + timedelta(days=10), 8)]),
                )
            self.record(event, today)
        elif kind == 10:
            total = self.money(50_000, 200_000)
            categories = [b.CategoryAmount(category=b.CostCategory.LABOUR, amount=total)]
            if rnd.random() < 0.5:
                categories.append(b.CategoryAmount(category=b.CostCategory.SUBCONTRACTING, amount=self.money()))
            event = b.BudgetBaselined(project_id=PID, total=total, categories=categories, phasing=[], baselined_by="f")
            self.record(event, today)
        elif kind == 11:
            category = pick([b.CostCategory.LABOUR, b.CostCategory.MATERIALS])
            self.record(
                b.BudgetChangeApproved(
                    project_id=PID,
                    change_id=uuid.uuid4(),
                    category=category,
                    amount=self.money(1, 9000),
                    approved_by="f",
                    bac_after=self.money(),
                    category_budget_after=self.money(),
                ),
                today,
            )
        elif kind == 12:
            self.record(self.commitment(today), today)
        elif kind == 13:
            self.record(self.funding(today), today)
        elif kind in (14, 15, 16, 17, 18):
            self.record(self.work(today), today)
        elif kind in (19, 20, 21, 22):
            self.record(self.invoice(today), today)
        elif kind == 23:
            self.record(self.allocation(today), today)
        elif kind in (24, 25):
            self.record(self.performance_baseline(today), today)
        elif kind in (26, 27, 28):
            self.record(self.expense(today), today)
        elif kind in (29, 30):
            self.record(self.goods(today), today)
        elif kind == 31:
            self.record(self.estimate(today), today)

    def lifecycle(self, today: date) -> list[DomainEvent]:
        on = self.day(today, 10)
        return [
            p.ProjectApproved(project_id=PID, approved_by="d", approved_on=on, note=""),
            p.ProjectStarted(project_id=PID, started_on=on),
            p.ProjectStarted(project_id=PID, started_on=on),
            p.ProjectPutOnHold(project_id=PID, reason="x", on=on),
            p.ProjectResumed(project_id=PID, note="", on=on),
            p.ProjectCompleted(project_id=PID, completed_on=on, note=""),
            p.ProjectTerminated(project_id=PID, reason="x", on=on),
        ]

    def expected(self, today: date) -> list[b.InvoiceExpectation]:
        return [
            b.InvoiceExpectation(on=self.day(today + timedelta(days=30), 30), amount=self.money(100, 5000))
            for _ in range(self.rnd.randint(0, 3))
        ]

    def commitment(self, today: date) -> DomainEvent:
        if self.commitments and self.rnd.random() < 0.5:
            cid = self.rnd.choice(self.commitments)
            if self.rnd.random() < 0.5:
                return b.CommitmentCancelled(project_id=PID, commitment_id=cid, amount_released=self.money(), reason="")
            amount, booked = self.priced()
            return b.CommitmentAdjusted(
                project_id=PID,
                commitment_id=cid,
                previous_amount=self.money(),
                amount=amount,
                booked=booked,
                expected_invoices=self.expected(today),
                reason="",
                overrun=None,
            )
        cid = uuid.uuid4()
        self.commitments.append(cid)
        amount, booked = self.priced()
        return b.BudgetCommitted(
            project_id=PID,
            commitment_id=cid,
            kind=b.CommitmentKind.PURCHASE_ORDER,
            vendor="Acme",
            reference=self.rnd.choice(["PO-1", "PO-2"]),
            category=self.rnd.choice([b.CostCategory.SUBCONTRACTING, b.CostCategory.TRAVEL]),
            milestone_id=None,
            amount=amount,
            booked=booked,
            expected_invoices=self.expected(today),
            overrun=None,
            policy=b.OverrunPolicy.WARN,
            requested_by="f",
            approved_by=None,
        )

    def funding(self, today: date) -> DomainEvent:
        if self.tranches and self.rnd.random() < 0.5:
            tid = self.rnd.choice(self.tranches)
            if self.rnd.random() < 0.5:
                return b.FundingWithdrawn(
                    project_id=PID,
                    tranche_id=tid,
                    amount=self.money(),
                    withdrawn_on=self.day(today, 10),
                    was_available=True,
                    reason="",
                )
            return b.FundingRescheduled(
                project_id=PID,
                tranche_id=tid,
                previous_available_on=today,
                available_on=self.day(today + timedelta(days=20), 30),
                reason="",
            )
        tid = uuid.uuid4() if not self.tranches or self.rnd.random() < 0.7 else self.rnd.choice(self.tranches)
        self.tranches.append(tid)
        amount, booked = self.priced(10_000, 150_000)
        if self.rnd.random() < 0.3:
            return b.FundingPlanned(
                project_id=PID,
                source_id=uuid.uuid4(),
                tranche_id=tid,
                amount=amount,
                booked=booked,
                expected_on=self.day(today + timedelta(days=20), 40),
                planned_by="f",
            )
        return b.FundingSecured(
            project_id=PID,
            source_id=uuid.uuid4(),
            tranche_id=tid,
            amount=amount,
            booked=booked,
            available_on=self.day(today, 40),
        )

    def work(self, today: date) -> DomainEvent:
        if self.sheets and self.rnd.random() < 0.25:
            resource, sheet, kind, cost, booked = self.rnd.choice(self.sheets)
            return r.WorkSheetApprovalReversed(
                resource_id=resource,
                sheet_id=sheet,
                version=1,
                superseded_by_version=2,
                project_id=PID,
                week="2027-W09",
                week_start=date(2027, 3, 1),
                hours=Decimal(8),
                cost=cost,
                booked=booked,
                cost_by_milestone=[],
                reversed_on=today,
            )
        resource, kind = self.rnd.choice(self.resources)
        sheet = uuid.uuid4()
        cost, booked = self.priced(100, 20_000)
        approved_on = self.day(today, 10)
        if approved_on <= today:  # a reversal comes after the approval, as the resources service records them
            self.sheets.append((resource, sheet, kind, cost, booked))
        return r.WorkSheetApproved(
            resource_id=resource,
            sheet_id=sheet,
            version=1,
            replaces_version=None,
            project_id=PID,
            week="2027-W09",
            week_start=date(2027, 3, 1),
            kind=kind,
            role="dev",
            vendor_id=None,
            submitted_by="a",
            approved_by="b",
            approved_on=approved_on,
            entries=[],
            deliverables=[],
            hours=Decimal(8),
            cost=cost,
            booked=booked,
            cost_by_milestone=[],
        )

    def invoice(self, today: date) -> DomainEvent:
        rnd = self.rnd
        if not self.invoices or rnd.random() < 0.3:
            iid = uuid.uuid4()
            self.invoices.append(iid)
            net, booked = self.priced(100, 10_000)
            currency = net.currency
            return i.InvoiceReceived(
                project_id=PID,
                invoice_id=iid,
                vendor="Acme",
                number=f"INV-{len(self.invoices)}",
                issued_on=today,
                received_on=self.day(today, 5),
                due_on=self.day(today + timedelta(days=20), 20),
                currency=currency,
                commitment_reference=rnd.choice(["PO-1", "PO-2", ""]),
                lines=[],
                net=net,
                tax=Money.of("0.00", currency),
                total=Money.of(net.amount * 2, currency) if rnd.random() < 0.3 else net,
                received_by="f",
                booked=None if booked is None else Booking.of(net, "EUR", booked.rate, T0, "ECB"),
            )
        iid = rnd.choice(self.invoices)
        which = rnd.randrange(6)
        if which == 0:
            fields: dict[str, Any] = dict(
                project_id=PID,
                invoice_id=iid,
                invoiced=self.money(),
                backed=self.money(0, 8000),
                lines=[],
                commitment_id=None,
                commitment_remaining=None,
                tolerance=Decimal("0.02"),
                matched_by="m",
            )
            if rnd.random() < 0.5:
                return i.InvoiceMatched(**fields)
            check = rnd.choice([i.MatchCheck.UNDER_BACKED, i.MatchCheck.ABOVE_COMMITMENT])
            return i.InvoiceMismatched(**fields, discrepancies=[i.Discrepancy(check=check, line=1, detail="x")])
        if which == 1:
            return i.InvoiceApproved(
                project_id=PID,
                invoice_id=iid,
                approved_by="f",
                override=False,
                override_reason=None,
                overridden=[],
                amount_due=self.money(),
            )
        if which == 2:
            return rnd.choice(
                [
                    i.InvoiceDisputed(project_id=PID, invoice_id=iid, disputed_by="f", reason="x"),
                    i.InvoiceRejected(project_id=PID, invoice_id=iid, rejected_by="f", reason="x"),
                ]
            )
        if which == 3:
            net = self.money(1, 500)
            return i.CreditNoteReceived(
                project_id=PID,
                invoice_id=iid,
                credit_note_id=uuid.uuid4(),
                number="CN",
                issued_on=self.day(today, 5),
                lines=[],
                net=net,
                tax=Money.of("0.00", "EUR"),
                total=net,
                reason="x",
                recorded_by="f",
                credited_total=net,
                amount_due=self.money(),
                fully_credited=False,
            )
        fully = rnd.random() < 0.5
        paid = self.money(1, 5000)
        return i.InvoicePaid(
            project_id=PID,
            invoice_id=iid,
            payment_id=uuid.uuid4(),
            amount=paid,
            paid_on=self.day(today, 5),
            reference=None,
            recorded_by="f",
            total_paid=Money.of(paid.amount + rnd.randint(0, 3000), "EUR"),
            remaining=Money.of("0.00" if fully else "1.00", "EUR"),
            fully_paid=fully,
        )

    def performance_baseline(self, today: date) -> DomainEvent:
        """An approved version of the PMB over some of the milestones (and one the projects service never planned),
        every technique, steps and months; versions approved again, effective dates before and after others'."""
        rnd = self.rnd
        milestones = [*rnd.sample(self.milestones, min(len(self.milestones), rnd.randint(0, 4))), uuid.uuid4()]
        items: list[p.BaselineItem] = []
        for mid in milestones:
            start = self.day(today, 30)
            due = start + timedelta(days=rnd.randint(0, 90))
            technique = rnd.choice(list(p.EvTechnique))
            budget = self.money(1000, 40_000)
            steps, months = [], []
            if technique is p.EvTechnique.WEIGHTED_MILESTONES:
                first = Decimal(rnd.choice([10, 25, 50]))
                steps = [
                    p.WeightedStep(name="a", weight=first, on=start),
                    p.WeightedStep(name="b", weight=Decimal(100) - first, on=due),
                ]
            elif technique in (p.EvTechnique.PERCENT_COMPLETE, p.EvTechnique.LEVEL_OF_EFFORT) and rnd.random() < 0.5:
                half = Money.of(quantize(budget.amount / 2, "EUR"), "EUR")
                months = [
                    MonthAmount(month=f"{start.year:04d}-{start.month:02d}", amount=half),
                    MonthAmount(month=f"{due.year:04d}-{due.month:02d}", amount=budget - half),
                ]
            items.append(
                p.BaselineItem(
                    milestone_id=mid,
                    name=f"item {len(items)}",
                    budget=budget,
                    start=start,
                    due=due,
                    technique=technique,
                    steps=steps,
                    months=months,
                )
            )
        total = sum((x.budget.amount for x in items), Decimal(0))
        return p.PerformanceBaselineApproved(
            project_id=PID,
            baseline_id=uuid.uuid4(),
            version=rnd.randint(1, 3),
            effective_on=self.day(today, 30),
            items=items,
            total=Money.of(total, "EUR"),
            management_reserve=self.money(0, 5000),
            reason="plan",
            proposed_by="m",
            approved_by="d",
        )

    def expense(self, today: date) -> DomainEvent:
        rnd = self.rnd
        if not self.expenses or rnd.random() < 0.4:
            xid = uuid.uuid4() if not self.expenses or rnd.random() < 0.9 else rnd.choice(self.expenses)
            self.expenses.append(xid)
            amount, booked = self.priced(1, 3000)
            return i.ExpenseClaimed(
                project_id=PID,
                expense_id=xid,
                claimant="c",
                category=rnd.choice([b.CostCategory.TRAVEL, b.CostCategory.MATERIALS]),
                description="train",
                amount=amount,
                booked=booked,
                incurred_on=self.day(today, 5),
                receipt_reference="R-1",
            )
        xid = rnd.choice([*self.expenses, uuid.uuid4()])  # now and then one the ledger never saw claimed
        which = rnd.randrange(3)
        if which == 0:
            return i.ExpenseApproved(project_id=PID, expense_id=xid, approved_by="a", approved_on=self.day(today, 5))
        if which == 1:
            return i.ExpenseRejected(project_id=PID, expense_id=xid, rejected_by="a", reason="no")
        return i.ExpenseReimbursed(
            project_id=PID, expense_id=xid, paid_on=self.day(today, 5), reference=None, recorded_by="f"
        )

    def goods(self, today: date) -> DomainEvent:
        rnd = self.rnd
        if not self.receipts or rnd.random() < 0.6:
            rid = uuid.uuid4()
            self.receipts.append(rid)
            amount, booked = self.priced(10, 9000)
            return i.GoodsReceived(
                project_id=PID,
                receipt_id=rid,
                commitment_id=uuid.uuid4(),
                category=rnd.choice([b.CostCategory.MATERIALS, b.CostCategory.OTHER]),
                description="licences",
                amount=amount,
                booked=booked,
                received_on=self.day(today, 8),
                received_by="g",
            )
        return i.GoodsReceiptReversed(
            project_id=PID,
            receipt_id=rnd.choice(self.receipts),
            reversed_on=self.day(today, 8),
            reason="returned",
            reversed_by="g",
        )

    def estimate(self, today: date) -> DomainEvent:
        rnd = self.rnd
        currency = "EUR" if rnd.random() < 0.9 else "USD"
        labour, travel = self.money(0, 30_000, currency), self.money(0, 5000, currency)
        return b.EstimateToCompleteSubmitted(
            project_id=PID,
            estimate_id=uuid.uuid4(),
            as_of=self.day(today, 10),
            categories=[
                b.CategoryEstimate(category=b.CostCategory.LABOUR, amount=labour),
                b.CategoryEstimate(category=b.CostCategory.TRAVEL, amount=travel),
                b.CategoryEstimate(category=b.CostCategory.LABOUR, amount=travel),
            ],
            months=[MonthAmount(month="2027-05", amount=labour), MonthAmount(month="2027-06", amount=travel)],
            total=labour + travel,
            note="",
            submitted_by=rnd.choice(["m", "n"]),
        )

    def allocation(self, today: date) -> DomainEvent:
        resource = self.rnd.choice(self.resources)[0]
        monday = today - timedelta(days=today.weekday())
        weeks = [monday + timedelta(weeks=n) for n in range(self.rnd.randint(0, 3))]
        over = [
            r.OverAllocatedWeek(
                week=f"{w.isocalendar()[0]}-W{w.isocalendar()[1]:02d}",
                week_start=w,
                capacity_hours=Decimal(40),
                allocated_hours=Decimal(48),
                over_hours=Decimal(self.rnd.randint(1, 20)),
            )
            for w in weeks
        ]
        checked = self.rnd.random() < 0.7
        return r.ResourceAllocated(
            resource_id=resource,
            allocation_id=uuid.uuid4(),
            project_id=PID,
            milestone_id=None,
            hours_per_week=Decimal(48),
            starts_on=monday,
            ends_on=monday + timedelta(weeks=4),
            over_allocated=bool(over),
            over_allocation=over,
            weeks_from=monday if checked else None,
            weeks_to=monday + timedelta(weeks=4) if checked else None,
        )


def random_history(seed: int) -> tuple[list[Fact], list[Fact]]:
    """(facts in the order they arrive, the same facts in the ledger's order)."""
    rnd = random.Random(seed)
    history = History(rnd)
    today = T0 - timedelta(days=3)
    if rnd.random() < 0.1:
        history.step(today)  # something recorded before the registration: the ledger has no currency for it
        history.record(history.work(today), today)
        history.sheets.clear()  # not reversed: the ledger does not know their category
    history.registered(today)
    for _ in range(rnd.randint(5, 90)):
        today += timedelta(days=rnd.choice([0, 0, 1, 2, 3, 7]))
        history.step(today)
    if rnd.random() < 0.2:
        history.registered(today, "CRM-AGAIN")  # a second registration (a poison the ledger keeps), same currency
    facts = history.facts
    # Each service's facts arrive in their recorded order (one topic partition each); the services interleave.
    streams = {s: [f for f in facts if f.service == s] for s in SERVICES}
    arrived: list[Fact] = []
    while any(streams.values()):
        stream = rnd.choice([s for s in streams.values() if s])
        arrived += [stream.pop(0) for _ in range(min(len(stream), rnd.randint(1, 6)))]
    position = {f.event_id: n for n, f in enumerate(arrived)}
    ledger_order = sorted(arrived, key=lambda f: (f.recorded_at, f.service, position[f.event_id]))
    return arrived, ledger_order


def dates_for(facts: list[Fact], rnd: random.Random) -> list[date]:
    recorded = sorted({f.recorded_at.date() for f in facts})
    picks = {recorded[0] - timedelta(days=30), recorded[-1] + timedelta(days=60)}
    for _ in range(6):
        picks.add(rnd.choice(recorded) + timedelta(days=rnd.randint(-3, 3)))
    return sorted(picks)


def observed(at: Callable[[date], ProjectBook], as_of: date) -> dict[str, Any]:
    """Everything a report and the evaluator compute from a project's books on a date."""
    books = at(as_of)
    figures = evm(books, as_of)
    history = cpi_history(at, as_of)
    risks = milestone_risks(books, as_of, figures.value("ac") or Decimal(0), figures.value("cpi"), history)
    found = conditions(books, figures, risks, as_of, Thresholds())
    costs = {a.event_id for a in books.cost_evidence}  # the ledger lists them all, the books the latest few
    return {
        "figures": {name: (fig.value, fig.reason) for name, fig in figures.figures.items()},
        "risks": risks,
        "conditions": [(c.rule, c.subject, c.severity, c.title, c.figures, set(c.evidence) - costs) for c in found],
        "cost_evidence": costs,
        "status": (books.status, books.code, books.currency, books.active_since, books.registered_on),
        "categories": books.actual_by_category(),
        "budgets": books.category_budgets,
        "reports": (books.last_report_on, books.last_report_event, books.report_count),
        "kpis": {k: (x.latest, x.measured) for k, x in books.kpis.items()},
        "counts": (books.cost_count, books.change_count),
        "pmb": books.pmb,
        "planned": [planned_value(books, as_of + timedelta(days=n)) for n in (-40, 0, 15, 90)],
        "plan_check": (plan_check(books), plan_check(books, as_of)),
        "kinds": books.actual_by_kind(),
        "costs": (books.work_cost, books.expense_cost, books.goods_cost, books.expenses_reimbursed),
        "cash": books.cash_cost,
        "unconverted": books.unconverted,
        "estimate": books.estimate,
        "tranches": books.tranches,
        "commitments": books.commitments,
        "invoices": books.invoices,
    }


@pytest.mark.parametrize("seed", range(300))
def test_the_books_on_any_date_give_what_the_ledger_fold_gives(seed: int) -> None:
    arrived, ledger_order = random_history(seed)
    books = Books(PID)
    for fact in arrived:
        books.apply(fact)
    rnd = random.Random(seed)
    for as_of in dates_for(arrived, rnd):
        expected = observed(lambda day: book(PID, ledger_order, day), as_of)
        got = observed(books.at, as_of)
        assert got.pop("cost_evidence") <= expected.pop("cost_evidence"), f"seed {seed}, as of {as_of}"
        assert got == expected, f"seed {seed}, as of {as_of}"
    again = Books.from_json(books.to_json())
    assert again == books
    assert again.to_json() == books.to_json()
    assert Books.of(PID, ledger_order) == Books.from_json(Books.of(PID, ledger_order).to_json())


def test_the_evidence_kept_is_bounded_and_the_latest() -> None:
    from tests.support.reporting import registered, work

    facts = [registered(), *(work("10.00", T0 + timedelta(days=n)) for n in range(200))]
    books = Books.of(uuid.UUID(int=1), facts)
    on = books.at(T0 + timedelta(days=300))
    assert on.cost_count == 200 and on.actual_cost == Decimal("2000.00")
    assert [a.event_id for a in on.cost_evidence] == [f.event_id for f in facts[-20:]]
    assert len(books.costs["EUR"]) == 200 and len(books.to_json()) < 200 * 600
