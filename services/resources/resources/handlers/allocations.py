"""A resource's allocations to projects: allocating, changing and ending them under the department's policy."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from resources import domain
from resources.handlers.facts import ResourceFacts
from resources.handlers.running import Outcome, View, run, today
from resources.views import allocation_view
from shared.authz import TRUSTED, CallerScope
from shared.commands import CommandContext, Executor
from shared.events import RecordedEvent
from shared.ids import new_id


@dataclass(frozen=True)
class Period:
    hours_per_week: Decimal
    starts_on: date
    ends_on: date


def _allocation(allocation_id: uuid.UUID) -> View:
    def view(state: domain.Resource, events: Sequence[RecordedEvent], version: int) -> dict[str, Any]:
        return allocation_view(state, state.allocations[allocation_id])

    return view


async def allocate(
    executor: Executor,
    facts: ResourceFacts,
    ctx: CommandContext,
    resource_id: uuid.UUID,
    project_id: uuid.UUID,
    milestone_id: uuid.UUID | None,
    period: Period,
    *,
    scope: CallerScope = TRUSTED,
) -> Outcome:
    """Allocate under the department's policy as it stands (``block`` refuses a week past capacity). A project
    outside the caller's scope is refused before any work as a project the service does not know (422 naming
    ``project_id``)."""
    await scope.require(project_id, lambda: domain.known_project(project_id, None))
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
    return await run(executor, ctx, resource_id, command, _allocation(allocation_id), 201)


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
    return await run(executor, ctx, resource_id, command, _allocation(allocation_id))


async def end_allocation(
    executor: Executor,
    ctx: CommandContext,
    resource_id: uuid.UUID,
    allocation_id: uuid.UUID,
    ends_on: date | None,
    reason: str,
) -> Outcome:
    command = domain.EndAllocation(allocation_id, today(executor, ends_on), reason)
    return await run(executor, ctx, resource_id, command, _allocation(allocation_id))
