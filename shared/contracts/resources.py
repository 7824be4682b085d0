"""Events published by the resources service on ``pmo.resources.v1``.

Key: the project id for every event about a project (allocations and work sheets), so they keep their order with
the project's other facts; ``resource:<id>`` for events about a resource itself (profile, capacity, skills,
rates, erasure); ``role:<role>`` for role default rates; ``department:<department>`` for department policies.

No event carries a person's name or contact details: events name resources by id only. Names live in a table
that can be erased (``personal-data-erased``), so a person can be forgotten without rewriting history.

Hours and rates are exact decimal strings; costs are :class:`~shared.money.Money`, rounded half-even to the
currency's minor unit per day and entry, the totals being exact sums of those.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from shared.contracts.common import Booking
from shared.events import DomainEvent, EventRegistry
from shared.money import DecimalStr, Money

TOPIC = "pmo.resources.v1"


class ResourceKind(StrEnum):
    PERSON = "person"
    SUBCONTRACTOR = "subcontractor"


class SkillLevel(StrEnum):
    BASIC = "basic"
    INTERMEDIATE = "intermediate"
    ADVANCED = "advanced"
    EXPERT = "expert"


class OverAllocationPolicy(StrEnum):
    """What a department does with an allocation that takes someone past capacity: record it, or refuse it."""

    WARN = "warn"
    BLOCK = "block"


class RateSource(StrEnum):
    """Where the rate applied to a day came from: the resource's own rate, else its role's default."""

    RESOURCE = "resource"
    ROLE = "role"


class SheetStatus(StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"


# --- value objects embedded in events -----------------------------------------------------------------------


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OverAllocatedWeek(_Value):
    """One ISO week in which a resource's allocations exceed its capacity."""

    week: str  # ISO week, e.g. "2027-W05"
    week_start: date  # its Monday
    capacity_hours: DecimalStr
    allocated_hours: DecimalStr
    over_hours: DecimalStr


class TimeEntry(_Value):
    """Hours worked on one day, on the sheet's project and optionally one of its milestones."""

    day: date
    milestone_id: UUID | None
    hours: DecimalStr


class AcceptedDeliverable(_Value):
    """A subcontractor's deliverable, accepted, with its agreed amount."""

    milestone_id: UUID | None
    description: str
    amount: Money
    accepted_by: str
    accepted_on: date


class CostedEntry(_Value):
    """A time entry with the hourly rate in force that day and its cost (hours x rate, half-even rounded)."""

    day: date
    milestone_id: UUID | None
    hours: DecimalStr
    hourly_rate: Money
    rate_source: RateSource
    rate_effective_from: date
    cost: Money


class MilestoneCost(_Value):
    """Hours and cost of a sheet on one milestone (``milestone_id`` null: the project outside any milestone)."""

    milestone_id: UUID | None
    hours: DecimalStr
    cost: Money


# --- resources ----------------------------------------------------------------------------------------------


class _ResourceEvent(DomainEvent):
    resource_id: UUID

    @property
    def partition_key(self) -> str:
        return f"resource:{self.resource_id}"


class ResourceRegistered(_ResourceEvent):
    """A person or a subcontractor (a vendor supplying people or deliverables) became available to projects."""

    event_name = "resource-registered"
    kind: ResourceKind
    vendor_id: str | None
    role: str
    department: str
    weekly_capacity_hours: DecimalStr
    currency: str
    registered_on: date
    subject: str | None = None
    """The person's user subject (the token's ``sub``) when the resource is linked to one; absent before version
    0.2 and for resources not linked (separation of duties then knows only the submitter)."""


class ResourceProfileChanged(_ResourceEvent):
    event_name = "resource-profile-changed"
    role: str
    department: str
    previous_role: str
    previous_department: str
    changed_on: date


class CapacityChanged(_ResourceEvent):
    """Weekly capacity from a week on; ``over_allocation`` lists the weeks now past capacity (see
    ``ResourceAllocated`` for ``weeks_from`` / ``weeks_to``)."""

    event_name = "capacity-changed"
    weekly_capacity_hours: DecimalStr
    previous_weekly_capacity_hours: DecimalStr
    effective_from: date
    over_allocated: bool
    over_allocation: list[OverAllocatedWeek]
    weeks_from: date | None = None
    weeks_to: date | None = None


class SkillRecorded(_ResourceEvent):
    event_name = "skill-recorded"
    skill: str
    level: SkillLevel
    previous_level: SkillLevel | None
    acquired_on: date


class CertificationRecorded(_ResourceEvent):
    event_name = "certification-recorded"
    certification_id: UUID
    title: str
    issuer: str
    obtained_on: date
    expires_on: date | None


class TrainingCompleted(_ResourceEvent):
    event_name = "training-completed"
    training_id: UUID
    course: str
    provider: str
    completed_on: date
    hours: DecimalStr
    skill: str | None


class RateSet(_ResourceEvent):
    """A cost rate from a date on. Costs already approved keep the rate they were approved with."""

    event_name = "rate-set"
    effective_from: date
    hourly_rate: Money
    replaces_rate: Money | None  # the rate previously set for exactly this date, if any


class PersonalDataErased(_ResourceEvent):
    """The resource's name and contact details were erased; its id, events and costs stay."""

    event_name = "personal-data-erased"
    erased_on: date


# --- role default rates and department policy ----------------------------------------------------------------


class RoleRateSet(DomainEvent):
    """A role's default cost rate from a date on, used for resources without a rate of their own that day."""

    event_name = "role-rate-set"
    role: str
    effective_from: date
    hourly_rate: Money
    replaces_rate: Money | None

    @property
    def partition_key(self) -> str:
        return f"role:{self.role}"


class OverAllocationPolicySet(DomainEvent):
    event_name = "over-allocation-policy-set"
    department: str
    policy: OverAllocationPolicy
    previous_policy: OverAllocationPolicy

    @property
    def partition_key(self) -> str:
        return f"department:{self.department}"


# --- allocations (key: the project) --------------------------------------------------------------------------


class ResourceAllocated(DomainEvent):
    """A resource allocated to a project (and optionally a milestone), hours per week from ``starts_on`` to
    ``ends_on`` (inclusive). ``over_allocation``: the weeks of this period in which the resource's allocations,
    all projects together, exceed its capacity (accepted under the department's ``warn`` policy).

    ``weeks_from`` / ``weeks_to`` (Mondays): the weeks whose load was checked; a week in that range not listed in
    ``over_allocation`` is within capacity, so an alert raised for it earlier can be cleared. (Null only in events
    recorded before these fields existed.)"""

    event_name = "resource-allocated"
    resource_id: UUID
    allocation_id: UUID
    project_id: UUID
    milestone_id: UUID | None
    hours_per_week: DecimalStr
    starts_on: date
    ends_on: date
    over_allocated: bool
    over_allocation: list[OverAllocatedWeek]
    weeks_from: date | None = None
    weeks_to: date | None = None


class AllocationChanged(DomainEvent):
    """New hours or period of an allocation; ``over_allocation`` covers the old and the new period."""

    event_name = "allocation-changed"
    resource_id: UUID
    allocation_id: UUID
    project_id: UUID
    milestone_id: UUID | None
    hours_per_week: DecimalStr
    starts_on: date
    ends_on: date
    previous_hours_per_week: DecimalStr
    previous_starts_on: date
    previous_ends_on: date
    reason: str
    over_allocated: bool
    over_allocation: list[OverAllocatedWeek]
    weeks_from: date | None = None
    weeks_to: date | None = None


class AllocationEnded(DomainEvent):
    """An allocation ends earlier; ``over_allocation``: the weeks of its former period still past capacity."""

    event_name = "allocation-ended"
    resource_id: UUID
    allocation_id: UUID
    project_id: UUID
    milestone_id: UUID | None
    ends_on: date
    previous_ends_on: date
    reason: str
    over_allocated: bool = False
    over_allocation: list[OverAllocatedWeek] = []
    weeks_from: date | None = None
    weeks_to: date | None = None


# --- work sheets (key: the project) ---------------------------------------------------------------------------


class WorkSheetSubmitted(DomainEvent):
    """Version 1 of a resource's sheet for one ISO week and one project."""

    event_name = "work-sheet-submitted"
    resource_id: UUID
    sheet_id: UUID
    version: int
    project_id: UUID
    week: str
    week_start: date
    kind: ResourceKind
    entries: list[TimeEntry]
    deliverables: list[AcceptedDeliverable]
    hours: DecimalStr
    submitted_by: str
    submitted_on: date


class WorkSheetCorrected(DomainEvent):
    """A new version of a sheet replacing ``replaces_version`` (which was ``replaced_status``). A replaced
    approved version stays in force until the correction is approved (then ``work-sheet-approval-reversed``)."""

    event_name = "work-sheet-corrected"
    resource_id: UUID
    sheet_id: UUID
    version: int
    replaces_version: int
    replaced_status: SheetStatus
    project_id: UUID
    week: str
    week_start: date
    kind: ResourceKind
    entries: list[TimeEntry]
    deliverables: list[AcceptedDeliverable]
    hours: DecimalStr
    submitted_by: str
    submitted_on: date
    reason: str


class WorkSheetApproved(DomainEvent):
    """Approved hours with the rate in force each day and the cost: what earned value and invoice checks use.

    ``replaces_version``: the approved version this one supersedes (its cost was reversed just before by
    ``work-sheet-approval-reversed``), or null.
    """

    event_name = "work-sheet-approved"
    resource_id: UUID
    sheet_id: UUID
    version: int
    replaces_version: int | None
    project_id: UUID
    week: str
    week_start: date
    kind: ResourceKind
    role: str
    vendor_id: str | None
    submitted_by: str
    approved_by: str
    approved_on: date
    entries: list[CostedEntry]
    deliverables: list[AcceptedDeliverable]
    hours: DecimalStr
    cost: Money
    cost_by_milestone: list[MilestoneCost]
    booked: Booking | None = None
    """``cost`` in the project's currency when the rate is in another one (see ``shared.contracts.common``)."""


class WorkSheetApprovalReversed(DomainEvent):
    """The cost of an approved version no longer holds: a corrected version replaces it (approved right after).
    Consumers subtract ``hours``, ``cost`` and ``cost_by_milestone``."""

    event_name = "work-sheet-approval-reversed"
    resource_id: UUID
    sheet_id: UUID
    version: int
    superseded_by_version: int
    project_id: UUID
    week: str
    week_start: date
    hours: DecimalStr
    cost: Money
    cost_by_milestone: list[MilestoneCost]
    booked: Booking | None = None
    reversed_on: date


class WorkSheetRejected(DomainEvent):
    event_name = "work-sheet-rejected"
    resource_id: UUID
    sheet_id: UUID
    version: int
    project_id: UUID
    week: str
    rejected_by: str
    rejected_on: date
    reason: str


REGISTRY = EventRegistry(
    [
        ResourceRegistered,
        ResourceProfileChanged,
        CapacityChanged,
        SkillRecorded,
        CertificationRecorded,
        TrainingCompleted,
        RateSet,
        PersonalDataErased,
        RoleRateSet,
        OverAllocationPolicySet,
        ResourceAllocated,
        AllocationChanged,
        AllocationEnded,
        WorkSheetSubmitted,
        WorkSheetCorrected,
        WorkSheetApproved,
        WorkSheetApprovalReversed,
        WorkSheetRejected,
    ]
)
