"""Facts as the reporting service stores them: a contract event wrapped with its service and recorded time, and
the project, milestone, budget, work and invoice facts most reporting tests start from."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from reporting.domain.ledger import Fact
from shared.contracts import budget as b
from shared.contracts import invoicing as i
from shared.contracts import projects as p
from shared.contracts import resources as r
from shared.contracts.common import Booking
from shared.events import DomainEvent
from shared.money import Money
from tests.support.money import eur

SERVICE = {p.REGISTRY: "projects", b.REGISTRY: "budget", r.REGISTRY: "resources", i.REGISTRY: "invoicing"}

PID = uuid.UUID(int=1)


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
