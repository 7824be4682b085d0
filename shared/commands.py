"""Running a command: one command, one transaction, owned here.

``decide(state, command, now) -> events`` and ``evolve(state, event) -> state`` are pure functions of the
service's domain; this module loads the stream, checks ``If-Match``, appends with optimistic concurrency,
runs the service's inline projections in the same transaction, and makes ``Idempotency-Key`` retries return
the first answer without appending anything.

``If-Match`` (RFC 9110, 13.1.1): a stale entity tag is :class:`PreconditionFailedError` (412) and nothing is
decided; a race lost at the append without a precondition stays :class:`ConcurrencyError` (409).

``Idempotency-Key`` (IETF httpapi idempotency-key draft): a key belongs to its caller and its path (the
:attr:`CommandContext.idempotency_scope`) and is remembered for :data:`IDEMPOTENCY_RETENTION`; after that the same
key is a new request, and expired keys are purged as commands are run.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared import tracing
from shared.errors import ConcurrencyError, IdempotencyKeyReusedError, NotFoundError, PreconditionFailedError
from shared.events import DomainEvent, EventMetadata, RecordedEvent
from shared.eventstore import EventStore, NewEvent

S = TypeVar("S")
C = TypeVar("C", contravariant=True)


IDEMPOTENCY_RETENTION_HOURS = 24
"""Default of ``PMO_IDEMPOTENCY_RETENTION_HOURS``: how long an ``Idempotency-Key``'s first answer is kept (and
replayed), long enough for any client's retries."""
MIN_IDEMPOTENCY_RETENTION_HOURS = 1
"""Shorter, a client retrying after an outage of an hour would apply its command twice."""
MAX_IDEMPOTENCY_RETENTION_HOURS = 24 * 30
"""Longer, the table of remembered answers grows with a month of commands for no client's benefit."""
IDEMPOTENCY_RETENTION = timedelta(hours=IDEMPOTENCY_RETENTION_HOURS)
"""The default retention as a duration (a service uses its ``PMO_IDEMPOTENCY_RETENTION_HOURS``)."""
IDEMPOTENCY_PURGE_EVERY = 500
"""Expired keys are deleted once every this many remembered keys (one short statement, after the command)."""
UNMATCHABLE = -1
"""``CommandContext.if_match`` for an entity tag no version can match (a weak tag, or one this API never issued):
the precondition fails whatever the aggregate's version."""


class Aggregate(Protocol[S, C]):
    """The pure part of an aggregate, as the executor needs it."""

    @property
    def stream_type(self) -> str: ...

    def initial_state(self) -> S: ...

    def evolve(self, state: S, event: DomainEvent) -> S: ...

    def decide(self, state: S, command: C, now: datetime) -> Sequence[DomainEvent]: ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class CommandContext:
    """What the edge knows about a command besides its content."""

    metadata: EventMetadata
    if_match: int | None = None
    """The version the caller read (``If-Match: "3"``); :data:`UNMATCHABLE` for a tag no version has."""
    if_match_any: bool = False
    """``If-Match: *``: the aggregate must exist (any version)."""
    idempotency_key: str | None = None
    idempotency_scope: str = ""
    fingerprint: str = ""


@dataclass(frozen=True)
class CommandOutcome(Generic[S]):
    """The answer to a command; ``replayed`` is true when an earlier answer was returned for a retry."""

    status_code: int
    body: dict[str, Any]
    version: int
    events: list[RecordedEvent] = field(default_factory=list)
    replayed: bool = False
    body_json: str | None = None
    """``body`` as JSON text when the command already serialised it (its view stored by the projector): the HTTP
    answer sends these bytes instead of serialising the body again."""


Check = Callable[[], Awaitable[None]]
"""Reads that may refuse a command (raising a :class:`~shared.errors.PMOError`), run inside the command's transaction
before its stream is loaded: their statements go through :func:`command_connection` (one round trip on the
connection the command holds already, where a read of its own would check out another and open a transaction)."""

_IN_COMMAND: ContextVar[AsyncConnection | None] = ContextVar("pmo_command_connection", default=None)


def command_connection() -> AsyncConnection | None:
    """The connection of the command whose :data:`Check` is running (None elsewhere)."""
    return _IN_COMMAND.get()


Projector = Callable[[AsyncConnection, Any, int, Sequence[RecordedEvent]], Awaitable[None]]
"""Updates the service's query tables from the new state, its version and the events just appended."""
Responder = Callable[[S, Sequence[RecordedEvent], int], dict[str, Any]]


class Executor(Protocol):
    """The port handlers run commands through: :class:`CommandExecutor` against the database, an in-memory fake in
    handler tests (``tests/support/fakes.py``). ``clock`` is the one commands are decided by (a day a caller leaves
    out is its today)."""

    @property
    def clock(self) -> Clock: ...

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
    ) -> CommandOutcome[Any]: ...

    async def state_of(self, aggregate: Aggregate[Any, Any], stream_id: str) -> tuple[Any, int]: ...


View = Callable[[S, int], dict[str, Any]]
"""The answer to a command from the aggregate's state after it and its version (most answers need no more)."""


def by_state(view: View[S]) -> Responder[S]:
    """A responder answering with ``view(state, version)`` (the one :func:`rendered` built, if the projector
    already asked for it)."""
    return lambda state, events, version: rendered(view, state, version)


_Rendered = dict[tuple[int, int, int], tuple[dict[str, Any], list[str]]]
_RENDERED: ContextVar[_Rendered | None] = ContextVar("pmo_rendered_views", default=None)


def dumps(body: Any) -> str:
    """JSON text as the HTTP answers send it (Starlette's ``JSONResponse`` settings: UTF-8, no NaN, compact)."""
    return json.dumps(body, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))


def rendered(view: View[S], state: S, version: int) -> dict[str, Any]:
    """``view(state, version)``, built once per command: the projector's stored copy of a view and the command's
    answer are the same dict (outside a command, simply the view)."""
    memo = _RENDERED.get()
    if memo is None:
        return view(state, version)
    key = (id(view), id(state), version)
    if key not in memo:
        memo[key] = (view(state, version), [])
    return memo[key][0]


def rendered_json(view: View[S], state: S, version: int) -> str:
    """:func:`rendered` as JSON text, serialised once per command (the query table's document and the HTTP answer
    are the same text)."""
    body = rendered(view, state, version)
    memo = _RENDERED.get()
    if memo is None:
        return dumps(body)
    cached = memo[(id(view), id(state), version)][1]
    if not cached:
        cached.append(dumps(body))
    return cached[0]


def _json_of(body: dict[str, Any]) -> str | None:
    """The JSON text :func:`rendered_json` made of ``body`` during this command, if any."""
    for view_body, texts in (_RENDERED.get() or {}).values():
        if view_body is body and texts:
            return texts[0]
    return None


async def run_on(
    executor: Executor,
    ctx: CommandContext,
    aggregate: Aggregate[S, Any],
    stream_id: str,
    command: Any,
    respond: Responder[S],
    *,
    status_code: int = 200,
    new_stream: bool = False,
    check: Check | None = None,
) -> CommandOutcome[S]:
    """Run ``command`` on one aggregate's stream and answer with ``respond(state, events, version)`` (often
    :func:`by_state` of a view): what every handler does. ``check``: see :data:`Check`."""
    return await executor.execute(
        ctx,
        aggregate=aggregate,
        stream_id=stream_id,
        command=command,
        respond=respond,
        status_code=status_code,
        new_stream=new_stream,
        check=check,
    )


class _LostIdempotencyRace(Exception):
    pass


class CommandExecutor:
    """Executes commands against one service's event store."""

    def __init__(
        self,
        engine: AsyncEngine,
        store: EventStore,
        *,
        clock: Clock | None = None,
        projector: Projector | None = None,
        idempotency_retention: timedelta = IDEMPOTENCY_RETENTION,
    ) -> None:
        self.engine = engine
        self.idempotency_retention = idempotency_retention
        self._remembered = 0
        self.store = store
        self.clock = clock or SystemClock()
        self.projector = projector
        self.after_commit: list[Callable[[], None]] = []
        """Called after a command's events committed (the service's relay wakes up to publish them at once)."""
        self.admission: Callable[[AsyncConnection, set[str]], Awaitable[None]] | None = None
        """Called with the partition keys of a command's decided events before they are appended; raises to refuse
        (:mod:`shared.recovery.guard`: projects whose events are on Kafka but missing from the table)."""

    async def load(self, conn: AsyncConnection, aggregate: Aggregate[S, Any], stream_id: str) -> tuple[S, int]:
        """The aggregate's current state and version (0 when the stream does not exist)."""
        state = aggregate.initial_state()
        version = 0
        for recorded in await self.store.read_stream(conn, stream_id):
            assert recorded.event is not None  # read_stream always decodes
            state = aggregate.evolve(state, recorded.event)
            version = recorded.version
        return state, version

    async def state_of(self, aggregate: Aggregate[S, Any], stream_id: str) -> tuple[S, int]:
        """Read-only load for queries; raises :class:`NotFoundError` for a stream with no events."""
        async with self.engine.connect() as conn:
            state, version = await self.load(conn, aggregate, stream_id)
        if version == 0:
            raise NotFoundError(f"{aggregate.stream_type} {stream_id} does not exist")
        return state, version

    @tracing.traced(lambda kw: f"command {type(kw['command']).__name__}", lambda kw: {"pmo.stream_id": kw["stream_id"]})
    async def execute(
        self,
        ctx: CommandContext,
        *,
        aggregate: Aggregate[S, C],
        stream_id: str,
        command: C,
        respond: Responder[S],
        status_code: int = 200,
        new_stream: bool = False,
        check: Check | None = None,
    ) -> CommandOutcome[S]:
        """Decide and append in one transaction; see the module docstring for the guarantees.

        ``new_stream``: the caller has just made the stream id up (a fresh UUID), so there is nothing to load; the
        append still runs at expected version 0, and a stream that did exist after all is a concurrency error.
        ``check``: reads that may refuse the command, in its transaction (:data:`Check`).
        """
        if ctx.idempotency_key:
            earlier = await self._earlier_answer(ctx)
            if earlier is not None:
                return earlier
        try:
            outcome = await self._execute(ctx, aggregate, stream_id, command, respond, status_code, new_stream, check)
        except _LostIdempotencyRace:
            earlier = await self._earlier_answer(ctx)
            assert earlier is not None  # the winner committed before our insert could fail
            return earlier
        except ConcurrencyError:
            # A retry racing its own first attempt loses on the stream version; answer as the first attempt did.
            if ctx.idempotency_key and (earlier := await self._earlier_answer(ctx)) is not None:
                return earlier
            raise
        if outcome.events:
            for hook in self.after_commit:
                hook()
        if ctx.idempotency_key and not outcome.replayed:
            self._remembered += 1
            if self._remembered % IDEMPOTENCY_PURGE_EVERY == 0:
                await self.purge_expired_keys()
        return outcome

    async def run_once(
        self,
        ctx: CommandContext,
        write: Callable[[AsyncConnection], Awaitable[dict[str, Any]]],
        *,
        status_code: int = 200,
    ) -> CommandOutcome[Any]:
        """A command that writes tables instead of events (``write``: one transaction, returns the answer's body)
        with :meth:`execute`'s ``Idempotency-Key`` guarantees: a retry (same caller, path and request) returns the
        first answer and writes nothing; the key with another request is :class:`IdempotencyKeyReusedError`."""
        if ctx.idempotency_key and (earlier := await self._earlier_answer(ctx)) is not None:
            return earlier
        try:
            async with self.engine.begin() as conn:
                body = await write(conn)
                outcome: CommandOutcome[Any] = CommandOutcome(status_code, body, 0)
                if ctx.idempotency_key:
                    await self._remember(conn, ctx, outcome)
        except _LostIdempotencyRace:
            earlier = await self._earlier_answer(ctx)
            assert earlier is not None  # the winner committed before our insert could fail
            return earlier
        return outcome

    async def purge_expired_keys(self) -> int:
        """Delete the idempotency keys older than the retention; the number deleted. (Expired keys are already
        ignored when read: purging only keeps the table small.)"""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                text("DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => :s)"),
                {"s": self.idempotency_retention.total_seconds()},
            )
        return int(getattr(result, "rowcount", 0) or 0)

    async def _execute(
        self,
        ctx: CommandContext,
        aggregate: Aggregate[S, C],
        stream_id: str,
        command: C,
        respond: Responder[S],
        status_code: int,
        new_stream: bool,
        check: Check | None = None,
    ) -> CommandOutcome[S]:
        token = _RENDERED.set({})  # views built during this command, by state and version
        try:
            return await self._decide_and_append(
                ctx, aggregate, stream_id, command, respond, status_code, new_stream, check
            )
        finally:
            _RENDERED.reset(token)

    async def _decide_and_append(
        self,
        ctx: CommandContext,
        aggregate: Aggregate[S, C],
        stream_id: str,
        command: C,
        respond: Responder[S],
        status_code: int,
        new_stream: bool,
        check: Check | None = None,
    ) -> CommandOutcome[S]:
        async with self.engine.begin() as conn:
            if check is not None:
                token = _IN_COMMAND.set(conn)
                try:
                    await check()
                finally:
                    _IN_COMMAND.reset(token)
            if new_stream:
                state, version = aggregate.initial_state(), 0
            else:
                state, version = await self.load(conn, aggregate, stream_id)
            if ctx.if_match_any and version == 0:
                raise PreconditionFailedError(f"If-Match: * but {stream_id} does not exist", actual=version)
            if ctx.if_match is not None and ctx.if_match != version:
                expected = "a version it never had" if ctx.if_match == UNMATCHABLE else f"version {ctx.if_match}"
                raise PreconditionFailedError(
                    f"If-Match expected {expected} but {stream_id} is at version {version}",
                    expected=ctx.if_match,
                    actual=version,
                )
            if self.admission is not None and not new_stream:  # a stream lacking events must not be decided on
                await self.admission(conn, {stream_id})
            decided = list(aggregate.decide(state, command, self.clock.now()))
            if self.admission is not None and decided:
                await self.admission(conn, {e.partition_key for e in decided})
            recorded = await self.store.append(
                conn,
                stream_id=stream_id,
                stream_type=aggregate.stream_type,
                expected_version=version,
                events=[NewEvent.of(e) for e in decided],
                metadata=ctx.metadata,
            )
            for event in decided:
                state = aggregate.evolve(state, event)
            version += len(recorded)
            if self.projector is not None and recorded:
                await self.projector(conn, state, version, recorded)
            body = respond(state, recorded, version)
            outcome: CommandOutcome[S] = CommandOutcome(status_code, body, version, recorded, body_json=_json_of(body))
            if ctx.idempotency_key:
                await self._remember(conn, ctx, outcome)
            return outcome

    async def rebuild(self, aggregates: Mapping[str, Aggregate[Any, Any]], tables: Sequence[str]) -> int:
        """Empty ``tables`` and project every stream again from the event table, in one transaction.

        ``aggregates`` maps each stream type to its aggregate. Returns the number of streams projected. The
        result equals the live tables because the projector is a function of the folded state and the events.
        """
        if self.projector is None:
            return 0
        async with self.engine.begin() as conn:
            await conn.execute(text("LOCK TABLE events IN SHARE MODE"))  # no command may commit meanwhile
            for table in tables:
                await conn.execute(text(f'TRUNCATE TABLE "{table}"'))
            streams = await conn.execute(
                text("SELECT stream_id, stream_type FROM events GROUP BY stream_id, stream_type ORDER BY min(position)")
            )
            count = 0
            for stream_id, stream_type in streams.all():
                aggregate = aggregates[stream_type]
                events = await self.store.read_stream(conn, stream_id)
                state = aggregate.initial_state()
                for recorded in events:
                    assert recorded.event is not None
                    state = aggregate.evolve(state, recorded.event)
                await self.projector(conn, state, events[-1].version, events)
                count += 1
            return count

    @property
    def _retention_seconds(self) -> float:
        return self.idempotency_retention.total_seconds()

    async def _earlier_answer(self, ctx: CommandContext) -> CommandOutcome[Any] | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT fingerprint, status_code, body, headers FROM idempotency_keys "
                        "WHERE scope = :s AND key = :k AND created_at >= now() - make_interval(secs => :r)"
                    ),
                    {"s": ctx.idempotency_scope, "k": ctx.idempotency_key, "r": self._retention_seconds},
                )
            ).first()
        if row is None:
            return None
        if row.fingerprint != ctx.fingerprint:
            raise IdempotencyKeyReusedError(
                "this Idempotency-Key was already used for a different request", field="Idempotency-Key"
            )
        return CommandOutcome(row.status_code, row.body, int(row.headers.get("version", 0)), replayed=True)

    async def _remember(self, conn: AsyncConnection, ctx: CommandContext, outcome: CommandOutcome[Any]) -> None:
        inserted = (
            await conn.execute(
                text(
                    "INSERT INTO idempotency_keys (scope, key, fingerprint, status_code, body, headers) "
                    "VALUES (:s, :k, :f, :c, :b, :h) ON CONFLICT (scope, key) DO UPDATE SET fingerprint = :f, "
                    "status_code = :c, body = :b, headers = :h, created_at = now() "
                    "WHERE idempotency_keys.created_at < now() - make_interval(secs => :r) RETURNING 1"
                ),
                {
                    "s": ctx.idempotency_scope,
                    "k": ctx.idempotency_key,
                    "f": ctx.fingerprint,
                    "c": outcome.status_code,
                    "b": outcome.body_json or dumps(outcome.body),
                    "h": json.dumps({"version": outcome.version}),
                    "r": self._retention_seconds,
                },
            )
        ).first()
        if inserted is None:
            raise _LostIdempotencyRace()
