"""Valid events of the published contracts, built in memory: what the replay, query and HTTP benchmarks feed in
(the enterprise benchmark's longer histories: ``bench.synthetic_enterprise``).

Every event is a real contract model (``shared.contracts``), dumped the way the event store dumps it, so the
projections and the reporting ledger decode them exactly as they decode the services' own events.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from shared.contracts import budget as b
from shared.contracts import projects as p
from shared.contracts import resources as r
from shared.events import DomainEvent, EventMetadata, RecordedEvent
from shared.ids import new_id
from shared.kafka import to_record
from shared.money import Money

START = date(2026, 1, 5)
END = date(2026, 12, 18)
MILESTONES = 4
META = EventMetadata(actor="bench", correlation_id="bench")


def recorded(event: DomainEvent, stream_id: str, stream_type: str, version: int, at: datetime) -> RecordedEvent:
    """``event`` as the event store would have recorded it."""
    return RecordedEvent(
        event_id=new_id(),
        stream_id=stream_id,
        stream_type=stream_type,
        version=version,
        position=0,
        name=event.event_name,
        schema_version=event.event_version,
        partition_key=event.partition_key,
        data=event.model_dump(mode="json"),
        metadata=META,
        recorded_at=at,
    )


def registration(project_id: uuid.UUID, index: int, portfolio_id: str) -> p.ProjectRegistered:
    return p.ProjectRegistered(
        project_id=project_id,
        portfolio_id=portfolio_id,
        programme_id=None,
        code=f"BENCH-{index:07d}",
        name=f"Benchmark project {index}",
        objectives="Measure the read models",
        sponsor="dora.director",
        manager="max.manager",
        planned_start=START,
        planned_end=END,
        currency="EUR",
    )


def milestone(project_id: uuid.UUID, milestone_id: uuid.UUID, m: int) -> p.MilestonePlanned:
    return p.MilestonePlanned(
        project_id=project_id,
        milestone_id=milestone_id,
        name=f"Milestone {m + 1}",
        due_date=START + timedelta(days=70 * (m + 1)),
        planned_value=Money.of("25000.00", "EUR"),
        acceptance_criteria="Accepted by the sponsor",
    )


def progress(project_id: uuid.UUID, milestone_id: uuid.UUID, m: int) -> p.MilestoneProgressReported:
    return p.MilestoneProgressReported(
        project_id=project_id,
        milestone_id=milestone_id,
        percent_complete=Decimal(60 if m == 0 else 20),
        previous_percent_complete=Decimal(0),
        as_of=START + timedelta(days=60 + 7 * m),
        correction_reason=None,
    )


def baseline(project_id: uuid.UUID) -> b.BudgetBaselined:
    return b.BudgetBaselined(
        project_id=project_id,
        total=Money.of("100000.00", "EUR"),
        categories=[
            b.CategoryAmount(category=b.CostCategory.LABOUR, amount=Money.of("80000.00", "EUR")),
            b.CategoryAmount(category=b.CostCategory.CONTINGENCY, amount=Money.of("20000.00", "EUR")),
        ],
        phasing=[],
        baselined_by="fiona.finance",
    )


def work_sheet(project_id: uuid.UUID, week: int) -> r.WorkSheetApproved:
    week_start = START + timedelta(weeks=week)
    return r.WorkSheetApproved(
        resource_id=new_id(),
        sheet_id=new_id(),
        version=1,
        replaces_version=None,
        project_id=project_id,
        week=f"{week_start.isocalendar().year}-W{week_start.isocalendar().week:02d}",
        week_start=week_start,
        kind=r.ResourceKind.PERSON,
        role="developer",
        vendor_id=None,
        submitted_by="sam.staff",
        approved_by="rita.resources",
        approved_on=week_start + timedelta(days=7),
        entries=[],
        deliverables=[],
        hours=Decimal(40),
        cost=Money.of("3200.00", "EUR"),
        cost_by_milestone=[],
    )


def project_history(
    index: int, portfolio_id: str, at: datetime, work_sheets: int = 3
) -> list[tuple[str, RecordedEvent]]:
    """(service, event) of one project: registration, baseline, 4 milestones, progress on 2, approved work sheets."""
    pid = new_id()
    stream = f"project-{pid}"
    tick = iter(range(1, 1000))
    out: list[tuple[str, RecordedEvent]] = []

    def add(service: str, event: DomainEvent, stream_id: str, stream_type: str, version: int) -> None:
        out.append((service, recorded(event, stream_id, stream_type, version, at + timedelta(seconds=next(tick)))))

    add("projects", registration(pid, index, portfolio_id), stream, "project", 1)
    milestone_ids = [new_id() for _ in range(MILESTONES)]
    for m, mid in enumerate(milestone_ids):
        add("projects", milestone(pid, mid, m), stream, "project", 2 + m)
    add("budget", baseline(pid), f"budget-{pid}", "budget", 1)
    for m, mid in enumerate(milestone_ids[:2]):
        add("projects", progress(pid, mid, m), stream, "project", 2 + MILESTONES + m)
    for w in range(work_sheets):
        sheet = work_sheet(pid, w + 4)
        add("resources", sheet, f"sheet-{sheet.sheet_id}", "work-sheet", 1)
    return out


def projects_topic_records(
    total: int, portfolio_id: str, milestones: int = MILESTONES
) -> Iterator[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    """``total`` Kafka records of the projects service: per project a registration then ``milestones`` milestones."""
    at = datetime.now(UTC)
    made, index = 0, 0
    while made < total:
        pid = new_id()
        stream = f"project-{pid}"
        yield to_record("projects", recorded(registration(pid, index, portfolio_id), stream, "project", 1, at))
        made += 1
        for m in range(milestones):
            if made >= total:
                break
            event = milestone(pid, new_id(), m)
            yield to_record("projects", recorded(event, stream, "project", 2 + m, at))
            made += 1
        index += 1
