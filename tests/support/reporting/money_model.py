"""Facts of the money model: performance baselines, contingency, expenses, goods, estimates to complete, planned
and secured funding, commitments and exchange rates."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

from reporting.domain.ledger import Fact
from shared.contracts import budget as b
from shared.contracts import invoicing as i
from shared.contracts import projects as p
from shared.contracts.common import Booking, MonthAmount
from shared.money import Money
from tests.support.money import eur
from tests.support.reporting.facts import PID, fact


def item(
    mid: int,
    budget: str,
    start: date,
    due: date,
    technique: p.EvTechnique = p.EvTechnique.PERCENT_COMPLETE,
    *,
    steps: list[tuple[str, date]] | None = None,
    months: list[tuple[str, str]] | None = None,
) -> p.BaselineItem:
    """A PMB item for milestone ``mid`` (``steps``: (weight %, date); ``months``: (YYYY-MM, amount))."""
    return p.BaselineItem(
        milestone_id=uuid.UUID(int=mid),
        name=f"M{mid}",
        budget=eur(budget),
        start=start,
        due=due,
        technique=technique,
        steps=[p.WeightedStep(name=f"step {n}", weight=Decimal(w), on=on) for n, (w, on) in enumerate(steps or [])],
        months=[MonthAmount(month=m, amount=eur(a)) for m, a in months or []],
    )


def pmb(
    version: int, effective_on: date, items: list[p.BaselineItem], reserve: str = "0.00", recorded: date | None = None
) -> Fact:
    """An approved PMB version (its total: the items' budgets added up)."""
    total = sum((x.budget.amount for x in items), Decimal(0))
    return fact(
        p.PerformanceBaselineApproved(
            project_id=PID,
            baseline_id=uuid.uuid4(),
            version=version,
            effective_on=effective_on,
            items=items,
            total=eur(str(total)),
            management_reserve=eur(reserve),
            reason="re-plan" if version > 1 else "first plan",
            proposed_by="pm",
            approved_by="dora.director",
        ),
        recorded or effective_on,
    )


def rescheduled(mid: int, due: date, on: date) -> Fact:
    return fact(
        p.MilestoneRescheduled(
            project_id=PID, milestone_id=uuid.UUID(int=mid), previous_due_date=on, due_date=due, reason="late"
        ),
        on,
    )


def budget_with_contingency(total: str, contingency: str, on: date = date(2027, 1, 3)) -> Fact:
    labour = Decimal(total) - Decimal(contingency)
    return fact(
        b.BudgetBaselined(
            project_id=PID,
            total=eur(total),
            categories=[
                b.CategoryAmount(category=b.CostCategory.LABOUR, amount=eur(str(labour))),
                b.CategoryAmount(category=b.CostCategory.CONTINGENCY, amount=eur(contingency)),
            ],
            phasing=[],
            baselined_by="f",
        ),
        on,
    )


def expense_claimed(
    expense_id: uuid.UUID,
    amount: Money,
    incurred_on: date,
    *,
    category: b.CostCategory = b.CostCategory.TRAVEL,
    booked: Booking | None = None,
) -> Fact:
    return fact(
        i.ExpenseClaimed(
            project_id=PID,
            expense_id=expense_id,
            claimant="sam",
            category=category,
            description="train to the client",
            amount=amount,
            incurred_on=incurred_on,
            receipt_reference="R-1",
            booked=booked,
        ),
        incurred_on,
    )


def expense_approved(expense_id: uuid.UUID, on: date) -> Fact:
    return fact(i.ExpenseApproved(project_id=PID, expense_id=expense_id, approved_by="rita", approved_on=on), on)


def expense_reimbursed(expense_id: uuid.UUID, on: date) -> Fact:
    event = i.ExpenseReimbursed(project_id=PID, expense_id=expense_id, paid_on=on, reference="PAY-1", recorded_by="f")
    return fact(event, on)


def goods_received(
    receipt_id: uuid.UUID,
    amount: Money,
    on: date,
    *,
    category: b.CostCategory = b.CostCategory.MATERIALS,
    booked: Booking | None = None,
) -> Fact:
    return fact(
        i.GoodsReceived(
            project_id=PID,
            receipt_id=receipt_id,
            commitment_id=uuid.UUID(int=99),
            category=category,
            description="licences",
            amount=amount,
            received_on=on,
            received_by="gina",
            booked=booked,
        ),
        on,
    )


def goods_reversed(receipt_id: uuid.UUID, on: date) -> Fact:
    event = i.GoodsReceiptReversed(
        project_id=PID, receipt_id=receipt_id, reversed_on=on, reason="returned", reversed_by="gina"
    )
    return fact(event, on)


def estimate(total_labour: str, total_travel: str, as_of: date, by: str = "pm", recorded: date | None = None) -> Fact:
    """An estimate to complete of labour and travel, phased over May and June 2027."""
    labour, travel = eur(total_labour), eur(total_travel)
    return fact(
        b.EstimateToCompleteSubmitted(
            project_id=PID,
            estimate_id=uuid.uuid4(),
            as_of=as_of,
            categories=[
                b.CategoryEstimate(category=b.CostCategory.LABOUR, amount=labour),
                b.CategoryEstimate(category=b.CostCategory.TRAVEL, amount=travel),
            ],
            months=[MonthAmount(month="2027-05", amount=labour), MonthAmount(month="2027-06", amount=travel)],
            total=labour + travel,
            note="",
            submitted_by=by,
        ),
        recorded or as_of,
    )


def funding_planned(tranche_id: uuid.UUID, amount: str, expected_on: date, recorded: date = date(2027, 1, 3)) -> Fact:
    return fact(
        b.FundingPlanned(
            project_id=PID,
            source_id=uuid.uuid4(),
            tranche_id=tranche_id,
            amount=eur(amount),
            expected_on=expected_on,
            planned_by="f",
        ),
        recorded,
    )


def funding_secured(tranche_id: uuid.UUID, amount: Money, available_on: date, booked: Booking | None = None) -> Fact:
    return fact(
        b.FundingSecured(
            project_id=PID,
            source_id=uuid.uuid4(),
            tranche_id=tranche_id,
            amount=amount,
            available_on=available_on,
            booked=booked,
        ),
        available_on,
    )


def committed(
    commitment_id: uuid.UUID, amount: Money, expected: list[tuple[date, str]], booked: Booking | None = None
) -> Fact:
    return fact(
        b.BudgetCommitted(
            project_id=PID,
            commitment_id=commitment_id,
            kind=b.CommitmentKind.PURCHASE_ORDER,
            vendor="Acme",
            reference="PO-1",
            category=b.CostCategory.MATERIALS,
            milestone_id=None,
            amount=amount,
            expected_invoices=[b.InvoiceExpectation(on=on, amount=Money.of(a, amount.currency)) for on, a in expected],
            overrun=None,
            policy=b.OverrunPolicy.WARN,
            requested_by="f",
            approved_by=None,
            booked=booked,
        ),
        date(2027, 1, 3),
    )


def exchange_rate(base: str, quote: str, rate: str, effective_on: date, recorded: datetime | None = None) -> Fact:
    """An ``exchange-rate-recorded`` (about no project: its key is ``fx:<base>-<quote>``)."""
    event = b.ExchangeRateRecorded(
        base=base, quote=quote, rate=Decimal(rate), effective_on=effective_on, source="ECB", recorded_by="finance"
    )
    made = fact(event, effective_on)
    return made if recorded is None else replace(made, recorded_at=recorded)
