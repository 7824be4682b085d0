"""Facts for reporting tests: contract events wrapped as the reporting service stores them."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from reporting.domain.ledger import Fact
from shared.contracts import budget as b
from shared.contracts import invoicing as i
from shared.contracts import projects as p
from shared.contracts import resources as r
from shared.contracts.common import Booking, MonthAmount
from shared.events import DomainEvent
from shared.money import Money

SERVICE = {p.REGISTRY: "projects", b.REGISTRY: "budget", r.REGISTRY: "resources", i.REGISTRY: "invoicing"}
PID = uuid.UUID(int=1)


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


def usd(amount: str) -> Money:
    return Money.of(amount, "USD")


def booking(amount: Money, rate: str, on: date = date(2027, 3, 1)) -> Booking:
    """``amount`` booked in EUR at ``rate`` (rounded once, half-even, by the contract's rule)."""
    return Booking.of(amount, "EUR", Decimal(rate), on, "ECB reference rate")


def fact(event: DomainEvent, recorded: date) -> Fact:
    service = next(s for reg, s in SERVICE.items() if (event.event_name, event.event_version) in reg)
    return Fact(
        uuid.uuid4(),
        service,
        event.event_name,
        event.event_version,
        datetime(recorded.year, recorded.month, recorded.day, 12, tzinfo=UTC),
        event.model_dump(mode="json"),
    )


def registered(on: date = date(2027, 1, 2)) -> Fact:
    return fact(
        p.ProjectRegistered(
            project_id=PID,
            portfolio_id="pf",
            programme_id=None,
            code="CRM",
            name="CRM",
            objectives="",
            sponsor="s",
            manager="m",
            planned_start=date(2027, 1, 4),
            planned_end=date(2027, 12, 17),
            currency="EUR",
        ),
        on,
    )


def started(on: date = date(2027, 1, 4)) -> Fact:
    return fact(p.ProjectStarted(project_id=PID, started_on=on), on)


def milestone(mid: int, pv: str, due: date, recorded: date = date(2027, 1, 3)) -> Fact:
    return fact(
        p.MilestonePlanned(
            project_id=PID,
            milestone_id=uuid.UUID(int=mid),
            name=f"M{mid}",
            due_date=due,
            planned_value=eur(pv),
            acceptance_criteria="",
        ),
        recorded,
    )


def progress(mid: int, percent: str, as_of: date) -> Fact:
    return fact(
        p.MilestoneProgressReported(
            project_id=PID,
            milestone_id=uuid.UUID(int=mid),
            percent_complete=Decimal(percent),
            previous_percent_complete=Decimal(0),
            as_of=as_of,
            correction_reason=None,
        ),
        as_of,
    )


def reached(mid: int, pv: str, on: date) -> Fact:
    return fact(
        p.MilestoneReached(
            project_id=PID,
            milestone_id=uuid.UUID(int=mid),
            name=f"M{mid}",
            planned_value=eur(pv),
            due_date=on,
            reached_on=on,
            accepted_by="d",
            acceptance_note="",
        ),
        on,
    )


def baseline(total: str, on: date = date(2027, 1, 3)) -> Fact:
    return fact(
        b.BudgetBaselined(
            project_id=PID,
            total=eur(total),
            categories=[b.CategoryAmount(category=b.CostCategory.LABOUR, amount=eur(total))],
            phasing=[],
            baselined_by="f",
        ),
        on,
    )


def change(amount: str, category_after: str, on: date) -> Fact:
    return fact(
        b.BudgetChangeApproved(
            project_id=PID,
            change_id=uuid.uuid4(),
            category=b.CostCategory.LABOUR,
            amount=eur(amount),
            approved_by="f",
            bac_after=eur(category_after),
            category_budget_after=eur(category_after),
        ),
        on,
    )


def work(
    cost: str,
    approved_on: date,
    *,
    currency: str = "EUR",
    booked: Booking | None = None,
    kind: r.ResourceKind = r.ResourceKind.PERSON,
) -> Fact:
    return fact(
        r.WorkSheetApproved(
            resource_id=uuid.uuid4(),
            sheet_id=uuid.uuid4(),
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
            cost=Money.of(cost, currency),
            cost_by_milestone=[],
            booked=booked,
        ),
        approved_on,
    )


def secured(amount: str, available_on: date, recorded: date = date(2027, 1, 3)) -> Fact:
    return fact(
        b.FundingSecured(
            project_id=PID,
            source_id=uuid.uuid4(),
            tranche_id=uuid.uuid4(),
            amount=eur(amount),
            available_on=available_on,
        ),
        recorded,
    )


def invoice_received(
    invoice_id: uuid.UUID,
    net: str,
    due: date,
    received: date,
    *,
    currency: str = "EUR",
    tax: str = "0.00",
    booked: Booking | None = None,
) -> Fact:
    return fact(
        i.InvoiceReceived(
            project_id=PID,
            invoice_id=invoice_id,
            vendor="Acme",
            number=f"INV-{invoice_id.int % 1000}",
            issued_on=received,
            received_on=received,
            due_on=due,
            currency=currency,
            commitment_reference="PO-1",
            lines=[],
            net=Money.of(net, currency),
            tax=Money.of(tax, currency),
            total=Money.of(Decimal(net) + Decimal(tax), currency),
            received_by="f",
            booked=booked,
        ),
        received,
    )


def invoice_matched(invoice_id: uuid.UUID, net: str, backed: str, on: date, matched: bool) -> Fact:
    fields: dict[str, Any] = dict(
        project_id=PID,
        invoice_id=invoice_id,
        invoiced=eur(net),
        backed=eur(backed),
        lines=[],
        commitment_id=None,
        commitment_remaining=None,
        tolerance=Decimal("0.02"),
        matched_by="m",
    )
    if matched:
        return fact(i.InvoiceMatched(**fields), on)
    discrepancy = i.Discrepancy(check=i.MatchCheck.UNDER_BACKED, line=1, detail="short")
    return fact(i.InvoiceMismatched(**fields, discrepancies=[discrepancy]), on)


def invoice_approved(invoice_id: uuid.UUID, net: str, on: date) -> Fact:
    return fact(
        i.InvoiceApproved(
            project_id=PID,
            invoice_id=invoice_id,
            approved_by="f",
            override=True,
            override_reason="agreed",
            overridden=[],
            amount_due=eur(net),
        ),
        on,
    )


def invoice_paid(
    invoice_id: uuid.UUID, amount: str, remaining: str, on: date, *, currency: str = "EUR", total_paid: str = ""
) -> Fact:
    return fact(
        i.InvoicePaid(
            project_id=PID,
            invoice_id=invoice_id,
            payment_id=uuid.uuid4(),
            amount=Money.of(amount, currency),
            paid_on=on,
            reference=None,
            recorded_by="f",
            total_paid=Money.of(total_paid or amount, currency),
            remaining=Money.of(remaining, currency),
            fully_paid=Decimal(remaining) == 0,
        ),
        on,
    )


# --- the money model: baselines, expenses, goods, estimates, planned funding, rates -----------------------------


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


def for_project(fact_: Fact, project_id: uuid.UUID, recorded_at: datetime) -> Fact:
    """A fact of the builders above, for ``project_id`` (not the shared ``PID``; its milestone ids made the
    project's own too), recorded at ``recorded_at``."""
    data = {**fact_.data, "project_id": str(project_id)}
    if "milestone_id" in data and data["milestone_id"] is not None:
        data["milestone_id"] = str(uuid.uuid5(project_id, str(data["milestone_id"])))
    if "items" in data:  # a performance baseline's items name milestones too
        data["items"] = [{**x, "milestone_id": str(uuid.uuid5(project_id, x["milestone_id"]))} for x in data["items"]]
    return replace(fact_, data=data, recorded_at=recorded_at)


async def publish_facts(kafka: Any, facts: list[Fact]) -> None:
    """The facts as their services publish them: CloudEvents keyed by project, ``ce_time`` = recorded time."""
    from shared.events import EventMetadata, RecordedEvent
    from shared.kafka import new_producer, to_record

    topics = {"projects": p.TOPIC, "budget": b.TOPIC, "resources": r.TOPIC, "invoicing": i.TOPIC}
    producer = new_producer(kafka)
    await producer.start()
    try:
        for f in facts:
            recorded = RecordedEvent(
                event_id=f.event_id,
                stream_id=f"test-{f.event_id}",
                stream_type="test",
                version=1,
                position=0,
                name=f.name,
                schema_version=f.version,
                partition_key=f.data.get("project_id") or f"fx:{f.data['base']}-{f.data['quote']}",
                data=f.data,
                metadata=EventMetadata("tester", "reporting-test"),
                recorded_at=f.recorded_at,
            )
            key, value, headers = to_record(f.service, recorded)
            await producer.send_and_wait(topics[f.service], value=value, key=key, headers=headers)
    finally:
        await producer.stop()
