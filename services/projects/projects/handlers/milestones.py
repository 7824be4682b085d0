"""A project's milestones: planning, rescheduling, progress, reached or missed; each answered with the milestone."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from projects import domain, views
from projects.handlers.running import Outcome, on_project, today
from shared.commands import CommandContext, Executor
from shared.ids import new_id
from shared.money import Money


def _milestone_view(milestone_id: uuid.UUID) -> views.View:
    return views.part_view("milestones", milestone_id, "milestone_id")


async def plan_milestone(
    executor: Executor,
    ctx: CommandContext,
    project_id: uuid.UUID,
    *,
    name: str,
    due_date: date,
    planned_value: Money,
    acceptance_criteria: str,
    start_date: date | None = None,
) -> Outcome:
    """Plan a milestone (201), answered with the milestone."""
    milestone_id = domain.MilestoneId(new_id())
    command = domain.PlanMilestone(milestone_id, name, due_date, planned_value, acceptance_criteria, start_date)
    return await on_project(executor, ctx, project_id, command, _milestone_view(milestone_id), status_code=201)


async def reschedule_milestone(
    executor: Executor,
    ctx: CommandContext,
    project_id: uuid.UUID,
    milestone_id: uuid.UUID,
    *,
    due_date: date,
    reason: str,
) -> Outcome:
    """Move a milestone's due date, keeping the previous one and the reason."""
    command = domain.RescheduleMilestone(milestone_id, due_date, reason)
    return await on_project(executor, ctx, project_id, command, _milestone_view(milestone_id))


async def report_milestone_progress(
    executor: Executor,
    ctx: CommandContext,
    project_id: uuid.UUID,
    milestone_id: uuid.UUID,
    *,
    percent_complete: Decimal,
    as_of: date | None,
    correction_reason: str | None,
) -> Outcome:
    """Report a milestone's percent complete."""
    command = domain.ReportMilestoneProgress(milestone_id, percent_complete, today(executor, as_of), correction_reason)
    return await on_project(executor, ctx, project_id, command, _milestone_view(milestone_id))


async def mark_milestone_reached(
    executor: Executor,
    ctx: CommandContext,
    project_id: uuid.UUID,
    milestone_id: uuid.UUID,
    *,
    reached_on: date | None,
    acceptance_note: str,
) -> Outcome:
    """Mark a milestone reached, accepted by the acting user."""
    command = domain.MarkMilestoneReached(
        milestone_id, today(executor, reached_on), ctx.metadata.actor, acceptance_note
    )
    return await on_project(executor, ctx, project_id, command, _milestone_view(milestone_id))


async def mark_milestone_missed(
    executor: Executor, ctx: CommandContext, project_id: uuid.UUID, milestone_id: uuid.UUID, *, reason: str
) -> Outcome:
    """Mark a milestone whose due date has passed as missed."""
    command = domain.MarkMilestoneMissed(milestone_id, reason)
    return await on_project(executor, ctx, project_id, command, _milestone_view(milestone_id))
