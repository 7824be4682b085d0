"""The tables every service's schema holds: the event store (events, idempotency keys), the relay's checkpoint and held
events, the consumers' offsets and inbox. The first revision of the ``runtime`` branch.

Every statement is ``IF NOT EXISTS``: a schema made by the start-time DDL of the releases before versioned
migrations is adopted as it is, with its data, and stamped at this revision.

Revision ID: runtime_0001
Revises:
Create Date: 2027-01-04
"""

from __future__ import annotations

from alembic import op

revision = "runtime_0001"
down_revision: str | None = None
branch_labels: tuple[str, ...] | None = ("runtime",)
depends_on: str | None = None

STATEMENTS = [
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
    """
        CREATE TABLE IF NOT EXISTS relay_checkpoint (
            name        text PRIMARY KEY,
            xid         xid8   NOT NULL,
            position    bigint NOT NULL,
            updated_at  timestamptz NOT NULL DEFAULT now()
        )
    """,
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
    """
        CREATE TABLE IF NOT EXISTS consumer_offsets (
            consumer     text    NOT NULL,
            topic        text    NOT NULL,
            partition    integer NOT NULL,
            next_offset  bigint  NOT NULL,
            updated_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (consumer, topic, partition)
        )
    """,
    """
        CREATE TABLE IF NOT EXISTS inbox (
            consumer      text NOT NULL,
            event_id      uuid NOT NULL,
            dead_lettered boolean NOT NULL DEFAULT false,
            received_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (consumer, event_id)
        )
    """,
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the first revision is not undone: drop the schema (and rebuild it by migrating)")
