"""A synthetic enterprise project's history (``bench.enterprise``'s portfolio): valid contract events of every
service, week by week, dumped the way the event store dumps them (:func:`bench.synthetic.recorded`)."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from bench.synthetic import START, recorded
from shared.contracts import budget as b
from shared.contracts import invoicing as i
from shared.contracts import projects as p
from shared.contracts import resources as r
from shared.events import DomainEvent, RecordedEvent
from shared.ids import new_id
from shared.money import Money


@dataclass(frozen=True)
class Shape:
    """How much history one synthetic enterprise project has: ``weeks`` of work by ``people`` employees and
    ``vendors`` subcontractors (one weekly sheet each; each vendor invoices monthly against its subcontract), over
    ``milestones`` milestones, with ``kpis`` KPIs measured every other week."""

    weeks: int
    people: int = 4
    vendors: int = 1
    milestones: int = 8
    kpis: int = 2


PERSON_RATE = Decimal("80.00")
VENDOR_RATE = Decimal("95.00")
RAGS = (p.Rag.GREEN, p.Rag.GREEN, p.Rag.GREEN, p.Rag.AMBER, p.Rag.RED)


def _eur(amount: Decimal) -> Money:
    return Money.of(amount.quantize(Decimal("0.01")), "EUR")


def _sheet(
    project_id: uuid.UUID, resource_id: uuid.UUID, week_start: date, vendor: str | None, milestone_id: uuid.UUID
) -> r.WorkSheetApproved:
    """A 40-hour week (five costed days) of a person or a subcontractor, approved on its Friday."""
    rate = VENDOR_RATE if vendor else PERSON_RATE
    days = [
        r.CostedEntry(
            day=week_start + timedelta(days=d),
            milestone_id=milestone_id,
            hours=Decimal(8),
            hourly_rate=_eur(rate),
            rate_source=r.RateSource.RESOURCE,
            rate_effective_from=START,
            cost=_eur(rate * 8),
        )
        for d in range(5)
    ]
    iso = week_start.isocalendar()
    return r.WorkSheetApproved(
        resource_id=resource_id,
        sheet_id=new_id(),
        version=1,
        replaces_version=None,
        project_id=project_id,
        week=f"{iso.year}-W{iso.week:02d}",
        week_start=week_start,
        kind=r.ResourceKind.SUBCONTRACTOR if vendor else r.ResourceKind.PERSON,
        role="consultant" if vendor else "developer",
        vendor_id=vendor,
        submitted_by="sam.staff",
        approved_by="rita.resources",
        approved_on=week_start + timedelta(days=4),
        entries=days,
        deliverables=[],
        hours=Decimal(40),
        cost=_eur(rate * 40),
        cost_by_milestone=[r.MilestoneCost(milestone_id=milestone_id, hours=Decimal(40), cost=_eur(rate * 40))],
    )


def _invoice(
    pid: uuid.UUID, index: int, vendor: str, reference: str, month: int, sheets: list[r.WorkSheetApproved], on: date
) -> tuple[i.InvoiceReceived, i.InvoiceMatched, i.InvoiceApproved, i.InvoicePaid]:
    """A vendor's monthly invoice billing its approved sheets: received, matched (fully backed), approved, paid."""
    invoice_id = new_id()
    net = sum((s.cost.amount for s in sheets), Decimal(0))
    tax = (net * Decimal("0.20")).quantize(Decimal("0.01"))
    line = i.InvoiceLine(
        line=1,
        description=f"Consulting, month {month + 1}",
        quantity=Decimal(len(sheets)),
        unit_price=_eur(VENDOR_RATE * 40),
        amount=_eur(net),
        tax_rate=Decimal("0.20"),
        tax=_eur(tax),
        bills=[i.WorkReference(sheet_id=s.sheet_id) for s in sheets],
    )
    received = i.InvoiceReceived(
        project_id=pid,
        invoice_id=invoice_id,
        vendor=vendor,
        number=f"INV-{index}-{vendor}-{month + 1:03d}",
        issued_on=on,
        received_on=on,
        due_on=on + timedelta(days=30),
        currency="EUR",
        commitment_reference=reference,
        lines=[line],
        net=_eur(net),
        tax=_eur(tax),
        total=_eur(net + tax),
        received_by="fiona.finance",
    )
    matched = i.InvoiceMatched(
        project_id=pid,
        invoice_id=invoice_id,
        invoiced=_eur(net),
        backed=_eur(net),
        lines=[
            i.LineMatch(line=1, invoiced=_eur(net), backed=_eur(net), shortfall=_eur(Decimal(0)), within_tolerance=True)
        ],
        commitment_id=None,
        commitment_remaining=None,
        tolerance=Decimal("0.02"),
        matched_by="system:invoicing-matcher",
    )
    approved = i.InvoiceApproved(
        project_id=pid,
        invoice_id=invoice_id,
        approved_by="fred.finance",
        override=False,
        override_reason=None,
        overridden=[],
        amount_due=_eur(net + tax),
    )
    paid = i.InvoicePaid(
        project_id=pid,
        invoice_id=invoice_id,
        payment_id=new_id(),
        amount=_eur(net + tax),
        paid_on=on + timedelta(days=14),
        reference=f"PAY-{invoice_id.hex[:8]}",
        recorded_by="fiona.finance",
        total_paid=_eur(net + tax),
        remaining=_eur(Decimal(0)),
        fully_paid=True,
    )
    return received, matched, approved, paid


def enterprise_history(
    index: int, portfolio_id: str, programme_id: str | None, until: date, shape: Shape, rng: random.Random
) -> list[tuple[str, RecordedEvent]]:
    """(service, event) of one project whose work ran ``shape.weeks`` weeks up to ``until``, in the order they
    were recorded (each at its business date): registration, approval and start; a budget baseline with
    categories, a funding source with quarterly tranches, a subcontract per vendor and a yearly approved budget
    change; milestones with weekly progress, reached at their due dates; every week each person's and vendor's
    approved work sheet, a status report and (every other week) each KPI's measurement; every four weeks each
    vendor's invoice for its sheets, matched, approved a week later and paid two weeks after receipt. Nothing
    dated after ``until`` is kept. The project plans 26 more weeks after ``until``."""
    pid = new_id()
    start = until - timedelta(days=until.weekday()) - timedelta(weeks=shape.weeks)
    planned_weeks = shape.weeks + 26
    end = start + timedelta(weeks=planned_weeks)
    code = f"ENT-{index:05d}"
    out: list[tuple[datetime, str, DomainEvent, str, str]] = []
    tick = iter(range(1_000_000))

    def add(day: date, service: str, event: DomainEvent, stream_id: str, stream_type: str) -> None:
        if day <= until:
            at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=9, seconds=next(tick))
            out.append((at, service, event, stream_id, stream_type))

    project, budget_stream = f"project-{pid}", f"budget-{pid}"
    registered = p.ProjectRegistered(
        project_id=pid,
        portfolio_id=portfolio_id,
        programme_id=programme_id,
        code=code,
        name=f"Enterprise project {index}",
        objectives="Deliver the programme's part",
        sponsor="dora.director",
        manager="max.manager",
        planned_start=start,
        planned_end=end,
        currency="EUR",
        registered_by="pia.pmo",
    )
    add(start - timedelta(days=21), "projects", registered, project, "project")
    add(
        start - timedelta(days=14),
        "projects",
        p.ProjectApproved(project_id=pid, approved_by="dora.director", approved_on=start - timedelta(days=14), note=""),
        project,
        "project",
    )
    labour = PERSON_RATE * 40 * shape.people * planned_weeks
    subcontracting = VENDOR_RATE * 40 * shape.vendors * planned_weeks
    contingency = ((labour + subcontracting) / 10).quantize(Decimal("0.01"))
    categories = [(b.CostCategory.LABOUR, labour), (b.CostCategory.SUBCONTRACTING, subcontracting)]
    categories = [(c, a) for c, a in categories if a] + [(b.CostCategory.CONTINGENCY, contingency)]
    total = sum((a for _, a in categories), Decimal(0))
    baseline = b.BudgetBaselined(
        project_id=pid,
        total=_eur(total),
        categories=[b.CategoryAmount(category=c, amount=_eur(a)) for c, a in categories],
        phasing=[],
        baselined_by="fiona.finance",
    )
    add(start - timedelta(days=10), "budget", baseline, budget_stream, "budget")
    source = new_id()
    add(
        start - timedelta(days=10),
        "budget",
        b.FundingSourceAdded(project_id=pid, source_id=source, name="Capital budget", kind=b.FundingKind.INTERNAL),
        budget_stream,
        "budget",
    )
    quarters = max(1, planned_weeks // 13)
    for q in range(quarters):
        tranche = b.FundingSecured(
            project_id=pid,
            source_id=source,
            tranche_id=new_id(),
            amount=_eur(total / quarters),
            available_on=start + timedelta(weeks=13 * q),
        )
        add(start - timedelta(days=10), "budget", tranche, budget_stream, "budget")
    vendors = [f"vendor-{rng.randrange(1, 200):03d}-{v}" for v in range(shape.vendors)]
    references = [f"PO-{code}-{v}" for v in range(shape.vendors)]
    for vendor, reference in zip(vendors, references, strict=True):
        monthly = VENDOR_RATE * 40 * 4
        committed = b.BudgetCommitted(
            project_id=pid,
            commitment_id=new_id(),
            kind=b.CommitmentKind.SUBCONTRACT,
            vendor=vendor,
            reference=reference,
            category=b.CostCategory.SUBCONTRACTING,
            milestone_id=None,
            amount=_eur(monthly * (planned_weeks // 4)),
            expected_invoices=[
                b.InvoiceExpectation(on=start + timedelta(weeks=4 * (m + 1)), amount=_eur(monthly))
                for m in range(planned_weeks // 4)
            ],
            overrun=None,
            policy=b.OverrunPolicy.WARN,
            requested_by="fiona.finance",
            approved_by=None,
        )
        add(start - timedelta(days=7), "budget", committed, budget_stream, "budget")
    milestone_ids = [new_id() for _ in range(shape.milestones)]
    span = (end - start).days
    dues = [start + timedelta(days=span * (m + 1) // shape.milestones) for m in range(shape.milestones)]
    pv = ((labour + subcontracting) / shape.milestones).quantize(Decimal("0.01"))
    for m, (mid, due) in enumerate(zip(milestone_ids, dues, strict=True)):
        planned = p.MilestonePlanned(
            project_id=pid,
            milestone_id=mid,
            name=f"Milestone {m + 1}",
            due_date=due,
            planned_value=_eur(pv),
            acceptance_criteria="Accepted by the sponsor",
        )
        add(start - timedelta(days=7), "projects", planned, project, "project")
    kpi_ids = [new_id() for _ in range(shape.kpis)]
    for k, kid in enumerate(kpi_ids):
        defined = p.KpiDefined(
            project_id=pid,
            kpi_id=kid,
            name=f"KPI {k + 1}",
            unit="%",
            target=Decimal(90),
            direction=p.KpiDirection.AT_LEAST,
            review_date=end,
        )
        add(start - timedelta(days=7), "projects", defined, project, "project")
    add(start, "projects", p.ProjectStarted(project_id=pid, started_on=start), project, "project")
    people = [(new_id(), None) for _ in range(shape.people)] + [(new_id(), v) for v in vendors]
    vendor_sheets: dict[str, list[r.WorkSheetApproved]] = {v: [] for v in vendors}
    reached: set[int] = set()
    percent = Decimal(0)
    for w in range(shape.weeks):
        monday = start + timedelta(weeks=w)
        friday = monday + timedelta(days=4)
        current = next((m for m, due in enumerate(dues) if due > friday), shape.milestones - 1)
        for m in range(current):
            if m not in reached:
                reached.add(m)
                done = p.MilestoneReached(
                    project_id=pid,
                    milestone_id=milestone_ids[m],
                    name=f"Milestone {m + 1}",
                    planned_value=_eur(pv),
                    due_date=dues[m],
                    reached_on=min(dues[m] + timedelta(days=rng.randrange(0, 5)), friday),
                    accepted_by="dora.director",
                    acceptance_note="",
                )
                add(friday, "projects", done, project, "project")
                percent = Decimal(0)
        for k, kid in enumerate(kpi_ids):
            if w % 2 == 0:
                value = Decimal(rng.randrange(80, 101))
                measured = p.KpiMeasured(
                    project_id=pid,
                    kpi_id=kid,
                    name=f"KPI {k + 1}",
                    unit="%",
                    value=value,
                    target=Decimal(90),
                    direction=p.KpiDirection.AT_LEAST,
                    review_date=end,
                    measured_on=monday + timedelta(days=2),
                    target_met=value >= 90,
                    note="",
                )
                add(monday + timedelta(days=2), "projects", measured, project, "project")
        overall = rng.choice(RAGS)
        status = p.StatusReported(
            project_id=pid,
            report_id=new_id(),
            meeting_date=monday + timedelta(days=3),
            schedule=overall,
            cost=rng.choice(RAGS),
            scope=p.Rag.GREEN,
            quality=p.Rag.GREEN,
            resources=rng.choice(RAGS),
            overall=overall,
            overall_overridden=False,
            override_reason=None,
            narrative=f"Week {w + 1}: work goes on as planned.",
            decisions=[],
            risks=["Key people may leave"] if overall is not p.Rag.GREEN else [],
            next_steps=["Continue"],
        )
        add(monday + timedelta(days=3), "projects", status, project, "project")
        for resource_id, vendor in people:
            sheet = _sheet(pid, resource_id, monday, vendor, milestone_ids[current])
            add(friday, "resources", sheet, f"sheet-{sheet.sheet_id}", "work-sheet")
            if vendor is not None:
                vendor_sheets[vendor].append(sheet)
        previous = percent
        window_start = dues[current - 1] if current else start
        elapsed = (friday - window_start).days / max(1, (dues[current] - window_start).days)
        percent = Decimal(min(99, int(elapsed * 100)))
        progress = p.MilestoneProgressReported(
            project_id=pid,
            milestone_id=milestone_ids[current],
            percent_complete=percent,
            previous_percent_complete=previous,
            as_of=friday,
            correction_reason=None,
        )
        add(friday, "projects", progress, project, "project")
        if w % 4 == 3:
            for vendor, reference in zip(vendors, references, strict=True):
                billed, vendor_sheets[vendor] = vendor_sheets[vendor], []
                invoice = _invoice(pid, index, vendor, reference, w // 4, billed, friday)
                stream = f"invoice-{invoice[0].invoice_id}"
                add(friday, "invoicing", invoice[0], stream, "invoice")
                add(friday, "invoicing", invoice[1], stream, "invoice")
                add(friday + timedelta(days=7), "invoicing", invoice[2], stream, "invoice")
                add(friday + timedelta(days=14), "invoicing", invoice[3], stream, "invoice")
        if w % 52 == 51:
            change_id, amount = new_id(), (labour / 20).quantize(Decimal("0.01"))
            labour += amount
            total += amount
            requested = b.BudgetChangeRequested(
                project_id=pid,
                change_id=change_id,
                category=b.CostCategory.LABOUR,
                amount=_eur(amount),
                reason="Scope added by the sponsor",
                requested_by="max.manager",
            )
            approved = b.BudgetChangeApproved(
                project_id=pid,
                change_id=change_id,
                category=b.CostCategory.LABOUR,
                amount=_eur(amount),
                approved_by="fiona.finance",
                bac_after=_eur(total),
                category_budget_after=_eur(labour),
            )
            add(monday, "budget", requested, budget_stream, "budget")
            add(monday + timedelta(days=1), "budget", approved, budget_stream, "budget")
    out.sort(key=lambda x: x[0])
    versions: dict[str, int] = {}
    history = []
    for at, service, event, stream_id, stream_type in out:
        versions[stream_id] = versions.get(stream_id, 0) + 1
        history.append((service, recorded(event, stream_id, stream_type, versions[stream_id], at)))
    return history
