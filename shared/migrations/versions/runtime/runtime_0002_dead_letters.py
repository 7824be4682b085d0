"""Dead letters kept whole, with their redrives (:mod:`shared.dead_letters`): ``dead_letters`` (one row per consumer
and event a consumer could not apply: the Kafka record as it came, the error, the attempts, who redrove it, when and
why) and ``dead_letter_redrives`` (every redrive attempt). A copy of :data:`shared.dead_letters.store.DDL` as it
was at this revision.

Revision ID: runtime_0002
Revises: runtime_0001
Create Date: 2027-01-05
"""

from __future__ import annotations

from alembic import op

revision = "runtime_0002"
down_revision: str | None = "runtime_0001"
branch_labels: tuple[str, ...] | None = None
depends_on: str | None = None

STATEMENTS = [
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


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS dead_letter_redrives")
    op.execute("DROP TABLE IF EXISTS dead_letters")
