"""The resources service's aggregates: pure ``decide`` and ``evolve`` over frozen dataclasses.

Imports only the standard library and the shared kernel; time and ids come in with the command. Three aggregates:

* ``resource``, one per person or subcontractor (a vendor supplying its own people or deliverables): profile,
  weekly capacity from a week on, skills, certifications and trainings, effective-dated cost rates, allocations
  and work sheets. Allocations live here so that over-allocation is computed over all of a resource's
  allocations at once; work sheets live here so that the rates in force, the 24-hours-a-day limit across a
  person's sheets and the approval of corrections are decided on one consistent state.
* ``role-rate``, one per role: the role's default cost rates, used on days a resource has no rate of its own.
* ``department-policy``, one per department: what an over-allocation does there, ``warn`` (the default: accepted
  and recorded in the event) or ``block`` (refused).

A command that needs another aggregate's facts (a role's default rates, a department's policy) carries them; the
decision checks that they still describe this resource (its current role, its current department).

Time rules: weeks are ISO weeks (Monday to Sunday). An allocation of H hours per week counts, in each week,
H x (its working days, Monday to Friday, in that week) / 5; a week is over-allocated when the resource's
allocations, all projects together, exceed the capacity in force on its Monday.

Work sheet versions::

    submit -> v1 submitted --approve--> approved (cost in force)
                          --reject---> rejected
    correct -> v(n+1) submitted, replacing the latest version: a submitted one is superseded at once; an
               approved one stays in force until the correction is approved, which first reverses its cost
               (``work-sheet-approval-reversed``) then approves the new version.

Names and contact details are no part of this state nor of any event: they live in an erasable table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import NewType, assert_never
from uuid import UUID

from shared.bounds import iso_week as monday_of_iso_week
from shared.contracts.resources import (
    AcceptedDeliverable,
    AllocationChanged,
    AllocationEnded,
    CapacityChanged,
    CertificationRecorded,
    CostedEntry,
    MilestoneCost,
    OverAllocatedWeek,
    OverAllocationPolicy,
    OverAllocationPolicySet,
    PersonalDataErased,
    RateSet,
    RateSource,
    ResourceAllocated,
    ResourceKind,
    ResourceProfileChanged,
    ResourceRegistered,
    RoleRateSet,
    SheetStatus,
    SkillLevel,
    SkillRecorded,
    TimeEntry,
    TrainingCompleted,
    WorkSheetApprovalReversed,
    WorkSheetApproved,
    WorkSheetCorrected,
    WorkSheetRejected,
    WorkSheetSubmitted,
)
from shared.decider import Decider
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
from shared.money import Money, minor_unit, quantize

ResourceId = NewType("ResourceId", UUID)
AllocationId = NewType("AllocationId", UUID)
SheetId = NewType("SheetId", UUID)

MAX_DAY_HOURS = Decimal(24)
MAX_WEEK_HOURS = Decimal(168)
MAX_TRAINING_HOURS = Decimal(1000)
HOURS_DECIMALS = 2
WORKDAYS_PER_WEEK = 5
MAX_ALLOCATION_DAYS = 3660  # ten years: the longest period an allocation may span
ONE_WEEK = timedelta(days=7)

# --- weeks --------------------------------------------------------------------------------------------------


def week_start(day: date) -> date:
    """The Monday of ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())


def iso_week(day: date) -> str:
    """``2027-W05``: the ISO week of ``day``."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def parse_iso_week(label: str) -> date:
    """The Monday of an ISO week written ``2027-W05``; raises ``ValueError`` for anything else (a week the year
    does not have, a year outside the business date range)."""
    return monday_of_iso_week(label)


def weeks(first: date, last: date) -> Iterable[date]:
    """The Mondays of every ISO week from ``first``'s to ``last``'s."""
    monday = week_start(first)
    while monday <= last:
        yield monday
        monday += ONE_WEEK


# --- state --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """An hourly cost rate from ``effective_from`` until the next rate's date."""

    effective_from: date
    hourly_rate: Money


@dataclass(frozen=True)
class Capacity:
    """Weekly capacity in hours from the week of ``effective_from`` on."""

    effective_from: date
    hours: Decimal


@dataclass(frozen=True)
class Allocation:
    allocation_id: UUID
    project_id: UUID
    milestone_id: UUID | None
    hours_per_week: Decimal
    starts_on: date
    ends_on: date
    ended: bool = False
    over_allocation: tuple[OverAllocatedWeek, ...] = ()  # as recorded by its last allocation event

    def hours_in_week(self, monday: date) -> Decimal:
        """Hours this allocation counts in the week starting ``monday``: prorated by its working days there."""
        first = max(self.starts_on, monday)
        last = min(self.ends_on, monday + timedelta(days=WORKDAYS_PER_WEEK - 1))
        if first > last:
            return Decimal(0)
        workdays = (last - first).days + 1
        return self.hours_per_week * workdays / WORKDAYS_PER_WEEK


@dataclass(frozen=True)
class Skill:
    skill: str
    level: SkillLevel
    acquired_on: date


@dataclass(frozen=True)
class Certification:
    certification_id: UUID
    title: str
    issuer: str
    obtained_on: date
    expires_on: date | None


@dataclass(frozen=True)
class Training:
    training_id: UUID
    course: str
    provider: str
    completed_on: date
    hours: Decimal
    skill: str | None


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


@dataclass(frozen=True)
class Resource:
    resource_id: UUID | None = None
    kind: ResourceKind = ResourceKind.PERSON
    vendor_id: str | None = None
    role: str = ""
    department: str = ""
    currency: str = ""
    registered_on: date | None = None
    capacities: tuple[Capacity, ...] = ()  # by effective_from
    rates: tuple[Rate, ...] = ()  # by effective_from
    skills: Mapping[str, Skill] = field(default_factory=lambda: frozen({}))  # by casefolded name
    certifications: Mapping[UUID, Certification] = field(default_factory=lambda: frozen({}))
    trainings: tuple[Training, ...] = ()
    allocations: Mapping[UUID, Allocation] = field(default_factory=lambda: frozen({}))
    sheets: Mapping[UUID, WorkSheet] = field(default_factory=lambda: frozen({}))
    personal_data_erased_on: date | None = None
    subject: str | None = None
    """The person's user subject (the identity provider's ``sub``), when the resource is linked to one: nobody
    approves this person's work sheets or sets their rate under it."""

    def capacity_in_week(self, monday: date) -> Decimal:
        """Capacity in force on ``monday``; weeks before the first recorded one have the first capacity."""
        if not self.capacities:
            return Decimal(0)
        in_force = self.capacities[0].hours
        for capacity in self.capacities:
            if capacity.effective_from > monday:
                break
            in_force = capacity.hours
        return in_force

    def allocated_in_week(self, monday: date) -> Decimal:
        """Hours allocated in the week starting ``monday``, all projects together."""
        return sum((a.hours_in_week(monday) for a in self.allocations.values()), Decimal(0))

    def rate_on(self, day: date) -> Rate | None:
        return rate_on(self.rates, day)

    def sheet_for(self, week: date, project_id: UUID) -> WorkSheet | None:
        return next((s for s in self.sheets.values() if s.week_start == week and s.project_id == project_id), None)


def rate_on(rates: Sequence[Rate], day: date) -> Rate | None:
    """The rate in force on ``day``: the one with the latest ``effective_from`` not after it."""
    found = None
    for rate in rates:
        if rate.effective_from > day:
            break
        found = rate
    return found


def over_allocation(state: Resource, first: date, last: date) -> list[OverAllocatedWeek]:
    """The weeks from ``first``'s to ``last``'s in which the resource is allocated beyond its capacity."""
    found = []
    for monday in weeks(first, last):
        allocated = state.allocated_in_week(monday)
        capacity = state.capacity_in_week(monday)
        if allocated > capacity:
            found.append(
                OverAllocatedWeek(
                    week=iso_week(monday),
                    week_start=monday,
                    capacity_hours=capacity,
                    allocated_hours=allocated,
                    over_hours=allocated - capacity,
                )
            )
    return found


# --- commands -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoleRateCard:
    """A role's default rates (the state of a ``role-rate`` aggregate, and what a sheet command carries)."""

    role: str | None = None
    rates: tuple[Rate, ...] = ()


@dataclass(frozen=True)
class DepartmentPolicy:
    """A department's over-allocation policy (the state of a ``department-policy`` aggregate)."""

    department: str | None = None
    policy: OverAllocationPolicy = OverAllocationPolicy.WARN


@dataclass(frozen=True)
class RegisterResource:
    resource_id: ResourceId
    kind: ResourceKind
    vendor_id: str | None
    role: str
    department: str
    weekly_capacity_hours: Decimal
    currency: str
    registered_on: date
    subject: str | None = None


@dataclass(frozen=True)
class ChangeProfile:
    role: str
    department: str
    changed_on: date


@dataclass(frozen=True)
class ChangeCapacity:
    weekly_capacity_hours: Decimal
    effective_from: date


@dataclass(frozen=True)
class RecordSkill:
    skill: str
    level: SkillLevel
    acquired_on: date


@dataclass(frozen=True)
class RecordCertification:
    certification_id: UUID
    title: str
    issuer: str
    obtained_on: date
    expires_on: date | None = None


@dataclass(frozen=True)
class RecordTraining:
    training_id: UUID
    course: str
    provider: str
    completed_on: date
    hours: Decimal
    skill: str | None = None


@dataclass(frozen=True)
class SetRate:
    effective_from: date
    hourly_rate: Money
    set_by: str


@dataclass(frozen=True)
class Allocate:
    allocation_id: AllocationId
    project_id: UUID
    milestone_id: UUID | None
    hours_per_week: Decimal
    starts_on: date
    ends_on: date
    policy: DepartmentPolicy


@dataclass(frozen=True)
class ChangeAllocation:
    allocation_id: UUID
    hours_per_week: Decimal
    starts_on: date
    ends_on: date
    reason: str
    policy: DepartmentPolicy


@dataclass(frozen=True)
class EndAllocation:
    allocation_id: UUID
    ends_on: date
    reason: str


@dataclass(frozen=True)
class SubmitWorkSheet:
    sheet_id: SheetId
    project_id: UUID
    week_start: date
    entries: tuple[TimeEntry, ...]
    deliverables: tuple[AcceptedDeliverable, ...]
    submitted_by: str
    role_rates: RoleRateCard


@dataclass(frozen=True)
class CorrectWorkSheet:
    sheet_id: UUID
    entries: tuple[TimeEntry, ...]
    deliverables: tuple[AcceptedDeliverable, ...]
    submitted_by: str
    reason: str
    role_rates: RoleRateCard


@dataclass(frozen=True)
class ApproveWorkSheet:
    sheet_id: UUID
    approved_by: str
    approved_on: date
    role_rates: RoleRateCard
    expected_version: int | None = None


@dataclass(frozen=True)
class RejectWorkSheet:
    sheet_id: UUID
    rejected_by: str
    rejected_on: date
    reason: str
    expected_version: int | None = None


@dataclass(frozen=True)
class ErasePersonalData:
    erased_on: date


Command = (
    RegisterResource
    | ChangeProfile
    | ChangeCapacity
    | RecordSkill
    | RecordCertification
    | RecordTraining
    | SetRate
    | Allocate
    | ChangeAllocation
    | EndAllocation
    | SubmitWorkSheet
    | CorrectWorkSheet
    | ApproveWorkSheet
    | RejectWorkSheet
    | ErasePersonalData
)

# --- decide -------------------------------------------------------------------------------------------------


def decide(state: Resource, command: Command, now: datetime) -> list[DomainEvent]:
    """The events ``command`` produces on ``state``, or an error saying why it is refused."""
    today = now.date()
    if isinstance(command, RegisterResource):
        return [_register(state, command, today)]
    rid = _existing(state)
    match command:
        case ChangeProfile():
            _not_future(command.changed_on, today, "changed_on")
            if command.role == state.role and command.department == state.department:
                raise InvalidCommandError("the role and department are already these", field="role")
            return [
                ResourceProfileChanged(
                    resource_id=rid,
                    role=command.role,
                    department=command.department,
                    previous_role=state.role,
                    previous_department=state.department,
                    changed_on=command.changed_on,
                )
            ]
        case ChangeCapacity():
            return [_change_capacity(state, rid, command)]
        case RecordSkill():
            _not_future(command.acquired_on, today, "acquired_on")
            _not_blank(command.skill, "skill")
            previous = state.skills.get(command.skill.casefold())
            if previous is not None and previous.level is command.level:
                raise InvalidCommandError(
                    f"{previous.skill} is already recorded at level {command.level}", field="level"
                )
            return [
                SkillRecorded(
                    resource_id=rid,
                    skill=command.skill,
                    level=command.level,
                    previous_level=previous.level if previous else None,
                    acquired_on=command.acquired_on,
                )
            ]
        case RecordCertification():
            _not_future(command.obtained_on, today, "obtained_on")
            _not_blank(command.title, "title")
            if command.certification_id in state.certifications:
                raise RuleViolationError(f"certification {command.certification_id} is already recorded")
            if command.expires_on is not None and command.expires_on < command.obtained_on:
                raise InvalidCommandError("expires_on must not be before obtained_on", field="expires_on")
            return [
                CertificationRecorded(
                    resource_id=rid,
                    certification_id=command.certification_id,
                    title=command.title,
                    issuer=command.issuer,
                    obtained_on=command.obtained_on,
                    expires_on=command.expires_on,
                )
            ]
        case RecordTraining():
            _not_future(command.completed_on, today, "completed_on")
            _not_blank(command.course, "course")
            _check_hours(command.hours, "hours", MAX_TRAINING_HOURS, positive=True)
            if any(t.training_id == command.training_id for t in state.trainings):
                raise RuleViolationError(f"training {command.training_id} is already recorded")
            return [
                TrainingCompleted(
                    resource_id=rid,
                    training_id=command.training_id,
                    course=command.course,
                    provider=command.provider,
                    completed_on=command.completed_on,
                    hours=command.hours,
                    skill=command.skill,
                )
            ]
        case SetRate():
            if same_person(command.set_by, state.subject):
                raise SeparationOfDutiesError(f"{command.set_by} is this resource; someone else sets their rate")
            _rate_in(command.hourly_rate, state.currency, "hourly_rate")
            same_day = next((r for r in state.rates if r.effective_from == command.effective_from), None)
            return [
                RateSet(
                    resource_id=rid,
                    effective_from=command.effective_from,
                    hourly_rate=command.hourly_rate,
                    replaces_rate=same_day.hourly_rate if same_day else None,
                )
            ]
        case Allocate():
            return [_allocate(state, rid, command)]
        case ChangeAllocation():
            return [_change_allocation(state, rid, command)]
        case EndAllocation():
            allocation = _allocation(state, command.allocation_id)
            if command.ends_on < allocation.starts_on:
                raise InvalidCommandError(
                    f"ends_on must not be before the allocation starts ({allocation.starts_on})", field="ends_on"
                )
            if command.ends_on > allocation.ends_on:
                raise InvalidCommandError(
                    f"the allocation already ends on {allocation.ends_on}; change it to extend it", field="ends_on"
                )
            after = _with_allocation(state, replace(allocation, ends_on=command.ends_on))
            over = over_allocation(after, allocation.starts_on, allocation.ends_on)
            return [
                AllocationEnded(
                    resource_id=rid,
                    allocation_id=allocation.allocation_id,
                    project_id=allocation.project_id,
                    milestone_id=allocation.milestone_id,
                    ends_on=command.ends_on,
                    previous_ends_on=allocation.ends_on,
                    reason=command.reason,
                    over_allocated=bool(over),
                    over_allocation=over,
                    weeks_from=week_start(allocation.starts_on),
                    weeks_to=week_start(allocation.ends_on),
                )
            ]
        case SubmitWorkSheet():
            return [_submit(state, rid, command, today)]
        case CorrectWorkSheet():
            return [_correct(state, rid, command, today)]
        case ApproveWorkSheet():
            return _approve(state, rid, command, today)
        case RejectWorkSheet():
            sheet = _reviewable(state, command.sheet_id, command.expected_version)
            _separate(state, sheet.latest, command.rejected_by, "reject")
            _not_future(command.rejected_on, today, "rejected_on")
            _not_blank(command.reason, "reason")
            return [
                WorkSheetRejected(
                    resource_id=rid,
                    sheet_id=sheet.sheet_id,
                    version=sheet.latest.version,
                    project_id=sheet.project_id,
                    week=iso_week(sheet.week_start),
                    rejected_by=command.rejected_by,
                    rejected_on=command.rejected_on,
                    reason=command.reason,
                )
            ]
        case ErasePersonalData():
            if state.personal_data_erased_on is not None:
                return []  # already forgotten: nothing more to record
            return [PersonalDataErased(resource_id=rid, erased_on=command.erased_on)]
        case _:
            assert_never(command)


def _register(state: Resource, command: RegisterResource, today: date) -> ResourceRegistered:
    if state.resource_id is not None:
        raise RuleViolationError(f"resource {state.resource_id} is already registered")
    _not_future(command.registered_on, today, "registered_on")
    if command.kind is ResourceKind.SUBCONTRACTOR and not command.vendor_id:
        raise InvalidCommandError("a subcontractor names its vendor: vendor_id is required", field="vendor_id")
    if command.kind is ResourceKind.PERSON and command.vendor_id:
        raise InvalidCommandError("a person has no vendor_id; register a subcontractor instead", field="vendor_id")
    _not_blank(command.role, "role")
    _not_blank(command.department, "department")
    _check_hours(command.weekly_capacity_hours, "weekly_capacity_hours", MAX_WEEK_HOURS)
    try:
        minor_unit(command.currency)
    except ValueError as exc:
        raise InvalidCommandError(str(exc), field="currency") from None
    return ResourceRegistered(
        resource_id=command.resource_id,
        kind=command.kind,
        vendor_id=command.vendor_id,
        role=command.role,
        department=command.department,
        weekly_capacity_hours=command.weekly_capacity_hours,
        currency=command.currency,
        registered_on=command.registered_on,
        subject=command.subject,
    )


def _change_capacity(state: Resource, rid: UUID, command: ChangeCapacity) -> CapacityChanged:
    if command.effective_from.weekday() != 0:
        raise InvalidCommandError(
            f"effective_from must be a Monday, the start of an ISO week ({command.effective_from} is not)",
            field="effective_from",
        )
    _check_hours(command.weekly_capacity_hours, "weekly_capacity_hours", MAX_WEEK_HOURS)
    previous = state.capacity_in_week(command.effective_from)
    if command.weekly_capacity_hours == previous:
        raise InvalidCommandError(
            f"the capacity from {command.effective_from} is already {previous} hours", field="weekly_capacity_hours"
        )
    after = _with_capacity(state, Capacity(command.effective_from, command.weekly_capacity_hours))
    last = max((a.ends_on for a in after.allocations.values()), default=command.effective_from)
    over = over_allocation(after, command.effective_from, last)
    return CapacityChanged(
        resource_id=rid,
        weekly_capacity_hours=command.weekly_capacity_hours,
        previous_weekly_capacity_hours=previous,
        effective_from=command.effective_from,
        over_allocated=bool(over),
        over_allocation=over,
        weeks_from=command.effective_from,
        weeks_to=week_start(last),
    )


def _check_period(hours_per_week: Decimal, starts_on: date, ends_on: date) -> None:
    _check_hours(hours_per_week, "hours_per_week", MAX_WEEK_HOURS, positive=True)
    if ends_on < starts_on:
        raise InvalidCommandError("ends_on must not be before starts_on", field="ends_on")
    if (ends_on - starts_on).days > MAX_ALLOCATION_DAYS:
        raise InvalidCommandError("an allocation spans at most ten years", field="ends_on")


def _check_policy(state: Resource, policy: DepartmentPolicy) -> None:
    if policy.department != state.department:
        raise ConcurrencyError(
            f"the resource moved to department {state.department} while the command was prepared; retry"
        )


def _blocked(before: Resource, after: Resource, policy: DepartmentPolicy, over: list[OverAllocatedWeek]) -> None:
    """Under a ``block`` policy, refuse a change that raises the allocation of a week past capacity."""
    if policy.policy is not OverAllocationPolicy.BLOCK:
        return
    worse = [w for w in over if after.allocated_in_week(w.week_start) > before.allocated_in_week(w.week_start)]
    if worse:
        weeks_over = ", ".join(f"{w.week} (+{w.over_hours} h)" for w in worse)
        raise RuleViolationError(
            f"department {before.department} blocks over-allocation; this would exceed capacity in {weeks_over}"
        )


def _allocate(state: Resource, rid: UUID, command: Allocate) -> ResourceAllocated:
    _check_policy(state, command.policy)
    if command.allocation_id in state.allocations:
        raise RuleViolationError(f"allocation {command.allocation_id} already exists")
    _check_period(command.hours_per_week, command.starts_on, command.ends_on)
    allocation = Allocation(
        command.allocation_id,
        command.project_id,
        command.milestone_id,
        command.hours_per_week,
        command.starts_on,
        command.ends_on,
    )
    after = _with_allocation(state, allocation)
    over = over_allocation(after, command.starts_on, command.ends_on)
    _blocked(state, after, command.policy, over)
    return ResourceAllocated(
        resource_id=rid,
        allocation_id=command.allocation_id,
        project_id=command.project_id,
        milestone_id=command.milestone_id,
        hours_per_week=command.hours_per_week,
        starts_on=command.starts_on,
        ends_on=command.ends_on,
        over_allocated=bool(over),
        over_allocation=over,
        weeks_from=week_start(command.starts_on),
        weeks_to=week_start(command.ends_on),
    )


def _change_allocation(state: Resource, rid: UUID, command: ChangeAllocation) -> AllocationChanged:
    _check_policy(state, command.policy)
    current = _allocation(state, command.allocation_id)
    _check_period(command.hours_per_week, command.starts_on, command.ends_on)
    if (command.hours_per_week, command.starts_on, command.ends_on) == (
        current.hours_per_week,
        current.starts_on,
        current.ends_on,
    ):
        raise InvalidCommandError("the allocation already has these hours and period", field="hours_per_week")
    after = _with_allocation(
        state,
        replace(current, hours_per_week=command.hours_per_week, starts_on=command.starts_on, ends_on=command.ends_on),
    )
    first, last = min(current.starts_on, command.starts_on), max(current.ends_on, command.ends_on)
    over = over_allocation(after, first, last)
    _blocked(state, after, command.policy, over)
    return AllocationChanged(
        resource_id=rid,
        allocation_id=current.allocation_id,
        project_id=current.project_id,
        milestone_id=current.milestone_id,
        hours_per_week=command.hours_per_week,
        starts_on=command.starts_on,
        ends_on=command.ends_on,
        previous_hours_per_week=current.hours_per_week,
        previous_starts_on=current.starts_on,
        previous_ends_on=current.ends_on,
        reason=command.reason,
        over_allocated=bool(over),
        over_allocation=over,
        weeks_from=week_start(first),
        weeks_to=week_start(last),
    )


# --- work sheets --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Priced:
    entries: tuple[CostedEntry, ...]
    cost: Money
    by_milestone: tuple[MilestoneCost, ...]


def price(
    state: Resource, entries: Sequence[TimeEntry], deliverables: Sequence[AcceptedDeliverable], role: RoleRateCard
) -> Priced:
    """Each entry at the rate in force that day (the resource's own, else its role's default) and the cost,
    half-even rounded to the currency's minor unit per entry; totals are exact sums. A day without a rate is
    refused, naming the entry."""
    currency = state.currency
    costed = []
    for i, entry in enumerate(entries):
        own = state.rate_on(entry.day)
        default = rate_on(role.rates, entry.day)
        if own is not None:
            rate, source = own, RateSource.RESOURCE
        elif default is not None and default.hourly_rate.currency == currency:
            rate, source = default, RateSource.ROLE
        elif default is not None:
            raise InvalidCommandError(
                f"no cost rate in force on {entry.day}: the resource has none and the default of role {state.role} "
                f"is in {default.hourly_rate.currency}, not {currency}",
                field=f"entries.{i}.day",
            )
        else:
            raise InvalidCommandError(
                f"no cost rate in force on {entry.day} for this resource nor for its role {state.role}; set a rate "
                "effective on or before that day",
                field=f"entries.{i}.day",
            )
        cost = quantize(entry.hours * rate.hourly_rate.amount, currency)
        costed.append(
            CostedEntry(
                day=entry.day,
                milestone_id=entry.milestone_id,
                hours=entry.hours,
                hourly_rate=rate.hourly_rate,
                rate_source=source,
                rate_effective_from=rate.effective_from,
                cost=Money(amount=cost, currency=currency),
            )
        )
    hours: dict[UUID | None, Decimal] = {}
    costs: dict[UUID | None, Decimal] = {}
    for c in costed:
        hours[c.milestone_id] = hours.get(c.milestone_id, Decimal(0)) + c.hours
        costs[c.milestone_id] = costs.get(c.milestone_id, Decimal(0)) + c.cost.amount
    for d in deliverables:
        hours.setdefault(d.milestone_id, Decimal(0))
        costs[d.milestone_id] = costs.get(d.milestone_id, Decimal(0)) + d.amount.amount
    order = sorted(costs, key=lambda m: (m is not None, str(m)))
    by_milestone = tuple(
        MilestoneCost(
            milestone_id=m, hours=hours[m], cost=Money(amount=quantize(costs[m], currency), currency=currency)
        )
        for m in order
    )
    total = quantize(sum(costs.values(), Decimal(0)), currency)
    return Priced(tuple(costed), Money(amount=total, currency=currency), by_milestone)


def _sheet_content(
    state: Resource,
    sheet_id: UUID,
    week: date,
    entries: Sequence[TimeEntry],
    deliverables: Sequence[AcceptedDeliverable],
    role: RoleRateCard,
    today: date,
) -> tuple[tuple[TimeEntry, ...], Decimal]:
    """Check a sheet's entries and deliverables; return the entries worth keeping (hours > 0) and the hours."""
    if week.weekday() != 0:
        raise InvalidCommandError(f"{week} is not the Monday of an ISO week", field="week")
    if week > today:
        raise InvalidCommandError(f"week {iso_week(week)} is in the future", field="week")
    sunday = week + timedelta(days=6)
    seen: set[tuple[date, UUID | None]] = set()
    for i, entry in enumerate(entries):
        name = f"entries.{i}"
        _check_hours(entry.hours, f"{name}.hours", MAX_DAY_HOURS if state.kind is ResourceKind.PERSON else None)
        if not week <= entry.day <= sunday:
            raise InvalidCommandError(f"{entry.day} is not in week {iso_week(week)}", field=f"{name}.day")
        if entry.day > today:
            raise InvalidCommandError(f"{entry.day} is in the future", field=f"{name}.day")
        if (entry.day, entry.milestone_id) in seen:
            raise InvalidCommandError(
                f"{entry.day} appears twice for the same milestone; give one entry per day and milestone", field=name
            )
        seen.add((entry.day, entry.milestone_id))
    if deliverables and state.kind is not ResourceKind.SUBCONTRACTOR:
        raise InvalidCommandError(
            "only a subcontractor reports deliverables; a person reports hours", field="deliverables"
        )
    for i, d in enumerate(deliverables):
        name = f"deliverables.{i}"
        _not_blank(d.description, f"{name}.description")
        _not_blank(d.accepted_by, f"{name}.accepted_by")
        if d.amount.currency != state.currency:
            raise InvalidCommandError(
                f"the amount must be in the resource's currency {state.currency}", field=f"{name}.amount.currency"
            )
        if d.amount.amount <= 0:
            raise InvalidCommandError("the agreed amount must be more than zero", field=f"{name}.amount.amount")
        if not week <= d.accepted_on <= sunday:
            raise InvalidCommandError(f"accepted_on must be in week {iso_week(week)}", field=f"{name}.accepted_on")
        if d.accepted_on > today:
            raise InvalidCommandError(f"{d.accepted_on} is in the future", field=f"{name}.accepted_on")
    kept = tuple(e for e in entries if e.hours > 0)
    if not kept and not deliverables:
        raise InvalidCommandError("a work sheet reports some hours or an accepted deliverable", field="entries")
    if state.kind is ResourceKind.PERSON:
        _within_a_day(state, sheet_id, week, entries)
    price(state, kept, deliverables, role)  # every day worked must have a rate
    return kept, sum((e.hours for e in kept), Decimal(0))


def _within_a_day(state: Resource, sheet_id: UUID, week: date, entries: Sequence[TimeEntry]) -> None:
    """A person works at most 24 hours a day, all their sheets of the week together."""
    elsewhere: dict[date, Decimal] = {}
    for sheet in state.sheets.values():
        if sheet.week_start == week and sheet.sheet_id != sheet_id:
            for e in sheet.counted_entries:
                elsewhere[e.day] = elsewhere.get(e.day, Decimal(0)) + e.hours
    here: dict[date, Decimal] = {}
    for i, entry in enumerate(entries):
        here[entry.day] = here.get(entry.day, Decimal(0)) + entry.hours
        total = here[entry.day] + elsewhere.get(entry.day, Decimal(0))
        if total > MAX_DAY_HOURS:
            other = elsewhere.get(entry.day, Decimal(0))
            detail = f" ({other} of them on other sheets)" if other else ""
            raise InvalidCommandError(
                f"more than 24 hours on {entry.day}: {total} hours{detail}", field=f"entries.{i}.hours"
            )


def _check_role(state: Resource, role: RoleRateCard) -> None:
    if role.role != state.role:
        raise ConcurrencyError(f"the resource's role changed to {state.role} while the command was prepared; retry")


def _submit(state: Resource, rid: UUID, command: SubmitWorkSheet, today: date) -> WorkSheetSubmitted:
    _check_role(state, command.role_rates)
    _not_blank(command.submitted_by, "submitted_by")
    if command.sheet_id in state.sheets:
        raise RuleViolationError(f"work sheet {command.sheet_id} already exists")
    existing = state.sheet_for(command.week_start, command.project_id)
    if existing is not None:
        raise RuleViolationError(
            f"a sheet for week {iso_week(command.week_start)} on this project exists ({existing.sheet_id}, "
            f"{existing.latest.status}); correct it with a new version"
        )
    entries, hours = _sheet_content(
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
    _not_blank(command.submitted_by, "submitted_by")
    _not_blank(command.reason, "reason")
    sheet = _sheet(state, command.sheet_id)
    entries, hours = _sheet_content(
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
    _not_future(command.approved_on, today, "approved_on")
    if command.approved_on < latest.submitted_on:
        raise InvalidCommandError(
            f"approved_on must not be before the sheet was submitted ({latest.submitted_on})", field="approved_on"
        )
    _check_role(state, command.role_rates)
    priced = price(state, latest.entries, latest.deliverables, command.role_rates)
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
        )
    )
    return events


def _reviewable(state: Resource, sheet_id: UUID, expected_version: int | None) -> WorkSheet:
    sheet = _sheet(state, sheet_id)
    latest = sheet.latest
    if expected_version is not None and expected_version != latest.version:
        raise ConcurrencyError(
            f"work sheet {sheet_id} is at version {latest.version}, not {expected_version}; review the latest",
            expected=expected_version,
        )
    if latest.status is not SheetStatus.SUBMITTED:
        raise RuleViolationError(
            f"version {latest.version} of this work sheet is {latest.status}; only a submitted one is reviewed"
        )
    return sheet


def _separate(state: Resource, version: SheetVersion, reviewer: str, action: str) -> None:
    """The reviewer is neither whoever submitted the version nor the person whose work it is."""
    _not_blank(reviewer, f"{action}d_by")
    if same_person(reviewer, version.submitted_by):
        raise SeparationOfDutiesError(
            f"{reviewer} submitted version {version.version} of this work sheet; someone else must {action} it"
        )
    if same_person(reviewer, state.subject):
        raise SeparationOfDutiesError(f"this work sheet is {reviewer}'s own work; someone else must {action} it")


# --- small checks -------------------------------------------------------------------------------------------


def _existing(state: Resource) -> UUID:
    if state.resource_id is None:
        raise NotFoundError("the resource does not exist")
    return state.resource_id


def _allocation(state: Resource, allocation_id: UUID) -> Allocation:
    allocation = state.allocations.get(allocation_id)
    if allocation is None:
        raise NotFoundError(f"allocation {allocation_id} does not exist on this resource")
    if allocation.ended:
        raise RuleViolationError(f"allocation {allocation_id} has ended on {allocation.ends_on}; allocate anew")
    return allocation


def _sheet(state: Resource, sheet_id: UUID) -> WorkSheet:
    sheet = state.sheets.get(sheet_id)
    if sheet is None:
        raise NotFoundError(f"work sheet {sheet_id} does not exist on this resource")
    return sheet


def _check_hours(value: Decimal, name: str, maximum: Decimal | None, *, positive: bool = False) -> None:
    if not value.is_finite():
        raise InvalidCommandError(f"{name} must be a number", field=name)
    if value < 0:
        raise InvalidCommandError(f"{name} must not be negative", field=name)
    if positive and value == 0:
        raise InvalidCommandError(f"{name} must be more than zero", field=name)
    if maximum is not None and value > maximum:
        raise InvalidCommandError(f"{name} must not exceed {maximum} hours", field=name)
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite, checked above
    if -exponent > HOURS_DECIMALS:
        raise InvalidCommandError(f"{name} has at most {HOURS_DECIMALS} decimals", field=name)


def _rate_in(rate: Money, currency: str, name: str) -> None:
    if rate.currency != currency:
        raise InvalidCommandError(f"{name} must be in the resource's currency {currency}", field=f"{name}.currency")
    if rate.amount < 0:
        raise InvalidCommandError(f"{name} must not be negative", field=f"{name}.amount")


def _not_future(day: date, today: date, name: str) -> None:
    if day > today:
        raise InvalidCommandError(f"{name} {day} is in the future", field=name)


def _not_blank(value: str, name: str) -> None:
    if not value.strip():
        raise InvalidCommandError(f"{name} must not be blank", field=name)


# --- evolve -------------------------------------------------------------------------------------------------


def _with_allocation(state: Resource, allocation: Allocation) -> Resource:
    return replace(state, allocations=frozen({**state.allocations, allocation.allocation_id: allocation}))


def _with_capacity(state: Resource, capacity: Capacity) -> Resource:
    kept = [c for c in state.capacities if c.effective_from != capacity.effective_from]
    return replace(state, capacities=tuple(sorted([*kept, capacity], key=lambda c: c.effective_from)))


def _with_sheet(state: Resource, sheet: WorkSheet) -> Resource:
    return replace(state, sheets=frozen({**state.sheets, sheet.sheet_id: sheet}))


def _with_version(sheet: WorkSheet, version: SheetVersion) -> WorkSheet:
    versions = list(sheet.versions)
    versions[version.version - 1] = version
    return replace(sheet, versions=tuple(versions))


def evolve(state: Resource, event: DomainEvent) -> Resource:
    """The state after ``event``; events this aggregate does not own leave it unchanged."""
    match event:
        case ResourceRegistered():
            return replace(
                state,
                resource_id=event.resource_id,
                kind=event.kind,
                vendor_id=event.vendor_id,
                role=event.role,
                department=event.department,
                currency=event.currency,
                registered_on=event.registered_on,
                capacities=(Capacity(week_start(event.registered_on), event.weekly_capacity_hours),),
                subject=event.subject,
            )
        case ResourceProfileChanged():
            return replace(state, role=event.role, department=event.department)
        case CapacityChanged():
            return _with_capacity(state, Capacity(event.effective_from, event.weekly_capacity_hours))
        case SkillRecorded():
            skill = Skill(event.skill, event.level, event.acquired_on)
            return replace(state, skills=frozen({**state.skills, event.skill.casefold(): skill}))
        case CertificationRecorded():
            cert = Certification(event.certification_id, event.title, event.issuer, event.obtained_on, event.expires_on)
            return replace(state, certifications=frozen({**state.certifications, cert.certification_id: cert}))
        case TrainingCompleted():
            training = Training(
                event.training_id, event.course, event.provider, event.completed_on, event.hours, event.skill
            )
            return replace(state, trainings=(*state.trainings, training))
        case RateSet():
            kept = [r for r in state.rates if r.effective_from != event.effective_from]
            rates = sorted([*kept, Rate(event.effective_from, event.hourly_rate)], key=lambda r: r.effective_from)
            return replace(state, rates=tuple(rates))
        case PersonalDataErased():
            return replace(state, personal_data_erased_on=event.erased_on)
        case ResourceAllocated():
            allocation = Allocation(
                event.allocation_id,
                event.project_id,
                event.milestone_id,
                event.hours_per_week,
                event.starts_on,
                event.ends_on,
                over_allocation=tuple(event.over_allocation),
            )
            return _with_allocation(state, allocation)
        case AllocationChanged():
            changed = replace(
                state.allocations[event.allocation_id],
                hours_per_week=event.hours_per_week,
                starts_on=event.starts_on,
                ends_on=event.ends_on,
                over_allocation=tuple(event.over_allocation),
            )
            return _with_allocation(state, changed)
        case AllocationEnded():
            ended = replace(
                state.allocations[event.allocation_id],
                ends_on=event.ends_on,
                ended=True,
                over_allocation=tuple(event.over_allocation),
            )
            return _with_allocation(state, ended)
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
    return state


RESOURCE: Decider[Resource, Command] = Decider("resource", Resource, evolve, decide)
"""The resource aggregate as the command executor sees it."""


def stream_id(resource_id: UUID) -> str:
    return f"resource-{resource_id}"


# --- role default rates -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetRoleRate:
    role: str
    effective_from: date
    hourly_rate: Money


def _evolve_role_rate(state: RoleRateCard, event: DomainEvent) -> RoleRateCard:
    match event:
        case RoleRateSet():
            kept = [r for r in state.rates if r.effective_from != event.effective_from]
            rates = sorted([*kept, Rate(event.effective_from, event.hourly_rate)], key=lambda r: r.effective_from)
            return RoleRateCard(event.role, tuple(rates))
    return state


def _decide_role_rate(state: RoleRateCard, command: SetRoleRate, now: datetime) -> Sequence[DomainEvent]:
    _not_blank(command.role, "role")
    if command.hourly_rate.amount < 0:
        raise InvalidCommandError("hourly_rate must not be negative", field="hourly_rate.amount")
    if state.rates and state.rates[0].hourly_rate.currency != command.hourly_rate.currency:
        currency = state.rates[0].hourly_rate.currency
        raise InvalidCommandError(
            f"role {command.role} has its default rates in {currency}", field="hourly_rate.currency"
        )
    same_day = next((r for r in state.rates if r.effective_from == command.effective_from), None)
    return [
        RoleRateSet(
            role=command.role,
            effective_from=command.effective_from,
            hourly_rate=command.hourly_rate,
            replaces_rate=same_day.hourly_rate if same_day else None,
        )
    ]


ROLE_RATE: Decider[RoleRateCard, SetRoleRate] = Decider("role-rate", RoleRateCard, _evolve_role_rate, _decide_role_rate)
"""A role's default cost rates, effective-dated, all in one currency."""


def role_rate_stream(role: str) -> str:
    return f"role-rate-{role}"


# --- department policy --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetOverAllocationPolicy:
    department: str
    policy: OverAllocationPolicy


def _evolve_department_policy(state: DepartmentPolicy, event: DomainEvent) -> DepartmentPolicy:
    match event:
        case OverAllocationPolicySet():
            return DepartmentPolicy(event.department, event.policy)
    return state


def _decide_department_policy(
    state: DepartmentPolicy, command: SetOverAllocationPolicy, now: datetime
) -> Sequence[DomainEvent]:
    _not_blank(command.department, "department")
    if state.department is not None and state.policy is command.policy:
        return []  # already so: nothing to record
    if state.department is None and command.policy is OverAllocationPolicy.WARN:
        return []  # the default
    return [OverAllocationPolicySet(department=command.department, policy=command.policy, previous_policy=state.policy)]


DEPARTMENT_POLICY: Decider[DepartmentPolicy, SetOverAllocationPolicy] = Decider(
    "department-policy", DepartmentPolicy, _evolve_department_policy, _decide_department_policy
)
"""A department's over-allocation policy: ``warn`` until set otherwise."""


def department_stream(department: str) -> str:
    return f"department-policy-{department}"
