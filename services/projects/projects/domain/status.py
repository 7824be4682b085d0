"""A project's weekly status reports and its KPIs: commands, errors, ``decide`` and ``evolve``.

A status report's overall RAG is the worst of its dimensions unless overridden with a reason. A KPI has a target
and a direction; each measurement records whether the target is met.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import assert_never
from uuid import UUID

from projects.domain.rules import not_future
from projects.domain.state import Kpi, Measurement, Project, ProjectStatus, StatusReport
from shared.contracts.projects import KpiDefined, KpiDirection, KpiMeasured, Rag, StatusReported
from shared.errors import InvalidCommandError, NotFoundError, RuleViolationError
from shared.events import DomainEvent
from shared.immutable import frozen

RAG_ORDER = {Rag.GREEN: 0, Rag.AMBER: 1, Rag.RED: 2}
REPORTING = frozenset({ProjectStatus.APPROVED, ProjectStatus.ACTIVE, ProjectStatus.ON_HOLD})
"""Statuses in which a project files status reports."""

# --- commands -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileStatusReport:
    report_id: UUID
    meeting_date: date
    schedule: Rag
    cost: Rag
    scope: Rag
    quality: Rag
    resources: Rag
    narrative: str
    decisions: tuple[str, ...] = ()
    risks: tuple[str, ...] = ()
    next_steps: tuple[str, ...] = ()
    overall: Rag | None = None
    override_reason: str | None = None


@dataclass(frozen=True)
class DefineKpi:
    kpi_id: UUID
    name: str
    unit: str
    target: Decimal
    direction: KpiDirection
    review_date: date


@dataclass(frozen=True)
class MeasureKpi:
    kpi_id: UUID
    value: Decimal
    measured_on: date
    note: str = ""


StatusCommand = FileStatusReport | DefineKpi | MeasureKpi
StatusEvent = StatusReported | KpiDefined | KpiMeasured

# --- errors -------------------------------------------------------------------------------------------------


class UnknownKpiError(NotFoundError):
    """The command names a KPI that is not defined on the project."""


# --- decide -------------------------------------------------------------------------------------------------


def overall_rag(*rags: Rag) -> Rag:
    """The worst of the dimensions: red if any is red, else amber if any is amber, else green."""
    return max(rags, key=RAG_ORDER.__getitem__)


def decide(state: Project, project_id: UUID, command: StatusCommand, today: date) -> list[DomainEvent]:
    """The events a status-report or KPI command causes on the open project ``state``, or an error saying why not."""
    match command:
        case FileStatusReport():
            return [_status_report(state, project_id, command, today)]
        case DefineKpi():
            if command.kpi_id in state.kpis:
                raise RuleViolationError(f"KPI {command.kpi_id} is already defined")
            if any(k.name.casefold() == command.name.casefold() for k in state.kpis.values()):
                raise RuleViolationError(f"a KPI named {command.name} already exists on this project")
            return [
                KpiDefined(
                    project_id=project_id,
                    kpi_id=command.kpi_id,
                    name=command.name,
                    unit=command.unit,
                    target=command.target,
                    direction=command.direction,
                    review_date=command.review_date,
                )
            ]
        case MeasureKpi():
            return [_measurement(state, project_id, command, today)]
        case _:
            assert_never(command)


def _status_report(state: Project, project_id: UUID, command: FileStatusReport, today: date) -> StatusReported:
    if state.status not in REPORTING:
        raise RuleViolationError(f"a {state.status} project files no status report; approve it first")
    not_future(command.meeting_date, today, "meeting_date")
    if any(r.report_id == command.report_id for r in state.status_reports):
        raise RuleViolationError(f"status report {command.report_id} is already filed")
    computed = overall_rag(command.schedule, command.cost, command.scope, command.quality, command.resources)
    overall = command.overall or computed
    overridden = overall is not computed
    if overridden and not (command.override_reason and command.override_reason.strip()):
        raise InvalidCommandError(
            f"overall is {computed.value} from the dimensions; overriding it to {overall.value} needs an "
            "override_reason",
            field="override_reason",
        )
    return StatusReported(
        project_id=project_id,
        report_id=command.report_id,
        meeting_date=command.meeting_date,
        schedule=command.schedule,
        cost=command.cost,
        scope=command.scope,
        quality=command.quality,
        resources=command.resources,
        overall=overall,
        overall_overridden=overridden,
        override_reason=command.override_reason if overridden else None,
        narrative=command.narrative,
        decisions=list(command.decisions),
        risks=list(command.risks),
        next_steps=list(command.next_steps),
    )


def _measurement(state: Project, project_id: UUID, command: MeasureKpi, today: date) -> KpiMeasured:
    kpi = state.kpis.get(command.kpi_id)
    if kpi is None:
        raise UnknownKpiError(f"KPI {command.kpi_id} is not defined on this project")
    not_future(command.measured_on, today, "measured_on")
    met = command.value >= kpi.target if kpi.direction is KpiDirection.AT_LEAST else command.value <= kpi.target
    return KpiMeasured(
        project_id=project_id,
        kpi_id=kpi.kpi_id,
        name=kpi.name,
        unit=kpi.unit,
        value=command.value,
        target=kpi.target,
        direction=kpi.direction,
        review_date=kpi.review_date,
        measured_on=command.measured_on,
        target_met=met,
        note=command.note,
    )


# --- evolve -------------------------------------------------------------------------------------------------


def evolve(state: Project, event: StatusEvent) -> Project:
    """The project after a status-report or KPI event; reports stay sorted by meeting date."""
    match event:
        case StatusReported():
            report = StatusReport(
                event.report_id,
                event.meeting_date,
                event.schedule,
                event.cost,
                event.scope,
                event.quality,
                event.resources,
                event.overall,
                event.overall_overridden,
                event.override_reason,
                event.narrative,
                tuple(event.decisions),
                tuple(event.risks),
                tuple(event.next_steps),
            )
            reports = sorted((*state.status_reports, report), key=lambda r: r.meeting_date)
            return replace(state, status_reports=tuple(reports))
        case KpiDefined():
            kpi = Kpi(event.kpi_id, event.name, event.unit, event.target, event.direction, event.review_date)
            return replace(state, kpis=frozen({**state.kpis, kpi.kpi_id: kpi}))
        case KpiMeasured():
            kpi = state.kpis[event.kpi_id]
            measurement = Measurement(event.value, event.measured_on, event.target_met, event.note)
            updated = replace(kpi, measurements=(*kpi.measurements, measurement))
            return replace(state, kpis=frozen({**state.kpis, kpi.kpi_id: updated}))
        case _:
            assert_never(event)
