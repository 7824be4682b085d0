"""Command routes: parse the request, call the handler (:mod:`resources.handlers`), answer with its outcome.

The acting user (the bearer token's subject) submits, approves or rejects a work sheet, accepts a deliverable and
sets a rate: never a field of the body.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse, Response

from resources import handlers
from resources.api import models as m
from resources.projections import PersonalData
from resources.repository import ResourceTables
from shared.authz import InScope
from shared.contracts.resources import TimeEntry
from shared.service import Runtime, ServiceRuntime
from shared.web import COMMAND_RESPONSES, Command, respond

router = APIRouter(responses=COMMAND_RESPONSES)
ResourceIdPath = Annotated[uuid.UUID, Path(description="Resource id")]
SheetIdPath = Annotated[uuid.UUID, Path(description="Work sheet id")]
AllocationIdPath = Annotated[uuid.UUID, Path(description="Allocation id")]
SlugPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")]


def _tables(rt: ServiceRuntime) -> ResourceTables:
    return ResourceTables(rt.engine)


def _entries(body: Sequence[m.EntryRequest]) -> tuple[TimeEntry, ...]:
    return tuple(TimeEntry(day=e.day, milestone_id=e.milestone_id, hours=e.hours) for e in body)


def _deliverables(body: Sequence[m.DeliverableRequest]) -> tuple[handlers.Deliverable, ...]:
    return tuple(handlers.Deliverable(d.milestone_id, d.description, d.amount, d.accepted_on) for d in body)


# --- resources ----------------------------------------------------------------------------------------------


@router.post(
    "/resources", operation_id="registerResource", status_code=201, response_model=m.ResourceView, tags=["resources"]
)
async def register_resource(body: m.RegisterResourceRequest, ctx: Command, rt: Runtime) -> JSONResponse:
    """Register a person or a subcontractor (a vendor supplying people or deliverables; ``vendor_id`` required).
    The name and contact details are stored apart from the events (``resource-registered`` carries none)."""
    registration = handlers.Registration(
        kind=body.kind,
        vendor_id=body.vendor_id,
        role=body.role,
        department=body.department,
        weekly_capacity_hours=body.weekly_capacity_hours,
        currency=body.currency,
        subject=body.subject,
        name=body.name,
        email=body.email,
        phone=body.phone,
    )
    outcome = await handlers.register_resource(rt.executor, _tables(rt), ctx, registration)
    return respond(outcome, location=f"/resources/{outcome.body['resource_id']}")


@router.put(
    "/resources/{resource_id}/personal-data",
    operation_id="updatePersonalData",
    response_model=m.PersonalDataView,
    tags=["personal data"],
)
async def update_personal_data(resource_id: ResourceIdPath, body: m.PersonalDataRequest, rt: Runtime) -> dict[str, Any]:
    """Replace the name and contact details (not event-sourced: they stay out of the events). Refused once
    erased."""
    return await handlers.replace_personal_data(
        _tables(rt), PersonalData(resource_id, body.name, body.email, body.phone)
    )


@router.delete(
    "/resources/{resource_id}/personal-data",
    operation_id="erasePersonalData",
    status_code=204,
    response_class=Response,
    tags=["personal data"],
)
async def erase_personal_data(resource_id: ResourceIdPath, ctx: Command, rt: Runtime) -> Response:
    """Forget the person: their name and contact details are deleted (``personal-data-erased``, which carries
    none). Every event, allocation and cost stays, under the resource id. Erasing again changes nothing."""
    outcome = await handlers.erase_personal_data(rt.executor, ctx, resource_id)
    headers = {"ETag": f'"{outcome.version}"'}
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(status_code=204, headers=headers)


@router.post(
    "/resources/{resource_id}/profile",
    operation_id="changeResourceProfile",
    response_model=m.ResourceView,
    tags=["resources"],
)
async def change_profile(
    resource_id: ResourceIdPath, body: m.ProfileRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Change role and department."""
    return respond(
        await handlers.change_profile(
            rt.executor, _tables(rt), ctx, resource_id, body.role, body.department, body.changed_on
        )
    )


@router.post(
    "/resources/{resource_id}/capacity",
    operation_id="changeResourceCapacity",
    response_model=m.ResourceView,
    tags=["resources"],
)
async def change_capacity(
    resource_id: ResourceIdPath, body: m.CapacityRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Weekly capacity from an ISO week on (``effective_from`` is its Monday); the answer's ``over_allocation``
    lists the weeks now allocated past capacity."""
    return respond(
        await handlers.change_capacity(
            rt.executor, _tables(rt), ctx, resource_id, body.weekly_capacity_hours, body.effective_from
        )
    )


@router.post(
    "/resources/{resource_id}/skills",
    operation_id="recordSkill",
    status_code=201,
    response_model=m.ResourceView,
    tags=["skills"],
)
async def record_skill(resource_id: ResourceIdPath, body: m.SkillRequest, ctx: Command, rt: Runtime) -> JSONResponse:
    """Record a skill at a level (again with another level as it grows)."""
    return respond(
        await handlers.record_skill(
            rt.executor, _tables(rt), ctx, resource_id, body.skill, body.level, body.acquired_on
        )
    )


@router.post(
    "/resources/{resource_id}/certifications",
    operation_id="recordCertification",
    status_code=201,
    response_model=m.ResourceView,
    tags=["skills"],
)
async def record_certification(
    resource_id: ResourceIdPath, body: m.CertificationRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Record a certification with the date obtained and, if any, its expiry."""
    return respond(
        await handlers.record_certification(
            rt.executor, _tables(rt), ctx, resource_id, body.title, body.issuer, body.obtained_on, body.expires_on
        )
    )


@router.post(
    "/resources/{resource_id}/trainings",
    operation_id="recordTraining",
    status_code=201,
    response_model=m.ResourceView,
    tags=["skills"],
)
async def record_training(
    resource_id: ResourceIdPath, body: m.TrainingRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Record a training as it is completed."""
    return respond(
        await handlers.record_training(
            rt.executor,
            _tables(rt),
            ctx,
            resource_id,
            body.course,
            body.provider,
            body.completed_on,
            body.hours,
            body.skill,
        )
    )


# --- rates and policies -------------------------------------------------------------------------------------


@router.post(
    "/resources/{resource_id}/rates",
    operation_id="setResourceRate",
    status_code=201,
    response_model=m.ResourceView,
    tags=["rates"],
)
async def set_rate(resource_id: ResourceIdPath, body: m.RateRequest, ctx: Command, rt: Runtime) -> JSONResponse:
    """Set the resource's hourly cost rate from a date on (in the resource's currency). Costs already approved keep
    the rate they were approved with. Nobody sets their own rate (409 when the resource is the caller's subject)."""
    return respond(
        await handlers.set_rate(rt.executor, _tables(rt), ctx, resource_id, body.hourly_rate, body.effective_from)
    )


@router.post(
    "/roles/{role}/rates", operation_id="setRoleRate", status_code=201, response_model=m.RoleRatesView, tags=["rates"]
)
async def set_role_rate(role: SlugPath, body: m.RateRequest, ctx: Command, rt: Runtime) -> JSONResponse:
    """Set a role's default hourly rate from a date on: used on days a resource of that role has no rate."""
    outcome = await handlers.set_role_rate(rt.executor, ctx, role, body.hourly_rate, body.effective_from)
    return respond(outcome, location=f"/roles/{role}/rates")


@router.put(
    "/departments/{department}/over-allocation-policy",
    operation_id="setOverAllocationPolicy",
    response_model=m.PolicyView,
    tags=["allocations"],
)
async def set_policy(department: SlugPath, body: m.PolicyRequest, ctx: Command, rt: Runtime) -> JSONResponse:
    """``warn`` (default): an allocation past capacity is accepted and its event lists the weeks and hours over;
    ``block``: it is refused (409)."""
    return respond(await handlers.set_over_allocation_policy(rt.executor, ctx, department, body.policy))


# --- allocations --------------------------------------------------------------------------------------------


@router.post(
    "/resources/{resource_id}/allocations",
    operation_id="allocateResource",
    status_code=201,
    response_model=m.AllocationView,
    tags=["allocations"],
)
async def allocate(
    resource_id: ResourceIdPath, body: m.AllocationRequest, ctx: Command, rt: Runtime, scope: InScope
) -> JSONResponse:
    """Allocate the resource to a project (optionally a milestone), hours per week over a period. Past capacity in
    any week: accepted with ``over_allocation`` (weeks and hours) unless the department blocks it (409)."""
    period = handlers.Period(body.hours_per_week, body.starts_on, body.ends_on)
    outcome = await handlers.allocate(
        rt.executor, _tables(rt), ctx, resource_id, body.project_id, body.milestone_id, period, scope=scope
    )
    return respond(outcome, location=f"/resources/{resource_id}/allocations/{outcome.body['allocation_id']}")


@router.post(
    "/resources/{resource_id}/allocations/{allocation_id}/change",
    operation_id="changeAllocation",
    response_model=m.AllocationView,
    tags=["allocations"],
)
async def change_allocation(
    resource_id: ResourceIdPath,
    allocation_id: AllocationIdPath,
    body: m.ChangeAllocationRequest,
    ctx: Command,
    rt: Runtime,
) -> JSONResponse:
    """New hours per week and period of an allocation, with a reason."""
    period = handlers.Period(body.hours_per_week, body.starts_on, body.ends_on)
    return respond(
        await handlers.change_allocation(rt.executor, _tables(rt), ctx, resource_id, allocation_id, period, body.reason)
    )


@router.post(
    "/resources/{resource_id}/allocations/{allocation_id}/end",
    operation_id="endAllocation",
    response_model=m.AllocationView,
    tags=["allocations"],
)
async def end_allocation(
    resource_id: ResourceIdPath,
    allocation_id: AllocationIdPath,
    body: m.EndAllocationRequest,
    ctx: Command,
    rt: Runtime,
) -> JSONResponse:
    """End an allocation on a day (its last), at the latest on its planned end."""
    return respond(
        await handlers.end_allocation(rt.executor, ctx, resource_id, allocation_id, body.ends_on, body.reason)
    )


# --- work sheets --------------------------------------------------------------------------------------------


@router.post(
    "/resources/{resource_id}/work-sheets",
    operation_id="submitWorkSheet",
    status_code=201,
    response_model=m.WorkSheetView,
    tags=["work sheets"],
)
async def submit_work_sheet(
    resource_id: ResourceIdPath, body: m.WorkSheetRequest, ctx: Command, rt: Runtime, scope: InScope
) -> JSONResponse:
    """Submit a week's hours on one project (per day and milestone) or, for a subcontractor, its accepted
    deliverables with their agreed amounts. The acting user is its submitter. One sheet per resource, week and
    project; correct it with a new version."""
    outcome = await handlers.submit_work_sheet(
        rt.executor,
        _tables(rt),
        ctx,
        resource_id,
        body.project_id,
        body.week,
        _entries(body.entries),
        _deliverables(body.deliverables),
        scope=scope,
    )
    return respond(outcome, location=f"/resources/{resource_id}/work-sheets/{outcome.body['sheet_id']}")


@router.post(
    "/resources/{resource_id}/work-sheets/{sheet_id}/corrections",
    operation_id="correctWorkSheet",
    status_code=201,
    response_model=m.WorkSheetView,
    tags=["work sheets"],
)
async def correct_work_sheet(
    resource_id: ResourceIdPath, sheet_id: SheetIdPath, body: m.CorrectionRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Submit a new version of a sheet, replacing the latest. An approved version keeps its cost in force until the
    correction is approved; then its cost is reversed (``work-sheet-approval-reversed``) and the new one approved."""
    return respond(
        await handlers.correct_work_sheet(
            rt.executor,
            _tables(rt),
            ctx,
            resource_id,
            sheet_id,
            _entries(body.entries),
            _deliverables(body.deliverables),
            body.reason,
        )
    )


@router.post(
    "/resources/{resource_id}/work-sheets/{sheet_id}/approve",
    operation_id="approveWorkSheet",
    response_model=m.WorkSheetView,
    tags=["work sheets"],
)
async def approve_work_sheet(
    resource_id: ResourceIdPath, sheet_id: SheetIdPath, body: m.ApproveRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Approve the latest version as the acting user, who must not be its submitter: ``work-sheet-approved``
    carries the hours, the rate in force each day and the cost."""
    return respond(
        await handlers.approve_work_sheet(
            rt.executor, _tables(rt), ctx, resource_id, sheet_id, body.approved_on, body.version
        )
    )


@router.post(
    "/resources/{resource_id}/work-sheets/{sheet_id}/reject",
    operation_id="rejectWorkSheet",
    response_model=m.WorkSheetView,
    tags=["work sheets"],
)
async def reject_work_sheet(
    resource_id: ResourceIdPath, sheet_id: SheetIdPath, body: m.RejectRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Reject the latest version with a reason, as the acting user (not its submitter); correct it to resubmit."""
    return respond(
        await handlers.reject_work_sheet(
            rt.executor, ctx, resource_id, sheet_id, body.reason, body.rejected_on, body.version
        )
    )
