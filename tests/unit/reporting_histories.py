"""Random project histories for the books' property test: every kind of fact the ledger handles, recorded by the four
services in order, then arriving interleaved as from four topics (the facts about money:
:mod:`tests.unit.reporting_money_facts`)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from reporting.domain.ledger import Fact
from shared.contracts import budget as b
from shared.contracts import invoicing as i
from shared.contracts import projects as p
from shared.contracts import resources as r
from shared.contracts.common import MonthAmount
from shared.events import DomainEvent
from shared.money import Money, quantize
from tests.unit.reporting_money_facts import PID, T0, MoneyFacts

__all__ = ["PID", "SERVICES", "T0", "History", "dates_for", "random_history"]

SERVICES = {"projects": p.REGISTRY, "budget": b.REGISTRY, "resources": r.REGISTRY, "invoicing": i.REGISTRY}


def service_of(event: DomainEvent) -> str:
    return next(s for s, reg in SERVICES.items() if (event.event_name, event.event_version) in reg)


class History(MoneyFacts):
    """A random project history: facts per service, each service's facts in the order they were recorded."""

    def __init__(self, rnd: random.Random) -> None:
        super().__init__(rnd)
        self.clock = datetime(2000, 1, 1, tzinfo=UTC)
        self.facts: list[Fact] = []
        self.milestones: list[uuid.UUID] = []
        self.kpis: list[uuid.UUID] = []
        self.communications: list[uuid.UUID] = []

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
