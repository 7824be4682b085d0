"""The resources service's aggregates: pure ``decide`` and ``evolve`` over frozen dataclasses.

Imports only the standard library and the shared kernel; time and ids come in with the command. Three aggregates:

* ``resource`` (:mod:`.resource`), one per person or subcontractor: profile, capacity and rates there; skills,
  certifications and trainings (:mod:`.skills`); allocations (:mod:`.allocation`); work sheets
  (:mod:`.work_sheet`, their content :mod:`.sheet_content`, their cost :mod:`.pricing`);
* ``role-rate`` (:mod:`.rates`), one per role: the role's default cost rates, used on days a resource has no rate
  of its own;
* ``department-policy`` (:mod:`.department_policy`), one per department: what an over-allocation does there.

A command that needs another aggregate's facts (a role's default rates, a department's policy) carries them; the
decision checks that they still describe this resource (its current role, its current department). Likewise the
facts it holds about other services' aggregates, consumed from their topics: the projects and milestones a sheet
or an allocation names (:mod:`.projects`) and the exchange rates a cost in another currency is booked at
(:mod:`.currency`). Weeks are ISO weeks (:mod:`.weeks`).

Every public name is re-exported here: ``from resources import domain; domain.X``.
"""

from resources.domain.allocation import (
    MAX_ALLOCATION_DAYS,
    Allocate,
    Allocation,
    AllocationCommand,
    AllocationEndedError,
    AllocationEvent,
    AllocationId,
    AllocationNotFoundError,
    ChangeAllocation,
    DepartmentChangedError,
    EndAllocation,
    OverAllocationBlockedError,
    over_allocation,
)
from resources.domain.checks import HOURS_DECIMALS, MAX_DAY_HOURS, MAX_TRAINING_HOURS, MAX_WEEK_HOURS
from resources.domain.currency import ExchangeRate, NoExchangeRateError, book, rate_in_force
from resources.domain.department_policy import (
    DEPARTMENT_POLICY,
    DepartmentPolicy,
    SetOverAllocationPolicy,
    department_stream,
)
from resources.domain.pricing import NoRateInForceError, Priced, price
from resources.domain.projects import (
    CLOSED,
    KnownProject,
    ProjectClosedError,
    ProjectFactsMismatchError,
    UnknownMilestoneError,
    UnknownProjectError,
    known_project,
    milestone_of,
    open_project,
)
from resources.domain.rates import ROLE_RATE, Rate, RoleRateCard, SetRoleRate, rate_on, role_rate_stream
from resources.domain.resource import (
    RESOURCE,
    AlreadyRegisteredError,
    Capacity,
    ChangeCapacity,
    ChangeProfile,
    Command,
    ErasePersonalData,
    RegisterResource,
    Resource,
    ResourceEvent,
    ResourceId,
    ResourceNotFoundError,
    SetRate,
    decide,
    evolve,
    stream_id,
)
from resources.domain.skills import (
    Certification,
    RecordCertification,
    RecordSkill,
    RecordTraining,
    Skill,
    Training,
)
from resources.domain.weeks import ONE_WEEK, WORKDAYS_PER_WEEK, iso_week, parse_iso_week, week_start, weeks
from resources.domain.work_sheet import (
    ApproveWorkSheet,
    CorrectWorkSheet,
    NotReviewableError,
    RejectWorkSheet,
    RoleChangedError,
    SheetId,
    SheetVersion,
    SubmitWorkSheet,
    WorkSheet,
    WorkSheetCommand,
    WorkSheetEvent,
    WorkSheetNotFoundError,
)

__all__ = [
    "CLOSED",
    "DEPARTMENT_POLICY",
    "HOURS_DECIMALS",
    "MAX_ALLOCATION_DAYS",
    "MAX_DAY_HOURS",
    "MAX_TRAINING_HOURS",
    "MAX_WEEK_HOURS",
    "ONE_WEEK",
    "RESOURCE",
    "ROLE_RATE",
    "WORKDAYS_PER_WEEK",
    "Allocate",
    "Allocation",
    "AllocationCommand",
    "AllocationEndedError",
    "AllocationEvent",
    "AllocationId",
    "AllocationNotFoundError",
    "AlreadyRegisteredError",
    "ApproveWorkSheet",
    "Capacity",
    "Certification",
    "ChangeAllocation",
    "ChangeCapacity",
    "ChangeProfile",
    "Command",
    "CorrectWorkSheet",
    "DepartmentChangedError",
    "DepartmentPolicy",
    "EndAllocation",
    "ErasePersonalData",
    "ExchangeRate",
    "KnownProject",
    "NoExchangeRateError",
    "NoRateInForceError",
    "NotReviewableError",
    "OverAllocationBlockedError",
    "Priced",
    "ProjectClosedError",
    "ProjectFactsMismatchError",
    "Rate",
    "RecordCertification",
    "RecordSkill",
    "RecordTraining",
    "RegisterResource",
    "RejectWorkSheet",
    "Resource",
    "ResourceEvent",
    "ResourceId",
    "ResourceNotFoundError",
    "RoleChangedError",
    "RoleRateCard",
    "SetOverAllocationPolicy",
    "SetRate",
    "SetRoleRate",
    "SheetId",
    "SheetVersion",
    "Skill",
    "SubmitWorkSheet",
    "Training",
    "UnknownMilestoneError",
    "UnknownProjectError",
    "WorkSheet",
    "WorkSheetCommand",
    "WorkSheetEvent",
    "WorkSheetNotFoundError",
    "book",
    "decide",
    "department_stream",
    "evolve",
    "iso_week",
    "known_project",
    "milestone_of",
    "open_project",
    "over_allocation",
    "parse_iso_week",
    "price",
    "rate_in_force",
    "rate_on",
    "role_rate_stream",
    "stream_id",
    "week_start",
    "weeks",
]
