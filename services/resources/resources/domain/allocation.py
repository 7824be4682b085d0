"""Allocations of a resource to projects: hours per week over a period, and over-allocation.

Allocations live on the ``resource`` aggregate so that over-allocation is computed over all of a resource's
allocations at once. An allocation of H hours per week counts, in each week, H x (its working days, Monday to
Friday, in that week) / 5; a week is over-allocated when the resource's allocations, all projects together, exceed
the capacity in force on its Monday. What an over-allocation does is its department's policy
(:mod:`resources.domain.department_policy`), which the command carries. A new allocation names a project this
service knows and that is not closed, and (optionally) one of its milestones (:mod:`resources.domain.projects`);
changing or ending an existing one does not ask again, so people can be released from a closed project.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, NewType, assert_never
from uuid import UUID

from resources.domain.checks import MAX_WEEK_HOURS, check_hours
from resources.domain.department_policy import DepartmentPolicy
from resources.domain.projects import KnownProject, milestone_of, open_project
from resources.domain.weeks import WORKDAYS_PER_WEEK, iso_week, week_start, weeks
from shared.contracts.resources import (
    AllocationChanged,
    AllocationEnded,
    OverAllocatedWeek,
    OverAllocationPolicy,
    ResourceAllocated,
)
from shared.errors import ConcurrencyError, InvalidCommandError, NotFoundError, RuleViolationError
from shared.immutable import frozen

if TYPE_CHECKING:
    from resources.domain.resource import Resource

AllocationId = NewType("AllocationId", UUID)

MAX_ALLOCATION_DAYS = 3660  # ten years: the longest period an allocation may span


class AllocationNotFoundError(NotFoundError):
    """The resource has no allocation of that id."""


class AllocationEndedError(RuleViolationError):
    """The allocation has ended: it is changed or ended no more; allocate anew."""


class OverAllocationBlockedError(RuleViolationError):
    """The resource's department blocks over-allocation and the change would raise a week past capacity."""


class DepartmentChangedError(ConcurrencyError):
    """The policy the command carries is another department's: the resource moved meanwhile; retry."""


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


def with_allocation(state: Resource, allocation: Allocation) -> Resource:
    return replace(state, allocations=frozen({**state.allocations, allocation.allocation_id: allocation}))


# --- commands ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Allocate:
    allocation_id: AllocationId
    project_id: UUID
    milestone_id: UUID | None
    hours_per_week: Decimal
    starts_on: date
    ends_on: date
    policy: DepartmentPolicy
    project: KnownProject | None
    """The project's facts as this service knows them (``None``: not seen)."""


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


AllocationCommand = Allocate | ChangeAllocation | EndAllocation
AllocationEvent = ResourceAllocated | AllocationChanged | AllocationEnded


# --- decide --------------------------------------------------------------------------------------------------


def decide_allocation(state: Resource, rid: UUID, command: AllocationCommand) -> AllocationEvent:
    """The event ``command`` produces on the registered resource ``rid``, or an error saying why it is refused."""
    match command:
        case Allocate():
            return _allocate(state, rid, command)
        case ChangeAllocation():
            return _change_allocation(state, rid, command)
        case EndAllocation():
            return _end_allocation(state, rid, command)
        case _:
            assert_never(command)


def _allocation(state: Resource, allocation_id: UUID) -> Allocation:
    allocation = state.allocations.get(allocation_id)
    if allocation is None:
        raise AllocationNotFoundError(f"allocation {allocation_id} does not exist on this resource")
    if allocation.ended:
        raise AllocationEndedError(f"allocation {allocation_id} has ended on {allocation.ends_on}; allocate anew")
    return allocation


def _check_period(hours_per_week: Decimal, starts_on: date, ends_on: date) -> None:
    check_hours(hours_per_week, "hours_per_week", MAX_WEEK_HOURS, positive=True)
    if ends_on < starts_on:
        raise InvalidCommandError("ends_on must not be before starts_on", field="ends_on")
    if (ends_on - starts_on).days > MAX_ALLOCATION_DAYS:
        raise InvalidCommandError("an allocation spans at most ten years", field="ends_on")


def _check_policy(state: Resource, policy: DepartmentPolicy) -> None:
    if policy.department != state.department:
        raise DepartmentChangedError(
            f"the resource moved to department {state.department} while the command was prepared; retry"
        )


def _blocked(before: Resource, after: Resource, policy: DepartmentPolicy, over: list[OverAllocatedWeek]) -> None:
    """Under a ``block`` policy, refuse a change that raises the allocation of a week past capacity."""
    if policy.policy is not OverAllocationPolicy.BLOCK:
        return
    worse = [w for w in over if after.allocated_in_week(w.week_start) > before.allocated_in_week(w.week_start)]
    if worse:
        weeks_over = ", ".join(f"{w.week} (+{w.over_hours} h)" for w in worse)
        raise OverAllocationBlockedError(
            f"department {before.department} blocks over-allocation; this would exceed capacity in {weeks_over}"
        )


def _allocate(state: Resource, rid: UUID, command: Allocate) -> ResourceAllocated:
    _check_policy(state, command.policy)
    if command.allocation_id in state.allocations:
        raise RuleViolationError(f"allocation {command.allocation_id} already exists")
    milestone_of(open_project(command.project_id, command.project), command.milestone_id, "milestone_id")
    _check_period(command.hours_per_week, command.starts_on, command.ends_on)
    allocation = Allocation(
        command.allocation_id,
        command.project_id,
        command.milestone_id,
        command.hours_per_week,
        command.starts_on,
        command.ends_on,
    )
    after = with_allocation(state, allocation)
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
    after = with_allocation(
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


def _end_allocation(state: Resource, rid: UUID, command: EndAllocation) -> AllocationEnded:
    allocation = _allocation(state, command.allocation_id)
    if command.ends_on < allocation.starts_on:
        raise InvalidCommandError(
            f"ends_on must not be before the allocation starts ({allocation.starts_on})", field="ends_on"
        )
    if command.ends_on > allocation.ends_on:
        raise InvalidCommandError(
            f"the allocation already ends on {allocation.ends_on}; change it to extend it", field="ends_on"
        )
    after = with_allocation(state, replace(allocation, ends_on=command.ends_on))
    over = over_allocation(after, allocation.starts_on, allocation.ends_on)
    return AllocationEnded(
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


# --- evolve --------------------------------------------------------------------------------------------------


def evolve_allocation(state: Resource, event: AllocationEvent) -> Resource:
    """The resource after an allocation event."""
    match event:
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
            return with_allocation(state, allocation)
        case AllocationChanged():
            changed = replace(
                state.allocations[event.allocation_id],
                hours_per_week=event.hours_per_week,
                starts_on=event.starts_on,
                ends_on=event.ends_on,
                over_allocation=tuple(event.over_allocation),
            )
            return with_allocation(state, changed)
        case AllocationEnded():
            ended = replace(
                state.allocations[event.allocation_id],
                ends_on=event.ends_on,
                ended=True,
                over_allocation=tuple(event.over_allocation),
            )
            return with_allocation(state, ended)
        case _:
            assert_never(event)
