"""The dead letters of a service's consumers: one row per consumer and event, with the Kafka record as it came.

A consumer that cannot decode or apply a record (:mod:`shared.consumer`) sends it to ``pmo.dlq.v1`` and, in the same
transaction as its inbox mark and its offset, :func:`record` keeps it here: topic, partition, offset, key, value and
headers, the error, when. The record is kept whole, so a redrive depends neither on the topic's retention nor on
Kafka being reachable. A record that is not a CloudEvent has no event id: it is kept under :func:`record_id` (a
UUID derived from where it was read), so it can be listed and shown like the others.

A row is ``dead-lettered`` until a redrive applies it (``redriven``, with who, when and why); every redrive attempt,
applied or failed, is a row of ``dead_letter_redrives``. A redrive that fails again leaves the row dead-lettered
with the new error and one more attempt (``attempts`` counts the failed applications, the first included).

Every function takes a connection on the service's schema and runs in the caller's transaction.
"""

from __future__ import annotations

import traceback
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from prometheus_client import Counter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.metrics import gauge

DDL = [
    """
    CREATE TABLE IF NOT EXISTS dead_letters (
        consumer          text        NOT NULL,
        event_id          uuid        NOT NULL,
        topic             text        NOT NULL,
        partition         integer     NOT NULL,
        record_offset     bigint      NOT NULL,
        record_key        bytea,
        record_value      bytea,
        header_names      text[]      NOT NULL,
        header_values     bytea[]     NOT NULL,
        event_type        text,
        subject           text,
        error             text        NOT NULL,
        attempts          integer     NOT NULL DEFAULT 1,
        status            text        NOT NULL DEFAULT 'dead-lettered'
                                      CHECK (status IN ('dead-lettered', 'redriven')),
        dead_lettered_at  timestamptz NOT NULL DEFAULT now(),
        last_failed_at    timestamptz NOT NULL DEFAULT now(),
        redriven_at       timestamptz,
        redriven_by       text,
        redrive_reason    text,
        PRIMARY KEY (consumer, event_id)
    )
    """,
    "CREATE INDEX IF NOT EXISTS dead_letters_by_status ON dead_letters (status, consumer, topic, partition, "
    "record_offset)",
    """
    CREATE TABLE IF NOT EXISTS dead_letter_redrives (
        id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        consumer      text        NOT NULL,
        event_id      uuid        NOT NULL,
        attempted_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
        attempted_by  text        NOT NULL,
        reason        text        NOT NULL,
        outcome       text        NOT NULL CHECK (outcome IN ('applied', 'failed')),
        error         text
    )
    """,
    "CREATE INDEX IF NOT EXISTS dead_letter_redrives_by_event ON dead_letter_redrives (event_id, consumer, id)",
]

MAX_ERROR = 2000
"""Characters of an error kept (and sent in the ``pmo_error`` header)."""

Status = Literal["dead-lettered", "redriven"]
Outcome = Literal["applied", "failed"]

DEAD_LETTERS = gauge(
    "pmo_dead_letters",
    "Events a consumer dead-lettered and no redrive applied yet",
    ["service", "consumer"],
)
REDRIVES = Counter(
    "pmo_dead_letter_redrives_total",
    "Redrive attempts of dead letters, by outcome (applied, failed)",
    ["service", "outcome"],
)

_NAMESPACE = uuid.UUID("6d1f3c52-6a4e-4f0e-9a53-0c1f5d2b7e11")


def service_of(consumer: str) -> str:
    """The service a consumer belongs to: its name's first part (consumers are named ``<service>.<read model>``)."""
    return consumer.partition(".")[0]


def describe(error: BaseException | None) -> str:
    """The error as it is kept and shown: its type and message, no stack trace, at most :data:`MAX_ERROR`."""
    if error is None:
        return "unknown"
    return "".join(traceback.format_exception_only(type(error), error)).strip()[:MAX_ERROR]


def record_id(topic: str, partition: int, offset: int) -> uuid.UUID:
    """The id a record without a readable event id is kept under: the same for the same place on the log."""
    return uuid.uuid5(_NAMESPACE, f"{topic}/{partition}/{offset}")


@dataclass(frozen=True)
class StoredRecord:
    """A Kafka record as a consumer received it (what :func:`shared.consumer.decode_records` reads)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


@dataclass(frozen=True)
class DeadLetter:
    """A row of ``dead_letters``."""

    consumer: str
    event_id: uuid.UUID
    record: StoredRecord
    event_type: str | None
    subject: str | None
    error: str
    attempts: int
    status: Status
    dead_lettered_at: datetime
    last_failed_at: datetime
    redriven_at: datetime | None
    redriven_by: str | None
    redrive_reason: str | None


@dataclass(frozen=True)
class Redrive:
    """A row of ``dead_letter_redrives``: one attempt."""

    consumer: str
    attempted_at: datetime
    attempted_by: str
    reason: str
    outcome: Outcome
    error: str | None


_COLUMNS = (
    "consumer, event_id, topic, partition, record_offset, record_key, record_value, header_names, header_values, "
    "event_type, subject, error, attempts, status, dead_lettered_at, last_failed_at, redriven_at, redriven_by, "
    "redrive_reason"
)


def _dead_letter(row: Any) -> DeadLetter:
    return DeadLetter(
        consumer=row.consumer,
        event_id=row.event_id,
        record=StoredRecord(
            topic=row.topic,
            partition=row.partition,
            offset=row.record_offset,
            key=row.record_key,
            value=row.record_value,
            headers=list(zip(row.header_names, row.header_values, strict=True)),
        ),
        event_type=row.event_type,
        subject=row.subject,
        error=row.error,
        attempts=row.attempts,
        status=row.status,
        dead_lettered_at=row.dead_lettered_at,
        last_failed_at=row.last_failed_at,
        redriven_at=row.redriven_at,
        redriven_by=row.redriven_by,
        redrive_reason=row.redrive_reason,
    )


def _header(headers: Sequence[tuple[str, bytes]], name: str) -> str | None:
    for key, value in headers:
        if key == name:
            return bytes(value).decode("utf-8", errors="replace")[:1000]
    return None


async def record(
    conn: AsyncConnection, consumer: str, event_id: uuid.UUID | None, kafka_record: Any, error: str
) -> uuid.UUID:
    """Keep ``kafka_record`` (anything with ``topic``, ``partition``, ``offset``, ``key``, ``value``, ``headers``) as
    dead-lettered by ``consumer``; the id it is kept under (``event_id``, else :func:`record_id`). The same event
    dead-lettered again (a duplicate record read by a read model without an inbox, or after a redrive) is the same
    row: dead-lettered again, the record and error replaced, one more attempt."""
    headers = [(str(k), bytes(v or b"")) for k, v in (kafka_record.headers or [])]
    kept = event_id or record_id(kafka_record.topic, kafka_record.partition, kafka_record.offset)
    await conn.execute(
        text(
            "INSERT INTO dead_letters (consumer, event_id, topic, partition, record_offset, record_key, record_value, "
            "header_names, header_values, event_type, subject, error) VALUES (:c, :e, :t, :p, :o, :k, :v, "
            ":hn, :hv, :ty, :s, :err) ON CONFLICT (consumer, event_id) DO UPDATE SET topic = excluded.topic, "
            "partition = excluded.partition, record_offset = excluded.record_offset, record_key = excluded.record_key, "
            "record_value = excluded.record_value, header_names = excluded.header_names, "
            "header_values = excluded.header_values, error = excluded.error, status = 'dead-lettered', "
            "attempts = dead_letters.attempts + 1, last_failed_at = now()"
        ),
        {
            "c": consumer,
            "e": kept,
            "t": kafka_record.topic,
            "p": kafka_record.partition,
            "o": kafka_record.offset,
            "k": kafka_record.key,
            "v": kafka_record.value,
            "hn": [k for k, _ in headers],
            "hv": [v for _, v in headers],
            "ty": _header(headers, "ce_type"),
            "s": _header(headers, "ce_subject"),
            "err": error[:MAX_ERROR],
        },
    )
    return kept


async def count_open(conn: AsyncConnection, consumer: str) -> int:
    """How many events ``consumer`` holds dead-lettered (what :data:`DEAD_LETTERS` shows)."""
    result = await conn.execute(
        text("SELECT count(*) FROM dead_letters WHERE consumer = :c AND status = 'dead-lettered'"), {"c": consumer}
    )
    return int(result.scalar_one())


async def refresh_gauge(conn: AsyncConnection, consumer: str) -> None:
    """Set :data:`DEAD_LETTERS` for ``consumer`` from the table (every replica agrees: it is the database's count)."""
    DEAD_LETTERS.labels(service_of(consumer), consumer).set(await count_open(conn, consumer))


async def listed(
    conn: AsyncConnection,
    *,
    consumer: str | None = None,
    status: Status | None = "dead-lettered",
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[DeadLetter], int]:
    """A page of dead letters (``status`` None: every one), in log order (topic, partition, offset: the order a
    redrive of them all keeps), and how many there are in all."""
    where = ["TRUE"]
    if consumer is not None:
        where.append("consumer = :c")
    if status is not None:
        where.append("status = :s")
    condition = " AND ".join(where)
    params = {"c": consumer, "s": status, "limit": limit, "offset": offset}
    total = (await conn.execute(text(f"SELECT count(*) FROM dead_letters WHERE {condition}"), params)).scalar_one()
    rows = await conn.execute(
        text(
            f"SELECT {_COLUMNS} FROM dead_letters WHERE {condition} "
            "ORDER BY topic, partition, record_offset, consumer LIMIT :limit OFFSET :offset"
        ),
        params,
    )
    return [_dead_letter(r) for r in rows], int(total)


async def open_ids(conn: AsyncConnection, consumer: str | None = None) -> list[uuid.UUID]:
    """The ids of every dead-lettered event (of ``consumer``, or of all), each once, in log order."""
    rows = await conn.execute(
        text(
            "SELECT event_id FROM dead_letters WHERE status = 'dead-lettered' "
            + ("AND consumer = :c " if consumer is not None else "")
            + "GROUP BY event_id ORDER BY min(topic), min(partition), min(record_offset)"
        ),
        {"c": consumer},
    )
    return [r.event_id for r in rows]


async def of_event(
    conn: AsyncConnection, event_id: uuid.UUID, consumer: str | None = None, *, lock: bool = False
) -> list[DeadLetter]:
    """The dead letters of one event (one per consumer that could not apply it), by consumer; ``lock``: their rows
    locked until the transaction ends (``FOR UPDATE``: a concurrent redrive waits, then sees the outcome)."""
    rows = await conn.execute(
        text(
            f"SELECT {_COLUMNS} FROM dead_letters WHERE event_id = :e "
            + ("AND consumer = :c " if consumer is not None else "")
            + "ORDER BY consumer"
            + (" FOR UPDATE" if lock else "")
        ),
        {"e": event_id, "c": consumer},
    )
    return [_dead_letter(r) for r in rows]


async def redrives(conn: AsyncConnection, event_id: uuid.UUID, consumer: str | None = None) -> list[Redrive]:
    """Every redrive attempt of one event (of ``consumer``, or of all), oldest first."""
    rows = await conn.execute(
        text(
            "SELECT consumer, attempted_at, attempted_by, reason, outcome, error FROM dead_letter_redrives "
            "WHERE event_id = :e " + ("AND consumer = :c " if consumer is not None else "") + "ORDER BY id"
        ),
        {"e": event_id, "c": consumer},
    )
    return [Redrive(**r._mapping) for r in rows]


async def mark_redriven(conn: AsyncConnection, letter: DeadLetter, by: str, reason: str) -> None:
    """A redrive applied ``letter``: recorded with who, when and why."""
    await conn.execute(
        text(
            "UPDATE dead_letters SET status = 'redriven', redriven_at = now(), redriven_by = :by, "
            "redrive_reason = :why WHERE consumer = :c AND event_id = :e"
        ),
        {"c": letter.consumer, "e": letter.event_id, "by": by, "why": reason},
    )
    await _attempt(conn, letter, by, reason, "applied", None)


async def mark_failed(conn: AsyncConnection, letter: DeadLetter, by: str, reason: str, error: str) -> None:
    """A redrive of ``letter`` failed: it stays dead-lettered, with ``error`` and one more attempt."""
    await conn.execute(
        text(
            "UPDATE dead_letters SET error = :err, attempts = attempts + 1, last_failed_at = now() "
            "WHERE consumer = :c AND event_id = :e"
        ),
        {"c": letter.consumer, "e": letter.event_id, "err": error[:MAX_ERROR]},
    )
    await _attempt(conn, letter, by, reason, "failed", error)


async def _attempt(
    conn: AsyncConnection, letter: DeadLetter, by: str, reason: str, outcome: Outcome, error: str | None
) -> None:
    await conn.execute(
        text(
            "INSERT INTO dead_letter_redrives (consumer, event_id, attempted_by, reason, outcome, error) "
            "VALUES (:c, :e, :by, :why, :o, :err)"
        ),
        {
            "c": letter.consumer,
            "e": letter.event_id,
            "by": by,
            "why": reason,
            "o": outcome,
            "err": None if error is None else error[:MAX_ERROR],
        },
    )
