"""A project's weekly status reports and its KPIs: commands, errors, ``decide`` and ``evolve``.

A status report's overall RAG is the worst of its dimensions unless overridden with a reason. Besides its free text
(decisions, risks, next steps: still accepted), a report refers to items of the project's RAID log by kind
(``risk_ids``, ``issue_ids``, ``assumption_ids``, ``decision_ids``, ``dependency_ids``): each must be an item of that
kind in the project's own log (the command carries what the log holds, :attr:`FileStatusReport.known_items`),
listed once; otherwise 422 naming the list and the position. A KPI has a target and a direction; each measurement
records whether the target is met.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
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

RAID_KINDS = ("risk", "issue", "assumption", "decision", "dependency")
"""The kinds of RAID items a status report refers to; the list of each kind is ``<kind>_ids``."""

# --- commands -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RaidReferences:
    """The RAID log's items a status report refers to, by kind."""

    risk_ids: tuple[UUID, ...] = ()
    issue_ids: tuple[UUID, ...] = ()
    assumption_ids: tuple[UUID, ...] = ()
    decision_ids: tuple[UUID, ...] = ()
    dependency_ids: tuple[UUID, ...] = ()

    def by_kind(self) -> Iterator[tuple[str, tuple[UUID, ...]]]:
        """Each kind with its ids, in :data:`RAID_KINDS` order."""
        for kind in RAID_KINDS:
            yield kind, getattr(self, f"{kind}_ids")

    def ids(self) -> frozenset[UUID]:
        return frozenset(i for _, ids in self.by_kind() for i in ids)


NO_REFERENCES = RaidReferences()


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
    raid: RaidReferences = NO_REFERENCES
    known_items: Mapping[UUID, str] = field(default_factory=lambda: frozen({}))
    """The fact the command carries: the kind of each referenced id that is an item of the project's RAID log
    (an id missing here is not)."""


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
    _check_references(command.raid, command.known_items)
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
        risk_ids=list(command.raid.risk_ids),
        issue_ids=list(command.raid.issue_ids),
        assumption_ids=list(command.raid.assumption_ids),
        decision_ids=list(command.raid.decision_ids),
        dependency_ids=list(command.raid.dependency_ids),
    )


def _check_references(references: RaidReferences, known: Mapping[UUID, str]) -> None:
    """Each referenced id is an item of its list's kind in the project's log, listed once; else 422 naming
    ``<kind>_ids.<position>``."""
    for kind, ids in references.by_kind():
        seen: set[UUID] = set()
        for index, item_id in enumerate(ids):
            where = f"{kind}_ids.{index}"
            if item_id in seen:
                raise InvalidCommandError(f"{kind} {item_id} is listed twice", field=where)
            seen.add(item_id)
            found = known.get(item_id)
            if found is None:
                raise InvalidCommandError(f"{item_id} is not an item of this project's RAID log", field=where)
            if found != kind:
                raise InvalidCommandError(
                    f"{item_id} is {_article(found)} {found} of the RAID log, not {_article(kind)} {kind}: list it "
                    f"in {found}_ids",
                    field=where,
                )


def _article(kind: str) -> str:
    return "an" if kind[0] in "aeiou" else "a"


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
                tuple(event.risk_ids),
                tuple(event.issue_ids),
                tuple(event.assumption_ids),
                tuple(event.decision_ids),
                tuple(event.dependency_ids),
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
