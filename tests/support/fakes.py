"""Hand-written fakes of the ports the services' handlers use, for handler tests without PostgreSQL or Kafka.

:class:`InMemoryExecutor` keeps streams in a dict and runs commands as :class:`shared.commands.CommandExecutor`
does: load by folding, check ``If-Match``, decide, append at the expected version, answer with the view. What it
does not do (the outbox, query tables, idempotency keys) is covered by the integration tests against the real
database.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.commands import Aggregate, Check, CommandContext, CommandOutcome, Responder
from shared.errors import ConcurrencyError, NotFoundError
from shared.events import DomainEvent, EventMetadata, RecordedEvent

CONTEXT = CommandContext(metadata=EventMetadata(actor="tester", correlation_id="handler-test"))


def acting_as(actor: str) -> CommandContext:
    """A command context acting as ``actor``."""
    return CommandContext(metadata=EventMetadata(actor=actor, correlation_id="handler-test"))


@dataclass
class FixedClock:
    at: datetime = field(default_factory=lambda: datetime(2027, 3, 1, 12, tzinfo=UTC))

    def now(self) -> datetime:
        return self.at


@dataclass
class InMemoryExecutor:
    """An executor over streams held in memory; ``streams[stream_id]`` is the list of events appended."""

    clock: FixedClock = field(default_factory=FixedClock)
    streams: dict[str, list[DomainEvent]] = field(default_factory=dict)

    def given(self, stream_id: str, *events: DomainEvent) -> None:
        self.streams.setdefault(stream_id, []).extend(events)

    def appended(self, stream_id: str) -> list[DomainEvent]:
        return list(self.streams.get(stream_id, []))

    async def state_of(self, aggregate: Aggregate[Any, Any], stream_id: str) -> tuple[Any, int]:
        events = self.streams.get(stream_id, [])
        if not events:
            raise NotFoundError(f"{aggregate.stream_type} {stream_id} does not exist")
        return _fold(aggregate, events), len(events)

    async def execute(
        self,
        ctx: CommandContext,
        *,
        aggregate: Aggregate[Any, Any],
        stream_id: str,
        command: Any,
        respond: Responder[Any],
        status_code: int = 200,
        new_stream: bool = False,
        check: Check | None = None,
    ) -> CommandOutcome[Any]:
        if check is not None:
            await check()
        events = self.streams.get(stream_id, [])
        if new_stream and events:
            raise ConcurrencyError(f"stream {stream_id} exists already", expected=0)
        state, version = _fold(aggregate, events), len(events)
        if ctx.if_match is not None and ctx.if_match != version:
            raise ConcurrencyError(
                f"If-Match expected version {ctx.if_match} but {stream_id} is at version {version}",
                expected=ctx.if_match,
                actual=version,
            )
        decided = list(aggregate.decide(state, command, self.clock.now()))
        recorded = [_recorded(stream_id, aggregate.stream_type, version + i + 1, e, ctx) for i, e in enumerate(decided)]
        for event in decided:
            state = aggregate.evolve(state, event)
        self.streams[stream_id] = [*events, *decided]
        version += len(decided)
        return CommandOutcome(status_code, respond(state, recorded, version), version, recorded)


def _fold(aggregate: Aggregate[Any, Any], events: Sequence[DomainEvent]) -> Any:
    state = aggregate.initial_state()
    for event in events:
        state = aggregate.evolve(state, event)
    return state


def _recorded(stream_id: str, stream_type: str, version: int, event: DomainEvent, ctx: CommandContext) -> RecordedEvent:
    return RecordedEvent(
        event_id=uuid.uuid4(),
        stream_id=stream_id,
        stream_type=stream_type,
        version=version,
        position=0,
        name=event.event_name,
        schema_version=event.event_version,
        partition_key=event.partition_key,
        data=event.model_dump(mode="json"),
        metadata=ctx.metadata,
        recorded_at=datetime.now(UTC),
        event=event,
    )
