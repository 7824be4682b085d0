"""Command routes: each appends events to one aggregate in one transaction (see ``shared.commands``).

Commands that need another aggregate's facts read them first and carry them: a work sheet command carries the
default rates of the resource's role, an allocation command its department's over-allocation policy. The domain
refuses the command (409, retry) if the resource changed role or department in between.

The acting user (the bearer token's subject) submits, approves or rejects a work sheet: never a field of the body;
the domain refuses an approval or rejection by the version's submitter.

Names and contact details are never part of a command's stored answer (the idempotency table keeps answers): they
are read from ``people`` and added to the response afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from resources import domain
from resources.api import models as m
from resources.projections import PERSONAL_DATA, PersonalData, allocation_view, resource_view, sheet_view
from shared.commands import CommandContext, CommandOutcome
from shared.contracts.resources import AcceptedDeliverable, OverAllocationPolicy, TimeEntry
from shared.errors import InvalidCommandError, NotFoundError, RuleViolationError
from shared.events import RecordedEvent
from shared.identity import InvalidSubjectError, canonical_subject
from shared.ids import new_id
from shared.money import Money
from shared.service import Runtime, ServiceRuntime
from shared.web import COMMAND_RESPONSES, Command, respond

router = APIRouter(responses=COMMAND_RESPONSES)
ResourceIdPath = Annotated[uuid.UUID, Path(description="Resource id")]
SheetIdPath = Annotated[uuid.UUID, Path(description="Work sheet id")]
AllocationIdPath = Annotated[uuid.UUID, Path(description="Allocation id")]
SlugPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")]
RESOURCE = domain.RESOURCE
ROLE_RATE = domain.ROLE_RATE
DEPARTMENT = domain.DEPARTMENT_POLICY

View = Callable[[domain.Resource, Sequence[RecordedEvent], int], dict[str, Any]]


def _today(rt: ServiceRuntime, day: date | None = None) -> date:
    return day or rt.executor.clock.now().date()


async def _execute(
    rt: ServiceRuntime,
    ctx: CommandContext,
    resource_id: uuid.UUID,
    command: domain.Command,
    view: View,
    status: int,
    new_stream: bool = False,
) -> CommandOutcome[domain.Resource]:
    return await rt.executor.execute(
        ctx,
        aggregate=RESOURCE,
        stream_id=domain.stream_id(resource_id),
        command=command,
        respond=view,
        status_code=status,
        new_stream=new_stream,
    )


def _resource(state: domain.Resource, events: Sequence[RecordedEvent], version: int) -> dict[str, Any]:
    return resource_view(state, version)


async def _run_on_resource(
    rt: ServiceRuntime,
    ctx: CommandContext,
    resource_id: uuid.UUID,
    command: domain.Command,
    view: View = _resource,
    *,
    status_code: int = 200,
) -> JSONResponse:
    """A command answered with the resource view, its personal data added (never stored with the answer)."""
    outcome = await _execute(rt, ctx, resource_id, command, view, status_code)
    person = await personal_data(rt, uuid.UUID(outcome.body["resource_id"]))
    return respond(replace(outcome, body={**outcome.body, **person}))


async def _run(
    rt: ServiceRuntime,
    ctx: CommandContext,
    resource_id: uuid.UUID,
    command: domain.Command,
    view: View,
    *,
    status_code: int = 200,
    location: str | None = None,
) -> JSONResponse:
    outcome = await _execute(rt, ctx, resource_id, command, view, status_code)
    return respond(outcome, location=location)


async def personal_data(rt: ServiceRuntime, resource_id: uuid.UUID, *, contact: bool = False) -> dict[str, Any]:
    """The name of a resource (with ``contact``: and its contact details); nulls once erased."""
    async with rt.engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT name, email, phone FROM people WHERE resource_id = :id"), {"id": resource_id}
            )
        ).first()
    if not contact:
        return {"name": row.name if row else None}
    return (
        {"name": row.name, "email": row.email, "phone": row.phone} if row else dict.fromkeys(("name", "email", "phone"))
    )


async def _role_rates(rt: ServiceRuntime, resource_id: uuid.UUID) -> domain.RoleRateCard:
    """The default rates of the resource's current role (the domain checks the role is still that one)."""
    async with rt.engine.connect() as conn:
        role = (
            await conn.execute(text("SELECT role FROM resources WHERE resource_id = :id"), {"id": resource_id})
        ).scalar()
        if role is None:
            return domain.RoleRateCard()  # the command will find no resource
        rows = await conn.execute(
            text("SELECT effective_from, amount, currency FROM role_rates WHERE role = :r ORDER BY effective_from"),
            {"r": role},
        )
        rates = tuple(domain.Rate(r.effective_from, Money(amount=r.amount, currency=r.currency)) for r in rows)
    return domain.RoleRateCard(str(role), rates)


async def _policy(rt: ServiceRuntime, resource_id: uuid.UUID) -> domain.DepartmentPolicy:
    """The over-allocation policy of the resource's current department (``warn`` unless set)."""
    async with rt.engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT r.department, p.policy FROM resources r LEFT JOIN department_policies p "
                    "ON p.department = r.department WHERE r.resource_id = :id"
                ),
                {"id": resource_id},
            )
        ).first()
    if row is None:
        return domain.DepartmentPolicy()
    return domain.DepartmentPolicy(row.department, OverAllocationPolicy(row.policy or OverAllocationPolicy.WARN))


def _allocation(allocation_id: uuid.UUID) -> View:
    def view(state: domain.Resource, events: Sequence[RecordedEvent], version: int) -> dict[str, Any]:
        return allocation_view(state, state.allocations[allocation_id])

    return view


def _sheet(sheet_id: uuid.UUID) -> View:
    def view(state: domain.Resource, events: Sequence[RecordedEvent], version: int) -> dict[str, Any]:
        return sheet_view(state, state.sheets[sheet_id])

    return view


def _entries(body: Sequence[m.EntryRequest]) -> tuple[TimeEntry, ...]:
    return tuple(TimeEntry(day=e.day, milestone_id=e.milestone_id, hours=e.hours) for e in body)


def _deliverables(body: Sequence[m.DeliverableRequest], actor: str) -> tuple[AcceptedDeliverable, ...]:
    """The deliverables as accepted by ``actor``: who accepted is the token's subject, never a field of the body."""
    return tuple(AcceptedDeliverable(**d.model_dump(), accepted_by=actor) for d in body)


def _subject(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        return canonical_subject(raw)
    except InvalidSubjectError as exc:
        raise InvalidCommandError(str(exc), field="subject") from None


# --- resources ----------------------------------------------------------------------------------------------


@router.post("/resources", status_code=201, response_model=m.ResourceView, tags=["resources"])
async def register_resource(body: m.RegisterResourceRequest, ctx: Command, rt: Runtime) -> JSONResponse:
    """Register a person or a subcontractor (a vendor supplying people or deliverables; ``vendor_id`` required).
    The name and contact details are stored apart from the events (``resource-registered`` carries none)."""
    resource_id = domain.ResourceId(new_id())
    command = domain.RegisterResource(
        resource_id=resource_id,
        kind=body.kind,
        vendor_id=body.vendor_id,
        role=body.role,
        department=body.department,
        weekly_capacity_hours=body.weekly_capacity_hours,
        currency=body.currency,
        registered_on=_today(rt),
        subject=_subject(body.subject),
    )
    token = PERSONAL_DATA.set(PersonalData(resource_id, body.name, body.email, body.phone))
    try:
        outcome = await _execute(rt, ctx, resource_id, command, _resource, 201, new_stream=True)
    finally:
        PERSONAL_DATA.reset(token)
    registered = uuid.UUID(outcome.body["resource_id"])  # a replayed answer names the first registration
    person = await personal_data(rt, registered)
    return respond(replace(outcome, body={**outcome.body, **person}), location=f"/resources/{registered}")


@router.put("/resources/{resource_id}/personal-data", response_model=m.PersonalDataView, tags=["personal data"])
async def update_personal_data(resource_id: ResourceIdPath, body: m.PersonalDataRequest, rt: Runtime) -> dict[str, Any]:
    """Replace the name and contact details (not event-sourced: they stay out of the events). Refused once
    erased."""
    async with rt.engine.begin() as conn:
        erased = (
            await conn.execute(
                text("SELECT erased FROM resources WHERE resource_id = :id FOR UPDATE"), {"id": resource_id}
            )
        ).scalar()
        if erased is None:
            raise NotFoundError(f"resource {resource_id} does not exist")
        if erased:
            raise RuleViolationError("this resource's personal data was erased; it is not collected again")
        await conn.execute(
            text(
                "INSERT INTO people (resource_id, name, email, phone, updated_at) VALUES (:id, :n, :e, :p, now()) "
                "ON CONFLICT (resource_id) DO UPDATE SET name = excluded.name, email = excluded.email, "
                "phone = excluded.phone, updated_at = excluded.updated_at"
            ),
            {"id": resource_id, "n": body.name, "e": body.email, "p": body.phone},
        )
    return {"resource_id": str(resource_id), **body.model_dump()}


@router.delete(
    "/resources/{resource_id}/personal-data", status_code=204, response_class=Response, tags=["personal data"]
)
async def erase_personal_data(resource_id: ResourceIdPath, ctx: Command, rt: Runtime) -> Response:
    """Forget the person: their name and contact details are deleted (``personal-data-erased``, which carries
    none). Every event, allocation and cost stays, under the resource id. Erasing again changes nothing."""
    outcome = await _execute(rt, ctx, resource_id, domain.ErasePersonalData(_today(rt)), lambda s, e, v: {}, status=204)
    headers = {"ETag": f'"{outcome.version}"'}
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(status_code=204, headers=headers)


@router.post("/resources/{resource_id}/profile", response_model=m.ResourceView, tags=["resources"])
async def change_profile(
    resource_id: ResourceIdPath, body: m.ProfileRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Change role and department."""
    command = domain.ChangeProfile(body.role, body.department, _today(rt, body.changed_on))
    return await _run_on_resource(rt, ctx, resource_id, command)


@router.post("/resources/{resource_id}/capacity", response_model=m.ResourceView, tags=["resources"])
async def change_capacity(
    resource_id: ResourceIdPath, body: m.CapacityRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Weekly capacity from an ISO week on (``effective_from`` is its Monday); the answer's ``over_allocation``
    lists the weeks now allocated past capacity."""

    def view(state: domain.Resource, events: Sequence[RecordedEvent], version: int) -> dict[str, Any]:
        return {**resource_view(state, version), "over_allocation": events[-1].data["over_allocation"]}

    command = domain.ChangeCapacity(body.weekly_capacity_hours, body.effective_from)
    return await _run_on_resource(rt, ctx, resource_id, command, view)


@router.post("/resources/{resource_id}/skills", status_code=201, response_model=m.ResourceView, tags=["skills"])
async def record_skill(resource_id: ResourceIdPath, body: m.SkillRequest, ctx: Command, rt: Runtime) -> JSONResponse:
    """Record a skill at a level (again with another level as it grows)."""
    command = domain.RecordSkill(body.skill, body.level, _today(rt, body.acquired_on))
    return await _run_on_resource(rt, ctx, resource_id, command, status_code=201)


@router.post("/resources/{resource_id}/certifications", status_code=201, response_model=m.ResourceView, tags=["skills"])
async def record_certification(
    resource_id: ResourceIdPath, body: m.CertificationRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Record a certification with the date obtained and, if any, its expiry."""
    command = domain.RecordCertification(new_id(), body.title, body.issuer, body.obtained_on, body.expires_on)
    return await _run_on_resource(rt, ctx, resource_id, command, status_code=201)


@router.post("/resources/{resource_id}/trainings", status_code=201, response_model=m.ResourceView, tags=["skills"])
async def record_training(
    resource_id: ResourceIdPath, body: m.TrainingRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Record a training as it is completed."""
    command = domain.RecordTraining(
        new_id(), body.course, body.provider, _today(rt, body.completed_on), body.hours, body.skill
    )
    return await _run_on_resource(rt, ctx, resource_id, command, status_code=201)


# --- rates and policies -------------------------------------------------------------------------------------


@router.post("/resources/{resource_id}/rates", status_code=201, response_model=m.ResourceView, tags=["rates"])
async def set_rate(resource_id: ResourceIdPath, body: m.RateRequest, ctx: Command, rt: Runtime) -> JSONResponse:
    """Set the resource's hourly cost rate from a date on (in the resource's currency). Costs already approved keep
    the rate they were approved with. Nobody sets their own rate (409 when the resource is the caller's subject)."""
    command = domain.SetRate(body.effective_from, body.hourly_rate, ctx.metadata.actor)
    return await _run_on_resource(rt, ctx, resource_id, command, status_code=201)


def role_rates_view(state: domain.RoleRateCard, role: str) -> dict[str, Any]:
    return {
        "role": role,
        "rates": [
            {"effective_from": r.effective_from.isoformat(), "hourly_rate": r.hourly_rate.model_dump(mode="json")}
            for r in state.rates
        ],
    }


@router.post("/roles/{role}/rates", status_code=201, response_model=m.RoleRatesView, tags=["rates"])
async def set_role_rate(role: SlugPath, body: m.RateRequest, ctx: Command, rt: Runtime) -> JSONResponse:
    """Set a role's default hourly rate from a date on: used on days a resource of that role has no rate."""
    outcome = await rt.executor.execute(
        ctx,
        aggregate=ROLE_RATE,
        stream_id=domain.role_rate_stream(role),
        command=domain.SetRoleRate(role, body.effective_from, body.hourly_rate),
        respond=lambda state, events, version: role_rates_view(state, role),
        status_code=201,
    )
    return respond(outcome, location=f"/roles/{role}/rates")


@router.put("/departments/{department}/over-allocation-policy", response_model=m.PolicyView, tags=["allocations"])
async def set_policy(department: SlugPath, body: m.PolicyRequest, ctx: Command, rt: Runtime) -> JSONResponse:
    """``warn`` (default): an allocation past capacity is accepted and its event lists the weeks and hours over;
    ``block``: it is refused (409)."""
    outcome = await rt.executor.execute(
        ctx,
        aggregate=DEPARTMENT,
        stream_id=domain.department_stream(department),
        command=domain.SetOverAllocationPolicy(department, body.policy),
        respond=lambda state, events, version: {"department": department, "policy": body.policy.value},
    )
    return respond(outcome)


# --- allocations --------------------------------------------------------------------------------------------


@router.post(
    "/resources/{resource_id}/allocations", status_code=201, response_model=m.AllocationView, tags=["allocations"]
)
async def allocate(resource_id: ResourceIdPath, body: m.AllocationRequest, ctx: Command, rt: Runtime) -> JSONResponse:
    """Allocate the resource to a project (optionally a milestone), hours per week over a period. Past capacity in
    any week: accepted with ``over_allocation`` (weeks and hours) unless the department blocks it (409)."""
    allocation_id = domain.AllocationId(new_id())
    command = domain.Allocate(
        allocation_id,
        body.project_id,
        body.milestone_id,
        body.hours_per_week,
        body.starts_on,
        body.ends_on,
        await _policy(rt, resource_id),
    )
    return await _run(
        rt,
        ctx,
        resource_id,
        command,
        _allocation(allocation_id),
        status_code=201,
        location=f"/resources/{resource_id}/allocations/{allocation_id}",
    )


@router.post(
    "/resources/{resource_id}/allocations/{allocation_id}/change",
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
    command = domain.ChangeAllocation(
        allocation_id, body.hours_per_week, body.starts_on, body.ends_on, body.reason, await _policy(rt, resource_id)
    )
    return await _run(rt, ctx, resource_id, command, _allocation(allocation_id))


@router.post(
    "/resources/{resource_id}/allocations/{allocation_id}/end", response_model=m.AllocationView, tags=["allocations"]
)
async def end_allocation(
    resource_id: ResourceIdPath,
    allocation_id: AllocationIdPath,
    body: m.EndAllocationRequest,
    ctx: Command,
    rt: Runtime,
) -> JSONResponse:
    """End an allocation on a day (its last), at the latest on its planned end."""
    command = domain.EndAllocation(allocation_id, _today(rt, body.ends_on), body.reason)
    return await _run(rt, ctx, resource_id, command, _allocation(allocation_id))


# --- work sheets --------------------------------------------------------------------------------------------


@router.post(
    "/resources/{resource_id}/work-sheets", status_code=201, response_model=m.WorkSheetView, tags=["work sheets"]
)
async def submit_work_sheet(
    resource_id: ResourceIdPath, body: m.WorkSheetRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Submit a week's hours on one project (per day and milestone) or, for a subcontractor, its accepted
    deliverables with their agreed amounts. The acting user is its submitter. One sheet per resource, week and
    project; correct it with a new version."""
    sheet_id = domain.SheetId(new_id())
    command = domain.SubmitWorkSheet(
        sheet_id,
        body.project_id,
        domain.parse_iso_week(body.week),
        _entries(body.entries),
        _deliverables(body.deliverables, ctx.metadata.actor),
        ctx.metadata.actor,
        await _role_rates(rt, resource_id),
    )
    return await _run(
        rt,
        ctx,
        resource_id,
        command,
        _sheet(sheet_id),
        status_code=201,
        location=f"/resources/{resource_id}/work-sheets/{sheet_id}",
    )


@router.post(
    "/resources/{resource_id}/work-sheets/{sheet_id}/corrections",
    status_code=201,
    response_model=m.WorkSheetView,
    tags=["work sheets"],
)
async def correct_work_sheet(
    resource_id: ResourceIdPath, sheet_id: SheetIdPath, body: m.CorrectionRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Submit a new version of a sheet, replacing the latest. An approved version keeps its cost in force until the
    correction is approved; then its cost is reversed (``work-sheet-approval-reversed``) and the new one approved."""
    command = domain.CorrectWorkSheet(
        sheet_id,
        _entries(body.entries),
        _deliverables(body.deliverables, ctx.metadata.actor),
        ctx.metadata.actor,
        body.reason,
        await _role_rates(rt, resource_id),
    )
    return await _run(rt, ctx, resource_id, command, _sheet(sheet_id), status_code=201)


@router.post(
    "/resources/{resource_id}/work-sheets/{sheet_id}/approve", response_model=m.WorkSheetView, tags=["work sheets"]
)
async def approve_work_sheet(
    resource_id: ResourceIdPath, sheet_id: SheetIdPath, body: m.ApproveRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Approve the latest version as the acting user, who must not be its submitter: ``work-sheet-approved``
    carries the hours, the rate in force each day and the cost."""
    command = domain.ApproveWorkSheet(
        sheet_id, ctx.metadata.actor, _today(rt, body.approved_on), await _role_rates(rt, resource_id), body.version
    )
    return await _run(rt, ctx, resource_id, command, _sheet(sheet_id))


@router.post(
    "/resources/{resource_id}/work-sheets/{sheet_id}/reject", response_model=m.WorkSheetView, tags=["work sheets"]
)
async def reject_work_sheet(
    resource_id: ResourceIdPath, sheet_id: SheetIdPath, body: m.RejectRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Reject the latest version with a reason, as the acting user (not its submitter); correct it to resubmit."""
    command = domain.RejectWorkSheet(
        sheet_id, ctx.metadata.actor, _today(rt, body.rejected_on), body.reason, body.version
    )
    return await _run(rt, ctx, resource_id, command, _sheet(sheet_id))
