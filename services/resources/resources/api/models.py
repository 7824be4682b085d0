"""Request and response bodies of the resources API, with their limits."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from resources.domain import parse_iso_week
from resources.domain.rates import Rate
from resources.domain.resource import Capacity
from resources.domain.skills import Certification, Skill, Training
from resources.domain.work_sheet import SheetVersion
from shared.bounds import WEEK_PATTERN, CurrencyCode, Email, Phone, RequestBody
from shared.contracts.common import Booking
from shared.contracts.resources import (
    AcceptedDeliverable,
    OverAllocatedWeek,
    OverAllocationPolicy,
    ResourceKind,
    SkillLevel,
    TimeEntry,
)
from shared.money import ExactDecimal, Money

Text200 = Annotated[str, Field(min_length=1, max_length=200)]
Text4000 = Annotated[str, Field(max_length=4000)]
Reason = Annotated[str, Field(min_length=1, max_length=2000)]
Slug = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")]
Actor = Annotated[str, Field(min_length=1, max_length=200, examples=["max.manager"])]
WeekHours = Annotated[ExactDecimal, Field(ge=0, le=168, max_digits=5, decimal_places=2, examples=["40"])]
IsoWeek = Annotated[str, Field(pattern=WEEK_PATTERN, examples=["2027-W23"])]


class PersonalDataRequest(RequestBody):
    """Name and contact details: stored apart from the events, erasable."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "Ada Lovelace", "email": "ada@example.org", "phone": "+44 20 7946 0000"}]
        }
    )

    name: Text200 = Field(examples=["Ada Lovelace"])
    email: Email | None = None
    phone: Phone | None = None


class RegisterResourceRequest(PersonalDataRequest):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Ada Lovelace",
                    "email": "ada@example.org",
                    "phone": "+44 20 7946 0000",
                    "kind": "person",
                    "role": "developer",
                    "department": "engineering",
                    "weekly_capacity_hours": "40",
                    "currency": "EUR",
                    "subject": "max.manager",
                }
            ]
        }
    )

    kind: ResourceKind
    vendor_id: Slug | None = Field(default=None, description="a subcontractor's vendor (supplier) id")
    role: Slug = Field(examples=["developer"])
    department: Slug = Field(examples=["engineering"])
    weekly_capacity_hours: WeekHours
    currency: CurrencyCode = Field(description="currency of the resource's cost rates and costs")
    subject: Actor | None = Field(
        default=None,
        description="the person's user subject (token `sub`): they then never approve their own work sheets nor set "
        "their own rate",
    )


class ProfileRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"role": "developer", "department": "engineering", "changed_on": "2027-03-01"}]}
    )

    role: Slug
    department: Slug
    changed_on: date | None = Field(default=None, description="defaults to today")


class CapacityRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"weekly_capacity_hours": "40", "effective_from": "2027-03-01"}]}
    )

    weekly_capacity_hours: WeekHours
    effective_from: date = Field(description="a Monday: the capacity holds from that ISO week on")


class SkillRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"skill": "PostgreSQL", "level": "basic", "acquired_on": "2027-03-01"}]}
    )

    skill: Text200 = Field(examples=["PostgreSQL"])
    level: SkillLevel
    acquired_on: date | None = Field(default=None, description="defaults to today")


class CertificationRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"title": "PRINCE2 Practitioner", "obtained_on": "2027-03-01", "expires_on": "2030-03-01"}]
        }
    )

    title: Text200 = Field(examples=["PRINCE2 Practitioner"])
    issuer: Annotated[str, Field(max_length=200)] = ""
    obtained_on: date
    expires_on: date | None = None


class TrainingRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"course": "Advanced PostgreSQL", "completed_on": "2027-03-01", "hours": "7.5", "skill": "python"}
            ]
        }
    )

    course: Text200
    provider: Annotated[str, Field(max_length=200)] = ""
    completed_on: date | None = Field(default=None, description="defaults to today")
    hours: ExactDecimal = Field(gt=0, le=1000, max_digits=6, decimal_places=2, examples=["7.5"])
    skill: Text200 | None = None


class RateRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"hourly_rate": {"amount": "95.00", "currency": "EUR"}, "effective_from": "2027-03-01"}]
        }
    )

    hourly_rate: Money = Field(examples=[{"amount": "85.00", "currency": "EUR"}])
    effective_from: date


class PolicyRequest(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"policy": "warn"}]})

    policy: OverAllocationPolicy


class AllocationRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "project_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
                    "milestone_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
                    "hours_per_week": "20",
                    "starts_on": "2027-03-01",
                    "ends_on": "2027-06-30",
                }
            ]
        }
    )

    project_id: uuid.UUID
    milestone_id: uuid.UUID | None = None
    hours_per_week: ExactDecimal = Field(gt=0, le=168, max_digits=5, decimal_places=2, examples=["20"])
    starts_on: date
    ends_on: date


class ChangeAllocationRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "hours_per_week": "16",
                    "starts_on": "2027-03-01",
                    "ends_on": "2027-06-30",
                    "reason": "Shared with the support rota from April",
                }
            ]
        }
    )

    hours_per_week: ExactDecimal = Field(gt=0, le=168, max_digits=5, decimal_places=2)
    starts_on: date
    ends_on: date
    reason: Reason


class EndAllocationRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"ends_on": "2027-05-31", "reason": "Work moved to the vendor"}]}
    )

    ends_on: date | None = Field(default=None, description="the last day; defaults to today")
    reason: Reason


class EntryRequest(RequestBody):
    day: date
    milestone_id: uuid.UUID | None = None
    hours: ExactDecimal = Field(ge=0, le=1000, max_digits=6, decimal_places=2, examples=["7.5"])


class DeliverableRequest(RequestBody):
    milestone_id: uuid.UUID | None = None
    description: Text200
    amount: Money = Field(description="the agreed amount")
    accepted_on: date = Field(description="accepted by the caller (the token's subject), recorded as accepted_by")


Entries = Annotated[list[EntryRequest], Field(max_length=200)]
Deliverables = Annotated[list[DeliverableRequest], Field(max_length=50)]


class WorkSheetRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"project_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "week": "2027-W23"}]}
    )

    project_id: uuid.UUID
    week: IsoWeek
    entries: Entries = []
    deliverables: Deliverables = Field(default=[], description="a subcontractor's accepted deliverables")

    @field_validator("week")
    @classmethod
    def _week(cls, value: str) -> str:
        parse_iso_week(value)
        return value


class CorrectionRequest(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "Tuesday's hours were booked twice"}]})

    entries: Entries = []
    deliverables: Deliverables = []
    reason: Reason


class ApproveRequest(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"approved_on": "2027-03-01", "version": 1}]})

    approved_on: date | None = Field(default=None, description="defaults to today")
    version: int | None = Field(default=None, ge=1, description="the sheet version reviewed; 409 if not the latest")


class RejectRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"reason": "Hours on the wrong project", "rejected_on": "2027-03-01", "version": 1}]
        }
    )

    reason: Reason
    rejected_on: date | None = Field(default=None, description="defaults to today")
    version: int | None = Field(default=None, ge=1)


# --- responses: views are documents; these describe them for OpenAPI ------------------------------------------


class PersonalDataView(BaseModel):
    resource_id: uuid.UUID
    name: str | None
    email: str | None
    phone: str | None


class AllocationView(BaseModel):
    allocation_id: uuid.UUID
    resource_id: uuid.UUID
    project_id: uuid.UUID
    milestone_id: uuid.UUID | None
    hours_per_week: str
    starts_on: date
    ends_on: date
    ended: bool
    over_allocated: bool
    over_allocation: list[OverAllocatedWeek]
    name: str | None = Field(default=None, description="the resource's name, in lists (null once erased)")
    role: str | None = Field(default=None, description="the resource's role, in lists")
    department: str | None = Field(default=None, description="the resource's department, in lists")


class ResourceView(BaseModel):
    resource_id: uuid.UUID
    kind: ResourceKind
    vendor_id: str | None
    role: str
    department: str
    currency: str
    registered_on: date
    capacities: list[Capacity]
    rates: list[Rate]
    skills: list[Skill]
    certifications: list[Certification]
    trainings: list[Training]
    allocations: list[AllocationView]
    personal_data_erased_on: date | None
    version: int
    name: str | None = Field(description="null once the personal data is erased")


class WorkSheetView(BaseModel):
    sheet_id: uuid.UUID
    resource_id: uuid.UUID
    project_id: uuid.UUID
    week: str
    week_start: date
    version: int
    status: str
    submitted_by: str
    hours: str
    entries: list[TimeEntry]
    deliverables: list[AcceptedDeliverable]
    approved_version: int | None
    approved_cost: Money | None
    approved_booked: Booking | None = Field(
        default=None,
        description="the approved cost in the project's currency, when the rate is in another one: converted at the "
        "exchange rate in force on the approval date",
    )
    versions: list[SheetVersion] = Field(description="every version of the sheet, the first submission first")


class CapacityWeek(BaseModel):
    resource_id: uuid.UUID
    name: str | None
    department: str
    week: str
    week_start: date
    capacity_hours: str
    allocated_hours: str
    available_hours: str
    over_hours: str


class CostLine(BaseModel):
    currency: str
    hours: str
    cost: Money


class MilestoneCostLine(CostLine):
    milestone_id: uuid.UUID | None = Field(description="null: work on the project outside any milestone")


class ResourceCostLine(CostLine):
    resource_id: uuid.UUID
    name: str | None = Field(description="null once the personal data is erased")


class ProjectCosts(BaseModel):
    project_id: uuid.UUID
    from_week: str | None
    to_week: str | None
    totals: list[CostLine]
    by_milestone: list[MilestoneCostLine]
    by_resource: list[ResourceCostLine]


class RoleRate(BaseModel):
    """A role's standard hourly rate from a date (:func:`resources.views.role_rates_view`)."""

    effective_from: date
    hourly_rate: Money


class RoleRatesView(BaseModel):
    role: str
    rates: list[RoleRate]


class PolicyView(BaseModel):
    department: str
    policy: OverAllocationPolicy
