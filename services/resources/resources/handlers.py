"""The use cases of the resources service: one function per command, called by the routes (and by anything else
that runs a command: a background task, a test).

Each gathers the facts its command needs through a small reading interface (:class:`ResourceFacts`), builds the
domain command, runs it through the executor port (one command, one transaction) and returns the
:class:`CommandOutcome` whose body is the view of :mod:`resources.views`.

Commands that need another aggregate's facts carry them: a work sheet command the default rates of the
resource's role, an allocation command its department's over-allocation policy. The domain refuses the command
(409, retry) if the resource changed role or department in between. Facts consumed from other services' topics
travel the same way: a new allocation and a sheet's submission or correction carry their project as this service
knows it (``None`` when it has not seen it: refused, 422), an approval the project (its currency) and the exchange
rates in force on the approval date.

The acting user (``ctx.metadata.actor``) submits, approves or rejects a work sheet, accepts a deliverable and sets a
rate: never a field of the input. Names and contact details are never part of a command's stored answer (the
idempotency table keeps answers): the name is read after the command and added to the answer.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from resources import domain
from resources.projections import PERSONAL_DATA, PersonalData
from resources.views import allocation_view, policy_view, resource_view, role_rates_view, sheet_view
from shared.commands import CommandContext, CommandOutcome, Executor, run_on
from shared.contracts.resources import AcceptedDeliverable, OverAllocationPolicy, ResourceKind, SkillLevel, TimeEntry
from shared.errors import InvalidCommandError, NotFoundError, RuleViolationError
from shared.events import RecordedEvent
from shared.identity import InvalidSubjectError, canonical_subject
from shared.ids import new_id
from shared.money import Money

# --- ports --------------------------------------------------------------------------------------------------


class ResourceFacts(Protocol):
    """What the handlers read besides the aggregate itself."""

    async def role_rates(self, resource_id: uuid.UUID) -> domain.RoleRateCard:
        """The default rates of the resource's current role; an empty card for an unknown resource."""
        ...

    async def department_policy(self, resource_id: uuid.UUID) -> domain.DepartmentPolicy:
        """The over-allocation policy of the resource's current department (``warn`` unless set); an empty policy
        for an unknown resource."""
        ...

    async def name(self, resource_id: uuid.UUID) -> str | None:
        """The resource's name; ``None`` once erased (or never given)."""
        ...

    async def known_project(self, project_id: uuid.UUID) -> domain.KnownProject | None:
        """The project (currency, status, milestones) as consumed from ``pmo.projects.v1``; ``None`` when this
        service has not seen it."""
        ...

    async def sheet_project(self, resource_id: uuid.UUID, sheet_id: uuid.UUID) -> uuid.UUID | None:
        """The project of the resource's work sheet; ``None`` for a sheet it does not have."""
        ...

    async def exchange_rates(self, currency: str, on: date) -> tuple[domain.ExchangeRate, ...]:
        """The exchange rates in force on ``on`` (per pair, the latest effective on or before it) from and to
        ``currency``, as consumed from ``pmo.budget.v1``."""
        ...


class PersonalDataWrite(enum.Enum):
    REPLACED = "replaced"
    ERASED = "erased"
    NO_SUCH_RESOURCE = "no such resource"


class PersonalDataStore(Protocol):
    """The erasable table of names and contact details, written apart from the events."""

    async def replace_personal_data(self, data: PersonalData) -> PersonalDataWrite:
        """Replace the resource's personal data unless it was erased (then nothing is written)."""
        ...


# --- inputs -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Registration:
    kind: ResourceKind
    vendor_id: str | None
    role: str
    department: str
    weekly_capacity_hours: Decimal
    currency: str
    subject: str | None
    name: str
    email: str | None
    phone: str | None


@dataclass(frozen=True)
class Deliverable:
    """A subcontractor's deliverable as given: who accepted it is the acting user."""

    milestone_id: uuid.UUID | None
    description: str
    amount: Money
    accepted_on: date


@dataclass(frozen=True)
class Period:
    hours_per_week: Decimal
    starts_on: date
    ends_on: date


View = Callable[[domain.Resource, Sequence[RecordedEvent], int], dict[str, Any]]
Outcome = CommandOutcome[Any]


# --- helpers ------------------------------------------------------------------------------------------------


def _today(executor: Executor, day: date | None = None) -> date:
    return day or executor.clock.now().date()


def _resource(state: domain.Resource, events: Sequence[RecordedEvent], version: int) -> dict[str, Any]:
    return resource_view(state, version)


def _allocation(allocation_id: uuid.UUID) -> View:
    def view(state: domain.Resource, events: Sequence[RecordedEvent], version: int) -> dict[str, Any]:
        return allocation_view(state, state.allocations[allocation_id])

    return view


def _sheet(sheet_id: uuid.UUID) -> View:
    def view(state: domain.Resource, events: Sequence[RecordedEvent], version: int) -> dict[str, Any]:
        return sheet_view(state, state.sheets[sheet_id])

    return view


async def _run(
    executor: Executor,
    ctx: CommandContext,
    resource_id: uuid.UUID,
    command: domain.Command,
    view: View,
    status_code: int = 200,
    *,
    new_stream: bool = False,
) -> Outcome:
    return await run_on(
        executor,
        ctx,
        domain.RESOURCE,
        domain.stream_id(resource_id),
        command,
        view,
        status_code=status_code,
        new_stream=new_stream,
    )


async def _named(facts: ResourceFacts, outcome: Outcome) -> Outcome:
    """The answer with the resource's name added (never stored with the answer)."""
    name = await facts.name(uuid.UUID(outcome.body["resource_id"]))
    return replace(outcome, body={**outcome.body, "name": name})


async def _on_resource(
    executor: Executor,
    facts: ResourceFacts,
    ctx: CommandContext,
    resource_id: uuid.UUID,
    command: domain.Command,
    view: View = _resource,
    status_code: int = 200,
) -> Outcome:
    """A command answered with the resource view and its name."""
    return await _named(facts, await _run(executor, ctx, resource_id, command, view, status_code))


async def _project_of_sheet(
    facts: ResourceFacts, resource_id: uuid.UUID, sheet_id: uuid.UUID
) -> domain.KnownProject | None:
    """The known project of the sheet; ``None`` for an unknown sheet (the command then finds no sheet) or project."""
    project_id = await facts.sheet_project(resource_id, sheet_id)
    return None if project_id is None else await facts.known_project(project_id)


def _subject(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        return canonical_subject(raw)
    except InvalidSubjectError as exc:
        raise InvalidCommandError(str(exc), field="subject") from None


def _accepted(deliverables: Sequence[Deliverable], actor: str) -> tuple[AcceptedDeliverable, ...]:
    return tuple(
        AcceptedDeliverable(
            milestone_id=d.milestone_id,
            description=d.description,
            amount=d.amount,
            accepted_on=d.accepted_on,
            accepted_by=actor,
        )
        for d in deliverables
    )


# --- resources ----------------------------------------------------------------------------------------------


async def register_resource(
    executor: Executor, facts: ResourceFacts, ctx: CommandContext, registration: Registration
) -> Outcome:
    """Register a person or a subcontractor; its name and contact details are stored apart from the events, in
    the command's transaction. A replayed answer names the first registration."""
    resource_id = domain.ResourceId(new_id())
    command = domain.RegisterResource(
        resource_id=resource_id,
        kind=registration.kind,
        vendor_id=registration.vendor_id,
        role=registration.role,
        department=registration.department,
        weekly_capacity_hours=registration.weekly_capacity_hours,
        currency=registration.currency,
        registered_on=_today(executor),
        subject=_subject(registration.subject),
    )
    person = PersonalData(resource_id, registration.name, registration.email, registration.phone)
    token = PERSONAL_DATA.set(person)
    try:
        outcome = await _run(executor, ctx, resource_id, command, _resource, 201, new_stream=True)
    finally:
        PERSONAL_DATA.reset(token)
    return await _named(facts, outcome)


async def replace_personal_data(people: PersonalDataStore, data: PersonalData) -> dict[str, Any]:
    """Replace the name and contact details (not event-sourced); refused once erased."""
    match await people.replace_personal_data(data):
        case PersonalDataWrite.NO_SUCH_RESOURCE:
            raise NotFoundError(f"resource {data.resource_id} does not exist")
        case PersonalDataWrite.ERASED:
            raise RuleViolationError("this resource's personal data was erased; it is not collected again")
    return {"resource_id": str(data.resource_id), "name": data.name, "email": data.email, "phone": data.phone}


async def erase_personal_data(executor: Executor, ctx: CommandContext, resource_id: uuid.UUID) -> Outcome:
    """Forget the person (``personal-data-erased``): every event, allocation and cost stays. Answered with an
    empty body."""
    command = domain.ErasePersonalData(_today(executor))
    return await _run(executor, ctx, resource_id, command, lambda s, e, v: {}, 204)


async def change_profile(
    executor: Executor,
    facts: ResourceFacts,
    ctx: CommandContext,
    resource_id: uuid.UUID,
    role: str,
    department: str,
    changed_on: date | None,
) -> Outcome:
    command = domain.ChangeProfile(role, department, _today(executor, changed_on))
    return await _on_resource(executor, facts, ctx, resource_id, command)


async def change_capacity(
    executor: Executor,
    facts: ResourceFacts,
    ctx: CommandContext,
    resource_id: uuid.UUID,
    weekly_capacity_hours: Decimal,
    effective_from: date,
) -> Outcome:
    """Answered with the resource and ``over_allocation``: the weeks now allocated past capacity."""

    def view(state: domain.Resource, events: Sequence[RecordedEvent], version: int) -> dict[str, Any]:
        return {**resource_view(state, version), "over_allocation": events[-1].data["over_allocation"]}

    command = domain.ChangeCapacity(weekly_capacity_hours, effective_from)
    return await _on_resource(executor, facts, ctx, resource_id, command, view)


async def record_skill(
    executor: Executor,
    facts: ResourceFacts,
    ctx: CommandContext,
    resource_id: uuid.UUID,
    skill: str,
    level: SkillLevel,
    acquired_on: date | None,
) -> Outcome:
    command = domain.RecordSkill(skill, level, _today(executor, acquired_on))
    return await _on_resource(executor, facts, ctx, resource_id, command, status_code=201)


async def record_certification(
    executor: Executor,
    facts: ResourceFacts,
    ctx: CommandContext,
    resource_id: uuid.UUID,
    title: str,
    issuer: str,
    obtained_on: date,
    expires_on: date | None,
) -> Outcome:
    command = domain.RecordCertification(new_id(), title, issuer, obtained_on, expires_on)
    return await _on_resource(executor, facts, ctx, resource_id, command, status_code=201)


async def record_training(
    executor: Executor,
    facts: ResourceFacts,
    ctx: CommandContext,
    resource_id: uuid.UUID,
    course: str,
    provider: str,
    completed_on: date | None,
    hours: Decimal,
    skill: str | None,
) -> Outcome:
    command = domain.RecordTraining(new_id(), course, provider, _today(executor, completed_on), hours, skill)
    return await _on_resource(executor, facts, ctx, resource_id, command, status_code=201)


# --- rates and policies -------------------------------------------------------------------------------------


async def set_rate(
    executor: Executor,
    facts: ResourceFacts,
    ctx: CommandContext,
    resource_id: uuid.UUID,
    hourly_rate: Money,
    effective_from: date,
) -> Outcome:
    """Set by the acting user, who may not be the resource."""
    command = domain.SetRate(effective_from, hourly_rate, ctx.metadata.actor)
    return await _on_resource(executor, facts, ctx, resource_id, command, status_code=201)


async def set_role_rate(
    executor: Executor, ctx: CommandContext, role: str, hourly_rate: Money, effective_from: date
) -> Outcome:
    return await executor.execute(
        ctx,
        aggregate=domain.ROLE_RATE,
        stream_id=domain.role_rate_stream(role),
        command=domain.SetRoleRate(role, effective_from, hourly_rate),
        respond=lambda state, events, version: role_rates_view(state, role),
        status_code=201,
    )


async def set_over_allocation_policy(
    executor: Executor, ctx: CommandContext, department: str, policy: OverAllocationPolicy
) -> Outcome:
    return await executor.execute(
        ctx,
        aggregate=domain.DEPARTMENT_POLICY,
        stream_id=domain.department_stream(department),
        command=domain.SetOverAllocationPolicy(department, policy),
        respond=lambda state, events, version: policy_view(department, policy),
    )


# --- allocations --------------------------------------------------------------------------------------------


async def allocate(
    executor: Executor,
    facts: ResourceFacts,
    ctx: CommandContext,
    resource_id: uuid.UUID,
    project_id: uuid.UUID,
    milestone_id: uuid.UUID | None,
    period: Period,
) -> Outcome:
    """Allocate under the department's policy as it stands (``block`` refuses a week past capacity)."""
    allocation_id = domain.AllocationId(new_id())
    command = domain.Allocate(
        allocation_id,
        project_id,
        milestone_id,
        period.hours_per_week,
        period.starts_on,
        period.ends_on,
        await facts.department_policy(resource_id),
        await facts.known_project(project_id),
    )
    return await _run(executor, ctx, resource_id, command, _allocation(allocation_id), 201)


async def change_allocation(
    executor: Executor,
    facts: ResourceFacts,
    ctx: CommandContext,
    resource_id: uuid.UUID,
    allocation_id: uuid.UUID,
    period: Period,
    reason: str,
) -> Outcome:
    policy = await facts.department_policy(resource_id)
    command = domain.ChangeAllocation(
        allocation_id, period.hours_per_week, period.starts_on, period.ends_on, reason, policy
    )
    return await _run(executor, ctx, resource_id, command, _allocation(allocation_id))


async def end_allocation(
    executor: Executor,
    ctx: CommandContext,
    resource_id: uuid.UUID,
    allocation_id: uuid.UUID,
    ends_on: date | None,
    reason: str,
) -> Outcome:
    command = domain.EndAllocation(allocation_id, _today(executor, ends_on), reason)
    return await _run(executor, ctx, resource_id, command, _allocation(allocation_id))


# --- work sheets --------------------------------------------------------------------------------------------


async def submit_work_sheet(
    executor: Executor,
    facts: ResourceFacts,
    ctx: CommandContext,
    resource_id: uuid.UUID,
    project_id: uuid.UUID,
    week: str,
    entries: Sequence[TimeEntry],
    deliverables: Sequence[Deliverable],
) -> Outcome:
    """Submitted by the acting user, priced at the rates of the resource and of its role as they stand, for a
    project this service knows (and its milestones)."""
    sheet_id = domain.SheetId(new_id())
    actor = ctx.metadata.actor
    command = domain.SubmitWorkSheet(
        sheet_id,
        project_id,
        domain.parse_iso_week(week),
        tuple(entries),
        _accepted(deliverables, actor),
        actor,
        await facts.role_rates(resource_id),
        await facts.known_project(project_id),
    )
    return await _run(executor, ctx, resource_id, command, _sheet(sheet_id), 201)


async def correct_work_sheet(
    executor: Executor,
    facts: ResourceFacts,
    ctx: CommandContext,
    resource_id: uuid.UUID,
    sheet_id: uuid.UUID,
    entries: Sequence[TimeEntry],
    deliverables: Sequence[Deliverable],
    reason: str,
) -> Outcome:
    actor = ctx.metadata.actor
    command = domain.CorrectWorkSheet(
        sheet_id,
        tuple(entries),
        _accepted(deliverables, actor),
        actor,
        reason,
        await facts.role_rates(resource_id),
        await _project_of_sheet(facts, resource_id, sheet_id),
    )
    return await _run(executor, ctx, resource_id, command, _sheet(sheet_id), 201)


async def approve_work_sheet(
    executor: Executor,
    facts: ResourceFacts,
    ctx: CommandContext,
    resource_id: uuid.UUID,
    sheet_id: uuid.UUID,
    approved_on: date | None,
    version: int | None,
) -> Outcome:
    """Approved by the acting user (not the submitter, not the person), priced at the rates in force; a cost in
    another currency than the project's booked in it at the exchange rate in force on the approval date."""
    day = _today(executor, approved_on)
    project = await _project_of_sheet(facts, resource_id, sheet_id)
    command = domain.ApproveWorkSheet(
        sheet_id,
        ctx.metadata.actor,
        day,
        await facts.role_rates(resource_id),
        version,
        project=project,
        exchange_rates=await facts.exchange_rates(project.currency, day) if project else (),
    )
    return await _run(executor, ctx, resource_id, command, _sheet(sheet_id))


async def reject_work_sheet(
    executor: Executor,
    ctx: CommandContext,
    resource_id: uuid.UUID,
    sheet_id: uuid.UUID,
    reason: str,
    rejected_on: date | None,
    version: int | None,
) -> Outcome:
    command = domain.RejectWorkSheet(sheet_id, ctx.metadata.actor, _today(executor, rejected_on), reason, version)
    return await _run(executor, ctx, resource_id, command, _sheet(sheet_id))
