"""The event store: one table of events per service, which is also the outbox the relay reads.

Properties (see ``docs/architecture.md``):

* ``(stream_id, version)`` is unique: two appends at the same expected version cannot both commit; the
  loser gets :class:`~shared.errors.ConcurrencyError` (HTTP 409).
* every event records the id of the transaction that wrote it (``xid8``). The relay only reads events whose
  transaction is older than the oldest transaction still running, so it never passes an event whose
  transaction has not committed yet, whatever order transactions commit in.
* appending must be the transaction's first write, so that the transaction id is taken after every event
  the command depends on was committed; the relay's ``(xid, position)`` order then respects the order in
  which each project's events were written. :meth:`EventStore.append` checks this.

All methods but :meth:`EventStore.append_alone` take a connection inside a transaction owned by the caller and
commit nothing; ``append_alone`` is one statement that is its own transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared import tracing
from shared.errors import ConcurrencyError, TooLargeError
from shared.events import DomainEvent, EventMetadata, EventRegistry, RecordedEvent
from shared.ids import new_id
from shared.limits import MAX_EVENT_BYTES
from shared.pg import driver

DDL = [
    """
    CREATE TABLE IF NOT EXISTS events (
        position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        stream_id       text        NOT NULL,
        stream_type     text        NOT NULL,
        version         integer     NOT NULL CHECK (version > 0),
        event_id        uuid        NOT NULL,
        name            text        NOT NULL,
        schema_version  integer     NOT NULL,
        partition_key   text        NOT NULL,
        data            jsonb       NOT NULL,
        metadata        jsonb       NOT NULL,
        recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
        xid             xid8        NOT NULL DEFAULT pg_current_xact_id(),
        CONSTRAINT events_stream_version_key UNIQUE (stream_id, version),
        CONSTRAINT events_event_id_key UNIQUE (event_id)
    )
    """,
    "CREATE INDEX IF NOT EXISTS events_relay_order ON events (xid, position)",
    "CREATE INDEX IF NOT EXISTS events_partition_key ON events (partition_key, position)",
    """
    CREATE TABLE IF NOT EXISTS idempotency_keys (
        scope        text        NOT NULL,
        key          text        NOT NULL,
        fingerprint  text        NOT NULL,
        status_code  integer     NOT NULL,
        body         jsonb       NOT NULL,
        headers      jsonb       NOT NULL,
        created_at   timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (scope, key)
    )
    """,
]

_INSERT = """
    INSERT INTO events (stream_id, stream_type, version, event_id, name, schema_version, partition_key,
                        data, metadata)
    SELECT $1, $2, v, e, n, sv, pk, d, $3::jsonb
    FROM unnest($4::integer[], $5::uuid[], $6::text[], $7::integer[], $8::text[], $9::jsonb[])
         AS t(v, e, n, sv, pk, d)
    """
_RETURNING = " RETURNING position, recorded_at"
_INSERT_FIRST_WRITE = _INSERT + " WHERE (SELECT pg_current_xact_id_if_assigned()) IS NULL" + _RETURNING
"""The first-write check folded into the insert: the scalar subquery is an init plan, evaluated once before any
row is inserted (so before the insert takes a transaction id); no row comes back if the transaction held one."""
_INSERT_ANY = _INSERT + _RETURNING

_COLUMNS = (
    "position, stream_id, stream_type, version, event_id, name, schema_version, partition_key, data, "
    "metadata, recorded_at"
)


@dataclass(frozen=True)
class NewEvent:
    """An event about to be appended, with its id chosen by the caller (so retries are traceable)."""

    event: DomainEvent
    event_id: uuid.UUID

    @classmethod
    def of(cls, event: DomainEvent) -> NewEvent:
        return cls(event=event, event_id=new_id())


class FirstWriteError(RuntimeError):
    """The transaction wrote something before appending; the relay's ordering guarantee needs otherwise."""


class EventStore:
    """Append to and read from one service's ``events`` table (the connection's ``search_path`` picks it)."""

    def __init__(self, registry: EventRegistry) -> None:
        self.registry = registry

    @tracing.traced("eventstore.append", lambda kw: {"pmo.stream_id": kw["stream_id"], "pmo.events": len(kw["events"])})
    async def append(
        self,
        conn: AsyncConnection,
        *,
        stream_id: str,
        stream_type: str,
        expected_version: int,
        events: Sequence[NewEvent],
        metadata: EventMetadata,
        check_first_write: bool = True,
    ) -> list[RecordedEvent]:
        """Append ``events`` after ``expected_version`` (0 for a new stream) and return them as recorded.

        Raises :class:`TooLargeError` before writing anything if an event would exceed
        :data:`~shared.limits.MAX_EVENT_BYTES` (so every stored event fits a Kafka record),
        :class:`ConcurrencyError` if another transaction appended to the stream first, and
        :class:`FirstWriteError` if the transaction already holds a transaction id. A caller whose earlier writes
        in the transaction happened after every event it depends on was committed (e.g. a consumer processing
        one partition in order) may pass ``check_first_write=False``.
        """
        if not events:
            return []
        versions = list(range(expected_version + 1, expected_version + 1 + len(events)))
        datas = [e.event.model_dump(mode="json") for e in events]
        texts = [json.dumps(d) for d in datas]
        metadata_text = json.dumps(metadata.as_dict())
        for new, text in zip(events, texts, strict=True):
            size = len(text.encode()) + len(metadata_text.encode())
            if size > MAX_EVENT_BYTES:
                raise TooLargeError(
                    f"the {new.event.event_name} event this request records would take {size} bytes; "
                    f"an event may take at most {MAX_EVENT_BYTES} (split the request)",
                    field="body",
                )
        try:
            rows = await (await driver(conn)).fetch(
                _INSERT_FIRST_WRITE if check_first_write else _INSERT_ANY,
                stream_id,
                stream_type,
                metadata_text,
                versions,
                [e.event_id for e in events],
                [e.event.event_name for e in events],
                [e.event.event_version for e in events],
                [e.event.partition_key for e in events],
                texts,
            )
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "events_stream_version_key":
                raise ConcurrencyError(
                    f"stream {stream_id} was changed by another command; expected version {expected_version}",
                    expected=expected_version,
                ) from exc
            raise
        if not rows:
            raise FirstWriteError("append must be the first write of its transaction")
        return [
            RecordedEvent(
                event_id=new.event_id,
                stream_id=stream_id,
                stream_type=stream_type,
                version=version,
                position=row["position"],
                name=new.event.event_name,
                schema_version=new.event.event_version,
                partition_key=new.event.partition_key,
                data=data,
                metadata=metadata,
                recorded_at=row["recorded_at"],
                event=new.event,
            )
            for new, version, data, row in zip(events, versions, datas, rows, strict=True)
        ]

    async def append_alone(
        self,
        engine: AsyncEngine,
        *,
        stream_id: str,
        stream_type: str,
        expected_version: int,
        events: Sequence[NewEvent],
        metadata: EventMetadata,
    ) -> list[RecordedEvent]:
        """Append ``events`` in a transaction of their own and commit them: one statement, one round trip.

        For callers with nothing else to write atomically with the events (an importer, a service without
        inline projections): the counterpart of :meth:`append` inside ``engine.begin()`` without ``BEGIN`` and
        ``COMMIT`` (three round trips to one). Same guarantees: :class:`ConcurrencyError` if the stream moved
        past ``expected_version``, all events or none; the statement is the transaction's only write, so the
        relay's ordering holds (no first-write check needed). The events are committed when this returns.
        """
        async with engine.connect() as conn:  # no transaction begun: asyncpg runs the insert as its own
            return await self.append(
                conn,
                stream_id=stream_id,
                stream_type=stream_type,
                expected_version=expected_version,
                events=events,
                metadata=metadata,
                check_first_write=False,
            )

    async def read_stream(self, conn: AsyncConnection, stream_id: str, after_version: int = 0) -> list[RecordedEvent]:
        """Events of one stream in version order, decoded with the registry."""
        connection = await driver(conn)
        rows = await connection.fetch(
            f"SELECT {_COLUMNS} FROM events WHERE stream_id = $1 AND version > $2 ORDER BY version",
            stream_id,
            after_version,
        )
        return [self._decode(row) for row in rows]

    async def read_all(self, conn: AsyncConnection, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """Committed events in position order after ``after_position`` (for rebuilding projections)."""
        rows = await (await driver(conn)).fetch(
            f"SELECT {_COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2", after_position, limit
        )
        return [self._decode(row) for row in rows]

    def _decode(self, row: Any) -> RecordedEvent:
        return recorded_from_row(row, self.registry.decode(row["name"], row["schema_version"], row["data"]))


def recorded_from_row(row: Any, event: DomainEvent | None = None) -> RecordedEvent:
    """A :class:`RecordedEvent` from a row of the ``events`` table, given as a mapping (an asyncpg record, or a
    SQLAlchemy row's ``_mapping``); ``event`` is its decoded contract, if any."""
    return RecordedEvent(
        event_id=row["event_id"],
        stream_id=row["stream_id"],
        stream_type=row["stream_type"],
        version=row["version"],
        position=row["position"],
        name=row["name"],
        schema_version=row["schema_version"],
        partition_key=row["partition_key"],
        data=row["data"],
        metadata=EventMetadata.from_dict(row["metadata"]),
        recorded_at=row["recorded_at"],
        event=event,
    )
