"""A resource (a person or a subcontractor): registering it, its personal data, profile, capacity, skills,
certifications, trainings and its own cost rate."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from resources import domain
from resources.handlers.facts import ResourceFacts
from resources.handlers.running import Outcome, named, on_resource, resource_answer, run, today
from resources.projections import PERSONAL_DATA, PersonalData
from resources.views import resource_view
from shared.commands import CommandContext, Executor
from shared.contracts.resources import ResourceKind, SkillLevel
from shared.errors import InvalidCommandError, NotFoundError, RuleViolationError
from shared.events import RecordedEvent
from shared.identity import InvalidSubjectError, canonical_subject
from shared.ids import new_id
from shared.money import Money


class PersonalDataWrite(enum.Enum):
    REPLACED = "replaced"
    ERASED = "erased"
    NO_SUCH_RESOURCE = "no such resource"


class PersonalDataStore(Protocol):
    """The erasable table of names and contact details, written apart from the events."""

    async def replace_personal_data(self, data: PersonalData) -> PersonalDataWrite:
        """Replace the resource's personal data unless it was erased (then nothing is written)."""
        ...


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


def _subject(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        return canonical_subject(raw)
    except InvalidSubjectError as exc:
        raise InvalidCommandError(str(exc), field="subject") from None


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
        registered_on=today(executor),
        subject=_subject(registration.subject),
    )
    person = PersonalData(resource_id, registration.name, registration.email, registration.phone)
    token = PERSONAL_DATA.set(person)
    try:
        outcome = await run(executor, ctx, resource_id, command, resource_answer, 201, new_stream=True)
    finally:
        PERSONAL_DATA.reset(token)
    return await named(facts, outcome)


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
    command = domain.ErasePersonalData(today(executor))
    return await run(executor, ctx, resource_id, command, lambda s, e, v: {}, 204)


async def change_profile(
    executor: Executor,
    facts: ResourceFacts,
    ctx: CommandContext,
    resource_id: uuid.UUID,
    role: str,
    department: str,
    changed_on: date | None,
) -> Outcome:
    command = domain.ChangeProfile(role, department, today(executor, changed_on))
    return await on_resource(executor, facts, ctx, resource_id, command)


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
    return await on_resource(executor, facts, ctx, resource_id, command, view)


async def record_skill(
    executor: Executor,
    facts: ResourceFacts,
    ctx: CommandContext,
    resource_id: uuid.UUID,
    skill: str,
    level: SkillLevel,
    acquired_on: date | None,
) -> Outcome:
    command = domain.RecordSkill(skill, level, today(executor, acquired_on))
    return await on_resource(executor, facts, ctx, resource_id, command, status_code=201)


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
    return await on_resource(executor, facts, ctx, resource_id, command, status_code=201)


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
    command = domain.RecordTraining(new_id(), course, provider, today(executor, completed_on), hours, skill)
    return await on_resource(executor, facts, ctx, resource_id, command, status_code=201)


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
    return await on_resource(executor, facts, ctx, resource_id, command, status_code=201)
