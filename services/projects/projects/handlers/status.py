"""A project's weekly status reports and its KPIs with their measurements."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from projects import domain, views
from projects.handlers.running import Outcome, on_project, today
from shared.commands import CommandContext, Executor
from shared.contracts.projects import KpiDirection, Rag
from shared.ids import new_id


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
) -> Outcome:
    """File a weekly status report (201), answered with the report."""
    report_id = new_id()
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
