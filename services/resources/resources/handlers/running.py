"""How a resources use case runs its command on a resource's stream: the outcome it returns, the day a command
defaults to, and its answer (a view of the resource, with the resource's name added after the command)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date
from typing import Any

from resources import domain
from resources.handlers.facts import ResourceFacts
from resources.views import resource_view
from shared.commands import CommandContext, CommandOutcome, Executor, run_on
from shared.events import RecordedEvent

View = Callable[[domain.Resource, Sequence[RecordedEvent], int], dict[str, Any]]
Outcome = CommandOutcome[Any]


def today(executor: Executor, day: date | None = None) -> date:
    """``day``, or today by the executor's clock when it is left out."""
    return day or executor.clock.now().date()


def resource_answer(state: domain.Resource, events: Sequence[RecordedEvent], version: int) -> dict[str, Any]:
    """The resource as a command on it answers (without its name)."""
    return resource_view(state, version)


async def run(
    executor: Executor,
    ctx: CommandContext,
    resource_id: uuid.UUID,
    command: domain.Command,
    view: View,
    status_code: int = 200,
    *,
    new_stream: bool = False,
) -> Outcome:
    """Run ``command`` on the resource's stream in one transaction, answered with ``view``."""
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


async def named(facts: ResourceFacts, outcome: Outcome) -> Outcome:
    """The answer with the resource's name added (never stored with the answer)."""
    name = await facts.name(uuid.UUID(outcome.body["resource_id"]))
    return replace(outcome, body={**outcome.body, "name": name})


async def on_resource(
    executor: Executor,
    facts: ResourceFacts,
    ctx: CommandContext,
    resource_id: uuid.UUID,
    command: domain.Command,
    view: View = resource_answer,
    status_code: int = 200,
) -> Outcome:
    """A command answered with the resource view and its name."""
    return await named(facts, await run(executor, ctx, resource_id, command, view, status_code))
