"""The ``resource`` aggregate, one per person or subcontractor (a vendor supplying its own people or
deliverables): its profile, weekly capacity from a week on, skills, certifications and trainings and effective-
dated cost rates, here; its allocations (:mod:`resources.domain.allocation`) and work sheets
(:mod:`resources.domain.work_sheet`), decided and evolved by their own modules on this one state.

Names and contact details are no part of this state nor of any event: they live in an erasable table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import NewType, assert_never
from uuid import UUID

from resources.domain.allocation import (
    Allocate,
    Allocation,
    AllocationEvent,
    ChangeAllocation,
    EndAllocation,
    decide_allocation,
    evolve_allocation,
    over_allocation,
)
from resources.domain.checks import MAX_WEEK_HOURS, check_hours, not_blank, not_future, rate_in
from resources.domain.rates import Rate, rate_on, same_day, with_rate
from resources.domain.skills import (
    Certification,
    RecordCertification,
    RecordSkill,
    RecordTraining,
    Skill,
    SkillsEvent,
    Training,
    decide_skills,
    evolve_skills,
)
from resources.domain.weeks import week_start
from resources.domain.work_sheet import (
    ApproveWorkSheet,
    CorrectWorkSheet,
    RejectWorkSheet,
    SubmitWorkSheet,
    WorkSheet,
    WorkSheetEvent,
    decide_work_sheet,
    evolve_work_sheet,
)
from shared.contracts.resources import (
    CapacityChanged,
    PersonalDataErased,
    RateSet,
    ResourceKind,
    ResourceProfileChanged,
    ResourceRegistered,
)
from shared.decider import Decider
from shared.errors import InvalidCommandError, NotFoundError, RuleViolationError, SeparationOfDutiesError
from shared.events import DomainEvent
from shared.identity import same_person
from shared.immutable import frozen
from shared.money import Money, minor_unit

ResourceId = NewType("ResourceId", UUID)


class ResourceNotFoundError(NotFoundError):
    """The command addresses a resource that was never registered."""


class AlreadyRegisteredError(RuleViolationError):
    """A resource is registered once."""


# --- state ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Capacity:
    """Weekly capacity in hours from the week of ``effective_from`` on."""

    effective_from: date
    hours: Decimal


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


# --- commands ------------------------------------------------------------------------------------------------


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
class SetRate:
    effective_from: date
    hourly_rate: Money
    set_by: str


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
"""Every command of the resource aggregate."""

ProfileEvent = ResourceRegistered | ResourceProfileChanged | CapacityChanged | RateSet | PersonalDataErased
ResourceEvent = ProfileEvent | SkillsEvent | AllocationEvent | WorkSheetEvent
"""Every event of a resource stream."""


# --- decide --------------------------------------------------------------------------------------------------


def decide(state: Resource, command: Command, now: datetime) -> list[DomainEvent]:
    """The events ``command`` produces on ``state``, or an error saying why it is refused."""
    today = now.date()
    if isinstance(command, RegisterResource):
        return [_register(state, command, today)]
    rid = _existing(state)
    match command:
        case ChangeProfile():
            not_future(command.changed_on, today, "changed_on")
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
        case RecordSkill() | RecordCertification() | RecordTraining():
            return [decide_skills(state, rid, command, today)]
        case SetRate():
            if same_person(command.set_by, state.subject):
                raise SeparationOfDutiesError(f"{command.set_by} is this resource; someone else sets their rate")
            rate_in(command.hourly_rate, state.currency, "hourly_rate")
            replaced = same_day(state.rates, command.effective_from)
            return [
                RateSet(
                    resource_id=rid,
                    effective_from=command.effective_from,
                    hourly_rate=command.hourly_rate,
                    replaces_rate=replaced.hourly_rate if replaced else None,
                )
            ]
        case Allocate() | ChangeAllocation() | EndAllocation():
            return [decide_allocation(state, rid, command)]
        case SubmitWorkSheet() | CorrectWorkSheet() | ApproveWorkSheet() | RejectWorkSheet():
            return decide_work_sheet(state, rid, command, today)
        case ErasePersonalData():
            if state.personal_data_erased_on is not None:
                return []  # already forgotten: nothing more to record
            return [PersonalDataErased(resource_id=rid, erased_on=command.erased_on)]
        case _:
            assert_never(command)


def _existing(state: Resource) -> UUID:
    if state.resource_id is None:
        raise ResourceNotFoundError("the resource does not exist")
    return state.resource_id


def _register(state: Resource, command: RegisterResource, today: date) -> ResourceRegistered:
    if state.resource_id is not None:
        raise AlreadyRegisteredError(f"resource {state.resource_id} is already registered")
    not_future(command.registered_on, today, "registered_on")
    if command.kind is ResourceKind.SUBCONTRACTOR and not command.vendor_id:
        raise InvalidCommandError("a subcontractor names its vendor: vendor_id is required", field="vendor_id")
    if command.kind is ResourceKind.PERSON and command.vendor_id:
        raise InvalidCommandError("a person has no vendor_id; register a subcontractor instead", field="vendor_id")
    not_blank(command.role, "role")
    not_blank(command.department, "department")
    check_hours(command.weekly_capacity_hours, "weekly_capacity_hours", MAX_WEEK_HOURS)
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
    check_hours(command.weekly_capacity_hours, "weekly_capacity_hours", MAX_WEEK_HOURS)
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


# --- evolve --------------------------------------------------------------------------------------------------


def _with_capacity(state: Resource, capacity: Capacity) -> Resource:
    kept = [c for c in state.capacities if c.effective_from != capacity.effective_from]
    return replace(state, capacities=tuple(sorted([*kept, capacity], key=lambda c: c.effective_from)))


def evolve(state: Resource, event: DomainEvent) -> Resource:
    """The state after ``event``; events this aggregate does not own leave it unchanged."""
    if isinstance(event, AllocationEvent):
        return evolve_allocation(state, event)
    if isinstance(event, WorkSheetEvent):
        return evolve_work_sheet(state, event)
    if isinstance(event, SkillsEvent):
        return evolve_skills(state, event)
    if isinstance(event, ProfileEvent):
        return _evolve_profile(state, event)
    return state


def _evolve_profile(state: Resource, event: ProfileEvent) -> Resource:
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
        case RateSet():
            return replace(state, rates=with_rate(state.rates, Rate(event.effective_from, event.hourly_rate)))
        case PersonalDataErased():
            return replace(state, personal_data_erased_on=event.erased_on)
        case _:
            assert_never(event)


RESOURCE: Decider[Resource, Command] = Decider("resource", Resource, evolve, decide)
"""The resource aggregate as the command executor sees it."""


def stream_id(resource_id: UUID) -> str:
    return f"resource-{resource_id}"
