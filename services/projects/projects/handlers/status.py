"""A project's weekly status reports (free text and references to the project's RAID log) and its KPIs with their
measurements."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Protocol

from projects import domain, views
from projects.domain.status import NO_REFERENCES, RaidReferences
from projects.handlers.running import Outcome, on_project, today
from shared.commands import CommandContext, Executor
from shared.contracts.projects import KpiDirection, Rag
from shared.ids import new_id
from shared.immutable import frozen


class RaidItems(Protocol):
    """What a status report reads besides the project (:class:`projects.raid_queries.RaidTables`)."""

    async def item_kinds(self, project_id: uuid.UUID, item_ids: Collection[uuid.UUID]) -> Mapping[uuid.UUID, str]: ...


async def file_status_report(
    executor: Executor,
    ctx: CommandContext,
    project_id: uuid.UUID,
    *,
    meeting_date: date,
    schedule: Rag,
    cost: Rag,
    scope: Rag,
    quality: Rag,
    resources: Rag,
    narrative: str,
    decisions: Sequence[str] = (),
    risks: Sequence[str] = (),
    next_steps: Sequence[str] = (),
    overall: Rag | None = None,
    override_reason: str | None = None,
    references: RaidReferences = NO_REFERENCES,
    log: RaidItems | None = None,
) -> Outcome:
    """File a weekly status report (201), answered with the report. The RAID items it refers to are looked up in
    the project's log (``log``; none given: no reference is known) as the log's query table holds them when the
    command starts: an item is never removed from a log, so one found then is still there when the report is
    appended."""
    report_id = new_id()
    ids = references.ids()
    known = await log.item_kinds(project_id, ids) if ids and log is not None else {}
    command = domain.FileStatusReport(
        report_id,
        meeting_date,
        schedule,
        cost,
        scope,
        quality,
        resources,
        narrative,
        tuple(decisions),
        tuple(risks),
        tuple(next_steps),
        overall,
        override_reason,
        references,
        frozen(dict(known)),
    )
    view = views.part_view("status_reports", report_id, "report_id")
    return await on_project(executor, ctx, project_id, command, view, status_code=201)


async def define_kpi(
    executor: Executor,
    ctx: CommandContext,
    project_id: uuid.UUID,
    *,
    name: str,
    unit: str,
    target: Decimal,
    direction: KpiDirection,
    review_date: date,
) -> Outcome:
    """Define a KPI (201), answered with the KPI."""
    kpi_id = new_id()
    command = domain.DefineKpi(kpi_id, name, unit, target, direction, review_date)
    view = views.part_view("kpis", kpi_id, "kpi_id")
    return await on_project(executor, ctx, project_id, command, view, status_code=201)


async def measure_kpi(
    executor: Executor,
    ctx: CommandContext,
    project_id: uuid.UUID,
    kpi_id: uuid.UUID,
    *,
    value: Decimal,
    measured_on: date | None,
    note: str,
) -> Outcome:
    """Record a KPI measurement (201), answered with the KPI and its measurements."""
    command = domain.MeasureKpi(kpi_id, value, today(executor, measured_on), note)
    view = views.part_view("kpis", kpi_id, "kpi_id")
    return await on_project(executor, ctx, project_id, command, view, status_code=201)
