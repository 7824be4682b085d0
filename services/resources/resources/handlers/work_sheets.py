"""A resource's work sheets: submitting, correcting, approving and rejecting them, priced at the rates in force."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from resources import domain
from resources.handlers.facts import ResourceFacts
from resources.handlers.running import Outcome, View, run, today
from resources.views import sheet_view
from shared.authz import TRUSTED, CallerScope
from shared.commands import CommandContext, Executor
from shared.contracts.resources import AcceptedDeliverable, TimeEntry
from shared.events import RecordedEvent
from shared.ids import new_id
from shared.money import Money


@dataclass(frozen=True)
class Deliverable:
    """A subcontractor's deliverable as given: who accepted it is the acting user."""

    milestone_id: uuid.UUID | None
    description: str
    amount: Money
    accepted_on: date


def _sheet(sheet_id: uuid.UUID) -> View:
    def view(state: domain.Resource, events: Sequence[RecordedEvent], version: int) -> dict[str, Any]:
        return sheet_view(state, state.sheets[sheet_id])

    return view


async def _project_of_sheet(
    facts: ResourceFacts, resource_id: uuid.UUID, sheet_id: uuid.UUID
) -> domain.KnownProject | None:
    """The known project of the sheet; ``None`` for an unknown sheet (the command then finds no sheet) or project."""
    project_id = await facts.sheet_project(resource_id, sheet_id)
    return None if project_id is None else await facts.known_project(project_id)


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


async def submit_work_sheet(
    executor: Executor,
    facts: ResourceFacts,
    ctx: CommandContext,
    resource_id: uuid.UUID,
    project_id: uuid.UUID,
    week: str,
    entries: Sequence[TimeEntry],
    deliverables: Sequence[Deliverable],
    *,
    scope: CallerScope = TRUSTED,
) -> Outcome:
    """Submitted by the acting user, priced at the rates of the resource and of its role as they stand, for a
    project this service knows (and its milestones). A project outside the caller's scope is refused before any
    work as a project the service does not know (422 naming ``project_id``)."""
    await scope.require(project_id, lambda: domain.known_project(project_id, None))
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
    return await run(executor, ctx, resource_id, command, _sheet(sheet_id), 201)


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
    return await run(executor, ctx, resource_id, command, _sheet(sheet_id), 201)


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
    day = today(executor, approved_on)
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
    return await run(executor, ctx, resource_id, command, _sheet(sheet_id))


async def reject_work_sheet(
    executor: Executor,
    ctx: CommandContext,
    resource_id: uuid.UUID,
    sheet_id: uuid.UUID,
    reason: str,
    rejected_on: date | None,
    version: int | None,
) -> Outcome:
    command = domain.RejectWorkSheet(sheet_id, ctx.metadata.actor, today(executor, rejected_on), reason, version)
    return await run(executor, ctx, resource_id, command, _sheet(sheet_id))
