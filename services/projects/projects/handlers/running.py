"""How a projects use case runs its command on a project's stream: the outcome it returns, the day a command
defaults to and the view it answers with."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from projects import domain, views
from shared.commands import Check, CommandContext, CommandOutcome, Executor, by_state, run_on

Outcome = CommandOutcome[Any]


def today(executor: Executor, day: date | None) -> date:
    """``day``, or today by the executor's clock when it is left out."""
    return day or executor.clock.now().date()


async def on_project(
    executor: Executor,
    ctx: CommandContext,
    project_id: uuid.UUID,
    command: domain.Command,
    view: views.View = views.project_view,
    *,
    status_code: int = 200,
    new_stream: bool = False,
    check: Check | None = None,
) -> Outcome:
    """Run ``command`` on the project's stream in one transaction, answered with ``view`` (the project's); ``check``:
    reads that may refuse it, in that transaction."""
    return await run_on(
        executor,
        ctx,
        domain.PROJECT,
        domain.stream_id(project_id),
        command,
        by_state(view),
        status_code=status_code,
        new_stream=new_stream,
        check=check,
    )
