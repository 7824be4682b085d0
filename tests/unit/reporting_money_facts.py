"""Random facts of the budget, resources and invoicing services about one project (commitments, funding, work sheets,
invoices, expenses, goods receipts, estimates to complete, allocations), for the books' property test
(:mod:`tests.unit.reporting_histories` records them)."""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from shared.contracts import budget as b
from shared.contracts import invoicing as i
from shared.contracts import resources as r
from shared.contracts.common import Booking, MonthAmount
from shared.events import DomainEvent
from shared.money import Money

PID = uuid.UUID(int=7)
T0 = date(2027, 1, 4)


class MoneyFacts:
    """Random dates and amounts, and the facts about money: each fact method returns one random event (and remembers
    the ids later ones refer to)."""

    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd
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
