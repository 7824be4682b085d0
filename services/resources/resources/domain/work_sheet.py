"""Work sheets: a resource's hours (or a subcontractor's accepted deliverables) for one ISO week and one project,
submitted, then approved (priced at the rates in force) or rejected, and corrected by new versions.

Work sheets live on the ``resource`` aggregate so that the rates in force, the 24-hours-a-day limit across a
person's sheets and the approval of corrections are decided on one consistent state. A sheet command carries the
default rates of the resource's role and the decision checks they are still its role's; it also carries the
facts of its project as consumed from ``pmo.projects.v1`` (:mod:`.projects`): a sheet is submitted or corrected
only for a known project that is not closed, citing its milestones; an approval books a cost whose rate is in
another currency than the project's at the rate in force on the approval date (:mod:`.currency`).

Versions::

    submit -> v1 submitted --approve--> approved (cost in force)
                          --reject---> rejected
    correct -> v(n+1) submitted, replacing the latest version: a submitted one is superseded at once; an
               approved one stays in force until the correction is approved, which first reverses its cost
               (``work-sheet-approval-reversed``) then approves the new version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, replace
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, NewType, assert_never
from uuid import UUID

from resources.domain.checks import not_blank, not_future
from resources.domain.currency import ExchangeRate, book
from resources.domain.pricing import price
from resources.domain.projects import KnownProject, known_project, milestone_of, open_project
from resources.domain.rates import RoleRateCard
from resources.domain.sheet_content import sheet_content
from resources.domain.weeks import iso_week
from shared.contracts.common import Booking
from shared.contracts.resources import (
    AcceptedDeliverable,
    CostedEntry,
    MilestoneCost,
    SheetStatus,
    TimeEntry,
    WorkSheetApprovalReversed,
    WorkSheetApproved,
    WorkSheetCorrected,
    WorkSheetRejected,
    WorkSheetSubmitted,
)
from shared.errors import (
    ConcurrencyError,
    InvalidCommandError,
    NotFoundError,
    RuleViolationError,
    SeparationOfDutiesError,
)
from shared.events import DomainEvent
from shared.identity import same_person
from shared.immutable import frozen
from shared.money import Money

if TYPE_CHECKING:
    from resources.domain.resource import Resource

SheetId = NewType("SheetId", UUID)


class WorkSheetNotFoundError(NotFoundError):
    """The resource has no work sheet of that id."""


class NotReviewableError(RuleViolationError):
    """Only a submitted latest version is approved or rejected."""


class RoleChangedError(ConcurrencyError):
    """The role rates the command carries are another role's: the resource's role changed meanwhile; retry."""


@dataclass(frozen=True)
class SheetVersion:
    version: int
    entries: tuple[TimeEntry, ...]
    deliverables: tuple[AcceptedDeliverable, ...]
    hours: Decimal
    submitted_by: str
    submitted_on: date
    status: SheetStatus = SheetStatus.SUBMITTED
    correction_reason: str | None = None
    reviewed_by: str | None = None
    reviewed_on: date | None = None
    rejection_reason: str | None = None
    costed_entries: tuple[CostedEntry, ...] = ()
    cost: Money | None = None
    cost_by_milestone: tuple[MilestoneCost, ...] = ()
    booked: Booking | None = None  # the cost in the project's currency, when the rate is in another one


@dataclass(frozen=True)
class WorkSheet:
    """One resource's sheet for one ISO week and one project, with every version submitted."""

    sheet_id: UUID
    project_id: UUID
    week_start: date
    versions: tuple[SheetVersion, ...]
    approved_version: int | None = None  # the version whose cost is in force

    @property
    def latest(self) -> SheetVersion:
        return self.versions[-1]

    @property
    def in_force(self) -> SheetVersion | None:
        return None if self.approved_version is None else self.version(self.approved_version)

    def version(self, number: int) -> SheetVersion:
        return self.versions[number - 1]

    @property
    def counted_entries(self) -> tuple[TimeEntry, ...]:
        """The hours that count against the 24-hours-a-day limit: the latest version unless it was rejected,
        then the version in force, if any."""
        if self.latest.status is not SheetStatus.REJECTED:
            return self.latest.entries
        in_force = self.in_force
        return in_force.entries if in_force else ()


# --- commands ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubmitWorkSheet:
    sheet_id: SheetId
    project_id: UUID
    week_start: date
    entries: tuple[TimeEntry, ...]
    deliverables: tuple[AcceptedDeliverable, ...]
    submitted_by: str
    role_rates: RoleRateCard
    project: KnownProject | None
    """The project's facts as this service knows them (``None``: not seen)."""


@dataclass(frozen=True)
class CorrectWorkSheet:
    sheet_id: UUID
    entries: tuple[TimeEntry, ...]
    deliverables: tuple[AcceptedDeliverable, ...]
    submitted_by: str
    reason: str
    role_rates: RoleRateCard
    project: KnownProject | None
    """The facts of the sheet's project as this service knows them (``None``: not seen)."""


@dataclass(frozen=True)
class ApproveWorkSheet:
    sheet_id: UUID
    approved_by: str
    approved_on: date
    role_rates: RoleRateCard
    expected_version: int | None = None
    _: KW_ONLY
    project: KnownProject | None
    """The facts of the sheet's project (its currency) as this service knows them (``None``: not seen)."""
    exchange_rates: tuple[ExchangeRate, ...] = ()
    """The exchange rates in force on ``approved_on`` to and from the project's currency."""


@dataclass(frozen=True)
class RejectWorkSheet:
    sheet_id: UUID
    rejected_by: str
    rejected_on: date
    reason: str
    expected_version: int | None = None


WorkSheetCommand = SubmitWorkSheet | CorrectWorkSheet | ApproveWorkSheet | RejectWorkSheet
WorkSheetEvent = (
    WorkSheetSubmitted | WorkSheetCorrected | WorkSheetApprovalReversed | WorkSheetApproved | WorkSheetRejected
)


# --- decide --------------------------------------------------------------------------------------------------


def decide_work_sheet(state: Resource, rid: UUID, command: WorkSheetCommand, today: date) -> list[DomainEvent]:
    """The events ``command`` produces on the registered resource ``rid``, or an error saying why it is refused."""
    match command:
        case SubmitWorkSheet():
            return [_submit(state, rid, command, today)]
        case CorrectWorkSheet():
            return [_correct(state, rid, command, today)]
        case ApproveWorkSheet():
            return _approve(state, rid, command, today)
        case RejectWorkSheet():
            return [_reject(state, rid, command, today)]
        case _:
            assert_never(command)


def _sheet(state: Resource, sheet_id: UUID) -> WorkSheet:
    sheet = state.sheets.get(sheet_id)
    if sheet is None:
        raise WorkSheetNotFoundError(f"work sheet {sheet_id} does not exist on this resource")
    return sheet


def _check_role(state: Resource, role: RoleRateCard) -> None:
    if role.role != state.role:
        raise RoleChangedError(f"the resource's role changed to {state.role} while the command was prepared; retry")


def _submit(state: Resource, rid: UUID, command: SubmitWorkSheet, today: date) -> WorkSheetSubmitted:
    _check_role(state, command.role_rates)
    not_blank(command.submitted_by, "submitted_by")
    if command.sheet_id in state.sheets:
        raise RuleViolationError(f"work sheet {command.sheet_id} already exists")
    _for_project(open_project(command.project_id, command.project), command.entries, command.deliverables)
    existing = state.sheet_for(command.week_start, command.project_id)
    if existing is not None:
        raise RuleViolationError(
            f"a sheet for week {iso_week(command.week_start)} on this project exists ({existing.sheet_id}, "
            f"{existing.latest.status}); correct it with a new version"
        )
    entries, hours = sheet_content(
        state, command.sheet_id, command.week_start, command.entries, command.deliverables, command.role_rates, today
    )
    return WorkSheetSubmitted(
        resource_id=rid,
        sheet_id=command.sheet_id,
        version=1,
        project_id=command.project_id,
        week=iso_week(command.week_start),
        week_start=command.week_start,
        kind=state.kind,
        entries=list(entries),
        deliverables=list(command.deliverables),
        hours=hours,
        submitted_by=command.submitted_by,
        submitted_on=today,
    )


def _correct(state: Resource, rid: UUID, command: CorrectWorkSheet, today: date) -> WorkSheetCorrected:
    _check_role(state, command.role_rates)
    not_blank(command.submitted_by, "submitted_by")
    not_blank(command.reason, "reason")
    sheet = _sheet(state, command.sheet_id)
    _for_project(open_project(sheet.project_id, command.project), command.entries, command.deliverables)
    entries, hours = sheet_content(
        state, sheet.sheet_id, sheet.week_start, command.entries, command.deliverables, command.role_rates, today
    )
    return WorkSheetCorrected(
        resource_id=rid,
        sheet_id=sheet.sheet_id,
        version=sheet.latest.version + 1,
        replaces_version=sheet.latest.version,
        replaced_status=sheet.latest.status,
        project_id=sheet.project_id,
        week=iso_week(sheet.week_start),
        week_start=sheet.week_start,
        kind=state.kind,
        entries=list(entries),
        deliverables=list(command.deliverables),
        hours=hours,
        submitted_by=command.submitted_by,
        submitted_on=today,
        reason=command.reason,
    )


def _approve(state: Resource, rid: UUID, command: ApproveWorkSheet, today: date) -> list[DomainEvent]:
    sheet = _reviewable(state, command.sheet_id, command.expected_version)
    latest = sheet.latest
    _separate(state, latest, command.approved_by, "approve")
    not_future(command.approved_on, today, "approved_on")
    if command.approved_on < latest.submitted_on:
        raise InvalidCommandError(
            f"approved_on must not be before the sheet was submitted ({latest.submitted_on})", field="approved_on"
        )
    _check_role(state, command.role_rates)
    priced = price(state, latest.entries, latest.deliverables, command.role_rates)
    project = known_project(sheet.project_id, command.project)
    booked = book(priced.cost, project.currency, command.exchange_rates, command.approved_on)
    events: list[DomainEvent] = []
    week = iso_week(sheet.week_start)
    replaced = sheet.in_force
    if replaced is not None:
        assert replaced.cost is not None  # an approved version is priced
        events.append(
            WorkSheetApprovalReversed(
                resource_id=rid,
                sheet_id=sheet.sheet_id,
                version=replaced.version,
                superseded_by_version=latest.version,
                project_id=sheet.project_id,
                week=week,
                week_start=sheet.week_start,
                hours=replaced.hours,
                cost=replaced.cost,
                cost_by_milestone=list(replaced.cost_by_milestone),
                booked=replaced.booked,
                reversed_on=command.approved_on,
            )
        )
    events.append(
        WorkSheetApproved(
            resource_id=rid,
            sheet_id=sheet.sheet_id,
            version=latest.version,
            replaces_version=replaced.version if replaced else None,
            project_id=sheet.project_id,
            week=week,
            week_start=sheet.week_start,
            kind=state.kind,
            role=state.role,
            vendor_id=state.vendor_id,
            submitted_by=latest.submitted_by,
            approved_by=command.approved_by,
            approved_on=command.approved_on,
            entries=list(priced.entries),
            deliverables=list(latest.deliverables),
            hours=latest.hours,
            cost=priced.cost,
            cost_by_milestone=list(priced.by_milestone),
            booked=booked,
        )
    )
    return events


def _for_project(
    project: KnownProject, entries: Sequence[TimeEntry], deliverables: Sequence[AcceptedDeliverable]
) -> None:
    """Every milestone the sheet cites is one of its project's."""
    for i, entry in enumerate(entries):
        milestone_of(project, entry.milestone_id, f"entries.{i}.milestone_id")
    for i, deliverable in enumerate(deliverables):
        milestone_of(project, deliverable.milestone_id, f"deliverables.{i}.milestone_id")


def _reject(state: Resource, rid: UUID, command: RejectWorkSheet, today: date) -> WorkSheetRejected:
    sheet = _reviewable(state, command.sheet_id, command.expected_version)
    _separate(state, sheet.latest, command.rejected_by, "reject")
    not_future(command.rejected_on, today, "rejected_on")
    not_blank(command.reason, "reason")
    return WorkSheetRejected(
        resource_id=rid,
        sheet_id=sheet.sheet_id,
        version=sheet.latest.version,
        project_id=sheet.project_id,
        week=iso_week(sheet.week_start),
        rejected_by=command.rejected_by,
        rejected_on=command.rejected_on,
        reason=command.reason,
    )


def _reviewable(state: Resource, sheet_id: UUID, expected_version: int | None) -> WorkSheet:
    sheet = _sheet(state, sheet_id)
    latest = sheet.latest
    if expected_version is not None and expected_version != latest.version:
        raise ConcurrencyError(
            f"work sheet {sheet_id} is at version {latest.version}, not {expected_version}; review the latest",
            expected=expected_version,
        )
    if latest.status is not SheetStatus.SUBMITTED:
        raise NotReviewableError(
            f"version {latest.version} of this work sheet is {latest.status}; only a submitted one is reviewed"
        )
    return sheet


def _separate(state: Resource, version: SheetVersion, reviewer: str, action: str) -> None:
    """The reviewer is neither whoever submitted the version nor the person whose work it is."""
    not_blank(reviewer, f"{action}d_by")
    if same_person(reviewer, version.submitted_by):
        raise SeparationOfDutiesError(
            f"{reviewer} submitted version {version.version} of this work sheet; someone else must {action} it"
        )
    if same_person(reviewer, state.subject):
        raise SeparationOfDutiesError(f"this work sheet is {reviewer}'s own work; someone else must {action} it")


# --- evolve --------------------------------------------------------------------------------------------------


def _with_sheet(state: Resource, sheet: WorkSheet) -> Resource:
    return replace(state, sheets=frozen({**state.sheets, sheet.sheet_id: sheet}))


def _with_version(sheet: WorkSheet, version: SheetVersion) -> WorkSheet:
    versions = list(sheet.versions)
    versions[version.version - 1] = version
    return replace(sheet, versions=tuple(versions))


def evolve_work_sheet(state: Resource, event: WorkSheetEvent) -> Resource:
    """The resource after a work sheet event."""
    match event:
        case WorkSheetSubmitted():
            version = SheetVersion(
                1, tuple(event.entries), tuple(event.deliverables), event.hours, event.submitted_by, event.submitted_on
            )
            return _with_sheet(state, WorkSheet(event.sheet_id, event.project_id, event.week_start, (version,)))
        case WorkSheetCorrected():
            sheet = state.sheets[event.sheet_id]
            if sheet.latest.status is SheetStatus.SUBMITTED:
                sheet = _with_version(sheet, replace(sheet.latest, status=SheetStatus.SUPERSEDED))
            version = SheetVersion(
                event.version,
                tuple(event.entries),
                tuple(event.deliverables),
                event.hours,
                event.submitted_by,
                event.submitted_on,
                correction_reason=event.reason,
            )
            return _with_sheet(state, replace(sheet, versions=(*sheet.versions, version)))
        case WorkSheetApprovalReversed():
            sheet = state.sheets[event.sheet_id]
            superseded = replace(sheet.version(event.version), status=SheetStatus.SUPERSEDED)
            return _with_sheet(state, replace(_with_version(sheet, superseded), approved_version=None))
        case WorkSheetApproved():
            sheet = state.sheets[event.sheet_id]
            approved = replace(
                sheet.version(event.version),
                status=SheetStatus.APPROVED,
                reviewed_by=event.approved_by,
                reviewed_on=event.approved_on,
                costed_entries=tuple(event.entries),
                cost=event.cost,
                cost_by_milestone=tuple(event.cost_by_milestone),
                booked=event.booked,
            )
            return _with_sheet(state, replace(_with_version(sheet, approved), approved_version=event.version))
        case WorkSheetRejected():
            sheet = state.sheets[event.sheet_id]
            rejected = replace(
                sheet.version(event.version),
                status=SheetStatus.REJECTED,
                reviewed_by=event.rejected_by,
                reviewed_on=event.rejected_on,
                rejection_reason=event.reason,
            )
            return _with_sheet(state, _with_version(sheet, rejected))
        case _:
            assert_never(event)
