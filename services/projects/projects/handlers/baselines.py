"""A project's performance measurement baseline: proposing a version, approving or rejecting it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from projects import domain, views
from projects.handlers.running import Outcome, on_project
from shared.commands import CommandContext, Executor
from shared.ids import new_id
from shared.money import Money


def _baseline_view(version: int | None) -> views.View:
    """The baseline version ``version`` (None: the latest) as a command on it answers."""
    return lambda state, v: views.baseline_view(state.baselines[(version or len(state.baselines)) - 1])


async def propose_baseline(
    executor: Executor,
    ctx: CommandContext,
    project_id: uuid.UUID,
    *,
    effective_on: date,
    items: Sequence[domain.PlannedItem],
    management_reserve: Money,
    reason: str,
) -> Outcome:
    """Propose the next version of the project's PMB (201), by the acting user, answered with the version (its
    total computed from the items)."""
    command = domain.ProposeBaseline(
        new_id(), effective_on, tuple(items), management_reserve, reason, ctx.metadata.actor
    )
    return await on_project(executor, ctx, project_id, command, _baseline_view(None), status_code=201)


async def approve_baseline(executor: Executor, ctx: CommandContext, project_id: uuid.UUID, version: int) -> Outcome:
    """Approve a proposed baseline version, by the acting user (never its proposer): in force from its
    ``effective_on``."""
    command = domain.ApproveBaseline(version, ctx.metadata.actor)
    return await on_project(executor, ctx, project_id, command, _baseline_view(version))


async def reject_baseline(
    executor: Executor, ctx: CommandContext, project_id: uuid.UUID, version: int, *, reason: str
) -> Outcome:
    """Reject a proposed baseline version, by the acting user, with a reason."""
    command = domain.RejectBaseline(version, ctx.metadata.actor, reason)
    return await on_project(executor, ctx, project_id, command, _baseline_view(version))
