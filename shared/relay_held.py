"""Events the relay holds back from Kafka, and what an operator does about them.

An event Kafka refuses for what it is (larger than the producer's or the broker's record limit, a corrupt record:
:func:`shared.kafka.is_permanent_record_error`) would fail the same way on every retry. The relay does not retry it
forever: it *holds* it, a row in ``relay_held``, and with it every later event of the same partition key (the
project), so that the project's order on the topic is kept; other projects go on. The relay's checkpoint moves past
held events: from then on they live here, not behind the checkpoint.

An operator lists them (``pmo relay held``) and either asks for a **retry** of a project's held events (after
raising the limit that refused them) or **skips** one event for good (it is never published; the skip is recorded
with who, why and when in ``relay_skipped``), which also retries the rest of its project. These functions only
*mark* the rows: the relay leader, the one publisher of the service, acts on the marks on its next pass (within a
second), so there are never two publishers and a project's order is the relay's to keep.

Every function here takes a connection or engine on the service's schema (its ``search_path``) and, for writes,
owns its transaction unless it takes a connection.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared import relay_wake

DDL = [
    """
    CREATE TABLE IF NOT EXISTS relay_held (
        relay           text        NOT NULL,
        event_id        uuid        NOT NULL,
        position        bigint      NOT NULL,
        xid             xid8        NOT NULL,
        partition_key   text        NOT NULL,
        name            text        NOT NULL,
        size_bytes      integer     NOT NULL,
        error           text        NOT NULL,
        cause           boolean     NOT NULL,
        held_at         timestamptz NOT NULL DEFAULT now(),
        announced_at    timestamptz,
        request         text CHECK (request IN ('retry', 'skip')),
        requested_by    text,
        request_reason  text,
        requested_at    timestamptz,
        PRIMARY KEY (relay, event_id)
    )
    """,
    "CREATE INDEX IF NOT EXISTS relay_held_order ON relay_held (relay, partition_key, xid, position)",
    """
    CREATE TABLE IF NOT EXISTS relay_skipped (
        relay           text        NOT NULL,
        event_id        uuid        NOT NULL,
        position        bigint      NOT NULL,
        partition_key   text        NOT NULL,
        name            text        NOT NULL,
        size_bytes      integer     NOT NULL,
        error           text        NOT NULL,
        held_at         timestamptz NOT NULL,
        skipped_by      text        NOT NULL,
        reason          text        NOT NULL,
        requested_at    timestamptz NOT NULL,
        skipped_at      timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (relay, event_id)
    )
    """,
]

HELD_NOTICE = "outbox-event-held"
SKIPPED_NOTICE = "outbox-event-skipped"


@dataclass(frozen=True)
class Hold:
    """An event about to be held: ``cause`` when Kafka refused it, else it waits behind its project's first."""

    event_id: uuid.UUID
    position: int
    xid: int
    partition_key: str
    name: str
    size_bytes: int
    error: str
    cause: bool


@dataclass(frozen=True)
class HeldEvent(Hold):
    """A row of ``relay_held``: the hold, and what happened to it since."""

    held_at: datetime
    announced_at: datetime | None
    request: str | None
    requested_by: str | None
    request_reason: str | None
    requested_at: datetime | None


# The columns select ``xid::text AS xid``: an ORDER BY names the table's column (``relay_held.xid``), or it would
# sort by that text (1000 before 999).
_COLUMNS = (
    "event_id, position, xid::text AS xid, partition_key, name, size_bytes, error, cause, held_at, announced_at, "
    "request, "
    "requested_by, request_reason, requested_at"
)


def _held(row: Any) -> HeldEvent:
    values = dict(row._mapping)
    values["xid"] = int(values["xid"])
    return HeldEvent(**values)


async def hold(conn: AsyncConnection, relay: str, holds: Sequence[Hold]) -> None:
    """Record ``holds`` (an event already held keeps its row: holding is idempotent). In the caller's transaction."""
    if not holds:
        return
    await conn.execute(
        text(
            "INSERT INTO relay_held (relay, event_id, position, xid, partition_key, name, size_bytes, error, cause) "
            "VALUES (:r, :e, :p, CAST(:x AS xid8), :k, :n, :s, :err, :c) ON CONFLICT (relay, event_id) DO NOTHING"
        ),
        [
            {
                "r": relay,
                "e": h.event_id,
                "p": h.position,
                "x": h.xid,
                "k": h.partition_key,
                "n": h.name,
                "s": h.size_bytes,
                "err": h.error[:2000],
                "c": h.cause,
            }
            for h in holds
        ],
    )


async def held_events(conn: AsyncConnection, relay: str, partition_key: str | None = None) -> list[HeldEvent]:
    """The held events, in publication order (per project: the order they were written)."""
    where = "relay = :r" + (" AND partition_key = :k" if partition_key is not None else "")
    rows = await conn.execute(
        text(f"SELECT {_COLUMNS} FROM relay_held WHERE {where} ORDER BY relay_held.xid, relay_held.position"),
        {"r": relay, "k": partition_key},
    )
    return [_held(r) for r in rows]


async def held_keys(conn: AsyncConnection, relay: str) -> dict[str, tuple[int, int]]:
    """The partition keys (projects) that have a held event, each with where its first held event is (``(xid,
    position)``): its events from there on are held, those before it are not."""
    rows = await conn.execute(
        text(
            "SELECT DISTINCT ON (partition_key) partition_key, xid::text AS xid, position FROM relay_held "
            "WHERE relay = :r ORDER BY partition_key, relay_held.xid, relay_held.position"
        ),
        {"r": relay},
    )
    return {r.partition_key: (int(r.xid), r.position) for r in rows}


async def count_held(conn: AsyncConnection, relay: str) -> int:
    return int(
        (await conn.execute(text("SELECT count(*) FROM relay_held WHERE relay = :r"), {"r": relay})).scalar_one()
    )


async def unannounced(conn: AsyncConnection, relay: str) -> list[HeldEvent]:
    """Held events whose notice is not yet on the dead-letter topic."""
    rows = await conn.execute(
        text(
            f"SELECT {_COLUMNS} FROM relay_held WHERE relay = :r AND announced_at IS NULL "
            "ORDER BY relay_held.xid, relay_held.position"
        ),
        {"r": relay},
    )
    return [_held(r) for r in rows]


async def mark_announced(conn: AsyncConnection, relay: str, event_ids: Sequence[uuid.UUID]) -> None:
    await conn.execute(
        text("UPDATE relay_held SET announced_at = now() WHERE relay = :r AND event_id = ANY(:e)"),
        {"r": relay, "e": list(event_ids)},
    )


async def requested_keys(conn: AsyncConnection, relay: str) -> list[str]:
    """Partition keys with a retry or skip asked for, in the order of their first held event."""
    rows = await conn.execute(
        text(
            "SELECT partition_key FROM relay_held WHERE relay = :r GROUP BY partition_key "
            "HAVING bool_or(request IS NOT NULL) ORDER BY min(xid), min(position)"
        ),
        {"r": relay},
    )
    return [r.partition_key for r in rows]


async def release(conn: AsyncConnection, relay: str, event_ids: Sequence[uuid.UUID]) -> None:
    """Forget held events that have now been published."""
    await conn.execute(
        text("DELETE FROM relay_held WHERE relay = :r AND event_id = ANY(:e)"), {"r": relay, "e": list(event_ids)}
    )


async def skip(conn: AsyncConnection, relay: str, event: HeldEvent) -> None:
    """Drop a held event from publication for good: moved to ``relay_skipped`` with who asked, why and when."""
    await conn.execute(
        text(
            "INSERT INTO relay_skipped (relay, event_id, position, partition_key, name, size_bytes, error, held_at, "
            "skipped_by, reason, requested_at) "
            "SELECT relay, event_id, position, partition_key, name, size_bytes, error, held_at, "
            "coalesce(requested_by, 'unknown'), coalesce(request_reason, ''), coalesce(requested_at, now()) "
            "FROM relay_held WHERE relay = :r AND event_id = :e ON CONFLICT (relay, event_id) DO NOTHING"
        ),
        {"r": relay, "e": event.event_id},
    )
    await release(conn, relay, [event.event_id])


async def settle_requests(conn: AsyncConnection, relay: str, partition_key: str, error: str | None = None) -> None:
    """After the leader acted on a project's requests: clear them (a skip asked for an event that is still held
    becomes a retry's leftover: it is cleared too, the operator asks again). ``error`` (the reason the first held
    event was refused again) replaces that event's error."""
    await conn.execute(
        text(
            "UPDATE relay_held SET request = NULL, requested_by = NULL, request_reason = NULL, requested_at = NULL "
            "WHERE relay = :r AND partition_key = :k"
        ),
        {"r": relay, "k": partition_key},
    )
    if error is not None:
        await conn.execute(
            text(
                "UPDATE relay_held SET error = :err, cause = true WHERE relay = :r AND (event_id) = "
                "(SELECT event_id FROM relay_held WHERE relay = :r AND partition_key = :k ORDER BY xid, position "
                "LIMIT 1)"
            ),
            {"r": relay, "k": partition_key, "err": error[:2000]},
        )


async def request_retry(engine: AsyncEngine, relay: str, by: str, partition_key: str | None = None) -> list[uuid.UUID]:
    """Ask the relay leader to publish the held events again (of one project, or all), in order; the events marked.
    A project whose held events all go through is released."""
    where = "relay = :r" + (" AND partition_key = :k" if partition_key is not None else "")
    async with engine.begin() as conn:
        result = await conn.execute(
            text(
                "UPDATE relay_held SET request = 'retry', requested_by = :by, request_reason = NULL, "
                f"requested_at = now() WHERE {where} AND request IS NULL RETURNING event_id"
            ),
            {"r": relay, "k": partition_key, "by": by},
        )
        marked = [r.event_id for r in result]
        if marked:
            await relay_wake.notify_in(conn, relay)  # the leader acts at commit, not at its safety poll
        return marked


async def request_skip(engine: AsyncEngine, relay: str, event_id: uuid.UUID, by: str, reason: str) -> list[uuid.UUID]:
    """Ask the relay leader to drop one held event from publication for good, and to publish the rest of its
    project in order after it (those held events are marked for a retry, as they will be). The events marked, the
    skipped one first (what :func:`await_requests` waits for: the skip done and the project's rest published or
    refused again); empty if no such event is held."""
    async with engine.begin() as conn:
        result = await conn.execute(
            text(
                "UPDATE relay_held SET request = 'skip', requested_by = :by, request_reason = :why, "
                "requested_at = now() WHERE relay = :r AND event_id = :e RETURNING partition_key"
            ),
            {"r": relay, "e": event_id, "by": by, "why": reason},
        )
        key = result.scalar_one_or_none()
        if key is None:
            return []
        rest = await conn.execute(
            text(
                "UPDATE relay_held SET request = 'retry', requested_by = :by, request_reason = NULL, "
                "requested_at = now() WHERE relay = :r AND partition_key = :k AND request IS NULL RETURNING event_id"
            ),
            {"r": relay, "k": key, "by": by},
        )
        marked = [event_id, *(r.event_id for r in rest)]
        await relay_wake.notify_in(conn, relay)  # the leader acts at commit, not at its safety poll
    return marked


async def summary(engine: AsyncEngine, relay: str, limit: int = 20) -> dict[str, Any] | None:
    """What ``/readyz`` says about held events: None when none is held, else how many and which projects (the
    first ``limit``)."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT partition_key, count(*) AS n FROM relay_held WHERE relay = :r "
                    "GROUP BY partition_key ORDER BY min(held_at), partition_key"
                ),
                {"r": relay},
            )
        ).all()
    if not rows:
        return None
    return {"held_events": sum(r.n for r in rows), "projects": [r.partition_key for r in rows[:limit]]}


def notice(service: str, event: HeldEvent, kind: str = HELD_NOTICE) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """Key, value and headers of the record on ``pmo.dlq.v1`` announcing that ``event`` is held (or skipped): what
    and why, never the event's data."""
    body: dict[str, Any] = {
        "event_id": str(event.event_id),
        "project": event.partition_key,
        "name": event.name,
        "size_bytes": event.size_bytes,
        "error": event.error,
        "position": event.position,
    }
    if kind == SKIPPED_NOTICE:
        body.update(skipped_by=event.requested_by, reason=event.request_reason)
    headers = {
        "ce_specversion": "1.0",
        "ce_id": str(uuid.uuid5(event.event_id, kind)),  # the same notice for the same event: a duplicate
        "ce_source": f"/pmo/{service}",
        "ce_type": f"pmo.{service}.{kind}.v1",
        "ce_subject": str(event.event_id),
        "ce_time": datetime.now(UTC).isoformat(),
        "content-type": "application/json",
        "pmo_event_id": str(event.event_id),
        "pmo_reason": event.error[:2000],
    }
    value = json.dumps(body, separators=(",", ":")).encode()
    return event.partition_key.encode(), value, [(k, v.encode()) for k, v in headers.items()]


async def await_requests(
    engine: AsyncEngine, relay: str, event_ids: Sequence[uuid.UUID], timeout: float, interval: float = 0.2
) -> list[HeldEvent] | None:
    """Wait until the leader acted on the requests on ``event_ids``: the ones still held afterwards (an empty list
    when all went out or were skipped), or None if it has not acted within ``timeout`` seconds (no relay running:
    the marks stay and are acted on once one runs)."""
    wanted = set(event_ids)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with engine.connect() as conn:
            left = [e for e in await held_events(conn, relay) if e.event_id in wanted]
        if all(e.request is None for e in left):
            return left
        if asyncio.get_running_loop().time() > deadline:
            return None
        await asyncio.sleep(interval)
