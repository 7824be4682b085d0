"""Redriving a dead letter: the kept record applied again, once its cause is fixed, exactly once.

:func:`redrive` takes, for each consumer of the service that holds the event dead-lettered (or the one named), one
database transaction that

1. locks the dead letter's row (``FOR UPDATE``): a concurrent redrive of the same event waits, then finds it
   redriven and applies nothing (409);
2. decodes the kept record as the consumer decodes what it reads (:func:`shared.consumer.decode_records`) and, under
   a savepoint, clears the inbox mark (a read model with an inbox: only if it is still marked, else the event has
   been applied since, e.g. by a replay, and is not applied twice) and applies the event through
   :func:`shared.consumer.apply_event`, the live consumer's path;
3. records the outcome: applied (the row ``redriven``, with who, when and why) or failed again (the savepoint undone,
   inbox mark included; the row stays ``dead-lettered`` with the new error and one more attempt); every attempt is
   kept in ``dead_letter_redrives``.

The effects, the inbox and the dead letter's row commit together or not at all. An event redriven after later events
of its project were applied is applied after them: read models that take facts late (the reporting books) handle
it; the reference tables take what the event says.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.consumer import Projection, apply_event, decode_records
from shared.dead_letters import store
from shared.errors import NotFoundError, RuleViolationError
from shared.metrics import CONSUMED


class AppliedSinceError(RuleViolationError):
    """The read model's inbox shows the event applied since it was dead-lettered: it is not applied twice."""


@dataclass(frozen=True)
class Outcome:
    """What one redrive did for one consumer: ``applied``, or ``failed`` with the error, or ``skipped`` (already
    redriven, by a concurrent redrive)."""

    consumer: str
    result: str
    error: str | None = None


async def redrive(
    engine: AsyncEngine,
    projections: Sequence[Projection],
    event_id: uuid.UUID,
    *,
    by: str,
    reason: str,
    consumer: str | None = None,
) -> list[Outcome]:
    """Redrive ``event_id`` for every consumer among ``projections`` (the service's read models) that holds it
    dead-lettered, or for ``consumer`` alone; one outcome per consumer tried, by consumer name.

    :class:`~shared.errors.NotFoundError` when no consumer of the service dead-lettered it;
    :class:`~shared.errors.RuleViolationError` when none holds it dead-lettered any more (redriven before, or by a
    concurrent redrive), or when the read model applied it since (:class:`AppliedSinceError`)."""
    async with engine.connect() as conn:
        letters = await store.of_event(conn, event_id, consumer)
    if not letters:
        where = f" by consumer {consumer}" if consumer else ""
        raise NotFoundError(f"event {event_id} was not dead-lettered{where} in this service", field="event_id")
    by_name = {p.name: p for p in projections}
    outcomes: list[Outcome] = []
    for letter in letters:
        if letter.status != "dead-lettered":
            continue
        projection = by_name.get(letter.consumer)
        if projection is None:
            outcomes.append(Outcome(letter.consumer, "failed", f"no read model {letter.consumer} in this service"))
            continue
        outcomes.append(await _redrive_one(engine, projection, event_id, by, reason))
    if not any(o.result in ("applied", "failed") for o in outcomes):
        when = max((x.redriven_at for x in letters if x.redriven_at), default=None)
        since = f" (last at {when.isoformat(timespec='seconds')})" if when else ""
        raise RuleViolationError(f"event {event_id} is not dead-lettered any more: already redriven{since}")
    return outcomes


async def _redrive_one(
    engine: AsyncEngine, projection: Projection, event_id: uuid.UUID, by: str, reason: str
) -> Outcome:
    name = projection.name
    async with engine.begin() as conn:
        locked = await store.of_event(conn, event_id, name, lock=True)
        if not locked or locked[0].status != "dead-lettered":
            return Outcome(name, "skipped")  # a concurrent redrive applied it while we waited for the lock
        letter = locked[0]
        ((_, event, error),) = decode_records([letter.record])
        if event is not None and error is None:
            try:
                async with conn.begin_nested():
                    await _clear_inbox_mark(conn, projection, event.event_id)
                    await apply_event(conn, projection, event, isolate=False)
            except AppliedSinceError:
                raise
            except Exception as exc:
                error = exc
        outcome = "failed" if error is not None or event is None else "applied"
        if outcome == "applied":
            await store.mark_redriven(conn, letter, by, reason)
            CONSUMED.labels(name).inc()
        else:
            await store.mark_failed(conn, letter, by, reason, store.describe(error))
        await store.refresh_gauge(conn, name)
    store.REDRIVES.labels(store.service_of(name), outcome).inc()
    return Outcome(name, outcome, None if outcome == "applied" else store.describe(error))


async def _clear_inbox_mark(conn: AsyncConnection, projection: Projection, event_id: uuid.UUID) -> None:
    """The inbox row of a read model that keeps one, no longer marked dead-lettered (added if the record had none:
    it could not be decoded then); :class:`AppliedSinceError` if the inbox shows the event applied since."""
    if getattr(projection, "idempotent", False):
        return  # no inbox: its own keys absorb a second copy
    cleared = await conn.execute(
        text(
            "INSERT INTO inbox (consumer, event_id) VALUES (:c, :e) ON CONFLICT (consumer, event_id) "
            "DO UPDATE SET dead_lettered = false WHERE inbox.dead_lettered RETURNING event_id"
        ),
        {"c": projection.name, "e": event_id},
    )
    if cleared.first() is None:
        raise AppliedSinceError(
            f"{projection.name} applied event {event_id} since it was dead-lettered (a replay, or a later copy of "
            "the record): it is not applied twice"
        )
