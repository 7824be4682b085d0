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

All methods take a connection inside a transaction owned by the caller; nothing here commits.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.errors import ConcurrencyError
from shared.events import DomainEvent, EventMetadata, EventRegistry, RecordedEvent

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

_INSERT = text(
    """
    INSERT INTO events (stream_id, stream_type, version, event_id, name, schema_version, partition_key,
                        data, metadata)
    SELECT :stream_id, :stream_type, v, e, n, sv, pk, d, :metadata
    FROM unnest(CAST(:versions AS integer[]), CAST(:event_ids AS uuid[]), CAST(:names AS text[]),
                CAST(:schema_versions AS integer[]), CAST(:partition_keys AS text[]), CAST(:datas AS jsonb[]))
         AS t(v, e, n, sv, pk, d)
    RETURNING position, recorded_at
    """
)

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
        return cls(event=event, event_id=uuid.uuid4())


class FirstWriteError(RuntimeError):
    """The transaction wrote something before appending; the relay's ordering guarantee needs otherwise."""


class EventStore:
    """Append to and read from one service's ``events`` table (the connection's ``search_path`` picks it)."""

    def __init__(self, registry: EventRegistry) -> None:
        self.registry = registry

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

        Raises :class:`ConcurrencyError` if another transaction appended to the stream first, and
        :class:`FirstWriteError` if the transaction already holds a transaction id. A caller whose earlier writes
        in the transaction happened after every event it depends on was committed (e.g. a consumer processing
        one partition in order) may pass ``check_first_write=False``.
        """
        if not events:
            return []
        if check_first_write:
            held = (await conn.execute(text("SELECT pg_current_xact_id_if_assigned()"))).scalar()
            if held is not None:
                raise FirstWriteError("append must be the first write of its transaction")
        versions = list(range(expected_version + 1, expected_version + 1 + len(events)))
        datas = [e.event.model_dump(mode="json") for e in events]
        params: dict[str, Any] = {
            "stream_id": stream_id,
            "stream_type": stream_type,
            "metadata": json.dumps(metadata.as_dict()),
            "versions": versions,
            "event_ids": [e.event_id for e in events],
            "names": [e.event.event_name for e in events],
            "schema_versions": [e.event.event_version for e in events],
            "partition_keys": [e.event.partition_key for e in events],
            "datas": [json.dumps(d) for d in datas],
        }
        try:
            rows = (await conn.execute(_INSERT, params)).all()
        except IntegrityError as exc:
            if "events_stream_version_key" in str(exc.orig):
                raise ConcurrencyError(
                    f"stream {stream_id} was changed by another command; expected version {expected_version}",
                    expected=expected_version,
                ) from exc
            raise
        return [
            RecordedEvent(
                event_id=new.event_id,
                stream_id=stream_id,
                stream_type=stream_type,
                version=version,
                position=row.position,
                name=new.event.event_name,
                schema_version=new.event.event_version,
                partition_key=new.event.partition_key,
                data=data,
                metadata=metadata,
                recorded_at=row.recorded_at,
                event=new.event,
            )
            for new, version, data, row in zip(events, versions, datas, rows, strict=True)
        ]

    async def read_stream(self, conn: AsyncConnection, stream_id: str, after_version: int = 0) -> list[RecordedEvent]:
        """Events of one stream in version order, decoded with the registry."""
        result = await conn.execute(
            text(f"SELECT {_COLUMNS} FROM events WHERE stream_id = :s AND version > :v ORDER BY version"),
            {"s": stream_id, "v": after_version},
        )
        return [self._decode(row) for row in result]

    async def read_all(self, conn: AsyncConnection, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """Committed events in position order after ``after_position`` (for rebuilding projections)."""
        result = await conn.execute(
            text(f"SELECT {_COLUMNS} FROM events WHERE position > :p ORDER BY position LIMIT :l"),
            {"p": after_position, "l": limit},
        )
        return [self._decode(row) for row in result]

    def _decode(self, row: Any) -> RecordedEvent:
        return recorded_from_row(row, self.registry.decode(row.name, row.schema_version, row.data))


def recorded_from_row(row: Any, event: DomainEvent | None = None) -> RecordedEvent:
    """A :class:`RecordedEvent` from a row of the ``events`` table (``event``: its decoded contract, if any)."""
    return RecordedEvent(
        event_id=row.event_id,
        stream_id=row.stream_id,
        stream_type=row.stream_type,
        version=row.version,
        position=row.position,
        name=row.name,
        schema_version=row.schema_version,
        partition_key=row.partition_key,
        data=row.data,
        metadata=EventMetadata.from_dict(row.metadata),
        recorded_at=row.recorded_at,
        event=event,
    )
