"""The communications logged with a project's partners and stakeholders and their follow-ups (the partners
themselves, their names and edits: :mod:`projects.handlers.people`)."""

from __future__ import annotations

import uuid
from datetime import date

from projects import domain, views
from projects.handlers.running import Outcome, on_project, today
from shared.commands import CommandContext, Executor
from shared.contracts.projects import Channel
from shared.ids import new_id


def _communication_view(communication_id: uuid.UUID) -> views.View:
    return views.part_view("communications", communication_id, "communication_id")


async def log_communication(
    executor: Executor,
    ctx: CommandContext,
    project_id: uuid.UUID,
    *,
    partner_id: uuid.UUID,
    on: date,
    channel: Channel,
    summary: str,
    follow_up_due: date | None,
) -> Outcome:
    """Log a communication with a partner (201), answered with the communication."""
    communication_id = new_id()
    command = domain.LogCommunication(communication_id, partner_id, on, channel, summary, follow_up_due)
    view = _communication_view(communication_id)
    return await on_project(executor, ctx, project_id, command, view, status_code=201)


async def close_follow_up(
    executor: Executor,
    ctx: CommandContext,
    project_id: uuid.UUID,
    communication_id: uuid.UUID,
    *,
    closed_on: date | None,
    note: str,
) -> Outcome:
    """Close a communication's follow-up."""
    command = domain.CloseFollowUp(communication_id, today(executor, closed_on), note)
    return await on_project(executor, ctx, project_id, command, _communication_view(communication_id))
