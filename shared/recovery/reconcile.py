"""An event table restored behind its topic (the database came back from a backup older than Kafka's contents):
find the events the topic holds and the table lacks, and append them again, ids, data, stream versions and order
kept (Kafka as the backup of the last minutes).

:func:`compare` reads the topic from the relay's checkpoint on: from the first record Kafka stamped at or after the
checkpointed event's ``recorded_at`` minus :data:`MARGIN` in each partition (from the beginning without a
checkpoint), and looks each event id up in the table. An event missing from the table whose stream already has
another event at its version (or whose stream lacks the versions before it) is a conflict: :func:`reconcile` then
refuses and changes nothing. Otherwise it appends the missing events in one transaction, in the order they were
recorded, and projects them into the service's query tables as the command path would; the relay publishes them
again (duplicates of what the topic holds, which consumers drop by event id).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared import relay_wake
from shared.kafka import KafkaOptions
from shared.recovery import RecoveryRefusedError
from shared.recovery.topic import TopicEvent, read_events

MARGIN = timedelta(minutes=5)
"""How far before the checkpointed event's time the topic is read (clock differences between database and broker)."""


@dataclass
class Divergence:
    """What the topic holds that the table does not."""

    read: int = 0
    missing: list[TopicEvent] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)

    @property
    def keys(self) -> set[str]:
        return {e.partition_key for e in self.missing}


async def compare(engine: AsyncEngine, kafka: KafkaOptions, topic: str, *, name: str = "relay") -> Divergence:
    """The events on ``topic`` past the relay's checkpoint that the table lacks, and the conflicts among them."""
    async with engine.connect() as conn:
        since = (
            await conn.execute(
                text(
                    "SELECT e.recorded_at FROM relay_checkpoint c JOIN events e ON e.position = c.position "
                    "WHERE c.name = :n"
                ),
                {"n": name},
            )
        ).scalar()
    events = await read_events(kafka, topic, None if since is None else since - MARGIN)
    seen: set[Any] = set()
    unique = [e for e in events if not (e.event_id in seen or seen.add(e.event_id))]  # type: ignore[func-returns-value]
    found = Divergence(read=len(events))
    if not unique:
        return found
    async with engine.connect() as conn:
        have = set(
            (
                await conn.execute(
                    text("SELECT event_id FROM events WHERE event_id = ANY(CAST(:ids AS uuid[]))"),
                    {"ids": [str(e.event_id) for e in unique]},
                )
            ).scalars()
        )
        found.missing = sorted((e for e in unique if e.event_id not in have), key=lambda e: (e.recorded_at, e.version))
        if found.missing:
            found.conflicts = await _conflicts(conn, found.missing)
    return found


async def _conflicts(conn: AsyncConnection, missing: list[TopicEvent]) -> list[str]:
    streams = sorted({e.stream_id for e in missing})
    rows = (
        await conn.execute(
            text("SELECT stream_id, max(version) AS version FROM events WHERE stream_id = ANY(:s) GROUP BY stream_id"),
            {"s": streams},
        )
    ).all()
    current = {r.stream_id: r.version for r in rows}
    problems: list[str] = []
    for stream in streams:
        versions = sorted(e.version for e in missing if e.stream_id == stream)
        have = current.get(stream, 0)
        taken = [v for v in versions if v <= have]
        if taken:
            clash = (
                await conn.execute(
                    text("SELECT version, event_id::text AS id FROM events WHERE stream_id = :s AND version = ANY(:v)"),
                    {"s": stream, "v": taken},
                )
            ).all()
            problems.extend(
                f"stream {stream} version {r.version} is event {r.id} in the table but "
                f"{next(e.event_id for e in missing if e.stream_id == stream and e.version == r.version)} on the topic"
                for r in clash
            )
        expected = list(range(have + 1, have + 1 + len(versions) - len(taken)))
        if [v for v in versions if v > have] != expected:
            problems.append(
                f"stream {stream} is at version {have} in the table but the topic continues it with versions "
                f"{[v for v in versions if v > have]} (not the next ones)"
            )
    return problems


async def _stream_types(conn: AsyncConnection, missing: list[TopicEvent]) -> dict[str, str]:
    """Each stream's type: from its events in the table, else from events of the same name, else the stream id's
    prefix (``project-<uuid>`` is a ``project``)."""
    by_stream = {
        r.stream_id: r.stream_type
        for r in await conn.execute(
            text("SELECT DISTINCT stream_id, stream_type FROM events WHERE stream_id = ANY(:s)"),
            {"s": sorted({e.stream_id for e in missing})},
        )
    }
    by_name = {
        r.name: r.stream_type
        for r in await conn.execute(
            text("SELECT DISTINCT ON (name) name, stream_type FROM events WHERE name = ANY(:n)"),
            {"n": sorted({e.name for e in missing})},
        )
    }
    types: dict[str, str] = {}
    for e in missing:
        types.setdefault(e.stream_id, by_stream.get(e.stream_id) or by_name.get(e.name) or e.stream_id.split("-", 1)[0])
    return types


async def reconcile(
    engine: AsyncEngine,
    kafka: KafkaOptions,
    topic: str,
    *,
    executor: Any = None,
    aggregates: Mapping[str, Any] | None = None,
) -> Divergence:
    """Append the events the table lacks (see the module docstring); refuses on a conflict, changing nothing.
    With ``executor`` (its store and projector) and ``aggregates`` (by stream type), the appended events are projected
    into the query tables in the same transaction."""
    found = await compare(engine, kafka, topic)
    if found.conflicts:
        shown = "; ".join(found.conflicts[:10])
        raise RecoveryRefusedError(
            f"{len(found.conflicts)} conflicts between the topic and the table, nothing changed: {shown}. The table "
            "and the topic disagree on what happened: restore a backup taken before the diverging events, or decide "
            "by hand which history stands"
        )
    if not found.missing:
        return found
    async with engine.begin() as conn:
        types = await _stream_types(conn, found.missing)
        before = {
            r.stream_id: r.version
            for r in await conn.execute(
                text("SELECT stream_id, max(version) AS version FROM events WHERE stream_id = ANY(:s) GROUP BY 1"),
                {"s": sorted(types)},
            )
        }
        await conn.execute(
            text(
                "INSERT INTO events (stream_id, stream_type, version, event_id, name, schema_version, partition_key, "
                "data, metadata, recorded_at) VALUES (:stream_id, :stream_type, :version, CAST(:event_id AS uuid), "
                ":name, :schema_version, :partition_key, CAST(:data AS jsonb), CAST(:metadata AS jsonb), :recorded_at)"
            ),
            [
                {
                    "stream_id": e.stream_id,
                    "stream_type": types[e.stream_id],
                    "version": e.version,
                    "event_id": str(e.event_id),
                    "name": e.name,
                    "schema_version": e.schema_version,
                    "partition_key": e.partition_key,
                    "data": json.dumps(e.data),
                    "metadata": json.dumps(e.metadata),
                    "recorded_at": e.recorded_at,
                }
                for e in found.missing
            ],
        )
        if executor is not None and executor.projector is not None and aggregates:
            for stream, stream_type in types.items():
                aggregate = aggregates.get(stream_type)
                if aggregate is None:
                    continue
                state, version = await executor.load(conn, aggregate, stream)
                recorded = [
                    r for r in await executor.store.read_stream(conn, stream) if r.version > before.get(stream, 0)
                ]
                await executor.projector(conn, state, version, recorded)
        await relay_wake.notify_in(conn)  # the service's relay publishes them at commit, not at its safety poll
    return found
