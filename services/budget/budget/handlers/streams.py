"""The budget's command executor deciding on the states it remembers rather than on the stream read first
(:class:`CachedStreams`; the cache itself: :mod:`budget.domain.cache`)."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any
from weakref import WeakKeyDictionary

from budget.domain.cache import AggregateCache
from shared.commands import Aggregate, Check, CommandContext, CommandExecutor, CommandOutcome, Executor, Responder

_REMEMBERED: ContextVar[tuple[str, Any, int] | None] = ContextVar("budget_remembered_state", default=None)


class CachedStreams(CommandExecutor):
    """The service's executor deciding on the state it remembers (:class:`budget.domain.cache.AggregateCache`)
    instead of reading and folding the stream first. The same executor (its very attributes: engine, store,
    projector, after-commit hooks, admission), only ``load`` differs; safe across replicas because the append's
    version check stays the guard: a state remembered at version n is appended to at n. When that fails
    (another replica appended), or the command is refused, or it decides nothing (its answer rests on the state),
    the entry is forgotten and the command decided again on the stream as read now: that answer is the one sent."""

    __slots__ = ("cache",)

    def __init__(self, inner: CommandExecutor, cache: AggregateCache) -> None:
        self.__dict__ = inner.__dict__  # one executor: attributes set on either are seen by both
        self.cache = cache

    async def load(self, conn: Any, aggregate: Aggregate[Any, Any], stream_id: str) -> tuple[Any, int]:
        remembered = _REMEMBERED.get()
        if remembered is not None and remembered[0] == stream_id:
            return remembered[1], remembered[2]
        return await super().load(conn, aggregate, stream_id)

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
        after: list[tuple[Any, int]] = []

        def remembering(state: Any, events: Any, version: int) -> dict[str, Any]:
            after.append((state, version))
            return respond(state, events, version)

        async def attempt(remembered: tuple[Any, int] | None) -> CommandOutcome[Any]:
            after.clear()
            token = _REMEMBERED.set(None if remembered is None else (stream_id, *remembered))
            try:
                return await super(CachedStreams, self).execute(
                    ctx,
                    aggregate=aggregate,
                    stream_id=stream_id,
                    command=command,
                    respond=remembering,
                    status_code=status_code,
                    new_stream=new_stream,
                    check=check,
                )
            finally:
                _REMEMBERED.reset(token)

        remembered = None if new_stream else self.cache.get(stream_id)
        try:
            outcome = await attempt(remembered)
            confirmed = remembered is None or bool(outcome.events) or outcome.replayed
        except Exception:
            self.cache.forget(stream_id)
            if remembered is None:
                raise
            confirmed = False
        if not confirmed:  # decided on a state that may be stale: decide again on the stream
            self.cache.stale += 1
            self.cache.forget(stream_id)
            try:
                outcome = await attempt(None)
            except Exception:
                self.cache.forget(stream_id)
                raise
        if after and not outcome.replayed:
            self.cache.put(stream_id, *after[-1])
        return outcome


_CACHES: WeakKeyDictionary[CommandExecutor, CachedStreams] = WeakKeyDictionary()


def cached(executor: Executor) -> Executor:
    """The runtime's executor deciding on remembered states (one cache per executor, i.e. per process); any other
    executor (a handler test's fake) as it is."""
    if type(executor) is not CommandExecutor:
        return executor
    found = _CACHES.get(executor)
    if found is None:
        found = _CACHES[executor] = CachedStreams(executor, AggregateCache())
    return found
